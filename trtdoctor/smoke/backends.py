"""Backends behind one small interface: ``available()``, ``build()``, ``load()``, ``run()``,
``describe()``. TensorRT and TensorRT-RTX share one implementation on the documented
Python API; onnxruntime on the CPU is the trusted baseline."""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path

from .. import knowledge
from .model import to_float16


class SmokeError(Exception):
    """The smoke cannot go on; the message says why in the user's terms."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """A library's error as one line of a reason: its first line, or its type when it says nothing."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


class OrtBaseline:
    """onnxruntime on the CPU: the trusted reference the engine's outputs are judged by."""

    def __init__(self, model, providers=("CPUExecutionProvider",)):
        import onnxruntime as ort

        self.version = ort.__version__
        so = ort.SessionOptions()
        so.log_severity_level = 4  # fatal only: its errors reach the user as our one line, not its colour log
        self.sess = ort.InferenceSession(model.SerializeToString(), so, providers=list(providers))
        self.provider = self.sess.get_providers()[0]  # what onnxruntime really took, after its own fallbacks
        self.name = PROVIDER_NAMES.get(self.provider, self.provider)

    def run(self, feeds: dict) -> list:
        return self.sess.run(None, feeds)

    def time(self, feeds: dict, iterations: int, warmup: int) -> list[float]:
        """The same clock as the engine's end-to-end time: host in, host out, per call."""
        for _ in range(warmup):
            self.run(feeds)
        out = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            self.run(feeds)
            out.append((time.perf_counter() - t0) * 1e3)
        return out


def best_providers(available: list[str], nvinfer_resolves: bool) -> list[str]:
    """The fastest onnxruntime provider this machine can use, falling back in order: the
    TensorRT EP only where libnvinfer resolves (else it fails at session start), the CUDA EP
    with onnxruntime-gpu, the CPU always."""
    order = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if nvinfer_resolves:
        order.insert(0, "TensorrtExecutionProvider")
    return [p for p in order if p in available] or ["CPUExecutionProvider"]


def ort_baseline(model, feeds: dict, iterations: int, warmup: int, nvinfer_resolves: bool) -> dict:
    """onnxruntime on the best provider, timed as the engine is: warm-up runs, then one host
    clock per call around inputs in and outputs out; percentiles by stats.summarize."""
    import onnxruntime as ort

    from .inputs import batch_of
    from .stats import summarize, warnings_for

    available = ort.get_available_providers()
    base, skipped = _first_session(model, best_providers(available, nvinfer_resolves))
    lat = summarize(base.time(feeds, iterations, warmup))
    return {
        "name": base.name,
        "version": base.version,
        "provider": base.provider,
        "available_providers": available,
        "latency_ms": lat,
        "throughput_items_per_s": batch_of(feeds) * 1e3 / lat["median"] if lat["median"] else 0.0,
        "warnings": skipped + warnings_for(None, lat),
    }


def _first_session(model, providers: list[str]):
    """A provider that fails to start (a missing CUDA or TensorRT library) is said and
    skipped; the CPU provider, last, always starts."""
    skipped = []
    for i, p in enumerate(providers):
        try:
            base = OrtBaseline(model, providers[i:])
        except Exception as exc:  # onnxruntime raises its own types for a provider that cannot start  # noqa: BLE001
            if p == "CPUExecutionProvider":
                raise
            skipped.append(f"{p} could not start: {first_line(exc, 160)}")
            continue
        if base.provider != p:  # onnxruntime may drop a provider with only a log line
            skipped.append(f"{p} was asked for but onnxruntime runs on {base.provider}")
        return base, skipped
    raise SmokeError("no onnxruntime provider could start")


PROVIDER_NAMES = {"TensorrtExecutionProvider": "onnxruntime-tensorrt", "CUDAExecutionProvider": "onnxruntime-cuda", "CPUExecutionProvider": "onnxruntime-cpu"}


