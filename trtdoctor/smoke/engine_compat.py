"""Can this machine load an engine? ``trtdoctor check --engine FILE``.

Engines are tied to the TensorRT version that built them and, unless built
hardware-compatible, to the GPU's compute capability. Two kinds of evidence, combined:

* the sidecar ``trtdoctor smoke`` writes next to an engine (``x.plan.json``): what it was
  built with, compared with the TensorRT and GPUs the check found here;
* TensorRT's own answer: the file deserialized, in a child process with a timeout, by a
  TensorRT runtime importable in the judged Python (the sidecar can be absent or lie).

The verdict is "loadable", "not-loadable" or "unknown", always with its reasons; it is never
"loadable" on something that could not be checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import knowledge
from ..findings import Finding, Fix
from ..shell import quote
from ..subproc import run_python_json
from ..userfile import Refused, read_capped
from . import plan_header

AREA = "tensorrt"
# Runtimes that can deserialize a plan, tried in this order. tensorrt_lean and tensorrt_dispatch
# (pip: tensorrt-lean-cu13, tensorrt-dispatch-cu13; packages tensorrt_lean_bindings, ...) can
# deserialize and run plans but cannot build. TensorRT-RTX plans need TensorRT-RTX's own runtime,
# tensorrt_rtx.Runtime, used the same way (a native TensorRT runtime refuses them).
RUNTIMES = ("tensorrt", "tensorrt_bindings", "tensorrt_lean", "tensorrt_lean_bindings", "tensorrt_dispatch", "tensorrt_dispatch_bindings", "tensorrt_rtx", "tensorrt_rtx_bindings")
LOG_LINES = 3

# Runs in the judged Python. Prints its state as a JSON line after each stage, so a crash or a
# hang still says how far it got (run_python_json reads the last line).
DESERIALIZE = r"""
import importlib, json, sys
path, modules = __ENGINE__, __MODULES__
out = {"tried": {}, "stage": "import"}
def emit(stage):
    out["stage"] = stage
    print(json.dumps(out))
    sys.stdout.flush()
trt = None
for name in modules:
    try:
        trt = importlib.import_module(name)
        break
    except Exception as e:
        out["tried"][name] = "%s: %s" % (type(e).__name__, e)
if trt is None:
    emit("no-runtime")
    sys.exit(0)
out["module"], out["version"] = name, str(getattr(trt, "__version__", "?"))
messages = out["log"] = []

class Log(trt.ILogger):
    def __init__(self):
        trt.ILogger.__init__(self)

    def log(self, severity, msg):
        messages.append([str(getattr(severity, "name", severity)), str(msg)])
        if out["stage"] == "deserializing":  # should it crash, its last words come back
            emit("deserializing")

logger = Log()
emit("imported")
try:
    runtime = trt.Runtime(logger)
    if runtime is None:
        raise RuntimeError("Runtime() returned None")
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
    emit("no-runtime-object")
    sys.exit(0)
# Without a usable GPU, TensorRT (seen with a lean runtime and no GPU) logs "createInferRuntime: ... CUDA initialization
# failure" and still returns a Runtime, which then crashes in deserialize_cuda_engine: stop here.
if [m for m in messages if m[0] in ("INTERNAL_ERROR", "ERROR", "0", "1")]:
    out["error"] = "the runtime logged errors while starting"
    emit("no-runtime-object")
    sys.exit(0)
with open(path, "rb") as fh:
    data = fh.read()
emit("deserializing")
try:
    engine = runtime.deserialize_cuda_engine(data)
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
    engine = None
out["loaded"] = engine is not None
emit("done")
"""


@dataclass
class Deserialized:
    """TensorRT's answer: ``state`` is loaded, refused, unknown (could not tell) or absent (no runtime)."""

    state: str
    module: str | None = None
    version: str | None = None
    reason: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def by(self) -> str:
        return f"{self.module} {self.version}"


