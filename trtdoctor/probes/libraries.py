"""Library resolution: for each soname that matters, which file the loader gives, how,
its version, and every other copy on disk (symlinks to one file are one copy)."""

from __future__ import annotations

import glob
import json
import os
import re

from .. import knowledge
from ..elf import ElfError, highest, read_elf, version_key
from ..loader import LoaderModel, default_dirs, parse_ld_so_conf
from ..subproc import run_python_json
from ..target import PACKAGE_DB_MAX, Target

_SONAME_RE = re.compile(r"^(lib[\w+\-.]*?)\.so\.(\d+(?:\.\d+)*)$")


def soname_parts(name: str) -> tuple[str, str] | None:
    """``libcudnn.so.9`` -> ("libcudnn", "9")."""
    m = _SONAME_RE.match(name)
    return (m.group(1), m.group(2)) if m else None


# Reports saved before consumers carried a ``role`` name them by display label only.
_ROLE_BY_LABEL = {"tensorrt bindings": "tensorrt-bindings", "onnxruntime TensorRT EP": "onnxruntime-tensorrt-ep", "pycuda": "pycuda"}


# Consumers a program can do without: onnxruntime falls back to another provider when one
# cannot load. Their missing libraries are a warning of the onnxruntime rule, not an error.
OPTIONAL_ROLES = ("onnxruntime-tensorrt-ep", "onnxruntime-cuda-ep")


def role_of(consumer: dict) -> str | None:
    """What a consumer is (tensorflow, tensorrt-bindings, …), by its role, never its display label."""
    name = consumer.get("name") or ""
    return consumer.get("role") or _ROLE_BY_LABEL.get(name) or ("tensorflow" if name.startswith("tensorflow") else None)


def catalog() -> list[dict]:
    return knowledge.load("libraries")["libraries"]


def catalog_entry(soname: str) -> dict | None:
    parts = soname_parts(soname)
    stem = parts[0] if parts else soname.split(".so")[0]
    return next((row for row in catalog() if row["stem"] == stem), None)


def _header_version(target: Target, headers: list[str], names: tuple[str, str, str]) -> str | None:
    for h in headers:
        text = target.read_text(h)
        if not text:
            continue
        vals = []
        for n in names:
            m = re.search(rf"#define\s+{n}\s+(\d+)", text)
            vals.append(m.group(1) if m else None)
        if vals[0] is not None:
            return ".".join(v for v in vals if v is not None)
    return None


def trt_runtimes() -> list[dict]:
    """TensorRT's Python runtimes (full, lean, dispatch, rtx) from the knowledge base."""
    return knowledge.load("tensorrt")["runtimes"]


def runtime_by_package(package: str) -> dict | None:
    """The runtime an import package (``tensorrt_lean_bindings``, ``tensorrt_libs``, …) belongs to."""
    return next((r for r in trt_runtimes() if package in (r["bindings"], r["module"], r["libs"])), None)


def part_kind(dist: str) -> str:
    """The runtime a TensorRT pip distribution belongs to, by the kind named in it: tensorrt-lean-cu13-libs -> lean."""
    tokens = dist.split("-")
    return next((r["kind"] for r in trt_runtimes() if r["kind"] in tokens), "full")


def preloaded(target: Target, model: LoaderModel, site: str, requester: str) -> tuple[str | None, dict[str, str]]:
    """The ``__init__.py`` that loads libraries by full path before a bindings extension is
    loaded, and the sonames it loads: (that file, {soname: file}).

    ``tensorrt_bindings/__init__.py`` imports ``tensorrt_libs`` (lean, dispatch: their own
    -libs) before ``from .tensorrt import *``, and that package's ``__init__.py`` ctypes-loads
    every ``*.so*`` beside it, ignoring failures. The extension's NEEDED sonames are then found
    among the loaded objects, before any search path (glibc ``_dl_map_object``). Both files are
    read: no import line or no loading code, no preload."""
    pkg = os.path.basename(os.path.dirname(requester))
    row = runtime_by_package(pkg)
    if row is None or not re.search(rf"^\s*import {row['libs']}\b", target.read_text(f"{site}/{pkg}/__init__.py") or "", re.M):
        return None, {}
    kb = knowledge.load("tensorrt")["preload"]
    init = f"{site}/{row['libs']}/__init__.py"
    text = target.read_text(init) or ""
    if kb["marker"] not in text:
        return None, {}
    dirs = [f"{site}/{d}" for d in kb["also_loads"]] if kb["also_marker"] in text else []
    files = [p for d in dirs + [f"{site}/{row['libs']}"] for p in target.glob(glob.escape(d) + "/" + kb["loads"])]
    return init, _loads_in_turn(model, files)


