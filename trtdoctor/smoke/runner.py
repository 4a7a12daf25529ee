"""The smoke: preflight → build → validate → benchmark → report (trtdoctor.smoke/1)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import __version__
from ..findings import Finding
from .backends import OrtBaseline, SmokeError, TensorRTBackend, ort_baseline, save_engine
from .calibrate import int8_build, int8_text
from .inputs import BadInput, batch_of, describe, load_npz, parse_shapes, random_feeds, resolve, user_feeds
from .stats import summarize, warnings_for
from .validate import compare_all

SCHEMA = "trtdoctor.smoke/1"
PREFLIGHT_AREAS = {"tensorrt": {"driver", "gpus", "libraries", "tensorrt"}, "tensorrt-rtx": {"driver", "gpus", "tensorrt"}, "tf-trt": {"driver", "gpus", "tensorflow"}}


def stack_of(snapshot: dict, device: int) -> dict:
    gpus = (snapshot.get("gpus") or {}).get("devices") or []
    gpu = next((g for g in gpus if g.get("index") == device), gpus[0] if gpus else {})
    libs = (snapshot.get("libraries") or {}).get("libraries") or {}
    pick = {k: next((f"{v.get('version') or '?'} ({s})" for s, v in libs.items() if v.get("key") == k and v.get("resolved")), None) for k in ("cudart", "cudnn", "nvinfer")}
    return {
        "driver": (snapshot.get("driver") or {}).get("version"),
        "cuda_driver": (snapshot.get("driver") or {}).get("cuda_driver_version"),
        "gpu": gpu.get("name"),
        "compute_capability": gpu.get("compute_capability"),
        "cudart": pick["cudart"],
        "cudnn": pick["cudnn"],
        "libnvinfer": pick["nvinfer"],
        "tensorrt": (snapshot.get("precision") or {}).get("tensorrt") or _rtx_version(snapshot),
    }


def _rtx_version(snapshot: dict) -> str | None:
    for inst in (snapshot.get("tensorrt") or {}).get("installs", []):
        for name, version in inst.get("parts", {}).items():
            if name.startswith("tensorrt-rtx"):
                return f"RTX {version}"
    return None


def precision_refusal(snapshot: dict, precision: str, device: int) -> str | None:
    rows = (snapshot.get("precision") or {}).get("gpus") or []
    row = next((r for r in rows if r.get("index") == device), rows[0] if rows else None)
    if not row or precision in ("fp32", "best"):
        return None
    sup = (row.get("support") or {}).get(precision)
    cc = row.get("compute_capability") or "?"
    if sup == "slow":
        return f"{precision.upper()} on {row.get('name')} (sm_{cc.replace('.', '')}) runs far slower than FP32 ({row.get('note') or 'no fast ' + precision.upper()})"
    if sup is False:
        return f"{row.get('name')} (sm_{cc.replace('.', '')}) has no {precision.upper()} support in TensorRT"
    return None


def choose_backend(requested: str, snapshot: dict, model: str = "reference") -> str:
    if requested != "auto":
        return requested
    import importlib.util

    from .tftrt import is_saved_model, pick_install, refusal

    if is_saved_model(model):  # a TensorFlow model: TF-TRT where this TensorFlow has it
        inst = pick_install(snapshot)
        return "tf-trt" if inst and not refusal(inst, "tf-trt") else "tensorrt"

    if importlib.util.find_spec("tensorrt"):
        return "tensorrt"
    if importlib.util.find_spec("tensorrt_rtx"):
        return "tensorrt-rtx"
    if (snapshot.get("tensorflow") or {}).get("installs"):
        return "tf-trt"
    return "tensorrt"


def smoke(report: dict, findings: list[Finding], opts: dict) -> dict:
    """The smoke report; a BadInput (the user's model, shapes or data) propagates."""
    from . import tftrt

    if tftrt.handles(choose_backend(opts["backend"], report["snapshot"], opts["model"]), opts["model"]):
        return tf_smoke(report, findings, opts)
    try:
        prepared, missing = prepare(opts), None
    except BadInput:
        raise
    except SmokeError as exc:  # onnx or numpy absent: said after the preflight
        prepared, missing = None, str(exc)
    if opts.get("export") and prepared is not None:
        return export_report(prepared, opts, report)
    snap = report["snapshot"]
    backend_name = choose_backend(opts["backend"], snap)
    out = header(snap, opts, backend_name)
    if not passes_preflight(out, findings, snap, opts):
        return out
    if prepared is None:
        out["reason"] = missing
        return out
    out["model"] = prepared.describe()
    try:
        return _run(out, backend_name, opts, prepared, install_hint(findings))
    except BadInput:
        raise
    except SmokeError as exc:
        out["reason"] = str(exc)
        return out


def header(snap: dict, opts: dict, backend_name: str) -> dict:
    return {
        "schema": SCHEMA,
        "tool": {"name": "trtdoctor", "version": __version__},
        "stack": stack_of(snap, opts["device"]),
        "request": {k: opts[k] for k in ("precision", "batch", "iterations", "warmup", "model", "device", "cuda_graph", "no_transfers")} | {"backend": backend_name},
        "preflight": [],
        "result": "FAIL",
    }


def passes_preflight(out: dict, findings: list[Finding], snap: dict, opts: dict) -> bool:
    """The check's errors in the backend's areas, and a refused precision, stop the smoke
    (``out`` says why) unless --force."""
    backend_name = out["request"]["backend"]
    blocking = [f for f in findings if f.area in PREFLIGHT_AREAS.get(backend_name, set()) and f.severity == "error"]
    out["preflight"] = [f.to_dict() for f in blocking]
    if blocking and not opts["force"]:
        out["reason"] = f"preflight: {len(blocking)} problem(s) stop the {backend_name} smoke; `trtdoctor fix` addresses them"
        return False
    refusal = precision_refusal(snap, opts["precision"], opts["device"])
    if refusal and not opts["force"]:
        out["reason"] = f"refused: {refusal}; pass --force to try anyway"
        return False
    return True


def tf_smoke(report: dict, findings: list[Finding], opts: dict) -> dict:
    """TF-TRT, or a SavedModel on any backend: TensorFlow runs in a child (smoke/tftrt.py)."""
    from . import tftrt

    if opts.get("export"):
        raise BadInput(f"--export takes an ONNX model; convert --model {opts['model']} with tf2onnx first")
    snap = report["snapshot"]
    out = header(snap, opts, choose_backend(opts["backend"], snap, opts["model"]))
    if not passes_preflight(out, findings, snap, opts):
        return out
    try:
        return tftrt.smoke(out, findings, opts, snap)
    except BadInput:
        raise
    except SmokeError as exc:
        out["reason"] = str(exc)
        return out


def reference_outputs(prep, opts: dict) -> list:
    """FP32 on onnxruntime's CPU provider: what every other output is judged by."""
    try:
        baseline = OrtBaseline(prep.model)
    except ImportError:
        raise SmokeError("onnxruntime is not installed (the baseline): pip install 'trtdoctor[smoke]'") from None
    except Exception as exc:  # onnxruntime's own errors: the model does not load or run  # noqa: BLE001
        raise BadInput(f"onnxruntime cannot load --model {opts['model']}: {str(exc).strip().splitlines()[0][:200]}") from None
    try:
        return baseline.run(prep.feeds)
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"onnxruntime cannot run --model {opts['model']} on these shapes: {str(exc).strip().splitlines()[0][:200]}") from None


