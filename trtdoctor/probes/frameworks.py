"""TensorRT, TensorFlow (TF-TRT), pycuda and onnxruntime: static facts from package files,
then live imports in throwaway child processes."""

from __future__ import annotations

import ast
import glob
import os
import re

from .. import knowledge
from ..elf import ElfError, read_elf
from ..subproc import run_python_json
from ..target import Target
from .libraries import part_kind, soname_parts, trt_runtimes
from .pyenvs import find_package

TRT_PARTS = re.compile(r"^(tensorrt|tensorrt-cu\d+(-bindings|-libs)?|tensorrt-(bindings|libs|lean|dispatch)|tensorrt-(lean|dispatch)-cu\d+(-libs|-bindings)?|nvidia-tensorrt|tensorrt-rtx(-cu\d+)?(-bindings|-libs)?)$")


def _interpreter(env: dict, target: Target) -> str | None:
    if not target.live:
        return None
    return env.get("python")


def parse_build_info(text: str) -> dict:
    """TF's ``build_info.py``: either a dict literal or ``build_info['k'] = v`` lines."""
    out: dict = {}
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        tgt = node.targets[0]
        try:
            if isinstance(tgt, ast.Name) and tgt.id == "build_info":
                value = node.value
                if isinstance(value, ast.Call) and value.args:  # collections.OrderedDict([...])
                    value = value.args[0]
                if isinstance(value, (ast.Dict, ast.List)):
                    out.update(dict(ast.literal_eval(value)))
            elif isinstance(tgt, ast.Subscript) and getattr(tgt.value, "id", None) == "build_info":
                key = ast.literal_eval(tgt.slice)
                out[key] = ast.literal_eval(node.value)
        except ValueError:
            continue
    return out


def _trt_headers(target: Target) -> list[dict]:
    out = []
    pats = ["/usr/include/NvInferVersion.h", "/usr/include/*/NvInferVersion.h", "/usr/local/TensorRT*/include/NvInferVersion.h", "/opt/tensorrt/include/NvInferVersion.h"]
    for pat in pats:
        for p in target.glob(pat):
            text = target.read_text(p) or ""
            vals = [re.search(rf"#define\s+(?:NV_TENSORRT|TRT)_{k}(?:_ENTERPRISE)?\s+(\d+)", text) for k in ("MAJOR", "MINOR", "PATCH")]
            if vals[0]:
                out.append({"path": p, "version": ".".join(v.group(1) for v in vals if v)})
    return out


TRT_LIVE = r"""
import json, os, sys
out = {}
mod = None
for name in MODULES:
    try:
        mod = __import__(name)
        out["module"] = name
        break
    except ImportError as e:
        out.setdefault("import_errors", {})[name] = "%s: %s" % (type(e).__name__, e)
if mod is not None:
    out["version"] = getattr(mod, "__version__", None)
    if not hasattr(mod, "Builder"):  # lean, dispatch: they only deserialize and run
        try:
            mod.Runtime(mod.Logger(mod.Logger.ERROR))
            out["runtime"] = True
        except Exception as e:
            out["runtime_error"] = "%s: %s" % (type(e).__name__, e)
    else:
        try:
            logger = mod.Logger(mod.Logger.ERROR)
            b = mod.Builder(logger)
            out["builder"] = True
            for attr in ("platform_has_fast_fp16", "platform_has_fast_int8", "platform_has_tf32"):
                if hasattr(b, attr):
                    out[attr] = bool(getattr(b, attr))
            out["builder_flags"] = sorted(k for k in dir(mod.BuilderFlag) if k.isupper())
        except Exception as e:
            out["builder_error"] = "%s: %s" % (type(e).__name__, e)
    with open("/proc/self/maps") as fh:
        out["mapped"] = sorted({l.split()[-1] for l in fh if "libnvinfer" in l})
print(json.dumps(out))
"""


