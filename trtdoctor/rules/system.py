"""Rules on the kernel driver, GPUs, device nodes, CUDA runtimes and the environment."""

from __future__ import annotations

import re
from collections import Counter

from .. import knowledge
from ..findings import Finding, Fix
from ..shell import comment, export, prepend, quote
from . import DRIVER_CAUSES, Check, rule

CUDA_COMPAT = "https://docs.nvidia.com/deploy/cuda-compatibility/"


def _live(snap: dict) -> bool:
    return snap.get("target", {}).get("mode") == "live"


def driver_version(snap: dict) -> str | None:
    return (snap.get("driver") or {}).get("version")


def no_c_library(snap: dict) -> bool:
    """A static root in which the loader finds no libc.so.6 at all (a report written before
    ``os.libc`` existed: no glibc version and no unreadable libc)."""
    osi = snap.get("os") or {}
    if _live(snap) or not osi or "error" in osi:
        return False
    return not (osi.get("libc") or osi.get("glibc") or osi.get("libc_error"))


def stack_found(snap: dict) -> list[str]:
    """What a root holds besides an OS: Python environments and GPU library files."""
    envs = [e.get("prefix") or e.get("site_packages") for e in (snap.get("python") or {}).get("environments", [])]
    libs = (snap.get("libraries") or {}).get("libraries") or {}
    files = sorted({c["path"] for lib in libs.values() for c in lib.get("copies", [])})
    return [f"Python environment {e}" for e in envs if e] + files


@rule(reads=("os",), uses=("python", "libraries"), emits=[Check("os.no-os", "error", "The judged root holds no operating system")])
def no_os(snap: dict) -> list[Finding]:
    """A --root with no os-release, no C library and nothing else to judge (an empty or wrong
    directory) cannot be judged: say so instead of painting every area green."""
    osi = snap.get("os") or {}
    if not no_c_library(snap) or osi.get("id") or osi.get("name") or stack_found(snap):
        return []
    root = snap.get("target", {}).get("root", "?")
    return [
        Finding(
            "os.no-os",
            "error",
            "os",
            f"{root} holds no operating system: nothing here can be judged",
            "Static mode reads a root file system (a mounted image, a chroot, a container layer). This one has no /etc/os-release and no C library (libc.so.6).",
            [f"{root}/etc/os-release: absent", f"{root}: no libc.so.6 in /lib, /usr/lib or /lib64"],
            Fix("Point --root at the top of a root file system (the directory that holds etc/, usr/ and lib/).", ["trtdoctor check --root /path/to/rootfs"]),
        )
    ]


def _needs_c_runtime(snap: dict) -> list[str]:
    """Judged libraries whose NEEDED C-runtime sonames went unresolved (not reported one by one)."""
    crt = set(knowledge.load("libraries")["c_runtime"]["sonames"])
    libs = (snap.get("libraries") or {}).get("libraries") or {}
    return sorted(f"{lib['resolved']} needs {', '.join(n for n in lib['unresolved_needed'] if n in crt)}" for lib in libs.values() if crt & set(lib.get("unresolved_needed") or []))


@rule(reads=("os",), uses=("python", "libraries"), emits=[Check("os.partial-root", "warning", "The judged root holds a stack but no C library: only part of a system")])
def partial_root(snap: dict) -> list[Finding]:
    """A bare conda env, one image layer, a copied venv: libraries and Python but no libc.so.6.
    Nothing in it can load until it sits on a real system, so say that once, here, rather than
    'libc.so.6 not found' under every library."""
    osi = snap.get("os") or {}
    found = stack_found(snap)
    if not no_c_library(snap) or not (found or osi.get("id") or osi.get("name")):
        return []
    root = snap.get("target", {}).get("root", "?")
    missing = ["no C library (libc.so.6)"] + [what for what, there in (("no /etc/os-release", osi.get("id") or osi.get("name")), ("no /etc/ld.so.cache", osi.get("ld_so_cache"))) if not there]
    return [
        Finding(
            "os.partial-root",
            "warning",
            "os",
            f"{root} is only part of a system: {', '.join(missing)}",
            "Its libraries need the C runtime of the system they will run on (libc.so.6, libm.so.6, libstdc++.so.6, ld.so), which this root lacks: "
            "they are not reported one by one. Judge the whole image or the machine it runs on for a verdict on loading.",
            [f"{root}: {m}" for m in missing] + [f"holds: {x}" for x in found[:5]] + _needs_c_runtime(snap)[:5],
            Fix("Point --root at the whole root file system (e.g. the mounted image), or run trtdoctor on the machine itself.", ["trtdoctor check --root /path/to/rootfs", "trtdoctor check"]),
        )
    ]