def _loads_in_turn(model: LoaderModel, files: list[str]) -> dict[str, str]:
    """Files dlopened one after another by full path, failures ignored: the sonames that load.
    A file loads when it is an ELF for this machine and each of its NEEDED is already loaded
    or resolves from it (its own RPATH, the search path)."""
    loaded: dict[str, str] = {}
    for f in files:
        info = model.elf(f)
        if isinstance(info, ElfError) or info.machine != model.machine or info.elf_class != model.elf_class or not info.soname or info.soname in loaded:
            continue
        if all(n in loaded or model.resolve(n, f).found for n in info.needed):
            loaded[info.soname] = f
    return loaded


class Places:
    """Directories where CUDA, cuDNN and TensorRT libraries live, with who put them there."""

    def __init__(self, target: Target, snap: dict, model: LoaderModel):
        self.target = target
        self.dirs: list[tuple[str, str]] = []
        self._known: set[str] = set()
        self.pip_versions: dict[str, str] = {}
        self.pip_files: dict[str, tuple[str, str]] = {}  # file -> (label, version) from RECORD
        for d in target.env.get("LD_LIBRARY_PATH", "").split(":"):
            self.add(d, "LD_LIBRARY_PATH")
        for d in model.conf_dirs:
            self.add(d, "ld.so.conf")
        for d in default_dirs(model.machine):
            self.add(d, "system")
        self.add("/usr/lib/wsl/lib", "WSL driver")
        self.add("/usr/local/nvidia/lib64", "container driver mount")
        for tk in snap.get("cuda", {}).get("toolkits", []):
            for sub in ["lib64", "lib"] + target.glob(glob.escape(tk["path"]) + "/targets/*/lib"):
                self.add(sub if sub.startswith("/") else f"{tk['path']}/{sub}", f"CUDA toolkit {tk['version']}")
        if target.env.get("CUDA_HOME"):
            self.add(target.env["CUDA_HOME"] + "/lib64", "CUDA_HOME")
        for pat in ("/usr/local/TensorRT*/lib", "/opt/tensorrt/lib", "/usr/src/tensorrt/lib"):
            for p in target.glob(pat):
                self.add(p, "TensorRT tar/deb")
        for env in snap.get("python", {}).get("environments", []):
            site = env.get("site_packages")
            if not site:
                continue
            where = f"{env['kind']} {env.get('prefix') or site}"
            self._pip_dirs(env, site, where)
            if env["kind"] == "conda" and env.get("prefix"):
                self.add(env["prefix"] + "/lib", f"conda env {env['prefix']}")
        if target.env.get("CONDA_PREFIX"):
            self.add(target.env["CONDA_PREFIX"] + "/lib", f"conda env {target.env['CONDA_PREFIX']}")

    def _pip_dirs(self, env: dict, site: str, where: str) -> None:
        pkgs = env.get("packages", {})
        self._read_records(site, where)
        for sub in self.target.glob(glob.escape(site) + "/nvidia/*/lib"):
            part = os.path.basename(os.path.dirname(sub))
            dist = self._owner(pkgs, part)
            label = f"pip {dist[0]} {dist[1]} ({where})" if dist else f"pip nvidia/{part} ({where})"
            self.add(sub, label, dist[1] if dist else None)
        for part in [r["libs"] for r in trt_runtimes()] + ["tensorrt"]:
            sub = f"{site}/{part}"
            kind = runtime_by_package(part)
            dist = next(((n, v) for n, v in pkgs.items() if n.startswith("tensorrt") and n.endswith("-libs") and kind and part_kind(n) == kind["kind"]), None)
            label = f"pip {dist[0]} {dist[1]} ({where})" if dist else f"pip {part} ({where})"
            self.add(sub, label, dist[1] if dist and part != "tensorrt" else None)

    def _read_records(self, site: str, where: str) -> None:
        """Which wheel owns each library file: cu13 wheels share one nvidia/cu13/lib."""
        for di in self.target.glob(glob.escape(site) + "/*.dist-info"):
            base = os.path.basename(di)
            if not base.startswith(("nvidia", "tensorrt")):
                continue
            name, version = base[: -len(".dist-info")].split("-", 1) if "-" in base else (base, "")
            name = name.replace("_", "-").lower()
            for line in (self.target.read_text(f"{di}/RECORD", PACKAGE_DB_MAX) or "").splitlines():
                rel = line.split(",", 1)[0]
                if ".so" in rel and not rel.startswith(".."):
                    self.pip_files[os.path.normpath(f"{site}/{rel}")] = (f"pip {name} {version} ({where})", version)

    @staticmethod
    def _owner(pkgs: dict, part: str) -> tuple[str, str] | None:
        key = {"cu13": "nvidia-cuda-runtime", "cuda_runtime": "nvidia-cuda-runtime", "cuda_nvrtc": "nvidia-cuda-nvrtc"}.get(part, f"nvidia-{part.replace('_', '-')}")
        for n, v in pkgs.items():
            if n == key or n.startswith(key + "-cu"):
                return n, v
        return None

    def add(self, d: str, label: str, version: str | None = None) -> None:
        d = os.path.normpath(d) if d else d
        if not d or d in self._known or not self.target.path(d).is_dir():
            return
        self._known.add(d)
        self.dirs.append((d, label))
        if version:
            self.pip_versions[d] = version

    def sonames_present(self) -> set[str]:
        names = set()
        for d, _ in self.dirs:
            for p in self.target.glob(glob.escape(d) + "/lib*.so.*"):
                names.add(os.path.basename(p))
        return names


