#!/usr/bin/env python3
"""Times `trtdoctor check` as whole processes, against `python -c pass`.

Static mode runs on a test tree modelled on the H100 survey (built with the C compiler);
live mode judges this machine. Prints medians of repeated runs; the goal for static mode
is under 0.5 s on the CI machine with no frameworks installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def timed(argv: list[str], runs: int, env: dict) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--no-live", action="store_true")
    args = ap.parse_args()
    from conftest import Tree, h100_tree  # the same trees the tests use

    env = dict(os.environ, PYTHONPATH=str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        tree = h100_tree(Tree(Path(tmp) / "root"))
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "check --root (static)": [sys.executable, "-m", "trtdoctor", "check", "--json", "--root", str(tree.root), "--env", "VIRTUAL_ENV=/opt/torch/.venv"],
        }
        if not args.no_live:
            cases["check (live)"] = [sys.executable, "-m", "trtdoctor", "check", "--json"]
        base = None
        print(f"{'case':<24} {'median s':>9} {'min s':>7} {'max s':>7}  runs={args.runs}")
        for name, argv in cases.items():
            ts = timed(argv, args.runs, env)
            med = statistics.median(ts)
            base = base if base is not None else med
            extra = f"  (+{med - base:.3f} s over python)" if name != "python -c pass" else ""
            print(f"{name:<24} {med:>9.3f} {min(ts):>7.3f} {max(ts):>7.3f}{extra}")


if __name__ == "__main__":
    main()
