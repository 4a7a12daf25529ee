"""Running a TensorRT engine with device memory from cuda-python (``cuda.bindings``):
execute_async_v3 with tensor addresses, CUDA events around the GPU work, a host clock
around the whole call, optional CUDA-graph capture."""

from __future__ import annotations

import time

from .backends import SmokeError
from .model import INPUT, OUTPUT


def _ck(res):
    err, *rest = res if isinstance(res, tuple) else (res,)
    if int(err) != 0:
        raise SmokeError(f"CUDA call failed: {err}")
    return rest[0] if len(rest) == 1 else rest


def run_engine(engine, x, iterations: int, warmup: int, no_transfers: bool = False, cuda_graph: bool = False) -> dict:
    import numpy as np
    from cuda.bindings import runtime as rt

    ctx = engine.create_execution_context()
    ctx.set_input_shape(INPUT, x.shape)
    out_shape = tuple(ctx.get_tensor_shape(OUTPUT))
    y = np.empty(out_shape, dtype=x.dtype)
    stream = _ck(rt.cudaStreamCreate())
    d_in, d_out = _ck(rt.cudaMalloc(x.nbytes)), _ck(rt.cudaMalloc(y.nbytes))
    ctx.set_tensor_address(INPUT, int(d_in))
    ctx.set_tensor_address(OUTPUT, int(d_out))
    start, end, t_a, t_b = (_ck(rt.cudaEventCreate()) for _ in range(4))
    h2d, d2h = rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
    graph_exec = None
    try:
        _ck(rt.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, h2d, stream))
        if cuda_graph:
            _ck(rt.cudaStreamBeginCapture(stream, rt.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal))
            ctx.execute_async_v3(int(stream))
            graph = _ck(rt.cudaStreamEndCapture(stream))
            graph_exec = _ck(rt.cudaGraphInstantiate(graph, 0))

        def enqueue():
            if graph_exec is not None:
                _ck(rt.cudaGraphLaunch(graph_exec, stream))
            elif not ctx.execute_async_v3(int(stream)):
                raise SmokeError("execute_async_v3 failed")

        gpu, e2e, enq, xfer = [], [], [], []
        for i in range(warmup + iterations):
            t0 = time.perf_counter()
            if not no_transfers:
                _ck(rt.cudaEventRecord(t_a, stream))
                _ck(rt.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, h2d, stream))
            _ck(rt.cudaEventRecord(start, stream))
            q0 = time.perf_counter()
            enqueue()
            q1 = time.perf_counter()
            _ck(rt.cudaEventRecord(end, stream))
            if not no_transfers:
                _ck(rt.cudaMemcpyAsync(y.ctypes.data, d_out, y.nbytes, d2h, stream))
                _ck(rt.cudaEventRecord(t_b, stream))
            _ck(rt.cudaStreamSynchronize(stream))
            t1 = time.perf_counter()
            if i >= warmup:
                g = _ck(rt.cudaEventElapsedTime(start, end))
                gpu.append(g)
                e2e.append((t1 - t0) * 1e3)
                enq.append((q1 - q0) * 1e3)
                if not no_transfers:
                    xfer.append(_ck(rt.cudaEventElapsedTime(t_a, t_b)) - g)
        if no_transfers:
            _ck(rt.cudaMemcpyAsync(y.ctypes.data, d_out, y.nbytes, d2h, stream))
            _ck(rt.cudaStreamSynchronize(stream))
        return {"output": y, "gpu_ms": gpu, "e2e_ms": e2e, "enqueue_ms": enq, "transfer_ms": xfer}
    finally:
        for ptr in (d_in, d_out):
            rt.cudaFree(ptr)
        rt.cudaStreamDestroy(stream)
