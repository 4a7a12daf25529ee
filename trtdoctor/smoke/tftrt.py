"""The TensorFlow side of the smoke, parent half: TF-TRT (TrtGraphConverterV2) and SavedModels,
with TensorFlow as the baseline. Everything TensorFlow runs in a child, the TF install's own
interpreter (``tf_child.py``, sent as source): TF aborts the process without TensorRT, and
the install the check found may not be the interpreter trtdoctor runs in."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import knowledge, subproc
from ..findings import Finding
from .backends import SmokeError, engine_cache
from .inputs import ONNX_DTYPES, BadInput, TensorSpec, batch_of, load_npz, parse_shapes, random_feeds, resolve, user_feeds
from .stats import summarize, warnings_for
from .validate import compare_all

CHILD = Path(__file__).with_name("tf_child.py")
DESCRIBE_S = 300  # TF import, and building the reference SavedModel the first time
RUN_S = 1800  # the baseline, and a TF-TRT conversion with its engine builds
MIB = 1 << 20
PRECISIONS = ("fp32", "fp16", "int8")  # TrtPrecisionMode's; "best" has no TF-TRT mode
LOG = re.compile(r"TF-TRT|TensorRT|nvinfer|Could not|dlerror|GPU will not|Error|error|Abort|Traceback")  # the child's stderr worth keeping


def is_saved_model(path: str) -> bool:
    if path == "reference":  # the reference model, even where a folder has that name
        return False
    p = Path(path)
    return p.is_dir() and ((p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file())


def handles(backend: str, model: str) -> bool:
    """This module runs the smoke for TF-TRT, and for any backend given a SavedModel."""
    return backend == "tf-trt" or is_saved_model(model)


# --- the child protocol --------------------------------------------------------------------


@dataclass
class Answer:
    """The stages a child finished (name -> its JSON line), the one-line error that ended it
    (None when it went to the end), and its stderr lines, kept as the log."""

    stages: dict = field(default_factory=dict)
    error: str | None = None
    log: list = field(default_factory=list)


def call_child(python: str, request: dict, timeout: float, env: dict | None = None, source: str | None = None) -> Answer:
    """Run the child with one JSON request as argv[1]; each JSON line of its stdout is a finished
    stage. A timeout, a crash, junk or a stage's own error becomes ``Answer.error``."""
    code = source if source is not None else CHILD.read_text(encoding="utf-8")
    res = subproc.run([python, "-c", code, json.dumps(request)], env=env, timeout=timeout)
    ans = Answer(log=[ln.strip()[:300] for ln in res.stderr.splitlines() if LOG.search(ln)][-12:])
    for line in res.stdout.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("stage"), str):
            ans.stages[obj["stage"]] = obj
    last = list(ans.stages.values())[-1] if ans.stages else None
    done = f" (after {', '.join(ans.stages)})" if ans.stages else ""
    if res.timed_out or not res.ok:
        ans.error = f"the TensorFlow child {res.error}{done}"
    elif last is None:
        tail = (res.stdout.strip().splitlines() or ["nothing"])[-1][:120]
        ans.error = f"the TensorFlow child printed no result (its last line: {tail!r})"
    elif last.get("error"):
        ans.error = f"{last['stage']}: {last['error']}"
    return ans


# --- which TensorFlow, and what cannot work ---------------------------------------------------


def pick_install(snap: dict) -> dict | None:
    """The first TensorFlow the check found with an interpreter that imports it."""
    installs = [i for i in (snap.get("tensorflow") or {}).get("installs", []) if i.get("python")]
    good = [i for i in installs if not (i.get("live") or {}).get("error")]
    return (good or installs or [None])[0]


def trt_sonames(snap: dict, inst: dict) -> list[str]:
    """The TensorRT libraries this TF dlopens: its NEEDED as the check read them, else the kb's."""
    for c in (snap.get("libraries") or {}).get("consumers", []):
        if c.get("site_packages") == inst.get("site_packages") and c.get("role") == "tensorflow":
            names = [s for s in c.get("needs") or [] if s.startswith("libnvinfer")]
            if names:
                return names
    return list((knowledge.tf_release(inst.get("version")) or {}).get("trt_sonames") or [])


