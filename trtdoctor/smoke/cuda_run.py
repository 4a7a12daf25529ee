"""Running a TensorRT engine with device memory from cuda-python (``cuda.bindings``):
execute_async_v3 with tensor addresses, CUDA events around the GPU work, a host clock
around the whole call, optional CUDA-graph capture."""

from __future__ import annotations

import time

from .backends import SmokeError


def _ck(res):
    err, *rest = res if isinstance(res, tuple) else (res,)
    if int(err) != 0:
        raise SmokeError(f"CUDA call failed: {err}")
    return rest[0] if len(rest) == 1 else rest


def cuda_runtime():
    """cuda-python's runtime bindings; their absence is an install step, not a crash."""
    try:
        from cuda.bindings import runtime
    except ImportError as exc:
        raise SmokeError(f"cuda-python is not installed ({exc}): pip install 'trtdoctor[smoke]'") from None
    return runtime


def _out_dtype(trt, engine, name):
    import numpy as np

    return np.dtype(trt.nptype(engine.get_tensor_dtype(name)))


def run_engine(trt, engine, feeds: dict, outputs: list[str], iterations: int, warmup: int, no_transfers: bool = False, cuda_graph: bool = False) -> dict:
    """``trt``: the module that built the engine (tensorrt or tensorrt_rtx); ``feeds``: host
    arrays by input name; ``outputs``: the output names, in graph order."""
    import numpy as np

    rt = cuda_runtime()
    ctx = engine.create_execution_context()
    for name, x in feeds.items():
        ctx.set_input_shape(name, x.shape)
    hosts = {n: np.ascontiguousarray(x) for n, x in feeds.items()}
    ys = {n: np.empty(tuple(ctx.get_tensor_shape(n)), dtype=_out_dtype(trt, engine, n)) for n in outputs}
    stream = _ck(rt.cudaStreamCreate())
    dev = {n: _ck(rt.cudaMalloc(max(a.nbytes, 1))) for n, a in (hosts | ys).items()}
    for n, ptr in dev.items():
        ctx.set_tensor_address(n, int(ptr))
    start, end, t_a, t_b = (_ck(rt.cudaEventCreate()) for _ in range(4))
    h2d, d2h = rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
    graph_exec = None

    def upload():
        for n, x in hosts.items():
            _ck(rt.cudaMemcpyAsync(dev[n], x.ctypes.data, x.nbytes, h2d, stream))

    def download():
        for n, y in ys.items():
            _ck(rt.cudaMemcpyAsync(y.ctypes.data, dev[n], y.nbytes, d2h, stream))

    try:
        upload()
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
                upload()
            _ck(rt.cudaEventRecord(start, stream))
            q0 = time.perf_counter()
            enqueue()
            q1 = time.perf_counter()
            _ck(rt.cudaEventRecord(end, stream))
            if not no_transfers:
                download()
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
            download()
            _ck(rt.cudaStreamSynchronize(stream))
        return {"outputs": [ys[n] for n in outputs], "gpu_ms": gpu, "e2e_ms": e2e, "enqueue_ms": enq, "transfer_ms": xfer}
    finally:
        for ptr in dev.values():
            rt.cudaFree(ptr)
        rt.cudaStreamDestroy(stream)
