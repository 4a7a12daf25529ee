"""A stand-in for a TensorRT engine, for GPU tests and scripts/bench_run_path.py only: no full
TensorRT installs on the GPU machine. Named as such and kept small: its execution context,
given the device addresses trtdoctor set, launches a real CuPy kernel on trtdoctor's stream."""

from __future__ import annotations

import importlib.util
import types

import numpy as np
import pytest

# Tests that drive the stand-in: skipped where its parts are missing (the GPU machine has them).
GPU_MARKS = [
    pytest.mark.gpu,
    pytest.mark.filterwarnings("ignore:ExternalStream is deprecated"),
    pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("cupy", "torch", "cuda")), reason="needs cupy, torch and cuda-python (the GPU machine has them)"),
]


def gpu_ok() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


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


def standin_engine(spin: int = SPIN):
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
                kernel(((N + 255) // 256,), (256,), (x, y, np.int32(N), np.int32(spin)))
            launches.append(stream)
            return True

    engine = types.SimpleNamespace(create_execution_context=Context, get_tensor_dtype=lambda name: "float32")
    trt = types.SimpleNamespace(nptype=lambda dtype: np.float32)
    return trt, engine, kernel, launches


def expected(x: np.ndarray) -> np.ndarray:
    """x + w, where w = 1 - 0.999**SPIN is 1 to float precision: the output proves both copies."""
    return x + np.float32(1.0)


def bare_kernel_ms(kernel, spin: int, iterations: int, warmup: int) -> float:
    """The stand-in's kernel alone, timed by torch.cuda.Event around each launch on a stream
    of its own: the time trtdoctor's harness is judged against."""
    import statistics

    import cupy
    import torch

    xd, yd = cupy.ones(N, cupy.float32), cupy.empty(N, cupy.float32)
    stream, times = torch.cuda.Stream(), []
    for i in range(warmup + iterations):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(stream)
        with cupy.cuda.ExternalStream(stream.cuda_stream):
            kernel(((N + 255) // 256,), (256,), (xd, yd, np.int32(N), np.int32(spin)))
        b.record(stream)
        b.synchronize()
        if i >= warmup:
            times.append(a.elapsed_time(b))
    return statistics.median(times)