def what_works() -> str:
    """The TF, TensorRT and container that TF-TRT works with, from the kb."""
    from ..fix import recipes

    last = knowledge.tftrt_release()
    row = knowledge.load("containers")["ngc_tensorflow_tftrt"][0]
    return f"TF-TRT works with TensorFlow ≤ {last['series']} and TensorRT {last['trt']} (`{recipes.tftrt_install()}`) or in nvcr.io/nvidia/tensorflow:{row['tag']}; or use --backend tensorrt"


def refusal(inst: dict | None, backend: str) -> str | None:
    """What cannot work whatever --force says: no TensorFlow, or a TF without TF-TRT."""
    if inst is None:
        return f"no TensorFlow install was found; {what_works()}"
    if backend != "tf-trt":
        return None
    last = knowledge.tftrt_release()
    mm = knowledge.major_minor(inst.get("version"))
    if mm and mm > knowledge.major_minor(last["series"]):
        return f"TensorFlow {inst['version']} ({inst['site_packages']}) has no TF-TRT: its pip builds disable TensorRT after {last['series']}; {what_works()}"
    return None


# --- the run -------------------------------------------------------------------------------


def smoke(out: dict, findings: list[Finding], opts: dict, snap: dict) -> dict:
    """The smoke of a SavedModel (``--model DIR``, or the reference built by TF) with TF as the
    baseline, then TF-TRT, or tf2onnx and the ONNX path; ``out`` comes past the preflight."""
    if out["request"]["backend"] == "tf-trt" and opts["precision"] not in PRECISIONS:
        raise BadInput(f"--precision {opts['precision']}: TF-TRT takes {', '.join(PRECISIONS)}")
    if opts["model"] != "reference" and not is_saved_model(opts["model"]):
        raise BadInput(f"--model {opts['model']}: TF-TRT takes a SavedModel folder (with saved_model.pb) or the reference model")
    inst = pick_install(snap)
    why = refusal(inst, out["request"]["backend"])
    if why:
        out["reason"] = f"refused: {why}"
        return out
    cache = engine_cache(opts)
    tfo = out["tensorflow"] = {"version": inst.get("version"), "python": inst["python"], "site_packages": inst.get("site_packages")}
    desc = _ask(inst, {"action": "describe", "model": "reference" if opts["model"] == "reference" else str(Path(opts["model"]).resolve()), "cache": str(cache / "tf-models")}, DESCRIBE_S, tfo)
    tfo.update({k: desc[k] for k in ("version", "model_dir", "signature", "built_reference", "gpus", "tftrt_enabled") if k in desc} | {"version": desc["tensorflow"]})
    specs = [_tensor(t) for t in desc["inputs"]]
    profile, feeds, source = _feeds(specs, opts)
    out["model"] = {"inputs": [s.to_dict() for s in specs], "outputs": [_tensor(t).to_dict() for t in desc["outputs"]], "profile": profile.to_dict(), "feeds": source}
    if out["request"]["backend"] != "tf-trt":
        return _via_onnx(out, opts, findings, inst, desc, cache)
    with tempfile.TemporaryDirectory(prefix="trtdoctor-tf-") as work:
        req = run_request(opts, desc, specs, profile, feeds, work, trt_sonames(snap, inst), cache)
        ans = call_child(inst["python"], req, RUN_S)
        return _report(out, ans, opts, findings, req, feeds)


def base_request(opts: dict, desc: dict, feeds: dict, work: str) -> dict:
    """The child's request for TF's baseline on ``feeds`` (written to an .npz in ``work``)."""
    import numpy as np

    np.savez(os.path.join(work, "feeds.npz"), **feeds)
    return {
        "action": "run",
        "model_dir": desc["model_dir"],
        "signature": desc["signature"],
        "feeds": os.path.join(work, "feeds.npz"),
        "work": work,
        "iterations": opts["iterations"],
        "warmup": opts["warmup"],
        "device": opts["device"],
    }