def probe_tensorrt(target: Target, snap: dict) -> dict:
    installs = []
    for env in snap.get("python", {}).get("environments", []):
        parts = {n: v for n, v in env.get("packages", {}).items() if TRT_PARTS.match(n)}
        if not parts:
            continue
        site = env["site_packages"]
        inst = {"site_packages": site, "python_version": env.get("python_version"), "python": env.get("python"), "parts": parts}
        mods = ["tensorrt", "tensorrt_bindings", "tensorrt_libs", "tensorrt_rtx", "tensorrt_rtx_libs"]
        mods += [m for r in trt_runtimes() if r["kind"] in ("lean", "dispatch") for m in (r["bindings"], r["libs"])]
        inst["modules"] = {m: target.path(f"{site}/{m}").is_dir() for m in mods}
        inst["libs_files"] = _libs_files(target, site, "tensorrt_libs")
        inst["runtimes"] = _runtimes(target, site, parts)
        bindings = target.glob(glob.escape(site) + "/tensorrt*/tensorrt*.so")
        inst["bindings_so"] = []
        for so in bindings:
            try:
                info = read_elf(target.path(so), nofollow=target.contained)
                needs = [n for n in info.needed if n.startswith(("libnvinfer", "libnvonnx"))]
                majors = sorted({soname_parts(n)[1] for n in needs if soname_parts(n)})
                inst["bindings_so"].append({"path": so, "needs": needs, "soname_majors": majors, "rpath": info.rpath or info.runpath})
            except ElfError as exc:
                inst["bindings_so"].append({"path": so, "error": str(exc)})
        installs.append(inst)
    return {"installs": installs, "headers": _trt_headers(target)}


def _libs_files(target: Target, site: str, package: str) -> list[str]:
    return [os.path.basename(p) for p in target.glob(glob.escape(f"{site}/{package}") + "/lib*.so*")]


def _runtimes(target: Target, site: str, parts: dict) -> list[dict]:
    """Each TensorRT runtime these parts make (full, lean, dispatch, rtx): its version (the
    bindings' or the front end's), CUDA major (from ``-cuXX``), whether it can build engines,
    and its -libs package with the libraries in it."""
    out = []
    for row in trt_runtimes():
        mine = {n: v for n, v in parts.items() if part_kind(n) == row["kind"]}
        if not mine:
            continue
        bindings = next((n for n in mine if n.endswith("-bindings")), None)
        libs = next((n for n in mine if n.endswith("-libs")), None)
        front = next((n for n in mine if not n.endswith(("-bindings", "-libs"))), None)
        cuda = next((m.group(1) for n in mine if (m := re.search(r"-cu(\d+)(-|$)", n))), None)
        out.append(
            {
                "kind": row["kind"],
                "version": mine.get(bindings) or mine.get(front) or mine.get(libs),
                "cuda_major": cuda,
                "can_build": row["can_build"],
                "module": row["module"],
                "bindings": bindings,
                "libs": libs,
                "libs_files": _libs_files(target, site, row["libs"]),
            }
        )
    return out


def live_tensorrt(target: Target, snap: dict) -> dict:
    area = snap.get("tensorrt", {})
    for inst in area.get("installs", []):
        py = inst.get("python")
        if not py or not target.live:
            continue
        kinds = {part_kind(n) for n in inst["parts"]}
        mods = ["tensorrt", "tensorrt_bindings"] if "full" in kinds else []
        for row in trt_runtimes():  # lean, dispatch: the front end's module if installed, else the bindings'
            if row["kind"] in kinds - {"full", "rtx"}:
                mods.append(row["module"] if target.path(f"{inst['site_packages']}/{row['module']}").is_dir() else row["bindings"])
        if "rtx" in kinds:
            mods.append("tensorrt_rtx")
        for mod in mods:
            code = TRT_LIVE.replace("MODULES", repr([mod]))
            res = run_python_json(code, python=py, env=target.env, timeout=target.timeout)
            data = res.data if res.data is not None else {"error": f"could not collect: import {mod} {res.error}"}
            inst.setdefault("live", {})[mod] = data
    return area