@rule(reads=("driver", "os"), uses=("nvml",), emits=[Check("driver.missing", "error", "No NVIDIA kernel driver is loaded")])
def no_driver(snap: dict) -> list[Finding]:
    d = snap.get("driver") or {}
    if "error" in d or d.get("kernel_module") or d.get("sys_module") or (snap.get("nvml") or {}).get("driver"):
        return []
    if (snap.get("os") or {}).get("wsl2"):
        return []  # WSL2 has no /proc/driver/nvidia; the WSL rule judges libcuda instead
    if not _live(snap) and not d.get("proc_present"):
        return []
    libs = ", ".join(x["path"] for x in d.get("libcuda", [])) or "none"
    return [
        Finding(
            "driver.missing",
            "error",
            "driver",
            "No NVIDIA kernel driver is loaded",
            "Neither /proc/driver/nvidia/version nor /sys/module/nvidia/version exists, so no CUDA program can see a GPU.",
            ["/proc/driver/nvidia/version: absent", "/sys/module/nvidia/version: absent", f"libcuda files: {libs}"],
            Fix(
                "Install or load the NVIDIA driver (in a container: start it with the NVIDIA runtime).",
                ["nvidia-smi", "sudo modprobe nvidia", "docker run --gpus all ... (needs nvidia-container-toolkit)"],
                links=["https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"],
            ),
        )
    ]


@rule(reads=("driver", "devices"), emits=[Check("driver.no-device-nodes", "error", "The driver is loaded but /dev/nvidia* device nodes are missing")])
def no_nodes(snap: dict) -> list[Finding]:
    d, dev = snap.get("driver") or {}, snap.get("devices") or {}
    if not (d.get("kernel_module") or d.get("sys_module")) or "error" in dev:
        return []
    if not (_live(snap) or dev.get("dev_populated")):
        return []
    nodes = dev.get("nodes", [])
    missing = [n for n in ("nvidiactl", "nvidia0") if n not in nodes and not (n == "nvidia0" and any(re.fullmatch(r"nvidia\d+", x) for x in nodes))]
    if not missing:
        return []
    return [
        Finding(
            "driver.no-device-nodes",
            "error",
            "driver",
            "The NVIDIA driver is loaded but its device nodes are missing",
            "CUDA opens /dev/nvidiactl and /dev/nvidiaN; without them cuInit fails with CUDA_ERROR_NO_DEVICE or 'no CUDA-capable device'.",
            [f"/dev/{n}: absent" for n in missing] + [f"present: {', '.join(nodes) or 'none'}"],
            Fix("Create the nodes (host) or pass the GPUs into the container.", ["sudo nvidia-modprobe -u -c=0", "docker run --gpus all ..."]),
        )
    ]


@rule(reads=("driver",), emits=[Check("driver.version-mismatch", "error", "Kernel module and user-space driver libraries differ in version")])
def version_mismatch(snap: dict) -> list[Finding]:
    d = snap.get("driver") or {}
    kmod = d.get("kernel_module") or d.get("sys_module")
    libs = [x for x in d.get("libcuda", []) + d.get("libnvidia_ml", []) if x["version"] != kmod]
    if not kmod or not libs:
        return []
    return [
        Finding(
            "driver.version-mismatch",
            "error",
            "driver",
            f"Driver/library version mismatch: kernel module {kmod}, libraries {', '.join(sorted({x['version'] for x in libs}))}",
            "NVML and CUDA refuse to work when the loaded kernel module and the user-space libraries come from different driver releases (usually a driver upgrade without a reboot).",
            [f"kernel module: {kmod}"] + [f"{x['path']}: {x['version']}" for x in libs],
            Fix("Reboot so the new kernel module loads, or reinstall the driver so both match.", ["sudo reboot", "cat /proc/driver/nvidia/version"], kind="manual"),
        )
    ]


