#!/usr/bin/env python3
"""The harness overhead of smoke's CUDA run path (trtdoctor/smoke/cuda_run.py) on a GPU.

No full TensorRT installs on the GPU machine, so the "engine" is the CuPy stand-in of
tests/gpu_standin.py: a real kernel launched on trtdoctor's stream. The bare kernel is timed
with torch.cuda.Event around each launch on a stream of its own; trtdoctor's figures come
from run_engine (CUDA events around the enqueue, a host clock around the whole call), with
and without a CUDA graph, for each CUDA binding installed. Overhead = trtdoctor's median over
the bare kernel's median. Goal (issue 13): ≤ 2 % with CUDA graphs.

Run on a GPU machine: python3 scripts/bench_run_path.py [--spin 200000 2000000] [--iterations 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spin", type=int, nargs="+", default=[200_000, 2_000_000], help="kernel lengths (dependent steps per element)")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    a = ap.parse_args()
    from gpu_standin import N, bare_kernel_ms, standin_engine

    from trtdoctor.smoke.cuda_run import run_engine

    bindings = [b for b, m in (("cuda-python", "cuda"), ("pycuda", "pycuda")) if importlib.util.find_spec(m)]
    print(f"{'kernel':>8} {'binding':<12} {'graph':<5} {'xfer':<4} {'bare ms':>8} {'gpu ms':>8} {'e2e ms':>8} {'enq ms':>7} {'gpu ovh':>8} {'e2e ovh':>8}")
    for spin in a.spin:
        trt, engine, kernel, _ = standin_engine(spin)
        bare = bare_kernel_ms(kernel, spin, a.iterations, a.warmup)
        for binding in bindings:
            for graph in (False, True):
                for transfers in (False, True):
                    r = run_engine(trt, engine, {"x": np.ones(N, np.float32)}, ["y"], a.iterations, a.warmup, no_transfers=not transfers, cuda_graph=graph, binding=binding)
                    gpu, e2e, enq = (statistics.median(r[k]) for k in ("gpu_ms", "e2e_ms", "enqueue_ms"))
                    ran_graph = "yes" if r["cuda_graph"] else "no"
                    print(f"{spin:>8} {binding:<12} {ran_graph:<5} {'yes' if transfers else 'no':<4} {bare:8.4f} {gpu:8.4f} {e2e:8.4f} {enq:7.4f} {100 * (gpu / bare - 1):+7.2f}% {100 * (e2e / bare - 1):+7.2f}%")
    print(f"({N} float32 elements in and out; medians of {a.iterations} runs after {a.warmup} warm-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