def timed_baseline(prep, opts: dict, stack: dict) -> dict:
    """The baseline people compare with; the CPU session above stays the accuracy reference."""
    return ort_baseline(prep.model, prep.feeds, opts["iterations"], opts["warmup"], bool(stack.get("libnvinfer")))


def export_report(prep, opts: dict, report: dict) -> dict:
    """--export needs no GPU and no TensorRT: no preflight, the models and their accuracy."""
    from .export import export

    out = {
        "schema": SCHEMA,
        "tool": {"name": "trtdoctor", "version": __version__},
        "stack": stack_of(report["snapshot"], opts["device"]),
        "request": {k: opts[k] for k in ("precision", "batch", "iterations", "warmup", "model", "device", "cuda_graph", "no_transfers")} | {"backend": "export"},
        "preflight": [],
        "result": "FAIL",
        "model": prep.describe(),
    }
    try:
        man = export(prep, reference_outputs(prep, opts), opts["export"], opts["precision"], opts.get("calib_data"))
    except BadInput:
        raise
    except SmokeError as exc:
        out["reason"] = str(exc)
        return out
    out["export"] = man
    out["baseline"] = timed_baseline(prep, opts, out["stack"])
    out["result"] = "PASS" if man["passed"] else "FAIL"
    if not man["passed"]:
        bad = [p for p, a in man["accuracy"].items() if not a["passed"]]
        out["reason"] = f"{', '.join(bad)} outputs differ from FP32 on onnxruntime beyond tolerance (see export.accuracy)"
    return out