def cuda_runtimes(snap: dict) -> list[tuple[str, str]]:
    """(version, where) for every CUDA runtime on the system: toolkits and libcudart copies."""
    out = []
    for tk in (snap.get("cuda") or {}).get("toolkits", []):
        out.append((tk["version"], f"CUDA toolkit {tk['path']}"))
    for _soname, lib in ((snap.get("libraries") or {}).get("libraries") or {}).items():
        if lib.get("key") != "cudart":
            continue
        for c in lib.get("copies", []):
            if c.get("version") and not c["via"].startswith("CUDA toolkit"):
                out.append((c["version"], f"{c['path']} ({c['via']})"))
    return out


def _driver_row(row: dict) -> str:
    """What a driver-table row is: its toolkit label (or CUDA major), branch and Windows minimum."""
    what = row.get("label") or f"CUDA {row.get('cuda_major')}.x"
    extra = [f"driver branch {row['branch']}" if row.get("branch") else "", f"Windows ≥ {row['windows']}" if row.get("windows") else ""]
    return ", ".join([what] + [e for e in extra if e])


def _forward_compat_note(fc: dict, version: str) -> list[str]:
    """Forward compatibility exists only from its first CUDA release, and only on some GPUs."""
    if knowledge.major_minor(version) < knowledge.major_minor(fc["since_cuda"]):
        return []
    return [f"forward compatibility ({fc['package']}): only on {', '.join(fc['applies_to'])} ({knowledge.cite(fc)})"]


@rule(
    reads=("driver", "cuda"),
    uses=("libraries",),
    emits=[
        Check("driver.too-old-for-cuda", "error", "An installed CUDA runtime needs a newer driver"),
        Check("driver.minor-compat", "warning", "A CUDA runtime runs only through minor-version compatibility"),
    ],
)
def too_old(snap: dict) -> list[Finding]:
    drv = driver_version(snap)
    dv = knowledge.parse_version(drv)
    if dv is None:
        return []
    out, seen = [], set()
    for version, where in cuda_runtimes(snap):
        mm = knowledge.major_minor(version)
        if mm is None or mm in seen:
            continue
        seen.add(mm)
        ga = knowledge.min_driver_for_cuda(f"{mm[0]}.{mm[1]}")
        compat = knowledge.compat_min_driver(mm[0])
        floor = compat or ga  # before CUDA 11 there is no minor-version compatibility: each release needs its own driver
        if floor and dv < knowledge.parse_version(floor["driver"]):
            need = ga["driver"] if ga else floor["driver"]
            why = (
                f"CUDA {mm[0]}.x runtimes need driver ≥ {floor['driver']} even with minor-version compatibility"
                if compat
                else f"CUDA {mm[0]}.{mm[1]} predates minor-version compatibility (CUDA 11): it needs its own release's driver"
            )
            fc = knowledge.load("cuda")["forward_compat"]
            out.append(
                Finding(
                    "driver.too-old-for-cuda",
                    "error",
                    "driver",
                    f"Driver {drv} is too old for CUDA {mm[0]}.{mm[1]} (needs ≥ {need})",
                    why + "; programs fail with 'CUDA driver version is insufficient for CUDA runtime version'. On data-center GPUs the forward-compatibility package lets a newer runtime run on this driver.",
                    [f"driver: {drv}", f"CUDA {version} at {where}", f"minimum: {need} ({_driver_row(ga or floor)}; {knowledge.cite(ga or floor)})"] + _forward_compat_note(fc, version),
                    Fix(
                        f"Upgrade the driver to ≥ {need}, or use a CUDA {knowledge.major_minor(knowledge.max_cuda_for_driver(drv) or '0.0')[0]}.x stack that this driver supports.",
                        [
                            "nvidia-smi  # shows the highest CUDA the driver supports",
                            f"sudo apt-get install {fc['package'].format(major=mm[0], minor=mm[1])}  # data-center GPUs only: forward compatibility",
                        ],
                        links=[CUDA_COMPAT, fc["source"]],
                    ),
                )
            )
        elif ga and dv < knowledge.parse_version(ga["driver"]):
            out.append(
                Finding(
                    "driver.minor-compat",
                    "warning",
                    "driver",
                    f"CUDA {mm[0]}.{mm[1]} runs on driver {drv} only through minor-version compatibility",
                    f"The GA driver for CUDA {mm[0]}.{mm[1]} is {ga['driver']}. It runs, but PTX newer than the driver cannot be JIT-compiled (TensorRT plugins and some kernels may fail).",
                    [f"driver: {drv}", f"CUDA {version} at {where}", f"GA minimum: {ga['driver']} ({_driver_row(ga)}; {knowledge.cite(ga)})"],
                    Fix(f"Upgrade the driver to ≥ {ga['driver']} for full support.", links=[CUDA_COMPAT]),
                )
            )
    return out


