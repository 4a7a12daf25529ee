"""The smoke: preflight → build → validate → benchmark → report (trtdoctor.smoke/1)."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..findings import Finding
from . import trtexec
from .backends import OrtBaseline, SmokeError, TensorRTBackend, engine_cache, first_line, ort_baseline
from .calibrate import int8_build, int8_text
from .cells import build_cell, engine_feeds, failed, guard, run_cell
from .inputs import BadInput, batch_of, describe, load_npz, parse_shapes, random_feeds, resolve, user_feeds
from .sweep import add_speedups, check_covered, feeds_at, table_text

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

    for module, backend in (("tensorrt", "tensorrt"), ("tensorrt_rtx", "tensorrt-rtx")):
        if importlib.util.find_spec(module) or importlib.util.find_spec(module + "_bindings"):  # pip's bindings wheel: see TensorRTBackend.available
            return backend
    if (snapshot.get("tensorflow") or {}).get("installs"):
        return "tf-trt"
    return "tensorrt"


def smoke(report: dict, findings: list[Finding], opts: dict) -> dict:
    """The smoke report; a BadInput (the user's model, shapes or data) propagates."""
    from . import tftrt

    snap = report["snapshot"]
    backend_name = choose_backend(opts["backend"], snap, opts["model"])
    if tftrt.handles(backend_name, opts["model"]):
        return tf_smoke(report, findings, opts, backend_name)
    try:
        prepared, missing = prepare(opts), None
    except BadInput:
        raise
    except SmokeError as exc:  # onnx or numpy absent: said after the preflight
        prepared, missing = None, str(exc)
    if opts.get("export") and prepared is not None:
        return export_report(prepared, opts, report)
    out = header(snap, opts, backend_name)
    refused = preflight(out, findings, snap, opts)
    if refused is None:
        return out
    if prepared is None:
        out["reason"] = missing
        return out
    out["model"] = prepared.describe()
    try:
        return _run(out, backend_name, opts, prepared, install_hint(findings), refused)
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
        "request": request_of(opts) | {"backend": backend_name},
        "preflight": [],
        "result": "FAIL",
    }


def preflight(out: dict, findings: list[Finding], snap: dict, opts: dict) -> dict | None:
    """The check's errors in the backend's areas stop the smoke unless --force, and so does a
    refused precision when every precision asked is refused: None, ``out`` says why. Else the
    precisions refused (their cells are rows with the reason; a sweep's others still run)."""
    backend_name = out["request"]["backend"]
    blocking = [f for f in findings if f.area in PREFLIGHT_AREAS.get(backend_name, set()) and f.severity == "error"]
    out["preflight"] = [f.to_dict() for f in blocking]
    if blocking and not opts["force"]:
        out["reason"] = f"preflight: {len(blocking)} problem(s) stop the {backend_name} smoke; `trtdoctor fix` addresses them"
        return None
    refused = {} if opts["force"] else {p: f"{r}; pass --force to try anyway" for p in precisions_of(opts) if (r := precision_refusal(snap, p, opts["device"]))}
    if refused and len(refused) == len(precisions_of(opts)):
        out["reason"] = f"refused: {next(iter(refused.values()))}"
        return None
    return refused


def tf_smoke(report: dict, findings: list[Finding], opts: dict, backend_name: str) -> dict:
    """TF-TRT, or a SavedModel on any backend: TensorFlow runs in a child (smoke/tftrt.py)."""
    from . import tftrt

    if opts.get("export"):
        raise BadInput(f"--export takes an ONNX model; convert --model {opts['model']} with tf2onnx first")
    if len(precisions_of(opts)) > 1 or len(batches_of(opts)) > 1:
        raise BadInput("--precision and --batch lists sweep ONNX models on TensorRT; TensorFlow models and tf-trt take one of each")
    snap = report["snapshot"]
    out = header(snap, opts, backend_name)
    if preflight(out, findings, snap, opts) is None:
        return out
    try:
        return tftrt.smoke(out, findings, opts, snap)
    except BadInput:
        raise
    except SmokeError as exc:
        out["reason"] = str(exc)
        return out


def request_of(opts: dict) -> dict:
    """What was asked; ``precision`` and ``batch`` are the first of their lists."""
    keys = ("precision", "batch", "iterations", "warmup", "model", "device", "cuda_graph", "no_transfers")
    return {k: opts[k] for k in keys} | {"precisions": precisions_of(opts), "batches": batches_of(opts), "workspace_mib": opts.get("workspace"), "verbose": bool(opts.get("verbose"))}