class Prepared:
    """The model, its inputs and outputs, the profile and the feeds of one smoke."""

    def __init__(self, model, opts: dict):
        self.model, self.source = model, opts["model"]
        self.inputs, self.outputs = describe(model)
        given = {k: parse_shapes(opts.get(k), "--" + k.replace("_", "-")) for k in ("shapes", "min_shapes", "opt_shapes", "max_shapes")}
        self.profile = resolve(self.inputs, opts["batch"], given["shapes"], given["min_shapes"], given["opt_shapes"], given["max_shapes"])
        data = opts.get("input_data")
        self.feeds = user_feeds(self.inputs, self.profile, load_npz(data)) if data else random_feeds(self.inputs, self.profile.opt())
        self.feeds_from = data or "random (seed 1)"

    def describe(self) -> dict:
        return {
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "profile": self.profile.to_dict(),
            "feeds": self.feeds_from,
        }


def prepare(opts: dict) -> Prepared:
    return Prepared(_load_model(opts), opts)


def _load_model(opts):
    try:
        import numpy  # noqa: F401
        import onnx
    except ImportError as exc:
        raise SmokeError(f"{exc.name} is not installed: pip install 'trtdoctor[smoke]'") from None
    from .model import reference_model

    if opts["model"] == "reference":
        return reference_model()
    p = Path(opts["model"])
    if p.is_dir():
        raise BadInput(f"--model {p}: a folder, but no SavedModel (no saved_model.pb in it)")
    if p.suffix != ".onnx":
        raise BadInput(f"--model {p}: only ONNX models, SavedModel folders and the reference model are supported")
    if not p.is_file():
        raise BadInput(f"--model {p}: {'is not a regular file' if p.exists() else 'no such file'}")
    try:
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several types for a broken file  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadInput(f"--model {p} is not a valid ONNX model: {first[:200]}") from None
    return model


def install_hint(findings: list[Finding]) -> str:
    """What the check says installs TensorRT here, so a smoke that cannot start says it too."""
    f = next((f for f in findings if f.area == "tensorrt" and f.fix and f.fix.commands), None)
    if f is None:
        return "`trtdoctor check --only tensorrt` finds no install problem to fix"
    return f"`trtdoctor check` ({f.id}) says: {f.fix.commands[0]}"


