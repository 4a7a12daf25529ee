"""One sweep cell for real on a GPU: smoke's ``run_cell`` (cells.py) driven with a loaded
engine and feeds, the stand-in engine of tests/gpu_standin.py (a CuPy kernel in TensorRT's
enqueue; no full TensorRT installs on the GPU machine). Copies, events, graph replay, the
accuracy against the reference, throughput and the speed-up are trtdoctor's own code.

Run on a GPU machine: python3 -m pytest -m gpu tests/test_gpu_sweep.py -v
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_standin import GPU_MARKS, N, expected, gpu_ok, standin_engine

pytestmark = GPU_MARKS


@pytest.mark.skipif(not gpu_ok(), reason="no CUDA device")
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_run_cell_on_a_loaded_engine_gives_a_measured_row(cuda_graph):
    from trtdoctor.smoke.cells import run_cell
    from trtdoctor.smoke.sweep import add_speedups, table_text

    trt, engine, _, launches = standin_engine()
    x = np.random.default_rng(0).standard_normal((1, N)).astype(np.float32)[0]
    opts = {"iterations": 30, "warmup": 5, "no_transfers": False, "cuda_graph": cuda_graph}
    row = {"precision": "fp32", "batch": 1} | run_cell(trt, engine, {"x": x}, ["y"], [expected(x)[None]], "fp32", opts, baseline_ms=10.0)
    assert row["passed"] and row["accuracy"]["cosine"] > 0.9999 and row["accuracy"]["max_abs_error"] < 1e-3
    assert 0 < row["gpu_ms"]["median"] <= row["e2e_ms"]["median"]
    assert row["speedup_vs_baseline"] == pytest.approx(10.0 / row["e2e_ms"]["median"])
    assert len(launches) == (1 if cuda_graph else 35)
    add_speedups([row])
    assert row["speedup_vs_fp32"] == pytest.approx(1.0)
    print("\n".join(table_text([row])))
