"""Static probes of the operating system, kernel driver, GPUs, CUDA toolkits, device nodes
and environment. They read files under the root only and judge nothing."""

from __future__ import annotations

import glob
import json
import os
import platform
import re
from concurrent.futures import ThreadPoolExecutor

from .. import knowledge
from ..elf import ElfError, highest, read_elf
from ..loader import LoaderModel, parse_ld_so_conf
from ..subproc import run
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
        out["arch"] = read_elf(target.path(first), nofollow=target.contained).machine
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
        for p in target.glob(glob.escape(d) + f"/{stem}.so.*"):
            # driver releases are NNN.NN[.NN]: WSL's libcuda.so.1.1 is a soname alias, not a version
            m = re.match(re.escape(stem) + r"\.so\.(\d{3}\.\d+(?:\.\d+)?)$", os.path.basename(p))
            real = target.realpath(p)
            if not m or real in seen or target.islink(p):
                continue
            seen.add(real)
            found.append({"path": p, "version": m.group(1), "size": _size(target, p)})
    return found


def _size(target: Target, p: str) -> int:
    try:
        return target.path(p).stat().st_size
    except OSError:
        return 0


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
    for p in target.glob("/usr/local/cuda*/compat/libcuda.so.*"):
        m2 = re.search(r"libcuda\.so\.(\d+\.\d+(?:\.\d+)?)$", p)
        if m2 and not target.islink(p) and target.realpath(p) not in seen:
            seen.add(target.realpath(p))
            compat.append({"path": p, "version": m2.group(1)})
    info["compat_libcuda"] = compat
    wsl = "/usr/lib/wsl/lib/libcuda.so.1"
    info["wsl_libcuda"] = wsl if target.path(wsl).exists() else None
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


def _compute_capability(d: dict) -> None:
    """The driver's own compute capability (NVML, which nvidia-smi also asks) always wins; the
    model-name table of kb/gpus.yaml only fills in where the source has none (static mode)."""
    if d.get("compute_capability"):
        d["cc_source"] = "nvml"
        return
    row = knowledge.cc_for_gpu(d.get("name"))
    d["compute_capability"] = row["cc"] if row else None
    d["cc_source"] = "name" if row else "unknown model"
    if row:
        d["cc_verified"] = bool(row.get("verified"))


def probe_gpus(target: Target, snap: dict) -> dict:
    devices = []
    live = snap.get("nvml") or {}
    if live.get("devices"):
        for d in live["devices"]:
            devices.append(dict(d, source=live.get("source", "nvml")))
    else:
        for p in target.glob("/proc/driver/nvidia/gpus/*/information"):
            text = target.read_text(p) or ""
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
        _compute_capability(d)
    return {"count": len(devices), "devices": devices}


def _toolkit_version(root: str, target: Target) -> tuple[str | None, str | None]:
    """(version, where it came from) of the toolkit at ``root``: version.json, version.txt,
    ``bin/nvcc --version`` (live), conda's ``conda-meta`` records, else a ``libcudart.so.X.Y.Z``
    file name (whose X.Y is the toolkit's CUDA X.Y)."""
    text = target.read_text(f"{root}/version.json")
    if text:
        try:
            return json.loads(text)["cuda"]["version"], "version.json"
        except (ValueError, KeyError, TypeError):
            pass
    m = re.search(r"CUDA Version (\d+\.\d+(?:\.\d+)?)", target.read_text(f"{root}/version.txt") or "")
    if m:
        return m.group(1), "version.txt"
    if target.live and os.access(target.path(f"{root}/bin/nvcc"), os.X_OK):
        v = nvcc_version(f"{root}/bin/nvcc", target)
        if v:
            return v, "nvcc --version"
    for pat, src in (("/conda-meta/cuda-nvcc-[0-9]*.json", "conda cuda-nvcc"), ("/conda-meta/cuda-cudart-[0-9]*.json", "conda cuda-cudart")):
        for p in target.glob(glob.escape(root) + pat):
            m = re.search(r"-(\d+)\.(\d+)\.[^-]*-[^-]*\.json$", p)
            if m:
                return f"{m.group(1)}.{m.group(2)}", src
    for sub in ("/targets/*/lib", "/lib64", "/lib"):
        for p in target.glob(glob.escape(root) + sub + "/libcudart.so.*.*.*"):
            m = re.search(r"libcudart\.so\.(\d+)\.(\d+)\.\d+$", p)
            if m:
                return f"{m.group(1)}.{m.group(2)}", "libcudart file name"
    return None, None


def _looks_like_toolkit(root: str, target: Target) -> bool:
    """Headers, a version file, conda's records or libcudart: not a bare ``bin/nvcc``, which
    may be a wrapper script (``exec /usr/local/cuda-13.0/bin/nvcc "$@"`` in /usr/local/bin)."""
    top = glob.escape(root)
    pats = ("/version.json", "/version.txt", "/include/cuda_runtime.h", "/targets/*/include/cuda_runtime.h", "/conda-meta/cuda-[nc][vu]*-[0-9]*.json", "/targets/*/lib/libcudart.so*", "/lib64/libcudart.so*")
    return any(target.glob(top + p) for p in pats)


