"""The CUDA side of smoke's run path (trtdoctor/smoke/cuda_run.py) for real, on a GPU, with a
CuPy kernel standing in for TensorRT's enqueue: no full TensorRT installs on the GPU machine.

The stand-in is named as such and kept small: an "engine" whose execution context, given the
device addresses trtdoctor set, launches a real kernel on trtdoctor's CUDA stream. Buffers,
copies, events, graph capture and replay and the statistics are trtdoctor's own code; the
GPU time is checked against torch.cuda.Event around the same kernel on the same stream.

Run on a GPU machine: python3 -m pytest -m gpu tests/test_gpu_run_path.py -v
"""

from __future__ import annotations

import importlib.util
import statistics

import numpy as np
import pytest
from gpu_standin import GPU_MARKS, SPIN, N, bare_kernel_ms, expected, gpu_ok, standin_engine

pytestmark = GPU_MARKS


BINDINGS = [
    "cuda-python",
    pytest.param("pycuda", marks=pytest.mark.skipif(importlib.util.find_spec("pycuda") is None, reason="pycuda is not installed (it builds from source against the CUDA headers)")),
]


@pytest.mark.skipif(not gpu_ok(), reason="no CUDA device")
@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_run_path_moves_data_times_the_kernel_and_replays_a_graph(cuda_graph, binding):
    from trtdoctor.smoke.cuda_run import run_engine
    from trtdoctor.smoke.stats import summarize

    trt, engine, _, launches = standin_engine()
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    res = run_engine(trt, engine, {"x": x}, ["y"], iterations=30, warmup=5, cuda_graph=cuda_graph, binding=binding)
    np.testing.assert_allclose(res["outputs"][0], expected(x), atol=1e-3)  # real copies both ways
    assert len(res["gpu_ms"]) == len(res["e2e_ms"]) == len(res["transfer_ms"]) == 30
    assert res["binding"] == binding
    # a graph captures the launch once and replays it; without one, every iteration enqueues.
    # pycuda has no graph API: it says so and enqueues every time.
    graphed = cuda_graph and binding == "cuda-python"
    assert res["cuda_graph"] is graphed and len(launches) == (1 if graphed else 35)
    assert bool(res["notes"]) is (cuda_graph and not graphed)
    gpu, e2e = summarize(res["gpu_ms"]), summarize(res["e2e_ms"])
    assert 0 < gpu["median"] <= e2e["median"]  # events inside the host clock
    print(f"{binding} cuda_graph={cuda_graph}: GPU median {gpu['median']:.3f} ms, end-to-end {e2e['median']:.3f} ms, enqueue {summarize(res['enqueue_ms'])['median']:.3f} ms")


@pytest.mark.skipif(not gpu_ok(), reason="no CUDA device")
@pytest.mark.parametrize("binding", BINDINGS)
def test_event_timing_agrees_with_torch_cuda_events(binding):
    """trtdoctor's CUDA-event GPU time and torch.cuda.Event around the same kernel agree."""
    from trtdoctor.smoke.cuda_run import run_engine

    trt, engine, kernel, _ = standin_engine()
    x = np.ones(N, np.float32)
    ours = statistics.median(run_engine(trt, engine, {"x": x}, ["y"], iterations=30, warmup=5, no_transfers=True, binding=binding)["gpu_ms"])
    theirs = bare_kernel_ms(kernel, SPIN, iterations=30, warmup=5)
    print(f"kernel median: trtdoctor ({binding}) {ours:.4f} ms, torch.cuda.Event {theirs:.4f} ms")
    assert abs(ours - theirs) <= 0.15 * theirs + 0.02, (ours, theirs)