def reference_outputs(prep, opts: dict, feeds: dict | None = None) -> list:
    """FP32 on onnxruntime's CPU provider: what every other output is judged by."""
    try:
        baseline = OrtBaseline(prep.model)
    except ImportError:
        raise SmokeError("onnxruntime is not installed (the baseline): pip install 'trtdoctor[smoke]'") from None
    except Exception as exc:  # onnxruntime's own errors: the model does not load or run  # noqa: BLE001
        raise BadInput(f"onnxruntime cannot load --model {opts['model']}: {first_line(exc)}") from None
    try:
        return baseline.run(prep.feeds if feeds is None else feeds)
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"onnxruntime cannot run --model {opts['model']} on these shapes: {first_line(exc)}") from None


def timed_baseline(prep, opts: dict, stack: dict, feeds: dict | None = None) -> dict:
    """The baseline people compare with; the CPU session above stays the accuracy reference."""
    return ort_baseline(prep.model, prep.feeds if feeds is None else feeds, opts["iterations"], opts["warmup"], bool(stack.get("libnvinfer")))


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
        batches = batches_of(opts)
        self.profile = resolve(self.inputs, max(batches), given["shapes"], given["min_shapes"], given["opt_shapes"], given["max_shapes"])
        if len(batches) > 1:
            check_covered(self.inputs, self.profile, batches)
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


def batches_of(opts: dict) -> list[int]:
    return opts.get("batches") or [opts["batch"]]


def precisions_of(opts: dict) -> list[str]:
    return opts.get("precisions") or [opts["precision"]]


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
        raise BadInput(f"--model {p} is not a valid ONNX model: {first_line(exc)}") from None
    return model


def install_hint(findings: list[Finding]) -> str:
    """What the check says installs TensorRT here, so a smoke that cannot start says it too."""
    f = next((f for f in findings if f.area == "tensorrt" and f.fix and f.fix.commands), None)
    if f is None:
        return "`trtdoctor check --only tensorrt` finds no install problem to fix"
    return f"`trtdoctor check` ({f.id}) says: {f.fix.commands[0]}"


def _run(out: dict, backend_name: str, opts: dict, prep: Prepared, hint: str = "", refused: dict | None = None) -> dict:
    """Every (precision, batch) cell: one engine per precision, each batch run on it."""
    batches, precisions = batches_of(opts), precisions_of(opts)
    feeds = {batches[0]: prep.feeds} if len(batches) == 1 else {b: feeds_at(prep, b) for b in batches}
    if resized := resized_input_notes(prep, batches):
        out["notes"] = resized
    refs = {b: reference_outputs(prep, opts, feeds[b]) for b in batches}
    baselines = {b: timed_baseline(prep, opts, out["stack"], feeds[b]) for b in batches}
    out["baseline"] = baselines[batches[0]]
    if len(batches) > 1:
        out["baselines"] = [{"batch": b} | baselines[b] for b in batches]
    be = TensorRTBackend("tensorrt_rtx" if backend_name == "tensorrt-rtx" else "tensorrt", opts.get("verbose", False), opts.get("echo"))
    ok, why = be.available()
    if not ok:
        raise SmokeError(f"{backend_name} is not usable: {why}; {hint}")
    out["backend"] = be.describe()
    cache = engine_cache(opts)
    meta = {"model": opts["model"], "backend": be.name, "tensorrt": be.trt.__version__, "gpu": out["stack"]["gpu"], "compute_capability": out["stack"]["compute_capability"]}
    ref = refs[batches[0]] if len(batches) == 1 else reference_outputs(prep, opts) if {"int8", "best"} & set(precisions) else None
    rows, builds, graphs = [], [], {}
    for precision in precisions:
        cell = Cells(be, prep, opts, feeds, refs, baselines, out, ref)
        rows += cell.precision(precision, cache, meta, (refused or {}).get(precision))
        builds += [cell.build] if cell.build else []
        if cell.model is not None and cell.model is not prep.model:
            graphs[precision] = cell.model  # INT8's Q/DQ model: trtexec gets it too
    add_speedups(rows)
    out["builds"], out["runs"] = builds, rows
    if opts.get("trtexec", True):
        tx = trtexec.baseline(prep, opts | {"calib_cache": calibrated_cache(out)}, be.strongly_typed, cache, precisions, batches, graphs)
        if tx is None:
            out.setdefault("notes", []).append(trtexec.NOTE_ABSENT)
        else:
            out["trtexec"] = tx
    return conclude(out, rows)