class TensorRTBackend:
    """Native TensorRT (module ``tensorrt``) or TensorRT-RTX (``tensorrt_rtx``)."""

    def __init__(self, module: str = "tensorrt", verbose: bool = False, echo=None):
        self.module_name = module
        self.name = "tensorrt-rtx" if module == "tensorrt_rtx" else "tensorrt"
        self.trt = None
        self.verbose, self.echo = verbose, echo  # --verbose: keep INFO/VERBOSE; echo: show them as they come

    def available(self) -> tuple[bool, str]:
        """The module, or its ``_bindings`` twin: pip's bindings wheel installs
        ``tensorrt_rtx_bindings`` (``tensorrt_bindings``), and the package that names it
        ``tensorrt_rtx`` is a source package needing NVIDIA's index."""
        errors = []
        for name in (self.module_name, self.module_name + "_bindings"):
            try:
                self.trt = importlib.import_module(name)
            except ImportError as exc:
                errors.append(f"import {name} failed: {exc}")
                continue
            return True, self.trt.__version__
        return False, "; ".join(errors)

    @property
    def major(self) -> int:
        return int(self.trt.__version__.split(".")[0])

    @property
    def strongly_typed(self) -> bool:
        """TensorRT-RTX, and a TensorRT whose major removed the precision builder flags (kb
        removed_apis: BuilderFlag.FP16), have no FP16/INT8 flags: the graph's types rule."""
        return self.name == "tensorrt-rtx" or knowledge.removed_api(self.major, "BuilderFlag.FP16") is not None

    def _logger(self):
        from .buildlog import BuildLog

        trt, book = self.trt, BuildLog(self.verbose, self.echo)

        class Log(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)
                self.book = book

            @property
            def messages(self) -> list[str]:
                return book.messages

            def log(self, severity, msg):
                book.add(severity, msg)

        return Log()

    def build(self, model, precision: str, profile, cache_dir: Path | None, calibration=None, workspace_mib: int | None = None) -> dict:
        """``profile``: an inputs.Profile, one (min, opt, max) per input; ``workspace_mib``:
        the most scratch memory any layer may take (TensorRT's default: the whole GPU)."""
        trt = self.trt
        self.log = self._logger()
        builder = trt.Builder(self.log)
        flags = 0
        if self.major < 10 and self.name == "tensorrt":
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        if self.strongly_typed and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.log)
        graph = model
        self.input_dtype = "float32"
        if self.strongly_typed:
            if precision in ("fp16", "best"):
                graph, self.input_dtype = to_float16(model), "float16"
            elif precision == "int8" and not any(n.op_type == "QuantizeLinear" for n in model.graph.node):
                gone = knowledge.removed_api(self.major, "BuilderFlag.INT8")
                why = f" (TensorRT {gone['major']} removed BuilderFlag.INT8: {gone['replacement']})" if gone else ""
                raise SmokeError(f"{self.name} {trt.__version__} takes INT8 only from Q/DQ nodes in the graph{why}, and this model has none")
        if not parser.parse(graph.SerializeToString()):
            errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise SmokeError("ONNX parser failed: " + "; ".join(errs))
        config = builder.create_builder_config()
        if not self.strongly_typed:
            if precision in ("fp16", "best"):
                config.set_flag(trt.BuilderFlag.FP16)
            if precision in ("int8", "best"):
                config.set_flag(trt.BuilderFlag.INT8)
        if workspace_mib is not None:
            set_workspace(trt, config, workspace_mib << 20)
        prof = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile.shapes.items():
            prof.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(prof)
        if calibration is not None and not self.strongly_typed:
            config.int8_calibrator = calibration
            config.set_calibration_profile(prof)  # dynamic shapes: TensorRT calibrates at this profile's opt
        cache_file = cache_dir / "timing.cache" if cache_dir else None
        if hasattr(config, "create_timing_cache"):
            blob = cache_file.read_bytes() if cache_file and cache_file.exists() else b""
            cache = config.create_timing_cache(blob)
            config.set_timing_cache(cache, False)
        t0 = time.perf_counter()
        plan = builder.build_serialized_network(network, config)
        build_s = time.perf_counter() - t0
        if plan is None:
            raise SmokeError("engine build failed: " + " | ".join(self.log.messages[-3:]))
        plan = bytes(plan)
        if cache_file and hasattr(config, "get_timing_cache"):
            cache_file.write_bytes(bytes(config.get_timing_cache().serialize()))
        return {
            "plan": plan,
            "build_s": build_s,
            "engine_bytes": len(plan),
            "strongly_typed": self.strongly_typed,
            "flags": [f for f in ("FP16", "INT8") if not self.strongly_typed and config.get_flag(getattr(trt.BuilderFlag, f))],
            "warnings": self.log.book.warnings(),
            "log": self.log.book.lines() if self.verbose else None,
        }

    def load(self, plan: bytes):
        runtime = self.trt.Runtime(self.log)
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise SmokeError(f"{self.name} refused to load the engine it built: " + (self.log.messages[-1] if self.log.messages else "no reason given"))
        self.engine = engine
        return engine

    def describe(self) -> dict:
        return {"backend": self.name, "module": self.module_name, "version": self.trt.__version__ if self.trt else None, "strongly_typed": self.strongly_typed if self.trt else None}


def set_workspace(trt, config, nbytes: int) -> None:
    """The workspace pool through set_memory_pool_limit where the TensorRT has it; older
    releases only had the max_workspace_size attribute it replaced."""
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, nbytes)
    else:
        config.max_workspace_size = nbytes


def engine_cache(opts: dict) -> Path:
    """--engine-cache, or ~/.cache/trtdoctor/engines: where engines, sidecars, the timing cache
    and TensorFlow's converted models go; made when missing."""
    cache = Path(opts.get("engine_cache") or os.path.join(os.path.expanduser("~"), ".cache", "trtdoctor", "engines"))
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def save_engine(plan: bytes, meta: dict, cache_dir: Path) -> Path:
    """The serialized engine and a sidecar saying what it was built with and for."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(meta.get("model") or "reference").stem or "model"
    path = cache_dir / f"{stem}-{meta['backend']}-{meta['precision']}.plan"
    path.write_bytes(plan)
    path.with_suffix(".plan.json").write_text(json.dumps(meta, indent=2))
    return path