def _hidden_reason(snap: dict) -> tuple[str, str] | None:
    env = snap.get("env") or {}
    cvd, nvd = env.get("cuda_visible_devices"), env.get("nvidia_visible_devices")
    count = (snap.get("gpus") or {}).get("count") or len((snap.get("nvml") or {}).get("devices") or [])
    if cvd is not None:
        items = [x.strip() for x in cvd.split(",")]
        if cvd.strip() == "" or items[0] in ("-1", "NoDevFiles"):
            return "CUDA_VISIBLE_DEVICES", cvd
        first = items[0]
        if first.isdecimal() and first.isascii() and count and int(first) >= count:
            return "CUDA_VISIBLE_DEVICES", cvd
        if not ((first.isdecimal() and first.isascii()) or first.startswith(("GPU-", "MIG-"))):
            return "CUDA_VISIBLE_DEVICES", cvd
    nv = snap.get("nvml") or {}
    cuda_sees_gpus = nv.get("cuInit") == 0 and (nv.get("cuda_device_count") or 0) > 0
    if nvd is not None and nvd.strip().lower() in ("", "void", "none") and not cuda_sees_gpus:
        return "NVIDIA_VISIBLE_DEVICES", nvd  # only the container runtime reads it: judge it by what CUDA sees
    return None


@rule(reads=("env",), uses=("gpus", "nvml"), emits=[Check("gpus.hidden", "error", "Every GPU is hidden by CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES")])
def hidden(snap: dict) -> list[Finding]:
    why = _hidden_reason(snap)
    nv = snap.get("nvml") or {}
    if why is None:
        return []
    var, val = why
    ev = [f"{var}={val!r}"]
    if nv.get("devices") is not None:
        ev.append(f"NVML sees {len(nv.get('devices') or [])} GPU(s) (NVML ignores {var})")
    if "cuInit" in nv:
        ev.append(f"cuInit returned {nv['cuInit']} {nv.get('cuInit_name', '')}".strip())
    return [
        Finding(
            "gpus.hidden",
            "error",
            "gpus",
            f"All GPUs are hidden from CUDA by {var}={val!r}",
            "CUDA, TensorRT and TensorFlow see no device although the driver and NVML do: frameworks report 'no CUDA-capable device' or fall back to the CPU.",
            ev,
            Fix(f"Unset {var} or list the GPUs to use.", [f"unset {var}", f"export {var}=0"], env={var: "0"} if var == "CUDA_VISIBLE_DEVICES" else {}),
        )
    ]