def run_request(opts: dict, desc: dict, specs: list[TensorSpec], profile, feeds: dict, work: str, sonames: list[str], cache: Path) -> dict:
    """The baseline's request with the conversion: TrtGraphConverterV2's settings."""
    stem = "reference" if opts["model"] == "reference" else Path(opts["model"]).resolve().name
    conv = {
        "precision": opts["precision"],
        "workspace_bytes": opts["workspace"] * MIB if opts.get("workspace") else None,
        "min_segment_size": opts.get("min_segment_size"),
        "trt_sonames": sonames,
        "profile": {k: [list(s) for s in v] for k, v in profile.shapes.items()},
        "calib": calib_files(opts.get("calib_data"), specs, profile) if opts["precision"] == "int8" else [],
        "out": str(cache / f"tftrt-{stem}-{opts['precision']}"),
    }
    return base_request(opts, desc, feeds, work) | {"specs": [{"name": s.name, "dtype": s.dtype} for s in specs], "convert": conv}


def calib_files(path: str | None, specs: list[TensorSpec], profile) -> list[str]:
    """--calib-data as a list of .npz files, each read and checked here, so a wrong file is a
    one-line usage error before TensorFlow starts."""
    if not path:
        return []
    p = Path(path)
    files = sorted(str(f) for f in p.glob("*.npz")) if p.is_dir() else [str(p)]
    if not files:
        raise BadInput(f"--calib-data {path}: no .npz files in that folder")
    for f in files:
        user_feeds(specs, profile, load_npz(f, "--calib-data"), "--calib-data", check_profile=False)
    return files


def _ask(inst: dict, req: dict, timeout: float, tfo: dict) -> dict:
    ans = call_child(inst["python"], req, timeout)
    tfo["log"] = ans.log
    if ans.error:
        if req.get("model") not in (None, "reference") and (ans.stages.get("describe") or {}).get("error"):  # TF's loader refused it
            raise BadInput(f"TensorFlow cannot load --model {req['model']}: {ans.error}")
        raise SmokeError(ans.error)
    return ans.stages[req["action"]]


def _tensor(t: dict) -> TensorSpec:
    if t["dtype"] not in ONNX_DTYPES.values():
        raise BadInput(f"{t['name']!r} is a {t['dtype']} tensor, which the smoke cannot feed (numbers and booleans only)")
    if t["dims"] is None:
        raise BadInput(f"{t['name']!r} has no shape in the SavedModel's signature; re-save it with a TensorSpec shape")
    return TensorSpec(t["name"], t["dtype"], tuple(t["dims"]))


def _feeds(specs: list[TensorSpec], opts: dict):
    given = {k: parse_shapes(opts.get(k), "--" + k.replace("_", "-")) for k in ("shapes", "min_shapes", "opt_shapes", "max_shapes")}
    profile = resolve(specs, opts["batch"], given["shapes"], given["min_shapes"], given["opt_shapes"], given["max_shapes"])
    data = opts.get("input_data")
    feeds = user_feeds(specs, profile, load_npz(data)) if data else random_feeds(specs, profile.opt())
    return profile, feeds, data or "random (seed 1)"


def _report(out: dict, ans: Answer, opts: dict, findings: list[Finding], req: dict, feeds: dict) -> dict:
    """The TF baseline, then TF-TRT's conversion or why it stopped, into the report."""
    tfo = out["tensorflow"]
    tfo["log"] = ans.log
    base = ans.stages.get("baseline")
    if base and not base.get("error"):
        out["baseline"] = timing("tensorflow-" + ("gpu" if "GPU" in base["device"] else "cpu"), tfo["version"], base["latency_ms"], feeds)
        tfo["device"] = base["placed_on"]
    conv = req["convert"]
    tt = out["tftrt"] = {"precision_mode": conv["precision"].upper(), "trt_sonames": conv["trt_sonames"], "converted": False}
    reason = _stopped(tt, tfo, ans, findings)
    if reason:
        out["reason"] = reason
        return out
    return _converted(out, ans.stages["convert"], base, conv, opts, feeds)