def _log_lines(messages: list) -> list[str]:
    """TensorRT's own messages, verbatim: errors and warnings first, else the last ones."""
    rows = [m for m in messages if isinstance(m, list) and len(m) == 2]
    bad = [m for s, m in rows if s.upper() in ("INTERNAL_ERROR", "ERROR", "WARNING", "0", "1", "2")]
    return (bad or [m for _, m in rows][-LOG_LINES:])[:LOG_LINES]


def deserialize(engine: Path, *, python: str | None = None, env: dict | None = None, timeout: float = 30.0, modules: tuple[str, ...] = RUNTIMES) -> Deserialized:
    """Deserialize ``engine`` with the first runtime of ``modules`` that imports, in a child."""
    code = DESERIALIZE.replace("__ENGINE__", repr(str(engine.resolve()))).replace("__MODULES__", repr(list(modules)))
    res = run_python_json(code, python=python, env=env, timeout=timeout)
    d = res.data if isinstance(res.data, dict) else {}
    stage = d.get("stage")
    where = python or "this Python"
    if not stage:
        return Deserialized("unknown", reason=f"could not run {where} to deserialize the engine: {res.error}")
    if stage == "no-runtime":
        broken = {m: e for m, e in (d.get("tried") or {}).items() if not e.startswith(f"ModuleNotFoundError: No module named '{m}'")}
        if broken:
            return Deserialized("absent", reason=f"no TensorRT runtime imports in {where} (" + "; ".join(f"import {m}: {e}" for m, e in broken.items()) + "), so the engine could not be deserialized")
        return Deserialized("absent", reason=f"no TensorRT runtime is installed in {where} (none of {', '.join(modules)} imports), so the engine could not be deserialized")
    got = Deserialized("unknown", d.get("module"), d.get("version"), log=_log_lines(d.get("log") or []))
    said = f": {' | '.join(got.log)}" if got.log else ""
    died = res.error.split(": ", 1)[0]  # "crashed with SIGSEGV", "timed out after 30s" (the rest is our own JSON line)
    if stage == "imported":
        got.reason = f"{got.by} could not start a runtime here (it {died}), so the engine was not tried{said}"
    elif stage == "no-runtime-object":
        got.reason = f"{got.by} could not start a runtime here ({d.get('error')}), so the engine was not tried{said}"
    elif stage == "deserializing" and died.startswith("timed out"):
        got.reason = f"deserializing with {got.by} {died} (raise --timeout){said}"
    elif stage == "deserializing":
        got.state, got.reason = "refused", f"deserializing with {got.by} {died}{said}"
    elif d.get("loaded"):
        got.state, got.reason = "loaded", f"{got.by} deserialized it in {where}"
    else:
        err = f" ({d['error']})" if d.get("error") else ""
        got.state, got.reason = "refused", f"{got.by} refused to deserialize it{err}" + (said or ": TensorRT gave no message")
    return got


class SidecarMissing(ValueError):
    pass


SIDECAR_MAX_BYTES = 2**20  # a real one is about 300 bytes