@rule(reads=("nvml", "env"), uses=("gpus",), emits=[Check("gpus.cuda-init-failed", "error", "cuInit failed although GPUs are visible", follows=DRIVER_CAUSES)])
def cuinit_failed(snap: dict) -> list[Finding]:
    nv = snap.get("nvml") or {}
    if not nv.get("cuInit") or _hidden_reason(snap):
        return []
    return [
        Finding(
            "gpus.cuda-init-failed",
            "error",
            "gpus",
            f"The CUDA driver API fails to start: cuInit → {nv['cuInit']} {nv.get('cuInit_name', '')}".strip(),
            "Every CUDA program, TensorRT included, needs cuInit to succeed.",
            [f"cuInit: {nv['cuInit']} {nv.get('cuInit_name', '')}", f"NVML: {nv.get('nvml_error') or str(len(nv.get('devices') or [])) + ' GPU(s)'}"],
            Fix("Check the driver and device permissions; see the driver findings above.", ["nvidia-smi", "ls -l /dev/nvidia*"]),
        )
    ]


@rule(reads=("driver", "gpus"), uses=("nvml",), emits=[Check("gpus.none-found", "error", "The driver is present but no GPU is listed", follows=DRIVER_CAUSES)])
def no_gpu(snap: dict) -> list[Finding]:
    d, g, nv = snap.get("driver") or {}, snap.get("gpus") or {}, snap.get("nvml") or {}
    if g.get("count") or not (d.get("kernel_module") or d.get("sys_module") or nv.get("driver")) or "error" in g:
        return []
    return [
        Finding(
            "gpus.none-found",
            "error",
            "gpus",
            "The NVIDIA driver is loaded but lists no GPU",
            "",
            [f"NVML: {nv.get('nvml_error', 'no devices')}"],
            Fix("Check `nvidia-smi`, `lspci | grep -i nvidia` and `dmesg | grep -i nvrm`.", ["nvidia-smi", "sudo dmesg | grep -i nvrm"], kind="manual"),
        )
    ]


@rule(
    reads=("env",),
    uses=("libraries",),
    emits=[
        Check("env.ld-library-path-missing", "warning", "LD_LIBRARY_PATH names directories that do not exist"),
        Check("env.ld-library-path-empty", "warning", "LD_LIBRARY_PATH has an empty entry (the current directory is searched)"),
        Check("env.ld-library-path-duplicate", "info", "LD_LIBRARY_PATH repeats entries"),
        Check("env.ld-library-path-mixed-cuda", "warning", "LD_LIBRARY_PATH mixes CUDA majors"),
    ],
)
def ld_library_path(snap: dict) -> list[Finding]:
    entries = (snap.get("env") or {}).get("ld_library_path") or []
    if not entries or entries == [{"path": "", "exists": False}]:
        return []  # LD_LIBRARY_PATH="" is ignored by glibc (dl-load.c: llp && *llp != '\0')
    out = []
    paths = [e["path"] for e in entries]
    missing = [e["path"] for e in entries if e["path"] and not e["exists"]]
    empty = [i for i, e in enumerate(entries) if not e["path"]]
    counts = Counter(p for p in paths if p)  # sets and counts: a crafted 80,000-entry value stays linear
    dups = sorted(p for p, n in counts.items() if n > 1)
    gone = set(missing)
    clean = ":".join(p for p in counts if p not in gone)
    fix = Fix("Set LD_LIBRARY_PATH to existing directories, once each.", [export("LD_LIBRARY_PATH", clean) if clean else "unset LD_LIBRARY_PATH"], env={"LD_LIBRARY_PATH": clean})
    if missing:
        out.append(
            Finding(
                "env.ld-library-path-missing",
                "warning",
                "env",
                f"LD_LIBRARY_PATH names {len(missing)} director{'y' if len(missing) == 1 else 'ies'} that do not exist",
                "Stale entries often come from an old CUDA or a removed conda env, and hide which copy wins.",
                missing,
                fix,
            )
        )
    if empty:
        out.append(
            Finding(
                "env.ld-library-path-empty",
                "warning",
                "env",
                "LD_LIBRARY_PATH has an empty entry (the current directory is searched)",
                "An empty entry, from a leading, trailing or doubled ':', makes the loader search whatever directory you run from.",
                [f"LD_LIBRARY_PATH={':'.join(paths)}"],
                fix,
            )
        )
    if dups:
        out.append(Finding("env.ld-library-path-duplicate", "info", "env", "LD_LIBRARY_PATH repeats entries", "Harmless, but usually a sign the variable is appended to on every shell start.", dups, fix))
    majors = {}
    for p in paths:
        m = re.search(r"cuda-?(\d+)(?:\.\d+)?", p)
        if m:
            majors.setdefault(m.group(1), []).append(p)
    for lib in ((snap.get("libraries") or {}).get("libraries") or {}).values():
        if lib.get("key") == "cudart":
            for c in lib.get("copies", []):
                if c["via"] == "LD_LIBRARY_PATH" and c.get("version"):
                    majors.setdefault(c["version"].split(".")[0], []).append(f"{c['path']} ({c['version']})")
    if len(majors) > 1:
        ev = [f"CUDA {k}: {', '.join(dict.fromkeys(v))}" for k, v in sorted(majors.items())]
        out.append(
            Finding(
                "env.ld-library-path-mixed-cuda",
                "warning",
                "env",
                f"LD_LIBRARY_PATH mixes CUDA majors {', '.join(sorted(majors))}",
                "Libraries of one CUDA major loaded next to another's fail with missing symbols or 'CUDA driver version is insufficient'.",
                ev,
                Fix("Keep one CUDA major on LD_LIBRARY_PATH."),
            )
        )
    return out


