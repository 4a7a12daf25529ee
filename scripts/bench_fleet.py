#!/usr/bin/env python3
"""Times `trtdoctor fleet summary` over many synthetic node reports (default 5,000).

The template is a real report: `trtdoctor check --json` of a test tree modelled on the H100
survey (built with the C compiler), or of this machine with ``--live``. Each copy gets its
own host name; every 50th node an older driver, every 97th no cuDNN, every 200th an extra
error finding, so the summary has differing nodes to group. Prints the median of
``--rounds`` whole `fleet summary DIR` processes and the file sizes.

    python3 scripts/bench_fleet.py [--nodes 5000] [--rounds 3] [--live]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def template(live: bool, work: Path) -> dict:
    argv = [sys.executable, "-m", "trtdoctor", "check", "--json"]
    if not live:
        from conftest import Tree, h100_tree

        argv += ["--root", str(h100_tree(Tree(work / "root")).root)]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, env=ENV).stdout)


def node(base: dict, i: int) -> dict:
    rep = copy.deepcopy(base)
    rep["provenance"] = {**rep.get("provenance", {}), "host": f"node{i:05d}", "host_from": "TRTDOCTOR_HOST_NAME"}
    snap = rep["snapshot"]
    if i % 50 == 7 and isinstance(snap.get("driver"), dict):
        snap["driver"]["version"] = "570.86.15"
    if i % 97 == 3:
        for lib in (snap.get("libraries") or {}).get("libraries", {}).values():
            if lib.get("key") == "cudnn":
                lib["resolved"] = None
    if i % 200 == 11:
        rep["findings"].append({"id": "bench.odd-node", "severity": "error", "area": "driver", "title": "an odd node", "detail": "", "evidence": [], "fix": None})
        rep["summary"]["errors"] += 1
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--live", action="store_true", help="use this machine's live report as the template")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = template(a.live, work)
        out = work / "reports"
        out.mkdir()
        for i in range(a.nodes):
            (out / f"node{i:05d}.json").write_text(json.dumps(node(base, i), indent=2))
        size = sum(p.stat().st_size for p in out.iterdir())
        times = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "trtdoctor", "fleet", "summary", str(out), "--format", "json"], capture_output=True, text=True, env=ENV)
            times.append(time.perf_counter() - t0)
        doc = json.loads(res.stdout)
        print(f"{a.nodes} reports, {size / 2**20:.0f} MiB ({size // a.nodes // 1024} KiB each); exit {res.returncode}")
        print(f"summary: {doc['summary']}; {len(doc['differences'])} groups of differing nodes")
        print(f"fleet summary DIR --format json: median {statistics.median(times):.2f} s of {a.rounds} ({', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