def file_version(target: Target, path: str, places: Places) -> str | None:
    """A library file's version: its real file name, its pip package, or a header nearby."""
    base = os.path.basename(target.realpath(path))
    parts = soname_parts(base)
    name_parts = soname_parts(os.path.basename(path))
    if parts and (name_parts is None or version_key(parts[1]) > version_key(name_parts[1]) or parts[1].count(".") >= 2):
        return parts[1]
    d = os.path.dirname(path)
    if path in places.pip_files:
        return places.pip_files[path][1]
    if d in places.pip_versions:
        return places.pip_versions[d]
    stem = parts[0] if parts else ""
    root = os.path.dirname(d)
    if stem.startswith("libcudnn"):
        return _header_version(
            target,
            [f"{root}/include/cudnn_version.h", "/usr/include/cudnn_version.h", "/usr/include/x86_64-linux-gnu/cudnn_version.h"],
            ("CUDNN_MAJOR", "CUDNN_MINOR", "CUDNN_PATCHLEVEL"),
        )
    if stem.startswith("libnvinfer") or stem.startswith("libnvonnxparser"):
        hdrs = [f"{root}/include/NvInferVersion.h", "/usr/include/NvInferVersion.h", "/usr/include/x86_64-linux-gnu/NvInferVersion.h"]
        return _header_version(target, hdrs, ("NV_TENSORRT_MAJOR", "NV_TENSORRT_MINOR", "NV_TENSORRT_PATCH")) or _header_version(target, hdrs, ("TRT_MAJOR_ENTERPRISE", "TRT_MINOR_ENTERPRISE", "TRT_PATCH_ENTERPRISE"))
    for tk_file in (f"{root}/version.json", f"{os.path.dirname(os.path.dirname(root))}/version.json"):
        text = target.read_text(tk_file)
        if text:
            try:
                return json.loads(text)["cuda"]["version"]
            except (ValueError, KeyError, TypeError):
                pass
    return None


def _copies(target: Target, soname: str, places: Places, model: LoaderModel) -> list[dict]:
    out, seen = [], {}
    for d, label in places.dirs:
        p = f"{d}/{soname}"
        host = target.path(p)
        if not (host.exists() or target.islink(p)):
            continue
        real = target.realpath(p)
        if real in seen:
            seen[real]["also"].append(p)
            continue
        info = model.elf(p)
        copy = {
            "path": p,
            "real": real,
            "via": places.pip_files.get(p, (label,))[0],
            "version": file_version(target, p, places),
            "size": host.stat().st_size if host.exists() else None,
            "also": [],
        }
        if isinstance(info, ElfError):
            copy["elf_error"] = str(info)
        else:
            copy["machine"] = info.machine
            copy["needs_glibc"] = highest(info.required_versions("GLIBC_"), "GLIBC_")
            copy["needs_glibcxx"] = highest(info.required_versions("GLIBCXX_"), "GLIBCXX_")
        seen[real] = copy
        out.append(copy)
    return out