def _stopped(tt: dict, tfo: dict, ans: Answer, findings: list[Finding]) -> str | None:
    """Why there is no converted model, with the check's diagnosis where one applies."""
    check = ans.stages.get("trt_check")
    if check and not check.get("ok"):
        tt["diagnosis"] = diagnosis(check, findings)
        return f"TF-TRT conversion stopped before TensorFlow was asked: {tt['diagnosis']['summary']}"
    if not ans.error and "convert" in ans.stages:
        return None
    why = ans.error or "the child ended before converting"
    if "baseline" in ans.stages and not tfo.get("tftrt_enabled"):  # TF said so at describe: name the fix
        tt["diagnosis"] = diagnosis({"ok": False, "error": f"TensorFlow {tfo['version']} reports TF-TRT not enabled; {why}"}, findings)
        why = tt["diagnosis"]["summary"]
    return f"TF-TRT: {why}"


def _converted(out: dict, done: dict, base: dict, conv: dict, opts: dict, feeds: dict) -> dict:
    """The converted model: its build, latency, speed-up over TF and accuracy against TF."""
    import numpy as np

    tt = out["tftrt"]
    tt.update({k: done[k] for k in ("params", "dropped", "trt_engine_ops", "saved") if k in done} | {"converted": True, "convert_s": round(done["convert_s"], 3), "build_s": round(done["build_s"], 3)})
    if "calibration" in done:
        tt["calibration"] = done["calibration"] | {"source": ", ".join(conv["calib"]) or "random (seed 3)"}
    run = timing("tf-trt", out["tensorflow"]["version"], done["latency_ms"], feeds)
    tt.update({k: run[k] for k in ("latency_ms", "throughput_items_per_s", "warnings")})
    tt["speedup_vs_baseline"] = out["baseline"]["latency_ms"]["median"] / run["latency_ms"]["median"]
    with np.load(base["outputs"]) as b, np.load(done["outputs"]) as t:
        val = out["validation"] = compare_all([t[k] for k in sorted(t.files)], [b[k] for k in sorted(b.files)], opts["precision"])
    if not tt["trt_engine_ops"]:
        tt["warnings"] = tt["warnings"] + ["no TRTEngineOp in the converted graph: TensorFlow ran all of it (see the log)"]
    out["result"] = "PASS" if val["passed"] else "FAIL"
    if not val["passed"]:
        out["reason"] = f"TF-TRT outputs differ from TensorFlow's beyond {opts['precision']} tolerance: cosine {val['cosine']:.5f}, max abs {val['max_abs_error']:.4f}"
    return out


def timing(name: str, version: str, samples: list[float], feeds: dict) -> dict:
    lat = summarize(samples)
    return {"name": name, "version": version, "latency_ms": lat, "throughput_items_per_s": batch_of(feeds) * 1e3 / lat["median"] if lat["median"] else 0.0, "warnings": warnings_for(None, lat)}


def diagnosis(check: dict, findings: list[Finding]) -> dict:
    """The child's failed dlopen, with the check's finding for it and its fix."""
    f = next((f for f in findings if f.id == "tensorflow.tensorrt-not-loadable"), None)
    lib = check.get("missing")
    fix = f.fix.commands[0] if f and f.fix and f.fix.commands else what_works()
    return {"library": lib, "error": check.get("error"), "finding": f.id if f else None, "fix": fix, "summary": f"{check.get('error')}; fix: {fix}"}


def _via_onnx(out: dict, opts: dict, findings: list[Finding], inst: dict, desc: dict, cache: Path) -> dict:
    """--backend tensorrt on a SavedModel: tf2onnx in the child, TF's baseline on the ONNX
    model's feeds (which also judges tf2onnx: onnxruntime FP32 against TF), then the ONNX path."""
    onnx_path = cache / f"{Path(desc['model_dir']).name}.onnx"
    ans = call_child(inst["python"], {"action": "onnx", "onnx": str(onnx_path), "model_dir": desc["model_dir"], "signature": desc["signature"]}, RUN_S)
    step = ans.stages.get("onnx") or {}
    if step.get("missing") == "tf2onnx":
        out["reason"] = f"--backend {out['request']['backend']} on a SavedModel needs tf2onnx in {inst['python']}: {inst['python']} -m pip install tf2onnx"
        return out
    if ans.error:
        out["reason"] = f"tf2onnx: {ans.error}"
        return out
    from . import runner

    sub = dict(opts, model=str(onnx_path))
    tfo = out["tensorflow"]
    tfo["onnx"] = str(onnx_path)
    prep = runner.prepare(sub)
    out["model"] = prep.describe()
    _tf_baseline(tfo, inst, desc, prep, sub)
    try:
        return runner._run(out, out["request"]["backend"], sub, prep, runner.install_hint(findings))
    finally:
        if out.get("benchmark") and tfo.get("baseline"):
            tfo["speedup_vs_tensorflow"] = tfo["baseline"]["latency_ms"]["median"] / out["benchmark"]["e2e_ms"]["median"]


