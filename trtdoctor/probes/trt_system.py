"""TensorRT installed outside pip: NVIDIA's debs and RPMs, the tar package, conda-forge, NGC
containers; torch-tensorrt's native libraries; Jetson (L4T). Static facts only: each install
with its kind, version and library directory, and whether the sonames its Python bindings
(or libtorchtrt.so) NEED resolve through the loader model.

Where the files come from (for the tests' fixtures and for these patterns):
- deb: TensorRT installation guide (docs.nvidia.com/deeplearning/tensorrt, "Debian
  installation"): ``libnvinfer8``, ``libnvinfer-plugin8``, ``libnvonnxparsers8``,
  ``python3-libnvinfer``; libraries in ``/usr/lib/<triplet>`` (``libnvinfer.so.8.6.1``,
  SONAME ``libnvinfer.so.8``), bindings in ``/usr/lib/python3/dist-packages/tensorrt``.
  ``/var/lib/dpkg/status`` and ``/var/lib/dpkg/info/<pkg>.list`` are dpkg's own formats.
- RPM: same guide; without rpm tools the database cannot be read here, so the files in
  ``/usr/lib64`` are the evidence.
- tar: ``TensorRT-X.Y.Z.W/lib`` (+ ``python/*.whl``, ``bin/trtexec``), found through
  LD_LIBRARY_PATH, /usr/local or /opt.
- conda-forge ``tensorrt``: ``libnvinfer.so.*`` in ``$CONDA_PREFIX/lib``, bindings with RUNPATH
  ``$ORIGIN/../../..``; the version from ``conda-meta/<name>-<version>-<build>.json``.
- NGC container: ``/usr/src/tensorrt/bin/trtexec``; version from ``NvInferVersion.h`` or dpkg.
- torch-tensorrt (read from the real wheel torch_tensorrt-2.5.0-cp310 manylinux):
  ``torch_tensorrt/lib/libtorchtrt.so`` NEEDs ``libnvinfer.so.10``, ``libnvinfer_plugin.so.10``,
  ``libcudart.so.12``; its RUNPATH holds only Bazel build paths, so the libraries come from
  ``import tensorrt`` (which loads ``tensorrt_libs``) or, failing that, from the loader.
- Jetson: ``/etc/nv_tegra_release``, ``/usr/lib/aarch64-linux-gnu/tegra``, ``/dev/nvhost-*``.
"""

from __future__ import annotations

import glob
import os
import re

from ..elf import ElfError, read_elf
from ..loader import LoaderModel
from ..target import PACKAGE_DB_MAX, Target
from .libraries import soname_parts

TRT_DEB = re.compile(r"^(libnvinfer\d+|libnvinfer-plugin\d+|libnvonnxparsers\d+|libnvparsers\d+|libnvinfer-lean\d+|libnvinfer-dispatch\d+|python3-libnvinfer|tensorrt|tensorrt-libs)$")
TRT_PREFIXES = ("libnvinfer", "libnvonnxparser", "libnvparsers")
L4T_DEB = re.compile(r"^nvidia-l4t-(core|cuda)$")


def parse_dpkg_status(text: str) -> list[dict]:
    """Every stanza of ``/var/lib/dpkg/status``: Package, Version, Architecture, Status."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M))
        if "Package" in fields:
            out.append({"package": fields["Package"], "version": fields.get("Version"), "arch": fields.get("Architecture"), "status": fields.get("Status", "")})
    return out


def upstream(version: str | None) -> str | None:
    """``8.6.1.6-1+cuda11.8`` → ``8.6.1.6``; ``10.3.0.26-1.cuda12.5`` → ``10.3.0.26``."""
    m = re.match(r"^(?:\d+:)?(\d+(?:\.\d+)+)", version or "")
    return m.group(1) if m else None


def _file_version(name: str, stem: str = "libnvinfer.so.") -> str | None:
    return name[len(stem) :] if name.startswith(stem) and name.count(".") >= 3 else None


def _lib_files(target: Target, d: str) -> list[str]:
    top = glob.escape(d)
    return sorted(os.path.basename(p) for stem in ("libnvinfer", "libnvinfer_plugin", "libnvonnxparser") for p in target.glob(f"{top}/{stem}.so.*"))


def _version_from_files(files: list[str]) -> str | None:
    versions = [v for f in files if (v := _file_version(f))]
    return max(versions, key=lambda v: [int(x) for x in v.split(".") if x.isdigit()]) if versions else None


def _header_version(target: Target) -> str | None:
    for pat in ("/usr/include/*/NvInferVersion.h", "/usr/include/NvInferVersion.h"):
        for p in target.glob(pat):
            text = target.read_text(p) or ""
            vals = [re.search(rf"#define\s+(?:NV_TENSORRT|TRT)_{k}(?:_ENTERPRISE)?\s+(\d+)", text) for k in ("MAJOR", "MINOR", "PATCH", "BUILD")]
            if vals[0]:
                return ".".join(v.group(1) for v in vals if v)
    return None


def _bindings(target: Target, model: LoaderModel, paths: list[str]) -> list[dict]:
    """Each bindings extension: what TensorRT sonames it NEEDs and where each resolves."""
    out = []
    for so in paths:
        try:
            info = read_elf(target.path(so), nofollow=target.contained)
        except ElfError as exc:
            out.append({"path": so, "needs": [], "resolutions": {}, "error": str(exc)})
            continue
        needs = [n for n in info.needed if n.startswith(TRT_PREFIXES)]
        out.append({"path": so, "needs": needs, "resolutions": {n: _resolve(target, model, n, so) for n in needs}})
    return out


def _resolve(target: Target, model: LoaderModel, soname: str, requester: str, preloaded: list[str] = ()) -> dict:
    for d in preloaded:  # a directory whose libraries are loaded before (tensorrt_libs/__init__.py)
        if target.path(f"{d}/{soname}").exists():
            return {"resolved": f"{d}/{soname}", "via": "preloaded by import tensorrt", "version": _real_version(target, f"{d}/{soname}", soname)}
    r = model.resolve(soname, requester)
    return {"resolved": r.path if r.found else None, "via": r.via, "version": _real_version(target, r.path, soname) if r.found else None}


def _real_version(target: Target, path: str, soname: str) -> str | None:
    """The full version in the real file's name (``libnvinfer.so.8.6.1``), if it carries one."""
    real = os.path.basename(target.realpath(path))
    parts = soname_parts(soname)
    return _file_version(real, parts[0] + ".so.") if parts else None