def _consumers(target: Target, snap: dict) -> list[dict]:
    """Installed programs that ask the loader for GPU libraries, with what they ask for."""
    out = []
    for env in snap.get("python", {}).get("environments", []):
        site, pkgs = env.get("site_packages"), env.get("packages", {})
        if not site:
            continue
        tf_pkg = next((p for p in knowledge.load("tensorflow")["packages"] if p in pkgs), None)
        if tf_pkg:
            out.append(_tensorflow_consumer(target, snap, site, pkgs[tf_pkg]))
        if "torch" in pkgs:
            out += _torch_consumer(target, site, pkgs["torch"])
        # name: the display label; role: a stable machine value
        for pat, name, role, prefix in (
            ("tensorrt*/tensorrt*.so", "tensorrt bindings", "tensorrt-bindings", ("libnvinfer", "libnvonnx")),
            ("onnxruntime/capi/libonnxruntime_providers_tensorrt.so", "onnxruntime TensorRT EP", "onnxruntime-tensorrt-ep", ("libnvinfer", "libnvonnx", "libcudart", "libcudnn", "libcublas")),
            # onnxruntime-gpu 1.20.2's CUDA provider NEEDs cudart, cuBLAS(Lt), cuDNN 9, cuRAND, cuFFT and NVRTC (read from the wheel)
            ("onnxruntime/capi/libonnxruntime_providers_cuda.so", "onnxruntime CUDA EP", "onnxruntime-cuda-ep", ("libcudart", "libcudnn", "libcublas", "libcurand", "libcufft", "libnvrtc")),
            ("pycuda/_driver*.so", "pycuda", "pycuda", ("libcuda",)),
        ):
            for so in target.glob(glob.escape(site) + "/" + pat):
                row = runtime_by_package(os.path.basename(os.path.dirname(so))) if role == "tensorrt-bindings" else None
                label = f"{row['module']} bindings" if row else name  # tensorrt_lean bindings, …
                out.append(_needed_consumer(target, site, so, label, role, lambda n, prefix=prefix: n.startswith(prefix)))
    return out


def _needed_consumer(target: Target, site: str, so: str, label: str, role: str, wanted) -> dict:
    """A program whose ELF NEEDs GPU libraries: the NEEDED sonames ``wanted`` keeps, or the
    reason its ELF could not be read."""
    entry = {"name": label, "role": role, "site_packages": site, "requester": so}
    try:
        needed = read_elf(target.path(so), nofollow=target.contained).needed
    except ElfError as exc:
        return entry | {"needs": [], "error": str(exc)}
    return entry | {"needs": [n for n in needed if wanted(n)], "kind": "NEEDED"}


def cudart_soname(cuda_version: str) -> str | None:
    """The soname a CUDA release's runtime carries, from the catalog: ``libcudart.so.10.1``
    for 10.1, ``libcudart.so.11.0`` for every 11.x, ``libcudart.so.12`` for 12.x."""
    parts = str(cuda_version).split(".")
    names = next(r["sonames"] for r in catalog() if r["key"] == "cudart")
    for cand in (f"libcudart.so.{'.'.join(parts[:2])}", f"libcudart.so.{parts[0]}.0", f"libcudart.so.{parts[0]}"):
        if cand in names:
            return cand
    return None


def _tensorflow_consumer(target: Target, snap: dict, site: str, version: str) -> dict:
    """TensorFlow as a consumer: the sonames it dlopens at run time. TF-TRT's come from the
    knowledge base (the wheel's build_info has no TensorRT version); the CUDA runtime and
    cuDNN majors from build_info."""
    tf = snap.get("tensorflow", {}).get("installs", [])
    build = next((t.get("build_info") or {} for t in tf if t.get("site_packages") == site), {})
    row = knowledge.tf_release(version) or {}
    needs = list(row.get("trt_sonames") or []) if build.get("is_tensorrt_build", row.get("trt") is not None) else []
    if build.get("cuda_version") and (cudart := cudart_soname(build["cuda_version"])):
        needs.append(cudart)
    if build.get("cudnn_version"):
        needs.append(f"libcudnn.so.{str(build['cudnn_version']).split('.')[0]}")
    req = f"{site}/tensorflow/libtensorflow_framework.so.2"
    return {"name": f"tensorflow {version}", "role": "tensorflow", "site_packages": site, "requester": req if target.path(req).exists() else None, "needs": needs, "kind": "dlopen"}