@rule(
    reads=("env",),
    emits=[
        Check("env.ld-preload-missing", "error", "LD_PRELOAD names files that do not exist"),
        Check("env.ld-preload-gpu", "warning", "LD_PRELOAD forces a GPU library into every process"),
    ],
)
def ld_preload(snap: dict) -> list[Finding]:
    entries = (snap.get("env") or {}).get("ld_preload") or []
    out = []
    missing = [e["path"] for e in entries if not e["exists"]]
    gpu = [e["path"] for e in entries if e["exists"] and re.search(r"lib(cuda|cudart|cudnn|nvinfer|cublas)", e["path"])]
    if missing:
        out.append(
            Finding(
                "env.ld-preload-missing",
                "error",
                "env",
                "LD_PRELOAD names files that do not exist",
                "ld.so prints 'object ... cannot be preloaded' for every program started.",
                missing,
                Fix("Remove them from LD_PRELOAD.", ["unset LD_PRELOAD"]),
            )
        )
    if gpu:
        out.append(
            Finding(
                "env.ld-preload-gpu",
                "warning",
                "env",
                "LD_PRELOAD forces a GPU library into every process",
                "A preloaded CUDA/cuDNN/TensorRT library wins over every other copy, whatever a framework asks for.",
                gpu,
                Fix("Prefer LD_LIBRARY_PATH or the framework's own libraries.", ["unset LD_PRELOAD"]),
            )
        )
    return out