def _site_bindings(target: Target, sites: list[str]) -> list[str]:
    return sorted(p for s in sites for p in target.glob(glob.escape(s) + "/tensorrt/tensorrt*.so"))


def _dpkg(target: Target) -> tuple[list[dict], list[dict]]:
    text = target.read_text("/var/lib/dpkg/status", PACKAGE_DB_MAX) or ""
    pkgs = [p for p in parse_dpkg_status(text) if p["status"].endswith(" installed")]
    trt = [dict(p, held=p["status"].startswith("hold ")) for p in pkgs if TRT_DEB.match(p["package"])]
    l4t = [p for p in pkgs if L4T_DEB.match(p["package"])]
    return trt, l4t


def _deb_files(target: Target, pkg: dict) -> list[str]:
    for name in (f"{pkg['package']}:{pkg.get('arch')}", pkg["package"]):
        text = target.read_text(f"/var/lib/dpkg/info/{name}.list", PACKAGE_DB_MAX)
        if text is not None:
            return [ln.strip() for ln in text.splitlines() if ln.strip()]
    return []


def _install(target: Target, model: LoaderModel, kind: str, version: str | None, lib_dir: str | None, bindings: list[str], **extra) -> dict:
    inst = {"kind": kind, "version": version, "lib_dir": lib_dir, "libs": _lib_files(target, lib_dir) if lib_dir else [], "bindings": _bindings(target, model, bindings)}
    inst.update(extra)
    return inst


def _system_installs(target: Target, model: LoaderModel, triplet: str, dpkg: list[dict]) -> list[dict]:
    out = []
    sys_lib = f"/usr/lib/{triplet}"
    dist = target.glob("/usr/lib/python3*/dist-packages")
    if dpkg:
        core = next((p for p in dpkg if re.match(r"^libnvinfer\d+$", p["package"])), None)
        py = next((p for p in dpkg if p["package"] == "python3-libnvinfer"), None)
        listed = [f for p in dpkg for f in _deb_files(target, p)]
        bindings = sorted({f for f in listed if re.search(r"/dist-packages/tensorrt/tensorrt[^/]*\.so$", f)}) or _site_bindings(target, dist)
        ngc = target.path("/usr/src/tensorrt/bin/trtexec").exists()
        version = upstream((core or dpkg[0])["version"])
        out.append(
            _install(
                target,
                model,
                "ngc" if ngc else "deb",
                version,
                sys_lib,
                bindings,
                bindings_version=upstream(py["version"]) if py else None,
                packages=[{k: p[k] for k in ("package", "version", "held")} for p in dpkg],
                trtexec="/usr/src/tensorrt/bin/trtexec" if ngc else None,
            )
        )
        return out
    files = _lib_files(target, sys_lib)
    if files:  # no package database entry: an NGC container (trtexec in /usr/src/tensorrt) or copied files
        ngc = target.path("/usr/src/tensorrt/bin/trtexec").exists()
        out.append(
            _install(target, model, "ngc" if ngc else "files", _header_version(target) or _version_from_files(files), sys_lib, _site_bindings(target, dist), trtexec="/usr/src/tensorrt/bin/trtexec" if ngc else None)
        )
    files64 = _lib_files(target, "/usr/lib64")
    if files64 and any(f.startswith("libnvinfer.so.") for f in files64):
        sites = target.glob("/usr/lib64/python3*/site-packages")
        rpmdb = [p for p in ("/var/lib/rpm", "/usr/lib/sysimage/rpm") if target.path(p).is_dir()]
        out.append(
            _install(
                target,
                model,
                "rpm",
                _version_from_files(files64),
                "/usr/lib64",
                _site_bindings(target, sites),
                evidence=f"files in /usr/lib64 ({'rpm database at ' + rpmdb[0] + ' not read' if rpmdb else 'no rpm database'})",
            )
        )
    return out


