#!/usr/bin/env python3
"""Builds the hostile roots of tests/hostile.py (escapes out of the root, FIFOs, a device,
a 2 GiB sparse os-release, crafted ELF tables, 200 LD_LIBRARY_PATH directories, symlink
loops) in a temporary directory, runs ``python3 -m trtdoctor check --json --root ...`` on
each as a whole process, and prints its wall time and peak RSS (``wait4``'s rusage of that
child), with a healthy H100-like tree for comparison. Goal (issue 16): every hostile tree
under 10 s and 512 MB.

    python3 scripts/bench_hostile.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import H100_ENV, Tree, h100_tree  # noqa: E402
from hostile import TREES, run_measured  # noqa: E402

GOAL_S, GOAL_MB = 10.0, 512


def healthy(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    return h100_tree(Tree(base / "root")), [a for e in H100_ENV for a in ("--env", e)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per tree; the worst is printed (default 3)")
    args = ap.parse_args()
    worst_s = worst_mb = 0.0
    print(f"{'tree':<48} {'exit':>4} {'wall s':>7} {'peak MB':>8}")
    with tempfile.TemporaryDirectory(prefix="trtdoctor-hostile-") as tmp:
        for i, build in enumerate([healthy, *TREES]):
            tree, extra = build(Path(tmp) / str(i), "mk" + uuid.uuid4().hex)
            runs = [run_measured(["check", "--json", "--root", str(tree.root), *extra], timeout=60) for _ in range(args.runs)]
            wall, peak = max(r.wall for r in runs), max(r.peak_mb for r in runs)
            codes = {r.returncode for r in runs}
            print(f"{build.__name__:<48} {','.join(map(str, codes)):>4} {wall:7.2f} {peak:8.1f}")
            if build is not healthy:
                worst_s, worst_mb = max(worst_s, wall), max(worst_mb, peak)
    ok = worst_s < GOAL_S and worst_mb < GOAL_MB
    print(f"worst hostile tree: {worst_s:.2f} s, {worst_mb:.1f} MB peak RSS (goal < {GOAL_S:.0f} s, < {GOAL_MB} MB): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
