"""Static probes of the operating system, kernel driver, GPUs, CUDA toolkits, device nodes
and environment. They read files under the root only and judge nothing."""

from __future__ import annotations

import glob
import json
import os
import platform
import re

from .. import knowledge
from ..elf import ElfError, highest, read_elf
from ..loader import LoaderModel, parse_ld_so_conf
from ..target import Target

_LIBC_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def _os_release(target: Target) -> dict:
    text = target.read_text("/etc/os-release") or target.read_text("/usr/lib/os-release")
    if text is None:
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, val = line.partition("=")
        if sep:
            out[key.strip()] = val.strip().strip('"')
    return {"id": out.get("ID"), "version_id": out.get("VERSION_ID"), "name": out.get("PRETTY_NAME")}


def _c_library(target: Target) -> dict:
    """The libc.so.6 and libstdc++.so.6 a program on this root gets (the loader model's
    answer: cache, then the root's default directories), with the highest GLIBC_ /
    GLIBCXX_ versions they define. ``libc`` None: the root has no C library at all."""
    out: dict = {"arch": None, "glibc": None, "glibcxx": None, "libc": None, "libstdcxx": None, "ld_so_cache": target.path("/etc/ld.so.cache").is_file()}
    first = next((f"{d}/libc.so.6" for d in _LIBC_DIRS if target.path(f"{d}/libc.so.6").exists()), None)
    if first is None:
        return out
    try:
        out["arch"] = read_elf(target.path(first)).machine
    except ElfError as exc:
        return dict(out, libc=first, libc_error=f"{first}: {exc}")
    model = LoaderModel(target, out["arch"])
    for soname, key, prefix in (("libc.so.6", "libc", "GLIBC_2"), ("libstdc++.so.6", "libstdcxx", "GLIBCXX_")):
        res = model.resolve(soname)
        path = res.path if res.found else (first if key == "libc" else None)
        info = model.elf(path) if path else None
        out[key] = path
        if info is not None and not isinstance(info, ElfError):
            top = highest(info.verdef, prefix)
            out["glibc" if key == "libc" else "glibcxx"] = top.split("_", 1)[1] if top else None
    return out


def probe_os(target: Target, snap: dict) -> dict:
    info = _os_release(target)
    proc_version = target.read_text("/proc/version") or ""
    if target.live:
        info["kernel"] = platform.release()
    else:
        m = re.search(r"Linux version (\S+)", proc_version)
        info["kernel"] = m.group(1) if m else None
    info.update(_c_library(target))
    if target.live:
        info["arch"] = {"x86_64": "x86-64", "aarch64": "aarch64"}.get(platform.machine(), platform.machine())
        libc_ver = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
        if libc_ver and libc_ver.startswith("glibc "):
            info["glibc"] = libc_ver.split()[1]
    low = proc_version.lower()
    info["wsl2"] = bool("microsoft" in low or target.env.get("WSL_DISTRO_NAME") or target.path("/usr/lib/wsl/lib").is_dir() or target.path("/etc/ld.so.conf.d/ld.wsl.conf").exists())
    cgroup = target.read_text("/proc/1/cgroup") or ""
    markers = [p for p in ("/.dockerenv", "/run/.containerenv") if target.path(p).exists()]
    if any(k in cgroup for k in ("docker", "kubepods", "containerd", "libpod")):
        markers.append("/proc/1/cgroup")
    if target.env.get("container"):
        markers.append("container=" + target.env["container"])
    info["container"] = bool(markers)
    info["container_markers"] = markers
    return info


DRIVER_RE = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)")