def _run(out: dict, backend_name: str, opts: dict, prep: Prepared, hint: str = "") -> dict:
    ref = reference_outputs(prep, opts)
    out["baseline"] = timed_baseline(prep, opts, out["stack"])
    be = TensorRTBackend("tensorrt_rtx" if backend_name == "tensorrt-rtx" else "tensorrt")
    ok, why = be.available()
    if not ok:
        raise SmokeError(f"{backend_name} is not usable: {why}; {hint}")
    out["backend"] = be.describe()
    cache = Path(opts["engine_cache"] or os.path.join(os.path.expanduser("~"), ".cache", "trtdoctor", "engines"))
    cache.mkdir(parents=True, exist_ok=True)
    with int8_build(be, prep, ref, opts, out) as (model, calibrator):
        built = be.build(model, opts["precision"], prep.profile, cache, calibrator)
    meta = {
        "model": opts["model"],
        "backend": be.name,
        "tensorrt": be.trt.__version__,
        "precision": opts["precision"],
        "gpu": out["stack"]["gpu"],
        "compute_capability": out["stack"]["compute_capability"],
        "strongly_typed": built["strongly_typed"],
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = save_engine(built["plan"], meta, cache)
    out["build"] = {"seconds": round(built["build_s"], 3), "engine_bytes": built["engine_bytes"], "engine": str(path), "flags": built["flags"], "strongly_typed": built["strongly_typed"]}
    engine = be.load(built["plan"])
    import numpy as np

    from .cuda_run import run_engine

    feeds = {k: v.astype(np.float16) if be.input_dtype == "float16" and v.dtype == np.float32 else v for k, v in prep.feeds.items()}
    res = run_engine(be.trt, engine, feeds, [o.name for o in prep.outputs], opts["iterations"], opts["warmup"], opts["no_transfers"], opts["cuda_graph"])
    val = compare_all(res["outputs"], ref, opts["precision"])
    out["validation"] = val
    gpu, e2e = summarize(res["gpu_ms"]), summarize(res["e2e_ms"])
    enq = summarize(res["enqueue_ms"])["median"]
    xfer = summarize(res["transfer_ms"])["median"] if res["transfer_ms"] else None
    out["benchmark"] = {
        "gpu_ms": gpu,
        "e2e_ms": e2e,
        "throughput_items_per_s": batch_of(prep.feeds) * 1e3 / e2e["median"],
        "speedup_vs_baseline": out["baseline"]["latency_ms"]["median"] / e2e["median"],
        "warnings": warnings_for(gpu, e2e, enq, xfer),
    }
    out["result"] = "PASS" if val["passed"] else "FAIL"
    if not val["passed"]:
        out["reason"] = f"outputs differ from the baseline beyond {opts['precision']} tolerance: cosine {val['cosine']:.5f}, top-1 {val['top1_agreement']:.3f}, max abs {val['max_abs_error']:.4f}"
    return out


def smoke_text(r: dict) -> str:
    lines = [f"trtdoctor smoke — {r['request']['backend']} {r['request']['precision']} batch {r['request']['batch']}"]
    st = r["stack"]
    lines.append(f"  stack: driver {st['driver']} (CUDA {st['cuda_driver']}), {st['gpu']} sm_{(st['compute_capability'] or '?').replace('.', '')}, TensorRT {st['tensorrt'] or 'not installed'}")
    for f in r.get("preflight", []):
        lines.append(f"  ✗ {f['title']}")
        if f.get("fix"):
            lines += [f"      $ {c}" for c in f["fix"]["commands"][:2]]
    for t in (r.get("model") or {}).get("inputs", []):
        rng = r["model"]["profile"].get(t["name"]) or {}
        dims = "x".join(str(d) for d in t["dims"])
        lines.append(f"  input {t['name']} {t['dtype']} {dims}: " + " / ".join("x".join(map(str, rng.get(k, []))) for k in ("min", "opt", "max")))
    if r.get("baseline"):
        b, s = r["baseline"], r["baseline"]["latency_ms"]
        lines.append(f"  baseline {b['name']} {b['version']}: median {s['median']:.3f} p90 {s['p90']:.3f} p99 {s['p99']:.3f} ms, {b.get('throughput_items_per_s', 0):.1f} items/s")
        lines += [f"  ! baseline {w}" for w in b.get("warnings", [])]
    if r.get("tensorflow"):
        from .tftrt import summary_lines

        lines += summary_lines(r)
    if r.get("export"):
        from .export import summary_text

        lines += ["  " + line for line in summary_text(r["export"]).splitlines()]
    lines += int8_text(r.get("int8"))
    if r.get("build"):
        b = r["build"]
        lines.append(f"  build: {b['seconds']} s, engine {b['engine_bytes']} bytes → {b['engine']}")
    if r.get("validation"):
        v = r["validation"]
        lines.append(f"  validate: cosine {v['cosine']:.6f}, top-1 {v['top1_agreement']:.3f}, max abs {v['max_abs_error']:.4g} ({'ok' if v['passed'] else 'MISMATCH'})")
    if r.get("benchmark"):
        bm = r["benchmark"]
        for k in ("gpu_ms", "e2e_ms"):
            s = bm[k]
            lines.append(f"  {k[:-3]:<4} ms: min {s['min']:.3f} mean {s['mean']:.3f} median {s['median']:.3f} p90 {s['p90']:.3f} p99 {s['p99']:.3f} max {s['max']:.3f}")
        lines.append(f"  throughput {bm['throughput_items_per_s']:.1f} items/s, {bm['speedup_vs_baseline']:.1f}× the baseline")
        lines += [f"  ! {w}" for w in bm["warnings"]]
    lines.append(f"{r['result']}" + (f": {r['reason']}" if r.get("reason") else ""))
    return "\n".join(lines)