def read_sidecar(engine: Path) -> dict:
    """The sidecar as a dict; SidecarMissing, or ValueError for one that is not a JSON object
    (also one that is not a regular file, is huge or nested too deep to parse)."""
    side = engine.with_name(engine.name + ".json")
    try:
        data = json.loads(read_capped(side, SIDECAR_MAX_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise SidecarMissing(f"{side} not found: trtdoctor reads what an engine was built with from the sidecar `trtdoctor smoke` writes next to it") from None
    except Refused as exc:
        raise ValueError(f"{side} is not a readable sidecar: it {exc}") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad UTF-8, bad JSON, an integer too long
        raise ValueError(f"{side} is not a readable sidecar: {getattr(exc, 'strerror', None) or str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{side} is not a trtdoctor sidecar: expected a JSON object, found {type(data).__name__} {json.dumps(data)[:40]}")
    return data


def _text(v) -> str | None:
    return str(v) if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v) else None


def _sm(cc: str | None) -> str:
    return "sm_" + (cc or "?").replace(".", "")


def _trt_here(snapshot: dict, rtx: bool) -> dict[str, str]:
    """Versions of the TensorRT (or TensorRT-RTX) runtimes the check found: version -> where."""
    out = {}
    for inst in (snapshot.get("tensorrt") or {}).get("installs", []):
        for name, version in (inst.get("parts") or {}).items():
            if ("rtx" in name) == rtx and version:
                out.setdefault(str(version), f"{name} {version} in {inst.get('site_packages')}")
    if not rtx and not out and (snapshot.get("precision") or {}).get("tensorrt"):
        v = snapshot["precision"]["tensorrt"]
        out[v] = f"TensorRT {v}"
    return out


@dataclass
class _Judgement:
    no: list[str] = field(default_factory=list)  # why it cannot load here
    unknown: list[str] = field(default_factory=list)  # what could not be told
    notes: list[str] = field(default_factory=list)  # said, but decide nothing
    findings: list[Finding] = field(default_factory=list)
    mismatch: list[Finding] = field(default_factory=list)  # the sidecar says it cannot load
    no_runtime_here: bool = False  # no TensorRT found at all: said once, not again per source


def _sidecar_checks(engine: Path, meta: dict, snapshot: dict, des: Deserialized, j: _Judgement, source: str = "the sidecar", severity: str = "error") -> None:
    """What ``meta`` (the sidecar, or the plan's own header) says, against this machine.
    ``severity``: an error, or a warning where the facts read from a header are unconfirmed."""
    backend = _text(meta.get("backend")) or "tensorrt"
    rtx = backend == "tensorrt-rtx"
    built, cc_built, gpu_built = _text(meta.get("tensorrt")), _text(meta.get("compute_capability")), _text(meta.get("gpu"))
    product = "TensorRT-RTX" if rtx else "TensorRT"
    # TensorRT here: the runtime that just tried the file, else what the check found on disk.
    here = {des.version: f"{des.module} {des.version} in the judged Python"} if des.module and des.version else _trt_here(snapshot, rtx)
    if not built:
        j.unknown.append(f"{source} does not say which {product} version built the engine")
    elif not here:
        j.no_runtime_here = True
        j.unknown.append(f"no {product} runtime is installed here, so the engine's {product} version cannot be checked")
    elif knowledge.major_minor(built) not in {knowledge.major_minor(v) for v in here}:
        title = f"engine built with {product} {built}; this machine has {', '.join(here)}"
        j.mismatch.append(
            Finding(
                "engine.tensorrt-version",
                severity,
                AREA,
                title,
                f"Serialized engines load only in the {product} version that built them (unless built version-compatible).",
                [f"{engine}: built with {backend} {built}"] + [f"here: {w}" for w in here.values()],
                Fix("Rebuild the engine here.", [f"trtdoctor smoke --backend {quote(backend)} --precision {quote(_text(meta.get('precision')) or 'fp16')}"]),
            )
        )
    if "gpus" not in snapshot:
        j.unknown.append("the GPUs were not probed (--only/--skip), so the compute capability cannot be checked")
        return
    devices = (snapshot.get("gpus") or {}).get("devices") or []
    ccs = {d.get("compute_capability") for d in devices if d.get("compute_capability")}
    if not devices:
        j.unknown.append("no GPU was found, so the compute capability cannot be checked")
        return
    if not ccs:
        j.unknown.append("the GPUs' compute capability is unknown here, so it cannot be checked")
        return
    if rtx:
        kb = knowledge.load("tensorrt")["rtx"]
        ok, floor = {knowledge.cc_tuple(c) for c in kb["supported_cc"]}, knowledge.cc_tuple(kb["supported_from_cc"])
        usable = [c for c in ccs if knowledge.cc_tuple(c) in ok or (knowledge.cc_tuple(c) or (0, 0)) >= floor]
        if not usable:
            j.mismatch.append(
                Finding(
                    "engine.rtx-unsupported-gpu",
                    severity,
                    AREA,
                    f"TensorRT-RTX cannot run engines on this machine's GPU ({', '.join(_sm(c) for c in sorted(ccs))})",
                    f"TensorRT-RTX runs plans only on compute capability {', '.join(kb['supported_cc'])} and ≥ {kb['supported_from_cc']}; deserialization refuses other GPUs.",
                    [f"{engine}: built with tensorrt-rtx {built or '?'}"] + [f"GPU {d.get('index')}: {d.get('name')} ({_sm(d.get('compute_capability'))})" for d in devices] + [knowledge.cite(kb)],
                    Fix("Build the engine with the full TensorRT for this GPU.", ["trtdoctor smoke --backend tensorrt"]),
                )
            )
            return
    if not cc_built:
        j.unknown.append(f"{source} does not say which GPU built the engine, so the compute capability cannot be checked")
    elif cc_built not in ccs and meta.get("hardware_compatible") is not True:
        j.mismatch.append(
            Finding(
                "engine.gpu",
                severity,
                AREA,
                f"engine built for compute capability {cc_built} ({gpu_built or 'GPU not named'}); this machine has {', '.join(sorted(ccs))}",
                "Engines are specific to the GPU architecture they were built on.",
                [f"{engine}: built on {gpu_built or '?'} ({_sm(cc_built)})"] + [f"GPU {d.get('index')}: {d.get('name')} ({_sm(d.get('compute_capability'))})" for d in devices],
                Fix("Rebuild the engine on this GPU, or build it hardware-compatible."),
            )
        )


def _runtimes_for(meta: dict | None) -> tuple[str, ...]:
    backend = _text((meta or {}).get("backend"))
    if backend == "tensorrt-rtx":
        return tuple(r for r in RUNTIMES if r.startswith("tensorrt_rtx"))
    if backend == "tensorrt":
        return tuple(r for r in RUNTIMES if not r.startswith("tensorrt_rtx"))
    return RUNTIMES


def _from_header(header: dict | None, verdict: dict, j: _Judgement) -> dict | None:
    """With no sidecar, what the plan's own first bytes say it is: the ``meta`` to judge by."""
    if header is None:
        return None
    if header["backend"] is None:
        j.notes.append(f"the file does not begin with a TensorRT plan's magic tag (its first bytes: {header['magic']})")
        return None
    told = {"backend": header["backend"], "tensorrt": header["version"]}
    verdict["header"] = {"magic": header["magic"], "backend": header["backend"], "version": header["version"], "offset": header["offset"]}
    verdict["built_with"] = told | {"from": "plan header"}
    return told


def judge(engine: Path, snapshot: dict, *, live: bool = False, python: str | None = None, env: dict | None = None, timeout: float = 30.0, not_live: str = "") -> tuple[dict, list[Finding]]:
    """The verdict (the report's ``engine`` key) and its findings.

    ``live``: also deserialize the file in ``python`` (with ``env``); otherwise ``not_live`` says why not.
    """
    engine = Path(engine)
    verdict = {"path": str(engine), "verdict": "unknown", "reasons": [], "built_with": {}, "checked_by": None}
    if not engine.is_file():
        what = f"{engine} does not exist" if not engine.exists() else f"{engine} is not a file"
        verdict.update(verdict="not-loadable", reasons=[what])
        return verdict, [Finding("engine.missing", "error", AREA, what, "", [], Fix("Pass the path of a serialized engine (a .plan or .engine file)."))]
    j = _Judgement()
    meta = None
    try:
        meta = read_sidecar(engine)
        verdict["built_with"] = {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool)) or v is None}
    except SidecarMissing as exc:
        j.findings.append(Finding("engine.no-sidecar", "info", AREA, "no trtdoctor sidecar: what this engine was built with is unknown", str(exc)))
        j.notes.append("there is no sidecar saying what the engine was built with")
    except ValueError as exc:
        j.findings.append(Finding("engine.bad-sidecar", "warning", AREA, str(exc), "The sidecar `trtdoctor smoke` writes is a JSON object; this one cannot be used, so only TensorRT itself can tell."))
        j.notes.append(str(exc))

    header = plan_header.read(engine)
    told = meta if meta is not None else _from_header(header, verdict, j)
    if live:
        des = deserialize(engine, python=python, env=env, timeout=timeout, modules=_runtimes_for(told))
    else:
        des = Deserialized("absent", reason=not_live or "the engine was not deserialized (not a live check)")
    if des.state in ("loaded", "refused"):
        verdict["checked_by"] = f"deserialized with {des.by}"
    if des.state == "refused":
        j.no.append(des.reason)
        j.findings.append(
            Finding(
                "engine.deserialize-failed",
                "error",
                AREA,
                f"{des.by} cannot load {engine.name}: {des.log[0] if des.log else des.reason}",
                f"TensorRT itself, asked to deserialize the file here, gave no engine: {des.reason}",
                [f"TensorRT: {m}" for m in des.log],
                Fix("Rebuild the engine here with the TensorRT you will run it with.", ["trtdoctor smoke"]),
            )
        )
    elif des.state == "unknown":
        j.unknown.append(des.reason)

    if meta is not None:
        _sidecar_checks(engine, meta, snapshot, des, j)
        verdict["checked_by"] = verdict["checked_by"] or "sidecar"
    elif told is not None:
        facts = (header["row"], knowledge.load("tensorrt")["plan_version"])
        _sidecar_checks(engine, told, snapshot, des, j, "its header", knowledge.fact_severity(*facts, fields=("offset",)))
    if des.state == "loaded":
        # TensorRT's answer wins over the sidecar's; a sidecar that disagrees is worth a warning
        # (a header's version bytes are TensorRT's own, and a version-compatible plan loads in a later one).
        for f in j.mismatch if meta is not None else ():
            j.findings.append(
                Finding(
                    "engine.sidecar-mismatch",
                    "warning",
                    AREA,
                    f"the sidecar says: {f.title}; but {des.by} deserialized it here",
                    "The sidecar does not describe this engine (edited, or copied from another engine).",
                    f.evidence,
                )
            )
    else:
        j.findings += j.mismatch
        j.no += [f.title for f in j.mismatch if f.severity == "error"]
        j.unknown += [f"likely not: {f.title}" for f in j.mismatch if f.severity != "error"]
        if des.state == "absent" and not j.no_runtime_here:
            (j.unknown if meta is None else j.notes).append(des.reason)

    if j.no:
        verdict["verdict"], verdict["reasons"] = "not-loadable", j.no
    elif des.state == "loaded":
        verdict["verdict"], verdict["reasons"] = "loadable", [des.reason]
    elif j.unknown or meta is None:
        verdict["verdict"], verdict["reasons"] = "unknown", j.unknown + j.notes
    else:
        here = ", ".join(_sm(d.get("compute_capability")) for d in (snapshot.get("gpus") or {}).get("devices", []))
        verdict["verdict"], verdict["reasons"] = (
            "loadable",
            [f"the sidecar's {meta.get('backend') or 'tensorrt'} {meta.get('tensorrt')} and {_sm(_text(meta.get('compute_capability')))} match this machine ({here})"] + j.notes,
        )
    if verdict["verdict"] == "unknown":
        j.findings.append(Finding("engine.unknown", "warning", AREA, f"cannot tell whether this machine can load {engine.name}", "", list(verdict["reasons"])))
    elif verdict["verdict"] == "loadable":
        j.findings.append(Finding("engine.compatible", "info", AREA, f"this machine can load {engine.name} ({verdict['checked_by']})", "", list(verdict["reasons"])))
    return verdict, j.findings