def driver_lib_dirs(target: Target) -> list[str]:
    """Where the user-space driver libraries can live, in loader-ish order."""
    dirs = ["/usr/lib/wsl/lib", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"]
    dirs += parse_ld_so_conf(target)
    dirs += ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu"]
    dirs += ["/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    out = []
    for d in dirs:
        if d not in out and "stubs" not in d and "/compat" not in d:
            out.append(d)
    return out


def _versioned_libs(target: Target, stem: str) -> list[dict]:
    """Real files named ``stem.so.<version>`` (symlinks to one file counted once)."""
    found, seen = [], set()
    for d in driver_lib_dirs(target):
        for p in sorted(glob.glob(str(target.path(d)) + f"/{stem}.so.*")):
            # driver releases are NNN.NN[.NN]: WSL's libcuda.so.1.1 is a soname alias, not a version
            m = re.match(re.escape(stem) + r"\.so\.(\d{3}\.\d+(?:\.\d+)?)$", os.path.basename(p))
            real = os.path.realpath(p)
            if not m or real in seen or os.path.islink(p):
                continue
            seen.add(real)
            size = os.path.getsize(p) if os.path.exists(p) else 0
            found.append({"path": target.unroot(p), "version": m.group(1), "size": size})
    return found


def probe_driver(target: Target, snap: dict) -> dict:
    info: dict = {}
    text = target.read_text("/proc/driver/nvidia/version")
    m = DRIVER_RE.search(text or "")
    info["kernel_module"] = m.group(1) if m else None
    info["proc_present"] = target.path("/proc/driver").is_dir() or target.path("/proc/version").exists()
    info["kernel_module_open"] = bool(text and "Open Kernel Module" in text)
    sysver = target.read_text("/sys/module/nvidia/version")
    info["sys_module"] = sysver.strip() if sysver else None
    info["libcuda"] = _versioned_libs(target, "libcuda")
    info["libnvidia_ml"] = _versioned_libs(target, "libnvidia-ml")
    compat, seen = [], set()
    for p in sorted(glob.glob(str(target.path("/usr/local/cuda*")) + "/compat/libcuda.so.*")):
        m2 = re.search(r"libcuda\.so\.(\d+\.\d+(?:\.\d+)?)$", p)
        if m2 and not os.path.islink(p) and os.path.realpath(p) not in seen:
            seen.add(os.path.realpath(p))
            compat.append({"path": target.unroot(p), "version": m2.group(1)})
    info["compat_libcuda"] = compat
    wsl = target.path("/usr/lib/wsl/lib/libcuda.so.1")
    info["wsl_libcuda"] = target.unroot(wsl) if wsl.exists() else None
    versions = sorted({x["version"] for x in info["libcuda"] + info["libnvidia_ml"]})
    info["userspace_versions"] = versions
    info["version"] = info["kernel_module"] or info["sys_module"] or (versions[-1] if versions else None)
    live = snap.get("nvml") or {}
    if live.get("driver"):
        info["version"] = live["driver"]
    if live.get("cuda_driver_version"):
        v = live["cuda_driver_version"]
        info["cuda_driver_version"] = f"{v // 1000}.{(v % 1000) // 10}"
    elif info["version"]:
        info["cuda_driver_version"] = knowledge.max_cuda_for_driver(info["version"])
        info["cuda_driver_version_source"] = "knowledge base (driver minimums)"
    return info


def probe_gpus(target: Target, snap: dict) -> dict:
    devices = []
    live = snap.get("nvml") or {}
    if live.get("devices"):
        for d in live["devices"]:
            devices.append(dict(d, source=live.get("source", "nvml")))
    else:
        for p in sorted(glob.glob(str(target.path("/proc/driver/nvidia/gpus")) + "/*/information")):
            text = open(p, encoding="utf-8", errors="replace").read()
            model = re.search(r"^Model:\s*(.+)$", text, re.M)
            uuid = re.search(r"^GPU UUID:\s*(\S+)", text, re.M)
            devices.append(
                {
                    "index": len(devices),
                    "name": model.group(1).strip() if model else None,
                    "uuid": uuid.group(1) if uuid else None,
                    "bus_id": os.path.basename(os.path.dirname(p)),
                    "source": "/proc/driver/nvidia/gpus",
                }
            )
    for d in devices:
        if not d.get("compute_capability"):
            row = knowledge.cc_for_gpu(d.get("name"))
            d["compute_capability"] = row["cc"] if row else None
            d["cc_source"] = "knowledge base" if row else "unknown model"
    return {"count": len(devices), "devices": devices}


def _toolkit_version(root: str, target: Target) -> str | None:
    text = target.read_text(f"{root}/version.json")
    if text:
        try:
            return json.loads(text)["cuda"]["version"]
        except (ValueError, KeyError, TypeError):
            pass
    text = target.read_text(f"{root}/version.txt") or ""
    m = re.search(r"CUDA Version (\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def probe_cuda(target: Target, snap: dict) -> dict:
    toolkits, seen = [], set()
    roots = sorted(glob.glob(str(target.path("/usr/local")) + "/cuda*")) + [str(target.path(target.env["CUDA_HOME"])) for _ in [0] if target.env.get("CUDA_HOME")]
    for r in roots:
        real = os.path.realpath(r)
        if real in seen or not os.path.isdir(r):
            continue
        seen.add(real)
        version = _toolkit_version(target.unroot(real), target)
        if version:
            toolkits.append({"path": target.unroot(real), "version": version, "via": target.unroot(r)})
    default = target.path("/usr/local/cuda")
    return {
        "toolkits": toolkits,
        "default": target.unroot(os.path.realpath(default)) if default.exists() else None,
        "cuda_home": target.env.get("CUDA_HOME"),
    }


def probe_devices(target: Target, snap: dict) -> dict:
    dev = target.path("/dev")
    nodes = sorted(os.path.basename(p) for p in glob.glob(str(dev) + "/nvidia*"))
    try:
        populated = any(True for _ in os.scandir(dev))
    except OSError:
        populated = False
    return {"nodes": nodes, "dev_populated": populated}


ENV_PREFIXES = ("CUDA", "NVIDIA_", "LD_", "TF_", "TRT_", "CONDA", "PYTHON", "PATH", "VIRTUAL_ENV", "CUDNN", "WSL")
SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """Only allow-listed variables, and secret-looking names masked even there."""
    out = {}
    for k in sorted(env):
        if not k.startswith(ENV_PREFIXES):
            continue
        out[k] = "<redacted>" if any(w in k.upper() for w in SECRET_WORDS) else env[k]
    return out


def probe_env(target: Target, snap: dict) -> dict:
    def entries(var: str, seps: str = ":") -> list[dict]:
        raw = target.env.get(var)
        if raw is None:
            return []
        parts = re.split("[" + re.escape(seps) + "]", raw)
        return [{"path": p, "exists": bool(p) and target.path(p).exists()} for p in parts]

    return {
        "vars": redact_env(target.env),
        "ld_library_path": entries("LD_LIBRARY_PATH"),
        "ld_preload": [e for e in entries("LD_PRELOAD", ": ") if e["path"]],
        "cuda_visible_devices": target.env.get("CUDA_VISIBLE_DEVICES"),
        "nvidia_visible_devices": target.env.get("NVIDIA_VISIBLE_DEVICES"),
    }