def resized_input_notes(prep: Prepared, batches: list[int]) -> list[str]:
    """A sweep runs the user's --input-data rows at each batch: say where it repeats or cuts them."""
    if len(batches) == 1 or prep.feeds_from.startswith("random"):
        return []
    given = batch_of(prep.feeds)
    return [f"--input-data holds {given} rows: batch {b} " + ("repeats them" if b > given else f"runs the first {b}") for b in batches if b != given]


def calibrated_cache(out: dict) -> str | None:
    """The calibration cache our implicit INT8 read or wrote: trtexec's --int8 builds take it."""
    q = out.get("int8") or {}
    return q.get("cache") if q.get("mode") == "implicit" and (q.get("cache_written") or q.get("cache_reused")) else None


class Cells:
    """The cells of one precision: its engine, built once, and each batch run on it."""

    def __init__(self, be, prep: Prepared, opts: dict, feeds: dict, refs: dict, baselines: dict, out: dict, ref: list | None):
        self.be, self.prep, self.opts, self.feeds, self.refs, self.baselines = be, prep, opts, feeds, refs, baselines
        self.out, self.ref = out, ref  # ref: FP32 outputs on prep.feeds, what INT8's Q/DQ model is checked by
        self.build = self.model = None

    def precision(self, precision: str, cache: Path, meta: dict, refusal: str | None) -> list[dict]:
        if refusal:
            return [failed(precision, b, f"refused: {refusal}") for b in self.feeds]
        built, why = guard(self._build, precision, cache, meta)
        if why:
            return [failed(precision, b, why) for b in self.feeds]
        self.build = built["build"]
        engine, why = guard(self.be.load, built["plan"])
        return [self.batch(precision, b, engine, why) for b in self.feeds]

    def _build(self, precision: str, cache: Path, meta: dict) -> dict:
        """INT8's calibrator or Q/DQ model (calibrate.py) around the build of the engine. How
        INT8 was made goes in this precision's build, and the first one also in ``out["int8"]``
        (also when it stopped the build: the figures say why)."""
        said: dict = {}
        try:
            with int8_build(self.be, self.prep, self.ref, self.opts | {"precision": precision}, said) as (model, calibrator):
                built = build_cell(self.be, model, precision, self.prep.profile, cache, meta, calibrator, workspace_mib=self.opts.get("workspace"))
        finally:
            if "int8" in said:
                self.out.setdefault("int8", said["int8"])
        if "int8" in said:
            built["build"]["int8"] = said["int8"]
        self.model = model
        return built

    def batch(self, precision: str, batch: int, engine, why: str | None) -> dict:
        sizes = {"engine_bytes": self.build["engine_bytes"], "build_seconds": self.build["seconds"], "baseline_ms": self.baselines[batch]["latency_ms"]["median"]}
        if why is None:
            feeds = engine_feeds(self.feeds[batch], self.be.input_dtype)
            names = [o.name for o in self.prep.outputs]
            row, why = guard(run_cell, self.be.trt, engine, feeds, names, self.refs[batch], precision, self.opts, sizes["baseline_ms"])
            if row is not None:
                return {"precision": precision, "batch": batch} | row | sizes
        return failed(precision, batch, why) | sizes


def conclude(out: dict, rows: list[dict]) -> dict:
    """PASS only if every cell passes; a single cell keeps today's top-level sections."""
    if len(rows) == 1:
        r = rows[0]
        if out.get("builds"):
            out["build"] = {k: v for k, v in out["builds"][0].items() if k not in ("precision", "int8")}  # int8: the top-level key
        if r.get("accuracy"):
            out["validation"] = r["accuracy"]
            out["benchmark"] = {k: r[k] for k in ("gpu_ms", "e2e_ms", "throughput_items_per_s", "speedup_vs_baseline", "warnings", "cuda_binding", "cuda_graph") if k in r}
    bad = [r for r in rows if not r["passed"]]
    out["result"] = "FAIL" if bad else "PASS"
    if len(rows) == 1 and bad:
        out["reason"] = bad[0]["reason"]
    elif bad and len({r["reason"] for r in bad}) == 1 and len(bad) == len(rows):
        out["reason"] = f"every cell failed: {bad[0]['reason']}"
    elif bad:
        first = bad[0]
        out["reason"] = f"{len(bad)} of {len(rows)} cells failed; {first['precision']} batch {first['batch']}: {first['reason']}"
    return out


