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
import types

import numpy as np
import pytest

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.filterwarnings("ignore:ExternalStream is deprecated"),
    pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("cupy", "torch", "cuda")), reason="needs cupy, torch and cuda-python (the GPU machine has them)"),
]

N, SPIN = 1 << 16, 200_000  # elements; dependent steps per element: a kernel of about half a millisecond on an H100
SOURCE = r"""
extern "C" __global__ void standin(const float* x, float* y, int n, int spin) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float w = 0.0f;  /* w -> 1: a long chain of dependent multiply-adds the compiler cannot fold */
    for (int k = 0; k < spin; ++k) w = w * 0.999f + 0.001f;
    y[i] = x[i] + w;
}
"""


def _gpu_ok() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def standin_engine():
    """A stand-in for a TensorRT ICudaEngine with one float input ``x`` and output ``y`` of
    shape (N,): the documented calls run_engine makes, and nothing else."""
    import cupy

    kernel = cupy.RawKernel(SOURCE, "standin")
    kernel.compile()  # now: loading a module is not allowed while a CUDA graph is being captured
    launches = []

    class Context:
        def __init__(self):
            self.addr, self.shape = {}, {}

        def set_input_shape(self, name, shape):
            self.shape[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            return self.shape.get(name, (N,))

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr
            return True

        def execute_async_v3(self, stream):
            x = cupy.ndarray((N,), cupy.float32, cupy.cuda.MemoryPointer(cupy.cuda.UnownedMemory(self.addr["x"], N * 4, self), 0))
            y = cupy.ndarray((N,), cupy.float32, cupy.cuda.MemoryPointer(cupy.cuda.UnownedMemory(self.addr["y"], N * 4, self), 0))
            with cupy.cuda.ExternalStream(stream):
                kernel(((N + 255) // 256,), (256,), (x, y, np.int32(N), np.int32(SPIN)))
            launches.append(stream)
            return True

    engine = types.SimpleNamespace(create_execution_context=Context, get_tensor_dtype=lambda name: "float32")
    trt = types.SimpleNamespace(nptype=lambda dtype: np.float32)
    return trt, engine, kernel, launches


def expected(x: np.ndarray) -> np.ndarray:
    """x + w, where w = 1 - 0.999**SPIN is 1 to float precision: the output proves both copies."""
    return x + np.float32(1.0)


@pytest.mark.skipif(not _gpu_ok(), reason="no CUDA device")
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_run_path_moves_data_times_the_kernel_and_replays_a_graph(cuda_graph):
    from trtdoctor.smoke.cuda_run import run_engine
    from trtdoctor.smoke.stats import summarize

    trt, engine, _, launches = standin_engine()
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    res = run_engine(trt, engine, {"x": x}, ["y"], iterations=30, warmup=5, cuda_graph=cuda_graph)
    np.testing.assert_allclose(res["outputs"][0], expected(x), atol=1e-3)  # real copies both ways
    assert len(res["gpu_ms"]) == len(res["e2e_ms"]) == len(res["transfer_ms"]) == 30
    # a graph captures the launch once and replays it; without one, every iteration enqueues
    assert len(launches) == (1 if cuda_graph else 35)
    gpu, e2e = summarize(res["gpu_ms"]), summarize(res["e2e_ms"])
    assert 0 < gpu["median"] <= e2e["median"]  # events inside the host clock
    print(f"cuda_graph={cuda_graph}: GPU median {gpu['median']:.3f} ms, end-to-end {e2e['median']:.3f} ms, enqueue {summarize(res['enqueue_ms'])['median']:.3f} ms")


@pytest.mark.skipif(not _gpu_ok(), reason="no CUDA device")
def test_event_timing_agrees_with_torch_cuda_events():
    """trtdoctor's CUDA-event GPU time and torch.cuda.Event around the same kernel agree."""
    import cupy
    import torch

    from trtdoctor.smoke.cuda_run import run_engine

    trt, engine, kernel, _ = standin_engine()
    x = np.ones(N, np.float32)
    ours = statistics.median(run_engine(trt, engine, {"x": x}, ["y"], iterations=30, warmup=5, no_transfers=True)["gpu_ms"])
    xd, yd = cupy.asarray(x), cupy.empty(N, cupy.float32)
    stream = torch.cuda.Stream()
    times = []
    for i in range(35):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(stream)
        with cupy.cuda.ExternalStream(stream.cuda_stream):
            kernel(((N + 255) // 256,), (256,), (xd, yd, np.int32(N), np.int32(SPIN)))
        b.record(stream)
        b.synchronize()
        if i >= 5:
            times.append(a.elapsed_time(b))
    theirs = statistics.median(times)
    print(f"kernel median: trtdoctor {ours:.4f} ms, torch.cuda.Event {theirs:.4f} ms")
    assert abs(ours - theirs) <= 0.15 * theirs + 0.02, (ours, theirs)