def _tar_installs(target: Target, model: LoaderModel) -> list[dict]:
    dirs = [d for d in target.env.get("LD_LIBRARY_PATH", "").split(":") if re.search(r"/TensorRT-[\d.]+/lib/?$", d)]
    for pat in ("/usr/local/TensorRT-*/lib", "/opt/TensorRT-*/lib", "/opt/*/TensorRT-*/lib"):
        dirs += target.glob(pat)
    out, seen = [], set()
    for d in dirs:
        d = os.path.normpath(d)
        if d in seen or not target.path(d).is_dir():
            continue
        seen.add(d)
        top = os.path.dirname(d)
        wheels = [os.path.basename(p) for p in target.glob(glob.escape(top) + "/python/tensorrt-*.whl")]
        on_path = d in [os.path.normpath(x) for x in target.env.get("LD_LIBRARY_PATH", "").split(":") if x]
        out.append(
            _install(target, model, "tar", os.path.basename(top).split("-", 1)[1], d, [], wheels=wheels, on_ld_library_path=on_path, trtexec=f"{top}/bin/trtexec" if target.path(f"{top}/bin/trtexec").exists() else None)
        )
    return out


def _conda_install(target: Target, model: LoaderModel) -> list[dict]:
    prefix = target.env.get("CONDA_PREFIX")
    if not prefix or not _lib_files(target, f"{prefix}/lib"):
        return []
    metas = [os.path.basename(p) for p in target.glob(glob.escape(prefix) + "/conda-meta/*.json")]
    pkg = next((m for m in metas if re.match(r"^(libnvinfer|tensorrt)-\d", m)), None)
    version = pkg.rsplit("-", 2)[1] if pkg else _version_from_files(_lib_files(target, f"{prefix}/lib"))
    sites = target.glob(glob.escape(prefix) + "/lib/python3*/site-packages")
    return [_install(target, model, "conda", version, f"{prefix}/lib", _site_bindings(target, sites), conda_package=pkg[: -len(".json")] if pkg else None)]


def _torch_tensorrt(target: Target, model: LoaderModel, snap: dict) -> list[dict]:
    out = []
    for env in (snap.get("python") or {}).get("environments", []):
        site = env.get("site_packages")
        if not site or not target.path(f"{site}/torch_tensorrt/lib/libtorchtrt.so").exists():
            continue
        pkgs = env.get("packages", {})
        meta = next(iter(target.glob(glob.escape(site) + "/torch_tensorrt-*.dist-info/METADATA")), None)
        text = (target.read_text(meta, head=True) or "") if meta else ""  # Requires-Dist lines come first
        pins = re.findall(r"^Requires-Dist:\s*(tensorrt[\w-]*)\s*\(?\s*(==\s*[\w.]+)", text, re.M)
        libs = []
        for rel in target.glob(glob.escape(site) + "/torch_tensorrt/lib/libtorchtrt*.so"):
            try:
                needs = [n for n in read_elf(target.path(rel), nofollow=target.contained).needed if n.startswith(TRT_PREFIXES)]
            except ElfError as exc:
                libs.append({"path": rel, "needs": [], "resolutions": {}, "error": str(exc)})
                continue
            libs.append({"path": rel, "needs": needs, "resolutions": {n: _resolve(target, model, n, rel, [f"{site}/tensorrt_libs"]) for n in needs}})
        version = text and re.search(r"^Version:\s*(\S+)", text, re.M)
        out.append(
            {
                "site_packages": site,
                "version": version.group(1) if version else None,
                "tensorrt_pins": [f"{n}{v.replace(' ', '')}" for n, v in pins],
                "tensorrt_installed": {n: v for n, v in pkgs.items() if re.match(r"^tensorrt(-cu\d+)?(-bindings|-libs)?$", n)},
                "libs": libs,
            }
        )
    return out


def _jetson(target: Target, l4t: list[dict]) -> dict | None:
    release = target.read_text("/etc/nv_tegra_release")
    if release is None and not l4t:
        return None
    tegra = "/usr/lib/aarch64-linux-gnu/tegra"
    return {
        "release": release.splitlines()[0].strip() if release else None,
        "l4t_packages": [f"{p['package']} {p['version']}" for p in l4t],
        "tegra_libs": [os.path.basename(p) for p in target.glob(tegra + "/lib*.so*")],
        "nvhost_nodes": [os.path.basename(p) for p in target.glob("/dev/nvhost-*")],
    }


def probe_trt_system(target: Target, snap: dict) -> dict:
    machine = (snap.get("os") or {}).get("arch") or "x86-64"
    triplet = "aarch64-linux-gnu" if machine == "aarch64" else "x86_64-linux-gnu"
    model = LoaderModel(target, machine)
    dpkg, l4t = _dpkg(target)
    installs = _system_installs(target, model, triplet, dpkg) + _tar_installs(target, model) + _conda_install(target, model)
    return {"installs": installs, "torch_tensorrt": _torch_tensorrt(target, model, snap), "jetson": _jetson(target, l4t)}