def _torch_consumer(target: Target, site: str, version: str) -> list[dict]:
    """torch's CUDA library, ``torch/lib/libtorch_cuda.so``, as a consumer of the catalog's
    CUDA and cuDNN sonames it NEEDs (none: a CPU build).

    Its DT_RPATH names the ``nvidia/*/lib`` wheel directories (read from torch 2.11.0+cu130:
    ``$ORIGIN/../../nvidia/cudnn/lib:…:$ORIGIN/../../nvidia/cu13/lib:$ORIGIN``), which the
    loader searches before LD_LIBRARY_PATH; ``import torch`` also preloads
    ``libtorch_global_deps.so`` with the same RPATH, so resolving from this file is what the
    process gets (shared/fixtures/h100/truth.txt: torch maps the wheel's cuDNN while a plain
    dlopen maps the system's)."""
    so = f"{site}/torch/lib/libtorch_cuda.so"
    if not target.path(so).is_file():
        return []
    known = {s for row in catalog() if row["group"] in ("cuda", "cudnn") for s in row["sonames"]}
    return [_needed_consumer(target, site, so, f"torch {version}", "torch", known.__contains__)]


LIVE_CODE = r"""
import ctypes, json, os, sys
class LinkMap(ctypes.Structure):
    _fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p)]
libc = ctypes.CDLL(None)
out = {}
for name in json.loads(sys.argv[1]):
    try:
        h = ctypes.CDLL(name)
        lm = ctypes.POINTER(LinkMap)()
        libc.dlinfo(ctypes.c_void_p(h._handle), 2, ctypes.byref(lm))
        out[name] = {"loaded": lm.contents.l_name.decode()}
    except OSError as e:
        out[name] = {"error": str(e)}
maps = set()
with open("/proc/self/maps") as fh:
    for line in fh:
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/"):
            maps.add(parts[5].strip())
for v in out.values():
    if "loaded" in v:
        v["in_maps"] = os.path.realpath(v["loaded"]) in {os.path.realpath(m) for m in maps}
print(json.dumps(out))
"""


def live_dlopen(target: Target, sonames: list[str], python: str | None = None) -> dict:
    import sys

    code = LIVE_CODE.replace("json.loads(sys.argv[1])", json.dumps(sonames))
    res = run_python_json(code, python=python or sys.executable, env=target.env, timeout=target.timeout, isolated=True)
    if res.data is None:
        return {"error": f"could not collect: dlopen probe {res.error}"}
    return res.data