TF_LIVE = r"""
import json, os, sys
out = {}
import tensorflow as tf
out["version"] = tf.__version__
bi = dict(tf.sysconfig.get_build_info())
out["build_info"] = {k: v for k, v in bi.items() if isinstance(v, (str, int, bool, list))}
try:
    out["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
except Exception as e:
    out["gpus_error"] = str(e)
try:
    from tensorflow.compiler.tf2tensorrt import _pywrap_py_utils as u
    out["is_tensorrt_enabled"] = bool(u.is_tensorrt_enabled())
    out["linked_tensorrt"] = ".".join(str(x) for x in u.get_linked_tensorrt_version())
except Exception as e:
    out["tftrt_error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""

TF_LOADED = r"""
import json
from tensorflow.compiler.tf2tensorrt import _pywrap_py_utils as u
print(json.dumps({"loaded_tensorrt": ".".join(str(x) for x in u.get_loaded_tensorrt_version())}))
"""

_TF_LOG = re.compile(r"TF-TRT|TensorRT|Could not (load|find)|dlerror|cuda drivers|GPU will not be used|CUDA_ERROR|cuInit")


def probe_tensorflow(target: Target, snap: dict) -> dict:
    installs = []
    seen = set()
    for env, name, version in find_package(snap, *knowledge.load("tensorflow")["packages"]):
        site = env["site_packages"]
        if site in seen:
            continue  # two distributions of the one `tensorflow` module: the first listed names it
        seen.add(site)
        text = target.read_text(f"{site}/tensorflow/python/platform/build_info.py")
        build = parse_build_info(text) if text else {}
        row = knowledge.tf_release(version) or {}
        installs.append(
            {
                "package": name,
                "version": version,
                "site_packages": site,
                "python": env.get("python"),
                "python_version": env.get("python_version"),
                "build_info": build,
                "kb": {k: row.get(k) for k in ("trt", "trt_sonames", "cuda", "cudnn", "python", "compute_capabilities")} if row else None,
            }
        )
    return {"installs": installs}


def live_tensorflow(target: Target, snap: dict) -> dict:
    area = snap.get("tensorflow", {})
    libs = snap.get("libraries", {})
    for inst in area.get("installs", []):
        py = inst.get("python")
        if not py or not target.live:
            continue
        res = run_python_json(TF_LIVE, python=py, env=target.env, timeout=target.timeout)
        live = res.data if res.data is not None else {"error": f"could not collect: import tensorflow {res.error}"}
        live["log"] = [ln.strip()[:300] for ln in res.stderr.splitlines() if _TF_LOG.search(ln)][:12]
        # get_loaded_tensorrt_version() aborts the interpreter when libnvinfer is missing
        # (TF 2.17.1): only ask in a throwaway process, and only when it resolves.
        consumer = next((c for c in libs.get("consumers", []) if c.get("site_packages") == inst["site_packages"] and c.get("role") == "tensorflow"), None)
        trt_ok = consumer and consumer["needs"] and all(r["resolved"] for s, r in consumer["resolutions"].items() if s.startswith("libnvinfer"))
        if live.get("is_tensorrt_enabled") and trt_ok:
            loaded = run_python_json(TF_LOADED, python=py, env=target.env, timeout=target.timeout)
            live["loaded_tensorrt"] = (loaded.data or {}).get("loaded_tensorrt") or f"could not collect: {loaded.error}"
        else:
            live["loaded_tensorrt"] = None
            live["loaded_tensorrt_skipped"] = "libnvinfer does not resolve; TF would abort" if live.get("is_tensorrt_enabled") else "TF-TRT not enabled"
        inst["live"] = live
    return area


PYCUDA_LIVE = r"""
import json
out = {}
try:
    import pycuda
    out["version"] = pycuda.VERSION_TEXT if hasattr(pycuda, "VERSION_TEXT") else None
    import pycuda.driver as d
    out["built_cuda"] = ".".join(map(str, d.get_version()))
    d.init()
    out["driver_cuda"] = d.get_driver_version()
    out["devices"] = d.Device.count()
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""