def nvcc_version(nvcc: str, target: Target) -> str | None:
    """``V13.0.88`` of ``nvcc --version`` (live only)."""
    res = run([nvcc, "--version"], env=target.env, timeout=target.timeout)
    m = re.search(r"release \d+\.\d+, V(\d+\.\d+\.\d+)", res.stdout or "")
    return m.group(1) if m else None


def _on_path(target: Target, name: str) -> str | None:
    for d in (target.env.get("PATH") or "").split(":"):
        if d.startswith("/") and os.access(target.path(f"{d}/{name}"), os.X_OK) and target.path(f"{d}/{name}").is_file():
            return f"{d.rstrip('/')}/{name}"
    return None


def _compiler(target: Target) -> dict | None:
    """The C++ compiler a TensorRT plugin build would use: $CXX, else c++ or g++ on PATH."""
    cxx = target.env.get("CXX")
    found = (cxx, "CXX") if cxx else next(((p, f"{n} on PATH") for n in ("c++", "g++") for p in [_on_path(target, n)] if p), (None, None))
    if not found[0]:
        return None
    return {"path": found[0], "source": found[1], "version": None}


def live_cuda(target: Target, snap: dict) -> dict:
    """Live phase: what nvcc on PATH and the C++ compiler say of their versions (both at once).
    Nothing waits for it: the static toolkit versions already fed every probe."""
    area = snap.get("cuda") or {}
    nvcc = next((p for p in area.get("pointers", []) if p["name"] == "nvcc on PATH"), None)
    cxx = area.get("cxx")

    def cxx_version() -> str | None:
        res = run([cxx["path"], "--version"], env=target.env, timeout=target.timeout)
        return (res.stdout or "").splitlines()[0].strip() if res.ok and res.stdout else None

    with ThreadPoolExecutor(2) as pool:
        nv = pool.submit(nvcc_version, nvcc["value"], target) if nvcc else None
        cx = pool.submit(cxx_version) if cxx else None
        if nv is not None:
            nvcc["version"] = nv.result() or nvcc["version"]
        if cx is not None:
            cxx["version"] = cx.result()
    return area


def probe_cuda(target: Target, snap: dict) -> dict:
    """Every CUDA toolkit: /usr/local/cuda*, NVIDIA HPC SDK's, $CONDA_PREFIX's, and the ones
    nvcc on PATH, $CUDA_HOME, $CUDA_PATH and /usr/local/cuda lead to (``pointers``)."""
    toolkits, by_real = [], {}

    def add(root: str) -> dict | None:
        real = target.realpath(root)
        if real in by_real:
            return by_real[real]
        if not target.path(real).is_dir() or not _looks_like_toolkit(real, target):
            return None
        version, source = _toolkit_version(real, target)
        nvcc = os.path.join(real, "bin", "nvcc")
        if not version:
            return None
        tk = {"path": real, "version": version, "via": root, "version_source": source, "nvcc": nvcc if target.path(nvcc).is_file() else None}
        by_real[real] = tk
        toolkits.append(tk)
        return tk

    for pat in ("/usr/local/cuda*", "/opt/nvidia/hpc_sdk/*/*/cuda/[0-9]*"):
        for r in target.glob(pat):
            add(r)
    conda = target.env.get("CONDA_PREFIX")
    if conda and (target.path(f"{conda}/bin/nvcc").exists() or target.glob(glob.escape(conda) + "/conda-meta/cuda-[nc][vu]*-[0-9]*.json")):
        add(conda)
    pointers = []
    nvcc = _on_path(target, "nvcc")
    if nvcc:
        root = os.path.dirname(os.path.dirname(target.realpath(nvcc)))
        tk = add(root)
        pointers.append({"name": "nvcc on PATH", "value": nvcc, "exists": True, "toolkit": tk["path"] if tk else None, "version": (tk or {}).get("version")})
    for var in ("CUDA_HOME", "CUDA_PATH"):
        val = target.env.get(var)
        if val:
            exists = target.path(val).is_dir()
            tk = add(val.rstrip("/") or "/") if exists else None
            pointers.append({"name": var, "value": val, "exists": exists, "toolkit": tk["path"] if tk else None, "version": tk["version"] if tk else None})
    default = target.path("/usr/local/cuda").exists()
    if default:
        tk = add("/usr/local/cuda")
        pointers.append({"name": "/usr/local/cuda", "value": "/usr/local/cuda", "exists": True, "toolkit": tk["path"] if tk else None, "version": tk["version"] if tk else None})
    return {
        "toolkits": toolkits,
        "default": target.realpath("/usr/local/cuda") if default else None,
        "cuda_home": target.env.get("CUDA_HOME"),
        "pointers": pointers,
        "cxx": _compiler(target),
    }


def probe_devices(target: Target, snap: dict) -> dict:
    nodes = [os.path.basename(p) for p in target.glob("/dev/nvidia*")]
    try:
        populated = bool(target.listdir("/dev"))
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
