"""Running a TensorRT engine on the GPU: device buffers, execute_async_v3 with tensor
addresses, CUDA events around the GPU work, a host clock around the whole call, optional
CUDA-graph capture. Two CUDA bindings behind one small interface: cuda-python
(``cuda.bindings``, the ``smoke`` extra) and pycuda, which most users' TensorRT code uses and
which is taken when it is the one installed."""

from __future__ import annotations

import importlib.util
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


class CudaPython:
    """cuda-python's runtime API: what TensorRT itself uses, so one primary context."""

    name = "cuda-python"
    graphs = True

    def __init__(self, device: int = 0):
        self.rt = rt = cuda_runtime()
        _ck(rt.cudaSetDevice(device))
        self.h2d, self.d2h = rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.stream = _ck(rt.cudaStreamCreate())
        self.handle = int(self.stream)
        self.ptrs: list = []

    def malloc(self, nbytes: int) -> int:
        self.ptrs.append(_ck(self.rt.cudaMalloc(max(nbytes, 1))))
        return int(self.ptrs[-1])

    def upload(self, ptr: int, host) -> None:
        _ck(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, self.h2d, self.stream))

    def download(self, host, ptr: int) -> None:
        _ck(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, self.d2h, self.stream))

    def event(self):
        return _ck(self.rt.cudaEventCreate())

    def record(self, ev) -> None:
        _ck(self.rt.cudaEventRecord(ev, self.stream))

    def elapsed_ms(self, a, b) -> float:
        return _ck(self.rt.cudaEventElapsedTime(a, b))

    def synchronize(self) -> None:
        _ck(self.rt.cudaStreamSynchronize(self.stream))

    def capture(self, work):
        """Run ``work`` under stream capture; the instantiated graph, replayed by ``launch``."""
        rt = self.rt
        _ck(rt.cudaStreamBeginCapture(self.stream, rt.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal))
        work()
        return _ck(rt.cudaGraphInstantiate(_ck(rt.cudaStreamEndCapture(self.stream)), 0))

    def launch(self, graph) -> None:
        _ck(self.rt.cudaGraphLaunch(graph, self.stream))

    def close(self) -> None:
        for p in self.ptrs:
            self.rt.cudaFree(p)
        self.rt.cudaStreamDestroy(self.stream)


class PyCuda:
    """pycuda's driver API on the device's primary context, the one TensorRT's runtime calls
    use (``pycuda.autoinit`` would make a second context). pycuda wraps no CUDA-graph API."""

    name = "pycuda"
    graphs = False

    def __init__(self, device: int = 0):
        try:
            import pycuda.driver as drv
        except ImportError as exc:
            raise SmokeError(f"pycuda does not import ({exc}): pip install 'trtdoctor[smoke]' for cuda-python") from None
        self.drv = drv
        drv.init()
        self.ctx = drv.Device(device).retain_primary_context()
        self.ctx.push()
        self.stream = drv.Stream()
        self.handle = self.stream.handle
        self.allocs: list = []

    def malloc(self, nbytes: int) -> int:
        self.allocs.append(self.drv.mem_alloc(max(nbytes, 1)))
        return int(self.allocs[-1])

    def upload(self, ptr: int, host) -> None:
        self.drv.memcpy_htod_async(ptr, host, self.stream)

    def download(self, host, ptr: int) -> None:
        self.drv.memcpy_dtoh_async(host, ptr, self.stream)

    def event(self):
        return self.drv.Event()

    def record(self, ev) -> None:
        ev.record(self.stream)

    def elapsed_ms(self, a, b) -> float:
        return b.time_since(a)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self) -> None:
        for a in self.allocs:
            a.free()
        self.ctx.pop()


BINDINGS = {"cuda-python": ("cuda", CudaPython), "pycuda": ("pycuda", PyCuda)}


def binding_for(preferred: str = "auto", device: int = 0):
    """cuda-python when installed, else pycuda; the absence of both is an install step."""
    names = list(BINDINGS) if preferred == "auto" else [preferred]
    for name in names:
        module, cls = BINDINGS[name]
        if importlib.util.find_spec(module) is not None:
            return cls(device)
    if preferred == "pycuda":
        raise SmokeError("pycuda is not installed")
    return CudaPython(device)  # raises cuda-python's install hint


def _out_dtype(trt, engine, name):
    import numpy as np

    return np.dtype(trt.nptype(engine.get_tensor_dtype(name)))


def run_engine(trt, engine, feeds: dict, outputs: list[str], iterations: int, warmup: int, no_transfers: bool = False, cuda_graph: bool = False, binding: str = "auto", device: int = 0) -> dict:
    """``trt``: the module that built the engine (tensorrt or tensorrt_rtx); ``feeds``: host
    arrays by input name; ``outputs``: the output names, in graph order."""
    cuda = binding_for(binding, device)
    try:
        return _run(cuda, trt, engine, feeds, outputs, iterations, warmup, no_transfers, cuda_graph)
    finally:
        cuda.close()


def _run(cuda, trt, engine, feeds, outputs, iterations, warmup, no_transfers, cuda_graph) -> dict:
    import numpy as np

    ctx = engine.create_execution_context()
    for name, x in feeds.items():
        ctx.set_input_shape(name, x.shape)
    hosts = {n: np.ascontiguousarray(x) for n, x in feeds.items()}
    ys = {n: np.empty(tuple(ctx.get_tensor_shape(n)), dtype=_out_dtype(trt, engine, n)) for n in outputs}
    dev = {n: cuda.malloc(a.nbytes) for n, a in (hosts | ys).items()}
    for n, ptr in dev.items():
        ctx.set_tensor_address(n, ptr)
    start, end, t_a, t_b = (cuda.event() for _ in range(4))
    notes = []

    def upload():
        for n, x in hosts.items():
            cuda.upload(dev[n], x)

    def download():
        for n, y in ys.items():
            cuda.download(y, dev[n])

    def execute():
        if not ctx.execute_async_v3(cuda.handle):
            raise SmokeError("execute_async_v3 failed")

    upload()
    graph = None
    if cuda_graph and cuda.graphs:
        graph = cuda.capture(execute)
    elif cuda_graph:
        notes.append(f"--cuda-graph: {cuda.name} has no CUDA-graph API, so the engine was enqueued each time (cuda-python has one)")
    enqueue = (lambda: cuda.launch(graph)) if graph is not None else execute
    gpu, e2e, enq, xfer = [], [], [], []
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        if not no_transfers:
            cuda.record(t_a)
            upload()
        cuda.record(start)
        q0 = time.perf_counter()
        enqueue()
        q1 = time.perf_counter()
        cuda.record(end)
        if not no_transfers:
            download()
            cuda.record(t_b)
        cuda.synchronize()
        t1 = time.perf_counter()
        if i >= warmup:
            g = cuda.elapsed_ms(start, end)
            gpu.append(g)
            e2e.append((t1 - t0) * 1e3)
            enq.append((q1 - q0) * 1e3)
            if not no_transfers:
                xfer.append(cuda.elapsed_ms(t_a, t_b) - g)
    if no_transfers:
        download()
        cuda.synchronize()
    return {"outputs": [ys[n] for n in outputs], "gpu_ms": gpu, "e2e_ms": e2e, "enqueue_ms": enq, "transfer_ms": xfer, "binding": cuda.name, "cuda_graph": graph is not None, "notes": notes}