@rule(
    reads=("os", "driver"),
    uses=("libraries",),
    emits=[
        Check("os.wsl-libcuda-missing", "error", "WSL2 without /usr/lib/wsl/lib/libcuda.so.1"),
        Check("os.wsl-linux-driver", "error", "A Linux NVIDIA driver's libcuda is installed inside WSL2"),
        Check("os.wsl-libcuda-shadowed", "error", "libcuda.so.1 resolves somewhere other than /usr/lib/wsl/lib", follows=("os.wsl-linux-driver",)),
        Check("os.wsl-libcuda-unreachable", "error", "WSL2's libcuda is present but the loader does not search /usr/lib/wsl/lib"),
    ],
)
def wsl(snap: dict) -> list[Finding]:
    osi = snap.get("os") or {}
    if not osi.get("wsl2"):
        return []
    d = snap.get("driver") or {}
    libs_area = snap.get("libraries") or {}
    res = (libs_area.get("libraries") or {}).get("libcuda.so.1") or {}
    out = []
    if not d.get("wsl_libcuda"):
        out.append(
            Finding(
                "os.wsl-libcuda-missing",
                "error",
                "os",
                "WSL2 without /usr/lib/wsl/lib/libcuda.so.1",
                "On WSL2 the Windows NVIDIA driver provides libcuda through /usr/lib/wsl/lib; without it no CUDA program works.",
                ["/usr/lib/wsl/lib/libcuda.so.1: absent"],
                Fix("Install or update the NVIDIA driver on Windows (not inside WSL), then run `wsl --shutdown`.", links=["https://docs.nvidia.com/cuda/wsl-user-guide/"]),
            )
        )
    linux = [x["path"] for x in d.get("libcuda", []) if not x["path"].startswith("/usr/lib/wsl/")]
    if linux:
        out.append(
            Finding(
                "os.wsl-linux-driver",
                "error",
                "os",
                "A Linux NVIDIA driver's libcuda is installed inside WSL2",
                "It shadows the WSL libcuda and cannot talk to the GPU.",
                linux,
                Fix("Remove the Linux driver packages inside WSL.", ["sudo apt-get remove --purge 'libnvidia-compute-*' 'nvidia-driver-*'", "sudo ldconfig"]),
            )
        )
    if d.get("wsl_libcuda") and res and not res.get("resolved"):
        out.append(
            Finding(
                "os.wsl-libcuda-unreachable",
                "error",
                "os",
                "/usr/lib/wsl/lib/libcuda.so.1 exists, but the loader cannot find libcuda.so.1",
                "WSL puts /usr/lib/wsl/lib on the loader path through /etc/ld.so.conf.d/ld.wsl.conf and ld.so.cache; without them every CUDA program fails with 'libcuda.so.1: cannot open shared object file' unless LD_LIBRARY_PATH names the directory.",
                [f"libcuda.so.1: {res.get('error') or 'not found'}", f"/etc/ld.so.conf.d directories: {', '.join(libs_area.get('ld_so_conf_dirs') or []) or 'none'}"],
                Fix("Put /usr/lib/wsl/lib back on the loader path.", ["echo /usr/lib/wsl/lib | sudo tee /etc/ld.so.conf.d/ld.wsl.conf", "sudo ldconfig"], links=["https://docs.nvidia.com/cuda/wsl-user-guide/"]),
            )
        )
    if res.get("resolved") and not res["resolved"].startswith("/usr/lib/wsl/lib"):
        out.append(
            Finding(
                "os.wsl-libcuda-shadowed",
                "error",
                "os",
                f"libcuda.so.1 resolves to {res['resolved']}, not /usr/lib/wsl/lib",
                "Only the WSL copy works on WSL2.",
                [f"libcuda.so.1 → {res['resolved']} via {res.get('via')}"],
                Fix("Put /usr/lib/wsl/lib first: check /etc/ld.so.conf.d/ld.wsl.conf and re-run ldconfig.", ["echo /usr/lib/wsl/lib | sudo tee /etc/ld.so.conf.d/ld.wsl.conf", "sudo ldconfig"]),
            )
        )
    return out