def smoke_text(r: dict) -> str:
    q = r["request"]
    precisions, batches = q.get("precisions") or [q["precision"]], q.get("batches") or [q["batch"]]
    lines = [f"trtdoctor smoke — {q['backend']} {','.join(precisions)} batch {','.join(map(str, batches))}"]
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
    for b in r.get("baselines") or ([r["baseline"]] if r.get("baseline") else []):
        s, at = b["latency_ms"], f" batch {b['batch']}" if "batch" in b else ""
        lines.append(f"  baseline {b['name']} {b['version']}{at}: median {s['median']:.3f} p90 {s['p90']:.3f} p99 {s['p99']:.3f} ms, {b.get('throughput_items_per_s', 0):.1f} items/s")
        lines += [f"  ! baseline {w}" for w in b.get("warnings", [])]
    if r.get("tensorflow"):
        from .tftrt import summary_lines

        lines += summary_lines(r)
    if r.get("export"):
        from .export import summary_text

        lines += ["  " + line for line in summary_text(r["export"]).splitlines()]
    lines += int8_text(r.get("int8"))
    for b in r.get("builds") or ([r["build"]] if r.get("build") else []):
        which = f" {b['precision']}" if "precision" in b and len(precisions) > 1 else ""
        limit = f", workspace ≤ {b['workspace_mib']} MiB" if b.get("workspace_mib") else ""
        lines.append(f"  build{which}: {b['seconds']} s, engine {b['engine_bytes']} bytes{limit} → {b['engine']}")
        lines += [f"  ! build{which}: TensorRT warned: {w['message']}" + (f" (×{w['count']})" if w["count"] > 1 else "") for w in b.get("warnings", [])]
    if len(r.get("runs") or []) > 1:
        lines += table_text(r["runs"])
    if r.get("validation"):
        v = r["validation"]
        lines.append(f"  validate: cosine {v['cosine']:.6f}, top-1 {v['top1_agreement']:.3f}, max abs {v['max_abs_error']:.4g} ({'ok' if v['passed'] else 'MISMATCH'})")
    if r.get("benchmark"):
        bm = r["benchmark"]
        for k in ("gpu_ms", "e2e_ms"):
            s = bm[k]
            lines.append(f"  {k[:-3]:<4} ms: min {s['min']:.3f} mean {s['mean']:.3f} median {s['median']:.3f} p90 {s['p90']:.3f} p99 {s['p99']:.3f} max {s['max']:.3f}")
        ran = f" ({bm['cuda_binding']}{', CUDA graph' if bm.get('cuda_graph') else ''})" if bm.get("cuda_binding") else ""
        lines.append(f"  throughput {bm['throughput_items_per_s']:.1f} items/s, {bm['speedup_vs_baseline']:.1f}× the baseline{ran}")
        lines += [f"  ! {w}" for w in bm["warnings"]]
    lines += trtexec_text(r)
    lines += [f"  note: {n}" for n in r.get("notes", [])]
    lines.append(f"{r['result']}" + (f": {r['reason']}" if r.get("reason") else ""))
    return "\n".join(lines)


def trtexec_text(r: dict) -> list[str]:
    """trtexec's figures beside ours: one line per cell it ran."""
    tx = r.get("trtexec")
    if not tx:
        return []
    ours = {(x["precision"], x["batch"]): x for x in r.get("runs", [])}
    lines = []
    for t in tx["runs"]:
        head = f"  trtexec{' ' + tx['version'] if tx.get('version') else ''} {t['precision']} batch {t['batch']}"
        if not t["passed"]:
            lines.append(f"{head}: ✗ {t['reason']}")
            continue
        g = t["gpu_ms"]
        pct = " ".join(f"{k} {g[k]:.3f}" for k in ("p90", "p99") if k in g)
        mine = (ours.get((t["precision"], t["batch"])) or {}).get("gpu_ms")
        beside = f"; ours: GPU median {mine['median']:.3f} ms" if mine else ""
        qps = f", {t['throughput_qps']:.1f} qps ({t['throughput_items_per_s']:.1f} items/s)" if "throughput_qps" in t else ""
        lines.append(f"{head}: GPU median {g.get('median', float('nan')):.3f} {pct} ms{qps}{beside}")
    return lines