def tf_name(onnx_name: str) -> str:
    """tf2onnx may name a signature's tensor ``name:0``."""
    return onnx_name.rsplit(":", 1)[0] if onnx_name.rsplit(":", 1)[-1].isdigit() else onnx_name


def _tf_baseline(tfo: dict, inst: dict, desc: dict, prep, opts: dict) -> None:
    """TF on the ONNX model's feeds: its latency, and onnxruntime FP32 against its outputs."""
    import numpy as np

    from . import runner

    with tempfile.TemporaryDirectory(prefix="trtdoctor-tf-") as work:
        ans = call_child(inst["python"], base_request(opts, desc, {tf_name(k): v for k, v in prep.feeds.items()}, work), RUN_S)
        tfo["log"] = ans.log
        base = ans.stages.get("baseline")
        if ans.error or not base:
            tfo["baseline_error"] = ans.error or "no baseline"
            return
        tfo["device"] = base["placed_on"]
        tfo["baseline"] = timing("tensorflow-" + ("gpu" if "GPU" in base["device"] else "cpu"), tfo["version"], base["latency_ms"], prep.feeds)
        with np.load(base["outputs"]) as b:
            theirs = {k: b[k] for k in b.files}
    ours = dict(zip((tf_name(o.name) for o in prep.outputs), runner.reference_outputs(prep, opts)))
    common = sorted(set(ours) & set(theirs))
    if common:
        tfo["onnx_accuracy"] = compare_all([ours[k] for k in common], [theirs[k] for k in common], "fp32")


def summary_lines(r: dict) -> list[str]:
    """The text report's TensorFlow and TF-TRT lines."""
    tfo, tt = r["tensorflow"], r.get("tftrt") or {}
    lines = [f"  tensorflow {tfo.get('version')} ({tfo.get('python')}), SavedModel {tfo.get('model_dir')} [{tfo.get('signature')}]"]
    if tfo.get("baseline"):
        s = tfo["baseline"]["latency_ms"]
        lines.append(
            f"  {tfo['baseline']['name']}: median {s['median']:.3f} p90 {s['p90']:.3f} p99 {s['p99']:.3f} ms" + (f", TensorRT {tfo['speedup_vs_tensorflow']:.1f}× faster" if "speedup_vs_tensorflow" in tfo else "")
        )
    if tfo.get("onnx_accuracy"):
        a = tfo["onnx_accuracy"]
        lines.append(f"  tf2onnx → {tfo['onnx']}: onnxruntime vs TensorFlow max abs {a['max_abs_error']:.3g}, cosine {a['cosine']:.6f} ({'ok' if a['passed'] else 'MISMATCH'})")
    if tt.get("diagnosis"):
        d = tt["diagnosis"]
        lines.append(f"  ✗ TF-TRT needs {d['library'] or 'TensorRT'}: {d['error']}")
        lines.append(f"      $ {d['fix']}")
    if tt.get("converted"):
        s = tt["latency_ms"]
        lines.append(f"  TF-TRT {tt['precision_mode']}: convert {tt['convert_s']} s, build {tt['build_s']} s, {tt['trt_engine_ops']} TRTEngineOp(s) → {tt['saved']}")
        lines.append(
            f"  TF-TRT ms: median {s['median']:.3f} p90 {s['p90']:.3f} p99 {s['p99']:.3f}, {tt['throughput_items_per_s']:.1f} items/s"
            + (f", {tt['speedup_vs_baseline']:.1f}× TensorFlow" if "speedup_vs_baseline" in tt else "")
        )
        lines += [f"  ! {w}" for w in tt.get("warnings", [])]
    return lines
