#!/usr/bin/env python3
"""Times `trtdoctor check` as whole processes, against `python -c pass` and, with
``--peers``, the peers people compare it with (env-doctor, cuda-doctor, torch's
collect_env) where they are installed, in the same invocation.

Static mode runs on a test tree modelled on the H100 survey (built with the C compiler);
live mode judges this machine. Runs are interleaved (one of each case per round) so a
noisy neighbour hits every case alike; medians are printed. Goals (issue 9): CI machine
static ≤ 0.2 s and live ≤ 0.35 s; GPU machine live ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def timed(argv: list[str], env: dict) -> float:
    """Wall time of one whole process. No timeout: Popen.wait(timeout) polls in steps of up to
    50 ms, which would round every figure up to that grain."""
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - t0


def peers() -> dict[str, list[str]]:
    """The peers that are installed here (each is skipped when absent)."""
    out = {}
    for name, argv in (("env-doctor check", ["env-doctor", "check"]), ("cuda-doctor diagnose", ["cuda-doctor", "diagnose"])):
        exe = shutil.which(argv[0])
        if exe:
            out[name] = [exe, *argv[1:]]
    if importlib.util.find_spec("torch") is not None:
        out["torch collect_env"] = [sys.executable, "-m", "torch.utils.collect_env"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--peers", action="store_true", help="also time env-doctor, cuda-doctor and torch collect_env where installed")
    args = ap.parse_args()
    from conftest import Tree, h100_tree  # the same trees the tests use

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    with tempfile.TemporaryDirectory() as tmp:
        tree = h100_tree(Tree(Path(tmp) / "root"))
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "check --root (static)": [sys.executable, "-m", "trtdoctor", "check", "--json", "--root", str(tree.root), "--env", "VIRTUAL_ENV=/opt/torch/.venv"],
        }
        if not args.no_live:
            cases["check (live)"] = [sys.executable, "-m", "trtdoctor", "check", "--json"]
        if args.peers:
            cases.update(peers())
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():
                times[name].append(timed(argv, env))
        base = statistics.median(times["python -c pass"])
        print(f"{'case':<24} {'median s':>9} {'min s':>7} {'max s':>7}  runs={args.runs}, interleaved")
        for name, ts in times.items():
            med = statistics.median(ts)
            extra = f"  (+{med - base:.3f} s over python)" if name != "python -c pass" else ""
            print(f"{name:<24} {med:>9.3f} {min(ts):>7.3f} {max(ts):>7.3f}{extra}")


if __name__ == "__main__":
    main()