def probe_libraries(target: Target, snap: dict) -> dict:
    machine = (snap.get("os") or {}).get("arch") or "x86-64"
    model = LoaderModel(target, machine)
    places = Places(target, snap, model)
    stems = {row["stem"] for row in catalog()}
    present = places.sonames_present()
    wanted = {s for row in catalog() if row["group"] == "driver" for s in row["sonames"]}
    wanted |= {n for n in present if (soname_parts(n) or ("",))[0] in stems and n in {s for row in catalog() for s in row["sonames"]}}
    consumers = _consumers(target, snap)
    for c in consumers:
        wanted |= set(c["needs"])
    libs = {}
    for soname in sorted(wanted):
        res = model.resolve(soname)
        entry = catalog_entry(soname)
        libs[soname] = {
            "key": entry["key"] if entry else None,
            "group": entry["group"] if entry else None,
            "resolved": res.path if res.found else None,
            "via": res.via,
            "error": res.error,
            "steps": [s.__dict__ for s in res.steps],
            "copies": _copies(target, soname, places, model),
        }
        if res.found:
            libs[soname]["resolved_real"] = target.realpath(res.path)
            libs[soname]["version"] = file_version(target, res.path, places)
            libs[soname]["unresolved_needed"] = _unresolved_needed(model, res.path)
            libs[soname]["libstdcxx"] = _libstdcxx_check(model, res.path)
            libs[soname]["missing_versions"] = _missing_versions(model, res.path)
    for c in consumers:
        c["resolutions"] = {}
        by, pre = preloaded(target, model, c["site_packages"], c["requester"]) if c.get("requester") and c.get("kind") == "NEEDED" else (None, {})
        for soname in c["needs"]:
            r = model.resolve(soname, c.get("requester"))
            if soname in pre and r.via != "LD_PRELOAD":  # LD_PRELOAD objects come first in the link map
                res = {"resolved": pre[soname], "via": f"preloaded by {os.path.relpath(by, c['site_packages'])}", "error": None, "preloaded_by": by}
            else:
                res = {"resolved": r.path if r.found else None, "via": r.via, "error": r.error}
            if res["resolved"] and not res["error"]:
                res["version"] = file_version(target, res["resolved"], places)
                res["resolved_real"] = target.realpath(res["resolved"])
            c["resolutions"][soname] = res
    out = {
        "machine": machine,
        "ld_so_cache": model.cache is not None,
        "ld_so_conf_dirs": model.conf_dirs,
        "stale_cache": _stale_cache(target, model),
        "places": [{"dir": d, "via": label} for d, label in places.dirs],
        "libraries": libs,
        "consumers": consumers,
    }
    if target.live:
        found = [s for s, v in libs.items() if v["resolved"]]
        live = live_dlopen(target, found)
        out["live"] = live
        if "error" not in live:
            for s, v in live.items():
                if s in libs:
                    libs[s]["live"] = v
                    model_real = target.realpath(libs[s]["resolved"])
                    loaded = v.get("loaded")
                    libs[s]["live_agrees"] = bool(loaded) and os.path.realpath(loaded) == model_real
    return out


def _unresolved_needed(model: LoaderModel, path: str) -> list[str]:
    info = model.elf(path)
    if isinstance(info, ElfError):
        return []
    return [n for n in info.needed if not model.resolve(n, path).found]


def _libstdcxx_check(model: LoaderModel, path: str) -> dict | None:
    """The GLIBCXX a library needs against the libstdc++ the loader would give it."""
    info = model.elf(path)
    if isinstance(info, ElfError) or "libstdc++.so.6" not in info.needed:
        return None
    need = highest(info.required_versions("GLIBCXX_"), "GLIBCXX_")
    res = model.resolve("libstdc++.so.6", path)
    if not res.found or need is None:
        return None
    got = model.elf(res.path)
    have = highest(got.verdef, "GLIBCXX_") if not isinstance(got, ElfError) else None
    return {"needs": need, "libstdcxx": res.path, "via": res.via, "provides": have}


def _missing_versions(model: LoaderModel, path: str) -> list[dict]:
    """ld.so's own version check for a dlopen of ``path``: every object it maps (itself and
    its NEEDED, transitively) against the version definitions of the object the loader gives
    for each file its version needs name. What is missing fails the load with "version
    `GLIBC_2.34' not found"."""
    loaded = model.load(path)
    out = []
    for obj in [path] + [x.res.path for x in loaded.values() if x.res.found]:
        info = model.elf(obj)
        for file, names in ({} if isinstance(info, ElfError) else info.verneed).items():
            got = loaded.get(file)
            prov = model.elf(got.res.path) if got and got.res.found else None
            if prov is None or isinstance(prov, ElfError):
                continue  # not found or unreadable: unresolved_needed and broken-file say so
            missing = [n for n in names if n not in prov.verdef]
            if missing:
                family = re.match(r"(.*?)[\d.]*$", missing[0]).group(1)
                out.append({"object": obj, "file": file, "provider": got.res.path, "via": got.res.via, "missing": missing, "provides": highest(prov.verdef, family)})
    return out


def _stale_cache(target: Target, model: LoaderModel) -> list[str]:
    """Sonames in ld.so.conf directories that the cache does not know: ldconfig not re-run."""
    if model.cache is None:
        return []
    stale, known = [], {s for row in catalog() for s in row["sonames"]}
    for d in parse_ld_so_conf(target):
        for p in target.glob(glob.escape(d) + "/lib*.so.*"):
            name = os.path.basename(p)
            if name in known and name not in model.cache:
                stale.append(f"{d}/{name}")
    return sorted(stale)[:20]