@rule(reads=("python",), emits=[Check("env.python-package-shadowed", "warning", "A Python package is installed twice on one sys.path and the first copy hides another version")])
def python_shadowed(snap: dict) -> list[Finding]:
    """``import`` takes the first copy on ``sys.path``: an old TensorRT on PYTHONPATH hides the
    venv's. Same versions in two places are left alone (nothing changes which one wins)."""
    out, seen = [], set()
    for it in (snap.get("python") or {}).get("interpreters") or []:
        for s in it.get("shadowed") or []:
            w = s["winner"]
            hidden = [c for c in s["shadowed"] if c["version"] != w["version"]]
            key = (s["module"], w["site_packages"], tuple(c["site_packages"] for c in hidden))
            if not hidden or key in seen:
                continue
            seen.add(key)
            fix_cmds = (
                [f"export PYTHONPATH=...  # without {comment(w['site_packages'])}"]
                if w["source"] == "PYTHONPATH"
                else [f"{quote(it.get('python') or 'python')} -m pip uninstall {quote(w['package'])}  # if the copy in {comment(w['site_packages'])} is the stale one"]
            )
            out.append(
                Finding(
                    "env.python-package-shadowed",
                    "warning",
                    "env",
                    f"`import {s['module']}` gets {w['package']} {w['version']} from {w['site_packages']}; {', '.join(c['package'] + ' ' + c['version'] for c in hidden)} is hidden",
                    "Python imports the first copy on sys.path. The version pip lists for the environment is not the one that runs.",
                    [f"interpreter: {it.get('python') or it.get('prefix')} ({it['kind']})", f"wins: {w['site_packages']} ({w['source']}): {w['package']} {w['version']}"]
                    + [f"hidden: {c['site_packages']} ({c['source']}): {c['package']} {c['version']}" for c in hidden],
                    Fix("Keep one copy: remove the dir from PYTHONPATH or uninstall the stale copy.", fix_cmds),
                    subject=w["site_packages"],
                )
            )
    return out


BUILD_POINTERS = ("nvcc on PATH", "CUDA_HOME", "CUDA_PATH")  # /usr/local/cuda is only the fallback when none is set


@rule(
    reads=("cuda",),
    emits=[
        Check("env.cuda-home-missing", "warning", "CUDA_HOME or CUDA_PATH names a directory that does not exist"),
        Check("env.cuda-toolkit-mismatch", "warning", "nvcc on PATH, CUDA_HOME and CUDA_PATH lead to different CUDA versions"),
    ],
)
def toolkit_pointers(snap: dict) -> list[Finding]:
    """Builds (TensorRT plugins, torch extensions, CMake's FindCUDAToolkit) pick a toolkit from
    nvcc on PATH or CUDA_HOME/CUDA_PATH: when they disagree, code is compiled by one CUDA and
    linked against another's headers and libraries. One toolkit, or none, says nothing."""
    cuda = snap.get("cuda") or {}
    ptrs = [p for p in cuda.get("pointers") or [] if p["name"] in BUILD_POINTERS]
    out = []
    for p in ptrs:
        if not p["exists"]:
            others = [f"{tk['path']} (CUDA {tk['version']})" for tk in cuda.get("toolkits") or []]
            out.append(
                Finding(
                    "env.cuda-home-missing",
                    "warning",
                    "env",
                    f"{p['name']}={p['value']} does not exist",
                    "Builds that read it (torch cpp_extension, CMake, setup.py of TensorRT plugins) fail with 'nvcc not found' or pick no CUDA headers.",
                    [f"{p['name']}={p['value']}: absent", f"toolkits here: {', '.join(others) or 'none'}"],
                    Fix(f"Point {p['name']} at an installed toolkit, or unset it.", [export(p["name"], cuda["toolkits"][0]["path"]) if cuda.get("toolkits") else f"unset {p['name']}"]),
                )
            )
    known = [(p, knowledge.major_minor(p["version"])) for p in ptrs if p["exists"] and p.get("version")]
    versions = {mm for _, mm in known if mm}
    if len(versions) > 1:
        out.append(
            Finding(
                "env.cuda-toolkit-mismatch",
                "warning",
                "env",
                "nvcc on PATH and CUDA_HOME/CUDA_PATH lead to different CUDA versions: " + ", ".join(f"{p['name']} → {p['version']}" for p, _ in known),
                "A build compiles with one CUDA's nvcc and includes or links another's headers and libraries: kernels and plugins fail to build or to load.",
                [f"{p['name']}={p['value']} → {p['toolkit']} (CUDA {p['version']})" for p, _ in known],
                Fix("Make PATH's nvcc and CUDA_HOME name one toolkit.", [export("CUDA_HOME", known[0][0]["toolkit"]), prepend("PATH", f"{known[0][0]['toolkit']}/bin")]),
            )
        )
    return out