# onnxruntime's execution providers, by the provider library each ships in onnxruntime/capi
# (the CPU provider is built in). Read from files rather than by importing onnxruntime: the
# import costs 0.4 s on a GPU host (numpy alone 0.35 s) and no rule judges more than this.
ORT_PROVIDER_LIBS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
    "qnn": "QNNExecutionProvider",
}


def ort_providers(target: Target, site: str) -> list[str]:
    libs = target.glob(glob.escape(f"{site}/onnxruntime/capi") + "/libonnxruntime_providers_*.so")
    found = [ORT_PROVIDER_LIBS[m.group(1)] for p in libs if (m := re.search(r"_providers_(\w+)\.so$", p)) and m.group(1) in ORT_PROVIDER_LIBS]
    return found + ["CPUExecutionProvider"]


def _live_each(target: Target, snap: dict, names: tuple, code: str) -> list[dict]:
    out = []
    for env, name, version in find_package(snap, *names):
        inst = {"package": name, "version": version, "site_packages": env["site_packages"]}
        if target.live and env.get("python"):
            res = run_python_json(code, python=env["python"], env=target.env, timeout=target.timeout)
            inst["live"] = res.data if res.data is not None else {"error": f"could not collect: {res.error}"}
        out.append(inst)
    return out


def probe_pycuda(target: Target, snap: dict) -> dict:
    return {"installs": _live_each(target, snap, ("pycuda",), PYCUDA_LIVE)}


def probe_onnxruntime(target: Target, snap: dict) -> dict:
    out = []
    for env, name, version in find_package(snap, "onnxruntime-gpu", "onnxruntime"):
        site = env["site_packages"]
        out.append({"package": name, "version": version, "site_packages": site, "providers": ort_providers(target, site), "providers_from": "provider libraries in onnxruntime/capi"})
    return {"installs": out}


def probe_precision(target: Target, snap: dict) -> dict:
    """Per GPU: what each precision looks like to TensorRT, and what the installed TRT can ask for."""
    trt_versions = sorted(
        {
            v
            for inst in snap.get("tensorrt", {}).get("installs", [])
            for n, v in inst["parts"].items()
            if n in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu12-bindings", "tensorrt-cu13-bindings", "tensorrt-bindings")
        },
        key=lambda v: knowledge.parse_version(v) or knowledge.parse_version("0"),
    )
    trt = trt_versions[-1] if trt_versions else None
    trt_major = knowledge.major_minor(trt)[0] if trt else None
    removed = knowledge.load("tensorrt")["builder_flags_removed_in"]
    gpus = []
    for d in snap.get("gpus", {}).get("devices", []):
        table = knowledge.precision_for_cc(d.get("compute_capability"))
        requestable = {}
        for prec in ("fp32", "tf32", "fp16", "bf16", "int8", "fp8", "fp4"):
            if trt_major is None:
                requestable[prec] = None
            elif prec in ("fp16", "int8", "fp8", "fp4", "bf16") and trt_major >= removed:
                requestable[prec] = "typed graph"
            else:
                requestable[prec] = "builder flag" if prec != "fp32" else "default"
        gpus.append(
            {
                "index": d.get("index"),
                "name": d.get("name"),
                "compute_capability": d.get("compute_capability"),
                "support": {k: v for k, v in table.items() if k in requestable},
                "note": table.get("note"),
                "tensorrt": trt,
                "request_by": requestable,
            }
        )
    return {"gpus": gpus, "tensorrt": trt}
