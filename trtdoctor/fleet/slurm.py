"""``fleet slurm``: one ``srun`` runs ``trtdoctor check --json`` once on every node; each
node writes its stdout to ``OUT/<node>.json`` and its stderr to ``OUT/<node>.err``, so OUT
must be on a file system the nodes share, like the interpreter they run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import subproc
from ..report import HOST_VAR
from ..target import UsageError
from .summary import read_node, summarize

KILL_AFTER = 5  # seconds between the node's TERM and KILL
# On each node: write to files named as Slurm names the node (srun's %N is the host name,
# which is not always the node name), name the report the same way, run the check under the
# same timeout everywhere, and say so on stderr when it ran out. The interpreter, the timeout
# and OUT come in as $0, $1 and $2, so no path is ever quoted into shell text.
NODE_SCRIPT = (
    'n="$SLURMD_NODENAME"; exec >"$2/$n.json" 2>"$2/$n.err"; '
    f'{HOST_VAR}="$n" timeout -k {KILL_AFTER} "$1" "$0" -m trtdoctor check --json; rc=$?; '
    '[ $rc -ne 124 ] && [ $rc -ne 137 ] || echo "trtdoctor fleet: the check ran past $1 s and was stopped" >&2; exit $rc'
)


@dataclass
class Request:
    """What the user asked for: ``timeout`` per node, ``queue_wait`` for the allocation."""

    out: Path
    python: str
    nodes: int | None = None
    partition: str | None = None
    nodelist: str | None = None
    time: str | None = None
    install: str | None = None
    timeout: float = 120.0
    queue_wait: float = 300.0
    extra: list[str] = field(default_factory=list)


def srun_argv(r: Request) -> list[str]:
    argv = ["srun", "--job-name=trtdoctor-fleet", "--ntasks-per-node=1", "--kill-on-bad-exit=0", "--wait=0"]
    argv += [f"--immediate={max(1, round(r.queue_wait))}"]
    argv += [f"--nodes={r.nodes}"] if r.nodes else []
    argv += [f"--partition={r.partition}"] if r.partition else []
    argv += [f"--nodelist={r.nodelist}"] if r.nodelist else []
    argv += [f"--time={r.time}"] if r.time else []
    return argv + list(r.extra) + ["sh", "-c", NODE_SCRIPT, r.python, f"{r.timeout:g}", str(r.out)]


def _fresh_dir(out: Path) -> Path:
    """Reports go into a directory we create (or an empty one): srun overwrites files."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise UsageError(f"--out {out} is not empty: srun would overwrite files in it; name a new directory")
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    return out.resolve()


def default_out() -> Path:
    return Path(f"trtdoctor-fleet-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}")


def expected_nodes(nodelist: str | None) -> list[str]:
    """Node names of a --nodelist (``node[01-04]`` expanded by scontrol); [] when unknown."""
    if not nodelist:
        return []
    res = subproc.run(["scontrol", "show", "hostnames", nodelist], timeout=30)
    return res.stdout.split() if res.ok else []


def _missing(names: list[str], why: str) -> list[dict]:
    return [{"name": n, "file": "", "status": "no report", "reason": why} for n in names]


def run(r: Request) -> dict:
    """Run srun, then summarise: every node with a report file, every expected node without one."""
    if r.nodes is None and not r.nodelist:
        raise UsageError("fleet slurm needs --nodes N or --nodelist LIST")
    if not shutil.which("srun"):
        raise UsageError("could not start srun: it is not on PATH (is this a Slurm login node?)")
    out = _fresh_dir(r.out)
    r.out = out
    argv = srun_argv(r)
    env = dict(os.environ)
    if r.install:
        env["PYTHONPATH"] = r.install + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    res = subproc.run(argv, env=env, timeout=r.queue_wait + r.timeout + 2 * KILL_AFTER + 30)
    if res.error and "could not start" in res.error:
        raise UsageError(f"{res.error}: is this a Slurm login node?")
    nodes = [read_node(p) for p in sorted(out.glob("*.json"))]
    srun_said = (res.stderr or "").strip().splitlines()
    why = f"no report file: the node never ran the check, or {out} is not shared with it" + (f" ({srun_said[-1][:200]})" if srun_said else "")
    seen = {Path(n["file"]).stem for n in nodes}
    expected = expected_nodes(r.nodelist)
    nodes += _missing([n for n in expected if n not in seen], why)
    short = (r.nodes or len(expected)) - len(nodes)
    nodes += _missing([f"(unnamed {i + 1} of {short})" for i in range(max(short, 0))], why)
    doc = summarize(nodes)
    doc["run"] = {"scheduler": "slurm", "command": argv, "out": str(out), "returncode": None if res.timed_out else res.returncode, "error": res.error}
    return doc
