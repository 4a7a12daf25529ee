"""Every finding id, function-level: a snapshot where it fires and its closest healthy
variant where it does not, plus the rule contract (undeclared reads and ids, crashes,
areas that could not be collected, cause links). Pure dicts: no files, no subprocess."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Callable

import pytest

from trtdoctor import knowledge, rules
from trtdoctor.findings import Finding
from trtdoctor.rules import RULES, Check, Rule, SnapshotView, UndeclaredRead, all_checks, all_rules, link_causes, run_rules

all_rules()  # register every rule before a test appends a temporary one

SITE = "/opt/venv/lib/python3.12/site-packages"
TF_SITE = "/opt/tf/lib/python3.12/site-packages"
RTX_SITE = "/opt/rtx/lib/python3.12/site-packages"
TRT = "10.16.1.11"
DRIVER = "580.159.04"
H100 = "NVIDIA H100 80GB HBM3"
SYS = "/usr/lib/x86_64-linux-gnu"
CUDA_LIB = "/usr/local/cuda-13.0/targets/x86_64-linux/lib"
TRT_SONAMES = ("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10")
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8", "fp8", "fp4")


# --- snapshot builders -------------------------------------------------------------------


def copy_of(path: str, version: str | None, via: str, **extra) -> dict:
    """One copy of a library as probes.libraries._copies writes it."""
    c = {"path": path, "real": path, "via": via, "version": version, "size": 1 << 20, "also": [], "machine": "x86-64", "needs_glibc": "GLIBC_2.17", "needs_glibcxx": None}
    c.update(extra)
    return c


def lib(key: str, group: str, resolved: str | None, version: str | None, copies: list[dict], via: str | None = "ld.so.cache", live: bool = True) -> dict:
    """One soname as probes.libraries.probe_libraries writes it (live: the dlopen check too)."""
    entry = {"key": key, "group": group, "resolved": resolved, "via": via if resolved else None, "error": None if resolved else "not found", "steps": [], "copies": copies}
    if resolved:
        entry.update(resolved_real=copies[0]["real"] if copies else resolved, version=version, unresolved_needed=[], libstdcxx=None)
        if live:
            entry.update(live={"loaded": resolved, "in_maps": True}, live_agrees=True)
    return entry


def precision_row(index: int, name: str, cc: str, trt: str | None = TRT) -> dict:
    """One GPU of probes.frameworks.probe_precision, from the knowledge base."""
    table = knowledge.precision_for_cc(cc)
    return {
        "index": index,
        "name": name,
        "compute_capability": cc,
        "support": {k: v for k, v in table.items() if k in PRECISIONS},
        "note": table.get("note"),
        "tensorrt": trt,
        "request_by": {p: ("default" if p == "fp32" else "builder flag") for p in PRECISIONS},
    }


def consumer(name: str, site: str, requester: str | None, needs: dict[str, str | None], kind: str = "NEEDED") -> dict:
    """A consumer of probes.libraries._consumers with its resolutions: soname -> resolved path or None."""
    res = {s: {"resolved": p, "via": "RUNPATH of " + (requester or name) if p else None, "error": None if p else f"{s}: cannot open shared object file"} for s, p in needs.items()}
    return {"name": name, "site_packages": site, "requester": requester, "needs": list(needs), "kind": kind, "resolutions": res}


def trt_install(site: str = SITE, version: str = TRT, cuda: str = "13", python: str = "3.12") -> dict:
    """A complete pip TensorRT (meta, -bindings, -libs at one version) that imports and builds."""
    major = version.split(".")[0]
    return {
        "site_packages": site,
        "python_version": python,
        "python": site.split("/lib/python")[0] + "/bin/python",
        "parts": {f"tensorrt-cu{cuda}": version, f"tensorrt-cu{cuda}-bindings": version, f"tensorrt-cu{cuda}-libs": version},
        "modules": {"tensorrt": True, "tensorrt_bindings": True, "tensorrt_libs": True, "tensorrt_rtx": False, "tensorrt_rtx_libs": False},
        "libs_files": [f"libnvinfer.so.{major}", f"libnvinfer_builder_resource.so.{version}", f"libnvinfer_plugin.so.{major}", f"libnvonnxparser.so.{major}"],
        "bindings_so": [
            {
                "path": f"{site}/tensorrt_bindings/tensorrt.so",
                "needs": [f"libnvinfer.so.{major}", f"libnvinfer_plugin.so.{major}", f"libnvonnxparser.so.{major}"],
                "soname_majors": [major],
                "rpath": ["$ORIGIN/../tensorrt_libs"],
            }
        ],
        "live": {
            mod: {"module": mod, "version": version, "builder": True, "platform_has_fast_fp16": True, "platform_has_fast_int8": True, "platform_has_tf32": True, "mapped": [f"{site}/tensorrt_libs/libnvinfer.so.{major}"]}
            for mod in ("tensorrt", "tensorrt_bindings")
        },
    }


def healthy() -> dict:
    """A healthy H100, as a live run writes it: driver 580.159.04 (CUDA 13.0), CUDA 13.0
    toolkit, a venv with pip tensorrt-cu13 10.16.1.11 that imports and builds."""
    nvml_dev = {"index": 0, "name": H100, "uuid": "GPU-5a1c2b3d-0000-4000-8000-000000000001", "compute_capability": "9.0", "memory_total_mib": 81559, "mig_mode": 0}
    libs = {
        "libcuda.so.1": lib("cuda", "driver", f"{SYS}/libcuda.so.1", DRIVER, [copy_of(f"{SYS}/libcuda.so.1", DRIVER, "ld.so.conf", real=f"{SYS}/libcuda.so.{DRIVER}")]),
        "libnvidia-ml.so.1": lib("nvml", "driver", f"{SYS}/libnvidia-ml.so.1", DRIVER, [copy_of(f"{SYS}/libnvidia-ml.so.1", DRIVER, "ld.so.conf", real=f"{SYS}/libnvidia-ml.so.{DRIVER}")]),
        "libcudart.so.13": lib("cudart", "cuda", f"{CUDA_LIB}/libcudart.so.13", "13.0.96", [copy_of(f"{CUDA_LIB}/libcudart.so.13", "13.0.96", "ld.so.conf", real=f"{CUDA_LIB}/libcudart.so.13.0.96")]),
    }
    pip_libs = f"pip tensorrt-cu13-libs {TRT} (venv /opt/venv)"
    for soname, key in zip(TRT_SONAMES, ("nvinfer", "nvinfer_plugin", "nvonnxparser")):
        libs[soname] = lib(key, "tensorrt", None, None, [copy_of(f"{SITE}/tensorrt_libs/{soname}", TRT, pip_libs)])
    return {
        "target": {"mode": "live", "root": "/"},
        "os": {
            "id": "ubuntu",
            "version_id": "24.04",
            "name": "Ubuntu 24.04.2 LTS",
            "kernel": "6.8.0-71-generic",
            "arch": "x86-64",
            "glibc": "2.39",
            "glibcxx": "3.4.33",
            "wsl2": False,
            "container": False,
            "container_markers": [],
        },
        "env": {"vars": {}, "ld_library_path": [], "ld_preload": [], "cuda_visible_devices": None, "nvidia_visible_devices": None},
        "nvml": {
            "driver": DRIVER,
            "cuda_driver_version": 13000,
            "devices": [nvml_dev],
            "source": "nvml",
            "cuDriverGetVersion": [0, 13000],
            "cuInit": 0,
            "cuda_device_count": 1,
        },
        "driver": {
            "kernel_module": DRIVER,
            "proc_present": True,
            "kernel_module_open": True,
            "sys_module": DRIVER,
            "libcuda": [{"path": f"{SYS}/libcuda.so.{DRIVER}", "version": DRIVER, "size": 1 << 25}],
            "libnvidia_ml": [{"path": f"{SYS}/libnvidia-ml.so.{DRIVER}", "version": DRIVER, "size": 1 << 21}],
            "compat_libcuda": [],
            "wsl_libcuda": None,
            "userspace_versions": [DRIVER],
            "version": DRIVER,
            "cuda_driver_version": "13.0",
        },
        "gpus": {"count": 1, "devices": [dict(nvml_dev, source="nvml")]},
        "devices": {"nodes": ["nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidiactl"], "dev_populated": True},
        "cuda": {"toolkits": [{"path": "/usr/local/cuda-13.0", "version": "13.0.2", "via": "/usr/local/cuda"}], "default": "/usr/local/cuda-13.0", "cuda_home": None},
        "python": {
            "environments": [
                {
                    "kind": "venv",
                    "prefix": "/opt/venv",
                    "site_packages": SITE,
                    "python_version": "3.12",
                    "python": "/opt/venv/bin/python",
                    "packages": {f"tensorrt-cu13{p}": TRT for p in ("", "-bindings", "-libs")},
                }
            ]
        },
        "tensorflow": {"installs": []},
        "tensorrt": {"installs": [trt_install()], "headers": []},
        "libraries": {
            "machine": "x86-64",
            "ld_so_cache": True,
            "ld_so_conf_dirs": ["/usr/local/lib", SYS, CUDA_LIB],
            "stale_cache": [],
            "places": [{"dir": SYS, "via": "ld.so.conf"}, {"dir": CUDA_LIB, "via": "ld.so.conf"}, {"dir": f"{SITE}/tensorrt_libs", "via": pip_libs}],
            "libraries": libs,
            "consumers": [consumer("tensorrt bindings", SITE, f"{SITE}/tensorrt_bindings/tensorrt.so", {s: f"{SITE}/tensorrt_libs/{s}" for s in TRT_SONAMES})],
            "live": {},
        },
        "pycuda": {"installs": []},
        "onnxruntime": {"installs": []},
        "precision": {"gpus": [precision_row(0, H100, "9.0")], "tensorrt": TRT},
    }


def static(snap: dict) -> dict:
    """The same snapshot as a --root run writes it: no NVML, no live imports or dlopens."""
    snap["target"] = {"mode": "static", "root": "/mnt/rootfs"}
    snap.pop("nvml", None)
    for inst in snap["tensorrt"]["installs"]:
        inst.pop("live", None)
    for lib_ in snap["libraries"]["libraries"].values():
        lib_.pop("live", None)
        lib_.pop("live_agrees", None)
    snap["libraries"].pop("live", None)
    return snap


def with_tf(snap: dict, version: str = "2.17.1") -> dict:
    """A healthy TF 2.17.1 (TF-TRT against TensorRT 8.6.1) in its own venv, seeing the GPU."""
    snap["python"]["environments"].append(
        {"kind": "venv", "prefix": "/opt/tf", "site_packages": TF_SITE, "python_version": "3.12", "python": "/opt/tf/bin/python", "packages": {"tensorflow": version, "tensorrt": "8.6.1"}}
    )
    build = {"is_cuda_build": True, "is_rocm_build": False, "is_tensorrt_build": True, "cuda_version": "12.3", "cudnn_version": "8"}
    row = knowledge.tf_release(version) or {}
    snap["tensorflow"]["installs"].append(
        {
            "package": "tensorflow",
            "version": version,
            "site_packages": TF_SITE,
            "python": "/opt/tf/bin/python",
            "python_version": "3.12",
            "build_info": dict(build),
            "kb": {k: row.get(k) for k in ("trt", "trt_sonames", "cuda", "cudnn", "python", "compute_capabilities")},
            "live": {
                "version": version,
                "build_info": dict(build),
                "gpus": ["/physical_device:GPU:0"],
                "is_tensorrt_enabled": True,
                "linked_tensorrt": "8.6.1",
                "log": [],
                "loaded_tensorrt": "8.6.1",
            },
        }
    )
    needs = {s: f"{TF_SITE}/tensorrt_libs/{s}" for s in ("libnvinfer.so.8.6.1", "libnvinfer_plugin.so.8.6.1")}
    needs.update({"libcudart.so.12": f"{TF_SITE}/nvidia/cuda_runtime/lib/libcudart.so.12", "libcudnn.so.8": f"{TF_SITE}/nvidia/cudnn/lib/libcudnn.so.8"})
    snap["libraries"]["consumers"].append(consumer(f"tensorflow {version}", TF_SITE, f"{TF_SITE}/tensorflow/libtensorflow_framework.so.2", needs, kind="dlopen"))
    return snap


def with_cuda12(snap: dict, driver: str) -> dict:
    """An older stack: driver ``driver``, the CUDA 12.2 toolkit and TensorRT for CUDA 12 instead of 13."""
    cuda_max = knowledge.max_cuda_for_driver(driver)
    snap["nvml"].update(driver=driver, cuda_driver_version=int(cuda_max.split(".")[0]) * 1000 + int(cuda_max.split(".")[1]) * 10)
    snap["driver"].update(kernel_module=driver, sys_module=driver, version=driver, userspace_versions=[driver], cuda_driver_version=cuda_max)
    snap["driver"]["libcuda"] = [{"path": f"{SYS}/libcuda.so.{driver}", "version": driver, "size": 1 << 25}]
    snap["driver"]["libnvidia_ml"] = [{"path": f"{SYS}/libnvidia-ml.so.{driver}", "version": driver, "size": 1 << 21}]
    libs = snap["libraries"]["libraries"]
    for name in ("libcuda.so.1", "libnvidia-ml.so.1"):
        libs[name]["version"] = libs[name]["copies"][0]["version"] = driver
    snap["cuda"] = {"toolkits": [{"path": "/usr/local/cuda-12.2", "version": "12.2.2", "via": "/usr/local/cuda"}], "default": "/usr/local/cuda-12.2", "cuda_home": None}
    cudart = "/usr/local/cuda-12.2/targets/x86_64-linux/lib"
    del libs["libcudart.so.13"]
    libs["libcudart.so.12"] = lib("cudart", "cuda", f"{cudart}/libcudart.so.12", "12.2.140", [copy_of(f"{cudart}/libcudart.so.12", "12.2.140", "CUDA toolkit 12.2.2")])
    trt = {f"tensorrt-cu12{p}": TRT for p in ("", "-bindings", "-libs")}
    snap["tensorrt"]["installs"][0]["parts"] = trt
    snap["python"]["environments"][0]["packages"] = dict(trt)
    return snap


def on_wsl(snap: dict) -> dict:
    """WSL2: the Windows driver's libcuda in /usr/lib/wsl/lib, no kernel module, no /dev/nvidia*."""
    snap["os"].update(kernel="6.6.87.2-microsoft-standard-WSL2", wsl2=True)
    snap["nvml"]["driver"] = "581.57"
    snap["driver"] = {
        "kernel_module": None,
        "proc_present": True,
        "kernel_module_open": False,
        "sys_module": None,
        "libcuda": [],  # libcuda.so.1.1 is a soname alias, not a driver version (probes/system.py)
        "libnvidia_ml": [],
        "compat_libcuda": [],
        "wsl_libcuda": "/usr/lib/wsl/lib/libcuda.so.1",
        "userspace_versions": [],
        "version": "581.57",
        "cuda_driver_version": "13.0",
    }
    snap["devices"] = {"nodes": [], "dev_populated": True}
    libs = snap["libraries"]["libraries"]
    libs["libcuda.so.1"] = lib("cuda", "driver", "/usr/lib/wsl/lib/libcuda.so.1", "1.1", [copy_of("/usr/lib/wsl/lib/libcuda.so.1", "1.1", "WSL driver", real="/usr/lib/wsl/lib/libcuda.so.1.1")])
    libs["libnvidia-ml.so.1"] = lib("nvml", "driver", "/usr/lib/wsl/lib/libnvidia-ml.so.1", None, [copy_of("/usr/lib/wsl/lib/libnvidia-ml.so.1", None, "WSL driver")])
    return snap


def no_driver(snap: dict) -> dict:
    """A live run on a machine without the NVIDIA driver: NVML and libcuda do not load."""
    snap["nvml"] = {
        "nvml_error": "NVMLError_LibraryNotFound: NVML Shared Library Not Found",
        "libcuda_error": "libcuda.so.1: cannot open shared object file: No such file or directory",
        "smi_error": "nvidia-smi not found on PATH",
    }
    snap["driver"] = {
        "kernel_module": None,
        "proc_present": True,
        "kernel_module_open": False,
        "sys_module": None,
        "libcuda": [],
        "libnvidia_ml": [],
        "compat_libcuda": [],
        "wsl_libcuda": None,
        "userspace_versions": [],
        "version": None,
    }
    snap["gpus"] = {"count": 0, "devices": []}
    snap["devices"] = {"nodes": [], "dev_populated": True}
    snap["precision"] = {"gpus": [], "tensorrt": TRT}
    return snap


# --- edits -------------------------------------------------------------------------------


def put(snap: dict, path: str, value) -> None:
    """Set ``a/b/0/c`` (``/``-separated, since sonames and ids hold dots; list indices are numbers)."""
    *head, last = path.split("/")
    node = snap
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def variant(base: Callable[[], dict], *edits) -> Callable[[], dict]:
    """A builder: a fresh ``base()`` with ``edits`` applied, each ("path", value) or fn(snap)."""

    def make() -> dict:
        snap = copy.deepcopy(base())
        for e in edits:
            if callable(e):
                e(snap)
            else:
                put(snap, *e)
        return snap

    return make


def case(base: Callable[[], dict], common=(), fires=(), near=()) -> tuple[Callable[[], dict], Callable[[], dict]]:
    """(fires, near miss): ``base`` with the ``common`` edits, then the ``fires`` or the ``near`` ones."""
    return variant(base, *common, *fires), variant(base, *common, *near)


def both(fn: Callable[[dict, bool], object]) -> tuple[Callable[[], dict], Callable[[], dict]]:
    """(fires, near miss) from one edit that gets ``bad``: the two differ only where it says."""
    return variant(healthy, lambda s: fn(s, True)), variant(healthy, lambda s: fn(s, False))


def tf(snap: dict) -> dict:
    return with_tf(snap)


def ld_path(*entries: tuple[str, bool]) -> tuple[str, list[dict]]:
    return ("env/ld_library_path", [{"path": p, "exists": e} for p, e in entries])


def ld_preload(*entries: tuple[str, bool]) -> tuple[str, list[dict]]:
    return ("env/ld_preload", [{"path": p, "exists": e} for p, e in entries])


def gpu(name: str, cc: str) -> Callable[[dict], None]:
    def edit(snap: dict) -> None:
        dev = dict(snap["gpus"]["devices"][0], name=name, compute_capability=cc)
        snap["gpus"]["devices"] = [dev]
        snap["nvml"]["devices"] = [{k: v for k, v in dev.items() if k != "source"}]
        snap["precision"]["gpus"] = [precision_row(0, name, cc)]

    return edit


def libs(snap: dict) -> dict:
    return snap["libraries"]["libraries"]


def trt_inst(snap: dict) -> dict:
    return snap["tensorrt"]["installs"][0]


def tf_inst(snap: dict) -> dict:
    return snap["tensorflow"]["installs"][0]


def tf_consumer(snap: dict) -> dict:
    return next(c for c in snap["libraries"]["consumers"] if c["name"].startswith("tensorflow"))


def unresolve(c: dict, soname: str) -> None:
    c["resolutions"][soname] = {"resolved": None, "via": None, "error": f"{soname}: cannot open shared object file: No such file or directory"}


def trt_on_ld_library_path(snap: dict) -> None:
    """The venv's tensorrt_libs on LD_LIBRARY_PATH, so a plain dlopen of libnvinfer.so.10 finds it."""
    d = f"{SITE}/tensorrt_libs"
    snap["env"]["ld_library_path"] = [{"path": d, "exists": True}]
    snap["env"]["vars"]["LD_LIBRARY_PATH"] = d
    for soname in TRT_SONAMES:
        entry = libs(snap)[soname]
        entry.update(lib(entry["key"], "tensorrt", f"{d}/{soname}", TRT, entry["copies"], via="LD_LIBRARY_PATH"))


def add_cudnn(snap: dict, soname: str, *copies: tuple[str, str]) -> None:
    """``soname`` with one copy per (path, version); the first resolves."""
    cs = [copy_of(p, v, "pip nvidia-cudnn-cu13 (venv /opt/venv)" if "site-packages" in p else "ld.so.conf") for p, v in copies]
    libs(snap)[soname] = lib(soname.split(".so")[0][3:], "cudnn", cs[0]["path"], cs[0]["version"], cs)


def cuda_ep_consumer(resolved: bool) -> Callable[[dict], None]:
    """onnxruntime-gpu's CUDA provider (its NEEDED as in the 1.20.2 wheel, for CUDA 12) beside the venv's CUDA 13 stack."""

    def edit(snap: dict) -> None:
        req = f"{SITE}/onnxruntime/capi/libonnxruntime_providers_cuda.so"
        needs = {s: f"{SITE}/nvidia/cu12/lib/{s}" for s in ("libcudart.so.12", "libcublas.so.12", "libcurand.so.10", "libcufft.so.11", "libnvrtc.so.12", "libcudnn.so.9")}
        c = consumer("onnxruntime CUDA EP", SITE, req, needs)
        c["role"] = "onnxruntime-cuda-ep"
        if not resolved:
            unresolve(c, "libcublas.so.12")
        snap["libraries"]["consumers"].append(c)

    return edit


def ep_consumer(resolved: bool) -> Callable[[dict], None]:
    def edit(snap: dict) -> None:
        req = f"{SITE}/onnxruntime/capi/libonnxruntime_providers_tensorrt.so"
        snap["python"]["environments"][0]["packages"]["onnxruntime-gpu"] = "1.23.2"
        snap["onnxruntime"]["installs"] = [
            {"package": "onnxruntime-gpu", "version": "1.23.2", "site_packages": SITE, "live": {"version": "1.23.2", "providers": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}}
        ]
        needs = {s: f"{SITE}/tensorrt_libs/{s}" for s in ("libnvinfer.so.10", "libnvonnxparser.so.10")}
        needs["libcudart.so.13"] = f"{CUDA_LIB}/libcudart.so.13"
        c = consumer("onnxruntime TensorRT EP", SITE, req, needs)
        if not resolved:
            unresolve(c, "libnvinfer.so.10")
        snap["libraries"]["consumers"].append(c)

    return edit


def rtx_install(snap: dict) -> None:
    snap["tensorrt"]["installs"].append(
        {
            "site_packages": RTX_SITE,
            "python_version": "3.12",
            "python": "/opt/rtx/bin/python",
            "parts": {"tensorrt-rtx": "1.2.0.54"},
            "modules": {"tensorrt": False, "tensorrt_bindings": False, "tensorrt_libs": False, "tensorrt_rtx": True, "tensorrt_rtx_libs": True},
            "libs_files": [],
            "bindings_so": [],
            "live": {"tensorrt_rtx": {"module": "tensorrt_rtx", "version": "1.2.0.54", "builder": True}},
        }
    )


def pycuda_install(built: str = "13.0.0", error: str | None = None) -> Callable[[dict], None]:
    def edit(snap: dict) -> None:
        live = {"version": "2025.1", "built_cuda": built, "driver_cuda": 13000, "devices": 1}
        if error:
            live = {"version": "2025.1", "built_cuda": built, "error": error}
        snap["pycuda"]["installs"] = [{"package": "pycuda", "version": "2025.1", "site_packages": SITE, "live": live}]

    return edit


def bindings_only(snap: dict) -> None:
    """The bindings wheel alone (truth.txt): no -libs package, no tensorrt_libs."""
    inst = trt_inst(snap)
    inst["parts"] = {"tensorrt-cu13-bindings": TRT}
    inst["modules"]["tensorrt_libs"] = False
    inst["libs_files"] = []
    inst.pop("live")
    for soname in TRT_SONAMES:
        libs(snap).pop(soname)


def deb_trt(snap: dict) -> None:
    """NVIDIA's deb TensorRT 8.6.1 (probes.trt_system): bindings resolving through ld.so.cache."""
    res = {s: {"resolved": f"{SYS}/{s}", "via": "ld.so.cache", "version": "8.6.1"} for s in ("libnvinfer.so.8", "libnvinfer_plugin.so.8", "libnvonnxparser.so.8")}
    pkgs = [{"package": p, "version": "8.6.1.6-1+cuda11.8", "held": False} for p in ("libnvinfer8", "libnvinfer-plugin8", "libnvonnxparsers8", "python3-libnvinfer")]
    binding = {"path": "/usr/lib/python3/dist-packages/tensorrt/tensorrt.so", "needs": list(res), "resolutions": res}
    inst = {"kind": "deb", "version": "8.6.1.6", "lib_dir": SYS, "libs": ["libnvinfer.so.8.6.1"], "bindings": [binding], "bindings_version": "8.6.1.6", "packages": pkgs, "trtexec": None}
    snap["trt_system"] = {"installs": [inst], "torch_tensorrt": [], "jetson": None}


def deb_binding(snap: dict) -> dict:
    return snap["trt_system"]["installs"][0]["bindings"][0]["resolutions"]["libnvinfer.so.8"]


def torch_trt(resolved: bool) -> Callable[[dict], None]:
    def edit(snap: dict) -> None:
        res = {s: {"resolved": f"{SITE}/tensorrt_libs/{s}" if resolved else None, "via": "preloaded by import tensorrt" if resolved else None, "version": None} for s in TRT_SONAMES[:2]}
        lib_ = {"path": f"{SITE}/torch_tensorrt/lib/libtorchtrt.so", "needs": list(res), "resolutions": res}
        tt = {"site_packages": SITE, "version": "2.5.0", "tensorrt_pins": ["tensorrt-cu12==10.3.0"], "tensorrt_installed": {}, "libs": [lib_]}
        snap["trt_system"] = {"installs": [], "torch_tensorrt": [tt], "jetson": None}

    return edit


def jetson(runtime: bool) -> Callable[[dict], None]:
    def edit(snap: dict) -> None:
        snap["os"].update(container=True, container_markers=["/.dockerenv"])
        j = {"release": "# R35 (release), REVISION: 4.1", "l4t_packages": [], "tegra_libs": ["libcuda.so.1.1"] if runtime else [], "nvhost_nodes": ["nvhost-ctrl"] if runtime else []}
        snap["trt_system"] = {"installs": [], "torch_tensorrt": [], "jetson": j}

    return edit


def lean_only(snap: dict) -> None:
    """tensorrt-lean-cu13-bindings + -libs alone (truth.txt): its libnvinfer_lean preloaded by tensorrt_lean_libs."""
    inst = trt_inst(snap)
    so, lean = f"{SITE}/tensorrt_lean_bindings/tensorrt_lean.so", f"{SITE}/tensorrt_lean_libs/libnvinfer_lean.so.10"
    files = ["libnvinfer_lean.so.10", "libnvinfer_vc_plugin.so.10"]
    inst.update(parts={"tensorrt-lean-cu13-bindings": TRT, "tensorrt-lean-cu13-libs": TRT}, libs_files=[], bindings_so=[{"path": so, "needs": ["libnvinfer_lean.so.10"], "soname_majors": ["10"], "rpath": ["$ORIGIN"]}])
    inst["runtimes"] = [
        {"kind": "lean", "version": TRT, "cuda_major": "13", "can_build": False, "module": "tensorrt_lean", "bindings": "tensorrt-lean-cu13-bindings", "libs": "tensorrt-lean-cu13-libs", "libs_files": files}
    ]
    inst["live"] = {"tensorrt_lean_bindings": {"module": "tensorrt_lean_bindings", "version": TRT, "runtime": True, "mapped": [lean]}}
    c = consumer("tensorrt_lean bindings", SITE, so, {"libnvinfer_lean.so.10": lean})
    c["resolutions"]["libnvinfer_lean.so.10"].update(via="preloaded by tensorrt_lean_libs/__init__.py", preloaded_by=f"{SITE}/tensorrt_lean_libs/__init__.py", version=TRT)
    snap["libraries"]["consumers"][0] = dict(c, role="tensorrt-bindings")


def and_full(snap: dict) -> None:
    """The full TensorRT beside the lean runtime."""
    trt_inst(snap)["parts"].update({f"tensorrt-cu13{p}": TRT for p in ("", "-bindings", "-libs")})
    trt_inst(snap)["runtimes"].insert(
        0,
        {"kind": "full", "version": TRT, "cuda_major": "13", "can_build": True, "module": "tensorrt", "bindings": "tensorrt-cu13-bindings", "libs": "tensorrt-cu13-libs", "libs_files": list(trt_install()["libs_files"])},
    )


def trt_on_pythonpath(snap: dict, bad: bool) -> None:
    """tensorrt_bindings in a pip --target dir on PYTHONPATH ahead of the venv's copy: another
    version when ``bad``, the same one when not."""
    copy = {"site_packages": "/opt/trt-target", "source": "PYTHONPATH", "package": "tensorrt-cu13-bindings", "version": "10.3.0.26" if bad else TRT}
    own = {"site_packages": SITE, "source": "venv", "package": "tensorrt-cu13-bindings", "version": TRT}
    entries = [{"path": c["site_packages"], "source": c["source"], "exists": True} for c in (copy, own)]
    snap["python"]["interpreters"] = [
        {"kind": "venv", "python": "/opt/venv/bin/python", "prefix": "/opt/venv", "version": "3.12", "sys_path": entries, "shadowed": [{"module": "tensorrt_bindings", "winner": copy, "shadowed": [own]}]}
    ]


# --- the cases ---------------------------------------------------------------------------

TF_TRT_SONAME = "libnvinfer.so.8.6.1"

NO_OS = {"kernel": None, "arch": None, "glibc": None, "glibcxx": None, "libc": None, "libstdcxx": None, "ld_so_cache": False, "wsl2": False, "container": False, "container_markers": []}


def bare_os(snap: dict) -> None:
    """A root with no os-release and no C library (a fresh copy: later edits change it)."""
    snap["os"] = copy.deepcopy(NO_OS)


def version_gap(file: str, provider: str, via: str, missing: list[str], provides: str) -> Callable[[dict], None]:
    """libnvinfer.so.10 resolved from the venv's wheel, and a version its dlopen would miss."""

    def edit(snap: dict) -> None:
        trt_on_ld_library_path(snap)
        obj = libs(snap)["libnvinfer.so.10"]["resolved"]
        libs(snap)["libnvinfer.so.10"]["missing_versions"] = [{"object": obj, "file": file, "provider": provider, "via": via, "missing": missing, "provides": provides}] if missing else []

    return edit


CASES: dict[str, tuple[Callable[[], dict], Callable[[], dict]]] = {
    # os
    "os.no-os": case(
        lambda: static(healthy()),
        common=[("target/root", "/mnt/empty"), bare_os, ("python/environments", [])],
        fires=[lambda s: libs(s).clear()],
        near=[("os/glibc", "2.39"), lambda s: libs(s).clear()],  # a C library and nothing else is already an OS to judge
    ),
    "os.partial-root": case(
        lambda: static(healthy()),
        common=[("target/root", "/mnt/conda-env"), bare_os],  # a venv and TensorRT libraries, no C library
        near=[("os", dict(NO_OS, libc=f"{SYS}/libc.so.6", glibc="2.39"))],
    ),
    "os.wsl-libcuda-missing": case(lambda: on_wsl(healthy()), fires=[("driver/wsl_libcuda", None)]),
    "os.wsl-linux-driver": case(
        lambda: on_wsl(healthy()),
        fires=[lambda s: s["driver"]["libcuda"].append({"path": f"{SYS}/libcuda.so.580.95.05", "version": "580.95.05", "size": 1 << 25})],
        near=[lambda s: s["driver"]["libcuda"].append({"path": "/usr/lib/wsl/drivers/nv_dispi.inf_amd64/libcuda.so.1.1", "version": "1.1", "size": 1 << 20})],
    ),
    "os.wsl-libcuda-shadowed": case(
        lambda: on_wsl(healthy()),
        fires=[("libraries/libraries/libcuda.so.1/resolved", f"{SYS}/libcuda.so.1"), ("libraries/libraries/libcuda.so.1/via", "ld.so.cache")],
        near=[("libraries/libraries/libcuda.so.1/resolved", "/usr/lib/wsl/lib/libcuda.so.1"), ("libraries/libraries/libcuda.so.1/via", "ld.so.cache")],
    ),
    "os.wsl-libcuda-unreachable": case(
        lambda: on_wsl(healthy()),
        fires=[("libraries/libraries/libcuda.so.1/resolved", None), ("libraries/libraries/libcuda.so.1/error", "libcuda.so.1: cannot open shared object file")],  # no ld.wsl.conf
    ),
    # driver
    "driver.missing": case(lambda: no_driver(healthy()), near=[("driver/sys_module", DRIVER), ("devices/nodes", ["nvidia0", "nvidiactl"])]),  # known from /sys/module only: loaded
    "driver.no-device-nodes": case(healthy, fires=[("devices/nodes", ["nvidiactl"])], near=[("devices/nodes", ["nvidia1", "nvidiactl"])]),  # a container given GPU 1 only
    "driver.version-mismatch": both(lambda s, bad: s["driver"]["libcuda"][0].update(version="580.95.05" if bad else DRIVER)),
    "driver.too-old-for-cuda": (variant(healthy, lambda s: with_cuda12(s, "470.82.01")), variant(healthy, lambda s: with_cuda12(s, "535.54.03"))),
    "driver.minor-compat": (variant(healthy, lambda s: with_cuda12(s, "525.60.13")), variant(healthy, lambda s: with_cuda12(s, "535.54.03"))),
    # gpus
    "gpus.hidden": case(healthy, fires=[("env/cuda_visible_devices", "-1"), ("env/vars/CUDA_VISIBLE_DEVICES", "-1")], near=[("env/cuda_visible_devices", "0"), ("env/vars/CUDA_VISIBLE_DEVICES", "0")]),
    "gpus.cuda-init-failed": case(
        healthy,
        fires=[lambda s: s["nvml"].update(cuInit=999, cuInit_name="CUDA_ERROR_UNKNOWN"), lambda s: s["nvml"].pop("cuda_device_count")],
        near=[("nvml/cuInit", 0)],
    ),
    "gpus.arch-dropped-by-cuda": case(
        healthy,
        common=[gpu("Tesla P100-PCIE-16GB", "6.0")],  # Pascal: CUDA 13 dropped it, 12.x still builds for it
        fires=[],
        near=[lambda s: with_cuda12(s, "535.104.05")],
    ),
    "gpus.arch-newer-than-cuda": case(
        lambda: with_cuda12(healthy(), "575.51.03"),  # CUDA 12.2 runtime
        fires=[gpu("NVIDIA GeForce RTX 5090", "12.0")],  # Blackwell needs CUDA 12.8
        near=[gpu("NVIDIA L40S", "8.9")],
    ),
    "tensorflow.no-kernels-for-gpu": case(
        lambda: with_tf(healthy()),
        # TF 2.17.1's real build_info: ['sm_60', 'sm_70', 'sm_80', 'sm_89', 'compute_90']
        common=[lambda s: tf_inst(s)["build_info"].update(cuda_compute_capabilities=["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"])],
        fires=[gpu("Tesla K80", "3.7")],  # no Kepler cubin, and PTX compute_90 does not run on older GPUs
        near=[gpu("NVIDIA GeForce RTX 5090", "12.0")],  # PTX compute_90 is JIT-compiled on newer GPUs
    ),
    "gpus.none-found": case(
        healthy,
        common=[("nvml/devices", []), ("precision/gpus", [])],
        fires=[("gpus", {"count": 0, "devices": []})],
        near=[("gpus/count", 1)],  # /proc/driver/nvidia/gpus still lists the GPU NVML does not
    ),
    # env
    "env.ld-library-path-missing": case(healthy, fires=[ld_path(("/opt/tensorrt/lib", False))], near=[ld_path(("/opt/tensorrt/lib", True))]),
    "env.ld-library-path-empty": case(healthy, fires=[ld_path(("/opt/tensorrt/lib", True), ("", False))], near=[ld_path(("/opt/tensorrt/lib", True))]),
    "env.ld-library-path-duplicate": case(healthy, fires=[ld_path(("/opt/tensorrt/lib", True), ("/opt/tensorrt/lib", True))], near=[ld_path(("/opt/tensorrt/lib", True), ("/opt/tensorrt/lib64", True))]),
    "env.ld-library-path-mixed-cuda": case(
        healthy,
        fires=[ld_path(("/usr/local/cuda-12.4/lib64", True), ("/usr/local/cuda-13.0/lib64", True))],
        near=[ld_path(("/usr/local/cuda-13.0/lib64", True), ("/usr/local/cuda-13.0/extras/CUPTI/lib64", True))],
    ),
    "env.python-package-shadowed": both(trt_on_pythonpath),
    "env.cuda-home-missing": both(
        lambda s, bad: s["cuda"].update(
            pointers=[{"name": "CUDA_HOME", "value": "/usr/local/cuda-12.4" if bad else "/usr/local/cuda", "exists": not bad, "toolkit": None if bad else "/usr/local/cuda-13.0", "version": None if bad else "13.0.2"}]
        )
    ),
    "env.cuda-toolkit-mismatch": both(
        lambda s, bad: s["cuda"].update(
            pointers=[
                {"name": "nvcc on PATH", "value": "/usr/local/cuda-13.0/bin/nvcc", "exists": True, "toolkit": "/usr/local/cuda-13.0", "version": "13.0.88"},
                {"name": "CUDA_HOME", "value": "/usr/local/cuda", "exists": True, "toolkit": "/usr/local/cuda-12.4" if bad else "/usr/local/cuda-13.0", "version": "12.4.1" if bad else "13.0.2"},
            ]
        )
    ),
    "env.ld-preload-missing": case(healthy, fires=[ld_preload((f"{SYS}/libjemalloc.so.2", False))], near=[ld_preload((f"{SYS}/libjemalloc.so.2", True))]),
    "env.ld-preload-gpu": case(healthy, fires=[ld_preload((f"{CUDA_LIB}/libcudart.so.13", True))], near=[ld_preload((f"{SYS}/libjemalloc.so.2", True))]),
    # libraries
    "libraries.not-on-loader-path": case(
        healthy,
        fires=[lambda s: unresolve(s["libraries"]["consumers"][0], "libnvinfer.so.10")],  # the copy is in tensorrt_libs, the loader does not look there
    ),
    "libraries.wrong-major": case(
        lambda: with_tf(healthy()),
        common=[lambda s: libs(s).update({TF_TRT_SONAME: lib("nvinfer", "tensorrt", None, None, [])})],  # TF-TRT dlopens 8.6.1; only TensorRT 10 is on disk
        fires=[lambda s: unresolve(tf_consumer(s), TF_TRT_SONAME)],
    ),
    "libraries.soname-alias-missing": case(
        lambda: with_tf(healthy()),
        common=[lambda s: unresolve(tf_consumer(s), TF_TRT_SONAME)],
        # TF-TRT dlopens libnvinfer.so.8.6.1; tensorrt-libs 8.6.1 ships it as libnvinfer.so.8 only (fires), or nothing of major 8 (near miss: wrong-major)
        fires=[
            lambda s: libs(s).update(
                {
                    TF_TRT_SONAME: lib("nvinfer", "tensorrt", None, None, []),
                    "libnvinfer.so.8": lib("nvinfer", "tensorrt", None, None, [copy_of(f"{TF_SITE}/tensorrt_libs/libnvinfer.so.8", "8.6.1", "pip tensorrt-libs 8.6.1 (venv /opt/tf)")]),
                }
            )
        ],
        near=[lambda s: libs(s).update({TF_TRT_SONAME: lib("nvinfer", "tensorrt", None, None, [])})],
    ),
    "libraries.missing": case(
        lambda: with_tf(healthy()),
        fires=[lambda s: unresolve(tf_consumer(s), "libcudnn.so.8")],  # no libcudnn of any major anywhere
    ),
    "libraries.mixed-versions": case(
        healthy,
        fires=[lambda s: add_cudnn(s, "libcudnn.so.9", (f"{SYS}/libcudnn.so.9", "9.1.0"), (f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9", "9.10.2.21"))],
        near=[lambda s: add_cudnn(s, "libcudnn.so.9", (f"{SYS}/libcudnn.so.9", "9.10.2"), (f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9", "9.10.2.21"))],  # one release, two spellings
    ),
    "libraries.broken-file": case(
        healthy,
        common=[lambda s: libs(s)["libcuda.so.1"]["copies"].append(copy_of("/usr/local/nvidia/lib64/libcuda.so.1", DRIVER, "container driver mount"))],
        fires=[lambda s: libs(s)["libcuda.so.1"]["copies"][1].update(elf_error="zero-length file", size=0, version=None)],
    ),
    "libraries.unresolved-needed": case(healthy, fires=[("libraries/libraries/libcuda.so.1/unresolved_needed", ["librt.so.1", "libpthread.so.0"])]),
    "libraries.glibc-too-old": case(
        healthy,
        common=[lambda s: libs(s)["libcudart.so.13"]["copies"][0].update(needs_glibc="GLIBC_2.34")],
        fires=[("os/glibc", "2.31")],
        near=[("os/glibc", "2.34")],
    ),
    "libraries.libstdcxx-shadowed": case(
        healthy,
        common=[trt_on_ld_library_path],
        fires=[("libraries/libraries/libnvinfer.so.10/libstdcxx", {"needs": "GLIBCXX_3.4.30", "libstdcxx": "/opt/conda/lib/libstdc++.so.6", "via": "LD_LIBRARY_PATH", "provides": "GLIBCXX_3.4.29"})],
        near=[("libraries/libraries/libnvinfer.so.10/libstdcxx", {"needs": "GLIBCXX_3.4.30", "libstdcxx": f"{SYS}/libstdc++.so.6", "via": "ld.so.cache", "provides": "GLIBCXX_3.4.30"})],
    ),
    "libraries.libstdcxx-too-old": case(
        healthy,
        fires=[version_gap("libstdc++.so.6", f"{SYS}/libstdc++.so.6", "ld.so.cache", ["GLIBCXX_3.4.32", "CXXABI_1.3.15"], "GLIBCXX_3.4.30")],
        near=[version_gap("libstdc++.so.6", "/opt/conda/lib/libstdc++.so.6", "LD_LIBRARY_PATH", ["GLIBCXX_3.4.32"], "GLIBCXX_3.4.30")],  # a shadow, not the system's
    ),
    "libraries.symbol-version-missing": case(
        healthy,
        fires=[version_gap("libgcc_s.so.1", "/opt/conda/lib/libgcc_s.so.1", "LD_LIBRARY_PATH", ["GCC_14.0"], "GCC_13.0")],
        near=[version_gap("libgcc_s.so.1", "/opt/conda/lib/libgcc_s.so.1", "LD_LIBRARY_PATH", [], "GCC_14.0")],
    ),
    "libraries.cudnn-older-than-build": case(
        lambda: with_tf(healthy()),
        common=[lambda s: tf_inst(s)["build_info"].update(cudnn_version="8.9")],
        fires=[lambda s: add_cudnn(s, "libcudnn.so.8", (f"{TF_SITE}/nvidia/cudnn/lib/libcudnn.so.8", "8.6.0.163"))],
        near=[lambda s: add_cudnn(s, "libcudnn.so.8", (f"{TF_SITE}/nvidia/cudnn/lib/libcudnn.so.8", "8.9.7.29"))],
    ),
    "libraries.no-ld-so-cache": case(healthy, fires=[("libraries/ld_so_cache", False)]),
    "libraries.stale-cache": case(healthy, fires=[("libraries/stale_cache", [f"{CUDA_LIB}/libcublas.so.13"])]),
    "libraries.dlopen-failed": case(
        healthy,
        fires=[("libraries/libraries/libcudart.so.13/live", {"error": f"{CUDA_LIB}/libcudart.so.13: version `GLIBC_2.40' not found"})],
    ),
    "libraries.model-disagrees": case(
        healthy,
        fires=[("libraries/libraries/libcudart.so.13/live", {"loaded": f"{SITE}/nvidia/cu13/lib/libcudart.so.13", "in_maps": True}), ("libraries/libraries/libcudart.so.13/live_agrees", False)],
    ),
    # tensorrt
    "tensorrt.placeholder": case(healthy, fires=[lambda s: trt_inst(s).update(parts={"nvidia-tensorrt": "99.0.0"})], near=[lambda s: trt_inst(s).update(parts={"nvidia-tensorrt": "8.4.3.1"})]),
    "tensorrt.parts-mismatch": case(healthy, fires=[lambda s: trt_inst(s)["parts"].update({"tensorrt-cu13-libs": "10.13.3.9"})]),
    "tensorrt.bindings-without-libs": case(
        healthy,
        common=[bindings_only],
        fires=[lambda s: [unresolve(s["libraries"]["consumers"][0], n) for n in TRT_SONAMES]],
        near=[lambda s: s["libraries"]["consumers"][0]["resolutions"].update({n: {"resolved": f"/opt/TensorRT-{TRT}/lib/{n}", "via": "LD_LIBRARY_PATH", "error": None} for n in TRT_SONAMES})],
    ),
    "tensorrt.libs-stub": case(healthy, fires=[lambda s: trt_inst(s).update(libs_files=[])]),
    "tensorrt.python-unsupported": case(healthy, fires=[("tensorrt/installs/0/python_version", "3.14")], near=[("tensorrt/installs/0/python_version", "3.13")]),
    "tensorrt.bindings-libs-mismatch": case(
        healthy,
        common=[trt_on_ld_library_path],
        fires=[("libraries/libraries/libnvinfer.so.10/version", "10.13.3.9")],
        near=[("libraries/libraries/libnvinfer.so.10/version", "10.16.1")],
    ),
    "tensorrt.cuda-mismatch": case(
        healthy,
        common=[lambda s: trt_inst(s).update(parts={f"tensorrt-cu12{p}": TRT for p in ("", "-bindings", "-libs")})],
        near=[lambda s: libs(s).update({"libcudart.so.12": lib("cudart", "cuda", f"{SYS}/libcudart.so.12", "12.9.79", [copy_of(f"{SYS}/libcudart.so.12", "12.9.79", "ld.so.conf")])})],
    ),
    "tensorrt.driver-too-old": case(healthy, fires=[("driver/cuda_driver_version", "12.8")], near=[("driver/cuda_driver_version", "13.0")]),
    "tensorrt.gpu-unsupported": case(healthy, fires=[gpu("Tesla P4", "6.1")], near=[gpu("Tesla T4", "7.5")]),
    # tensorrt-cu13 10.16 wheels are manylinux_2_28 (kb variants glibc)
    "tensorrt.glibc-too-old": case(healthy, fires=[("os/glibc", "2.27")], near=[("os/glibc", "2.28")]),
    "tensorrt.runtime-only": case(healthy, common=[lean_only], near=[and_full]),
    "tensorrt.builder-failed": case(
        healthy,
        fires=[lambda s: trt_inst(s)["live"]["tensorrt"].update(builder_error="RuntimeError: CUDA initialization failure with error: 35", builder=None)],
    ),
    "tensorrt.import-failed": case(
        healthy,
        fires=[("tensorrt/installs/0/live/tensorrt", {"import_errors": {"tensorrt": "ImportError: libnvinfer.so.10: cannot open shared object file: No such file or directory"}})],
    ),
    "tensorrt.not-installed": case(
        healthy,
        common=[("tensorrt", {"installs": [], "headers": []}), ("python/environments/0/packages", {}), ("precision/tensorrt", None)],
        near=[("tensorrt/headers", [{"path": "/usr/include/x86_64-linux-gnu/NvInferVersion.h", "version": "10.16.1"}])],  # a deb/tar TensorRT: headers only
    ),
    "tensorrt.rtx-unsupported-gpu": case(healthy, common=[rtx_install], near=[gpu("NVIDIA L40S", "8.9")]),
    "tensorrt.system-libs-missing": case(healthy, common=[deb_trt], fires=[lambda s: deb_binding(s).update(resolved=None, via=None, version=None)]),
    "tensorrt.system-libs-mismatch": case(healthy, common=[deb_trt], fires=[lambda s: deb_binding(s).update(version="8.5.3")], near=[lambda s: deb_binding(s).update(version="8.6.2")]),
    "tensorrt.held": case(healthy, common=[deb_trt], fires=[("trt_system/installs/0/packages/0/held", True)]),
    "tensorrt.torchtrt-libs-missing": case(healthy, fires=[torch_trt(resolved=False)], near=[torch_trt(resolved=True)]),
    "driver.jetson-no-runtime": case(healthy, fires=[jetson(runtime=False)], near=[jetson(runtime=True)]),
    # tensorflow
    "tensorflow.no-tftrt": (variant(healthy, lambda s: with_tf(s, "2.18.1")), variant(healthy, tf)),
    "tensorflow.python-unsupported": case(lambda: with_tf(healthy()), fires=[("tensorflow/installs/0/python_version", "3.13")]),
    "tensorflow.tensorrt-not-loadable": case(
        lambda: with_tf(healthy()),
        common=[lambda s: libs(s).update({TF_TRT_SONAME: lib("nvinfer", "tensorrt", None, None, [copy_of(f"{TF_SITE}/tensorrt_libs/{TF_TRT_SONAME}", "8.6.1", "pip tensorrt-libs 8.6.1 (venv /opt/tf)")])})],
        fires=[lambda s: unresolve(tf_consumer(s), TF_TRT_SONAME)],
    ),
    "tensorflow.linked-vs-loaded": case(lambda: with_tf(healthy()), fires=[("tensorflow/installs/0/live/loaded_tensorrt", "8.5.3")], near=[("tensorflow/installs/0/live/loaded_tensorrt", "8.6.2")]),
    "tensorflow.no-gpu": case(lambda: with_tf(healthy()), fires=[("tensorflow/installs/0/live/gpus", [])]),
    "tensorflow.import-failed": case(
        lambda: with_tf(healthy()),
        fires=[("tensorflow/installs/0/live", {"error": "could not collect: import tensorflow exit 1: ImportError: libstdc++.so.6: version `GLIBCXX_3.4.30' not found", "log": [], "loaded_tensorrt": None})],
    ),
    # pycuda, onnxruntime
    "pycuda.import-failed": case(healthy, fires=[pycuda_install(error="LogicError: cuInit failed: no CUDA-capable device is detected")], near=[pycuda_install()]),
    "pycuda.built-for-newer-cuda": case(healthy, fires=[pycuda_install(built="13.1.0")], near=[pycuda_install(built="13.0.0")]),
    "onnxruntime.tensorrt-ep-unloadable": case(healthy, fires=[ep_consumer(resolved=False)], near=[ep_consumer(resolved=True)]),
    "onnxruntime.cuda-ep-unloadable": case(healthy, fires=[cuda_ep_consumer(resolved=False)], near=[cuda_ep_consumer(resolved=True)]),
    # precision
    "precision.fp16-slow": case(healthy, fires=[gpu("Tesla P4", "6.1")], near=[gpu("Tesla T4", "7.5")]),
    "precision.no-int8": case(healthy, fires=[gpu("Tesla P100-PCIE-16GB", "6.0")], near=[gpu("Tesla P4", "6.1")]),
}


# --- the cases as tests ------------------------------------------------------------------


def ids_of(run) -> list[str]:
    return [f.id for f in run.findings]


def test_every_declared_id_has_a_case():
    assert set(CASES) == set(all_checks())


def test_healthy_snapshot_is_silent():
    run = run_rules(healthy())
    assert run.could_not_check == []
    assert [(f.id, f.severity, f.title) for f in run.findings if f.severity in ("error", "warning")] == []


def test_healthy_snapshot_is_silent_in_static_mode_and_with_tensorflow():
    for snap in (static(healthy()), with_tf(healthy())):
        run = run_rules(snap)
        assert run.could_not_check == [] and [(f.id, f.title) for f in run.findings if f.severity in ("error", "warning")] == []


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_fires(check_id):
    check = all_checks()[check_id]
    run = run_rules(CASES[check_id][0]())
    assert run.could_not_check == []
    hits = [f for f in run.findings if f.id == check_id]
    assert hits, f"{check_id} did not fire; got {ids_of(run)}"
    for f in hits:
        assert f.severity in check.severities and f.area == check.area
        assert f.title and (f.fix is None or f.fix.summary)  # every finding says what it is, and a fix says what to do


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_near_miss_does_not_fire(check_id):
    run = run_rules(CASES[check_id][1]())
    assert run.could_not_check == []
    assert check_id not in ids_of(run), [f.title for f in run.findings if f.id == check_id]


class StrictView(SnapshotView):
    """SnapshotView, but ``get`` and ``in`` raise on an undeclared area instead of answering None/False."""

    def get(self, key, default=None):
        if key not in self._allowed:
            raise UndeclaredRead(f"read undeclared area {key!r}")
        return self._snap.get(key, default)

    def __contains__(self, key) -> bool:
        if key not in self._allowed:
            raise UndeclaredRead(f"read undeclared area {key!r}")
        return key in self._snap


@pytest.mark.parametrize("which", [0, 1], ids=["fires", "near-miss"])
def test_no_rule_reads_an_undeclared_area_even_through_get(monkeypatch, which):
    monkeypatch.setattr(rules, "SnapshotView", StrictView)
    for check_id, pair in CASES.items():
        assert run_rules(pair[which]()).could_not_check == [], check_id


# Extra near misses at the edges of a rule, and the rule bugs found while writing the cases.
MORE_NEAR_MISSES = [
    pytest.param("os.partial-root", variant(healthy, bare_os), id="live-run"),
    pytest.param(
        "libraries.unresolved-needed",
        variant(healthy, static, bare_os, ("libraries/libraries/libcuda.so.1/unresolved_needed", ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"])),
        id="partial-root-lacks-the-c-runtime",
    ),
    pytest.param(
        "libraries.libstdcxx-shadowed",
        variant(healthy, version_gap("libstdc++.so.6", f"{SYS}/libstdc++.so.6", "ld.so.cache", ["GLIBCXX_3.4.32"], "GLIBCXX_3.4.30")),
        id="system-libstdcxx-too-old-is-not-a-shadow",
    ),
    pytest.param(
        "libraries.glibc-too-old",
        variant(healthy, version_gap("libc.so.6", f"{SYS}/libc.so.6", "ld.so.cache", [], "GLIBC_2.39")),
        id="version-tables-satisfied",
    ),
    pytest.param("driver.missing", variant(healthy, no_driver, static, ("driver/proc_present", False)), id="static-root-without-proc"),
    pytest.param("driver.minor-compat", variant(healthy, lambda s: with_cuda12(s, "535.54.03")), id="driver-exactly-at-ga"),
    pytest.param("driver.too-old-for-cuda", variant(healthy, ("driver/version", "580.65.06"), ("nvml/driver", "580.65.06")), id="driver-exactly-at-cuda13-floor"),
    pytest.param("driver.no-device-nodes", variant(healthy, static, ("devices", {"nodes": [], "dev_populated": False})), id="static-root-with-empty-dev"),
    pytest.param("gpus.hidden", variant(healthy, ("env/cuda_visible_devices", "GPU-5a1c2b3d-0000-4000-8000-000000000001")), id="cuda-visible-devices-by-uuid"),
    pytest.param("gpus.cuda-init-failed", variant(healthy, ("env/cuda_visible_devices", "-1"), ("nvml/cuInit", 100)), id="cuinit-fails-because-hidden"),
    pytest.param(
        "libraries.glibc-too-old",
        variant(healthy, lambda s: libs(s)["libcudart.so.13"]["copies"].append(copy_of("/opt/other/libcudart.so.13", "13.0.96", "system", needs_glibc="GLIBC_2.41"))),
        id="copy-that-does-not-win",
    ),
    pytest.param("tensorrt.not-installed", variant(healthy), id="installed"),
    pytest.param("tensorrt.rtx-unsupported-gpu", variant(healthy, rtx_install, gpu("NVIDIA RTX PRO 6000 Blackwell", "12.0")), id="rtx-on-blackwell"),
    pytest.param(
        "env.ld-library-path-empty",
        variant(healthy, ld_path(("", False)), ("env/vars/LD_LIBRARY_PATH", "")),
        id="ld-library-path-set-to-empty-string",
    ),
    pytest.param(
        "gpus.hidden",
        variant(healthy, ("env/nvidia_visible_devices", "void"), ("env/vars/NVIDIA_VISIBLE_DEVICES", "void")),
        id="nvidia-visible-devices-outside-a-container",
    ),
    pytest.param(
        "libraries.wrong-major",
        variant(
            healthy,
            with_tf,
            lambda s: libs(s).update(
                {
                    TF_TRT_SONAME: lib("nvinfer", "tensorrt", None, None, []),
                    "libnvinfer.so.8": lib("nvinfer", "tensorrt", None, None, [copy_of(f"{TF_SITE}/tensorrt_libs/libnvinfer.so.8", "8.6.1", "pip tensorrt-libs 8.6.1 (venv /opt/tf)")]),
                }
            ),
            lambda s: unresolve(tf_consumer(s), TF_TRT_SONAME),
        ),
        id="same-major-other-soname",
    ),
]


@pytest.mark.parametrize("check_id,build", MORE_NEAR_MISSES)
def test_more_near_misses(check_id, build):
    run = run_rules(build())
    assert run.could_not_check == []
    assert check_id not in ids_of(run), [f.title for f in run.findings if f.id == check_id]


# --- the rule contract -------------------------------------------------------------------


@contextmanager
def temporary_rule(fn: Callable, reads=("os",), uses=(), emits=("os.test-unit",)):
    r = Rule(fn.__name__, tuple(reads), tuple(uses), tuple(Check(i, "warning", "a test rule") for i in emits), fn)
    RULES.append(r)
    try:
        yield r
    finally:
        RULES.remove(r)


def finding(id_: str, subject: str | None = None) -> Finding:
    return Finding(id_, "warning", id_.split(".")[0], id_, subject=subject)


def test_reading_an_undeclared_area_is_could_not_check():
    def reads_nvml(snap):
        snap["nvml"]
        return [finding("os.test-unit")]

    with temporary_rule(reads_nvml):
        run = run_rules(healthy())
    assert "os.test-unit" not in ids_of(run)
    assert run.could_not_check == [{"area": "os", "reason": "check reads_nvml crashed: UndeclaredRead: read undeclared area 'nvml'"}]


def test_reading_an_undeclared_area_through_get_is_could_not_check():
    def gets_nvml(snap):
        if not (snap.get("nvml") or {}).get("driver"):
            return [finding("os.test-unit")]
        return []

    with temporary_rule(gets_nvml):
        run = run_rules(healthy())
    assert "os.test-unit" not in ids_of(run)
    assert [c["area"] for c in run.could_not_check] == ["os"] and "undeclared area 'nvml'" in run.could_not_check[0]["reason"]


def test_emitting_an_undeclared_id_is_could_not_check():
    def emits_other(snap):
        return [finding("os.test-unit"), finding("os.test-undeclared")]

    with temporary_rule(emits_other):
        run = run_rules(healthy())
    assert not {"os.test-unit", "os.test-undeclared"} & set(ids_of(run))
    assert run.could_not_check == [{"area": "os", "reason": "check emits_other crashed: AssertionError: emitted undeclared finding id os.test-undeclared"}]


def test_a_rule_that_raises_is_could_not_check_for_every_area_it_emits():
    def raises(snap):
        raise RuntimeError("boom")

    with temporary_rule(raises, emits=("os.test-unit", "env.test-unit")):
        run = run_rules(healthy())
    assert run.findings == []
    assert sorted(run.could_not_check, key=lambda c: c["area"]) == [{"area": a, "reason": "check raises crashed: RuntimeError: boom"} for a in ("env", "os")]


def test_a_rule_whose_area_could_not_be_collected_does_not_run():
    calls = []

    def needs_driver(snap):
        calls.append(1)
        return []

    snap = healthy()
    snap["driver"] = {"error": "could not collect: TimeoutError"}
    with temporary_rule(needs_driver, reads=("driver",), emits=("driver.test-unit",)):
        run = run_rules(snap)
    assert calls == []
    why = "driver: could not collect: TimeoutError"
    assert {"area": "driver", "reason": why} in run.could_not_check
    # the real rules that read the driver (no_gpu emits gpus.*, wsl emits os.*) are blocked too, with the same reason
    assert {c["area"] for c in run.could_not_check} == {"driver", "gpus", "os"} and {c["reason"] for c in run.could_not_check} == {why}
    assert not [f for f in run.findings if f.area in ("driver", "gpus", "os")]
    # rules that only *use* the driver still run
    assert all(c["area"] != "tensorrt" for c in run.could_not_check)


def test_only_wanted_ids_are_run_and_reported():
    run = run_rules(CASES["driver.version-mismatch"][0](), wanted={"driver.version-mismatch"})
    assert ids_of(run) == ["driver.version-mismatch"] and run.could_not_check == []


def test_no_gpu_follows_from_no_driver():
    snap = with_tf(no_driver(healthy()))
    tf_inst(snap)["live"]["gpus"] = []
    run = run_rules(snap)
    assert run.could_not_check == []
    f = next(f for f in run.findings if f.id == "tensorflow.no-gpu")
    assert "driver.missing" in ids_of(run) and f.caused_by == "driver.missing"
    assert f.severity == "warning"  # no GPU listed at all: the missing driver is the error
    assert "no NVIDIA driver is loaded" in f.evidence


def test_causes_link_only_within_one_site_packages_dir():
    """TF-TRT in TF_SITE follows its own dir's library finding, never SITE's libraries.missing."""
    snap = with_tf(healthy())
    libs(snap)[TF_TRT_SONAME] = lib("nvinfer", "tensorrt", None, None, [])
    unresolve(tf_consumer(snap), TF_TRT_SONAME)  # TF_SITE: libraries.wrong-major (only TensorRT 10 on disk)
    snap["libraries"]["consumers"].append(consumer("pycuda", SITE, f"{SITE}/pycuda/_driver.so", {"libcublas.so.13": None}))  # SITE: libraries.missing (any required consumer)
    run = run_rules(snap)
    by_id = {(f.id, f.subject): f for f in run.findings}
    assert ("libraries.missing", SITE) in by_id and ("libraries.wrong-major", TF_SITE) in by_id
    assert by_id[("tensorflow.tensorrt-not-loadable", TF_SITE)].caused_by == "libraries.wrong-major"


def test_no_cause_link_across_subjects():
    cause, effect = finding("libraries.missing", SITE), finding("tensorflow.tensorrt-not-loadable", TF_SITE)
    link_causes([cause, effect])
    assert effect.caused_by is None
    same = finding("libraries.missing", TF_SITE)
    link_causes([cause, same, effect])
    assert effect.caused_by == "libraries.missing"


def test_placeholder_in_one_venv_is_no_cause_in_another():
    snap = healthy()
    rtx_install(snap)  # a second environment ...
    other = snap["tensorrt"]["installs"][1]
    other.update(parts={"nvidia-tensorrt": "99.0.0"}, site_packages=TF_SITE)  # ... holding the placeholder
    snap["libraries"]["consumers"].append(consumer("pycuda", SITE, f"{SITE}/pycuda/_driver.so", {"libcublas.so.13": None}))  # SITE: libraries.missing
    run = run_rules(snap)
    placeholder = next(f for f in run.findings if f.id == "tensorrt.placeholder")
    missing = next(f for f in run.findings if f.id == "libraries.missing")
    assert missing.subject == SITE and missing.caused_by is None
    assert placeholder.subject == TF_SITE


# --- shapes the schema lets through that once crashed a rule (found by tests/test_schemas.py's fuzz) ---


def test_a_driver_for_a_cuda_major_with_no_pip_build_is_a_finding_not_a_crash():
    snap = healthy()
    snap["driver"]["cuda_driver_version"] = "10.2"  # a driver older than any pip TensorRT build
    run = run_rules(snap)
    assert run.could_not_check == []
    f = next(f for f in run.findings if f.id == "tensorrt.driver-too-old")
    assert "no pip build of it is known" in f.fix.commands[0]


def test_a_superscript_digit_in_cuda_visible_devices_is_judged_not_a_crash():
    snap = healthy()
    snap["env"]["cuda_visible_devices"] = "²"  # str.isdigit says yes, int() says no
    run = run_rules(snap)
    assert run.could_not_check == [] and "gpus.hidden" in ids_of(run)


def test_slow_fp16_on_a_gpu_of_unknown_compute_capability_is_refused_not_a_crash():
    from trtdoctor.smoke.runner import precision_refusal

    snap = {"precision": {"gpus": [{"index": 0, "name": "Mystery GPU", "compute_capability": None, "support": {"fp16": "slow"}}]}}
    assert "runs far slower than FP32" in precision_refusal(snap, "fp16", 0)


@pytest.mark.parametrize("driver,fires", [("410.48", True), ("418.39", False)])
def test_cuda_10_needs_its_own_release_driver(driver, fires):
    """Before CUDA 11 there is no minor-version compatibility: CUDA 10.1 needs 418.39, full stop."""
    snap = healthy()
    snap["driver"]["version"] = driver
    snap["cuda"]["toolkits"] = [{"path": "/usr/local/cuda-10.1", "version": "10.1.243", "via": "/usr/local/cuda"}]
    del libs(snap)["libcudart.so.13"]
    run = run_rules(snap, wanted={"driver.too-old-for-cuda", "driver.minor-compat"})
    got = [f for f in run.findings if f.id == "driver.too-old-for-cuda"]
    assert bool(got) == fires and not [f for f in run.findings if f.id == "driver.minor-compat"]
    if fires:
        assert "predates minor-version compatibility" in got[0].detail and "cuda-compat-10-1" in " ".join(got[0].fix.commands)


@pytest.mark.parametrize("have,fires", [("8.6.0.163", True), ("8.9.7.29", False)])
def test_cudnn_minor_from_the_knowledge_base_when_build_info_has_only_the_major(have, fires):
    """Real TF 2.17.1 wheels say cudnn_version '8'; the knowledge base knows it was built with 8.9."""
    snap = with_tf(healthy())
    assert tf_inst(snap)["build_info"]["cudnn_version"] == "8" and tf_inst(snap)["kb"]["cudnn"] == "8.9"
    add_cudnn(snap, "libcudnn.so.8", (f"{TF_SITE}/nvidia/cudnn/lib/libcudnn.so.8", have))
    run = run_rules(snap, wanted={"libraries.cudnn-older-than-build"})
    assert bool(run.findings) == fires and run.could_not_check == []
    if fires:
        assert "the knowledge base gives 8.9" in " ".join(run.findings[0].evidence)


def test_an_optional_onnxruntime_provider_is_no_library_error():
    """onnxruntime-gpu ships its TensorRT provider on machines without TensorRT: it falls back,
    so the missing libnvinfer is the onnxruntime warning, never libraries.missing (an error)."""
    snap = healthy()
    ep_consumer(resolved=False)(snap)
    run = run_rules(snap)
    assert "onnxruntime.tensorrt-ep-unloadable" in ids_of(run)
    assert not [f for f in run.findings if f.severity == "error"], [f.id for f in run.findings]


def name_cc(verified: bool) -> Callable[[dict], None]:
    """The GPU's compute capability came from kb/gpus.yaml by its model name (a static root: no NVML)."""

    def edit(snap: dict) -> None:
        snap["gpus"]["devices"][0].update(cc_source="name", cc_verified=verified)

    return edit


@pytest.mark.parametrize("check_id", ["tensorrt.gpu-unsupported", "gpus.arch-dropped-by-cuda", "tensorflow.no-kernels-for-gpu", "tensorrt.rtx-unsupported-gpu"])
@pytest.mark.parametrize("verified,severity", [(True, "error"), (False, "warning")])
def test_a_compute_capability_from_an_unverified_name_row_only_warns(check_id, verified, severity):
    """An unverified fact may raise a warning, never an error (issue 11); from NVML or a verified row it stays an error."""
    snap = CASES[check_id][0]()
    name_cc(verified)(snap)
    got = [f for f in run_rules(snap).findings if f.id == check_id]
    assert got and {f.severity for f in got} == {severity}
    assert "from the model name" in " ".join(got[0].evidence)


def test_an_unverified_tensorrt_row_only_warns():
    snap = CASES["tensorrt.gpu-unsupported"][0]()
    from trtdoctor import knowledge

    row = dict(knowledge.trt_release("10.16"), verified=False)
    assert knowledge.fact_severity(row, snap["gpus"]["devices"][0]) == "warning"
    assert knowledge.fact_severity(dict(row, verified=True), snap["gpus"]["devices"][0]) == "error"


@pytest.mark.parametrize("gpu_edit,fires", [(gpu("Tesla K80", "3.7"), True), (gpu("NVIDIA L40S", "8.9"), False)])
def test_tf_kernels_from_the_kb_row_when_build_info_has_none(gpu_edit, fires):
    """A static tree without a readable build_info: the kb row of TF 2.17 (read from the real
    wheel) says which GPUs it has kernels for."""
    snap = with_tf(healthy())
    tf_inst(snap)["build_info"].pop("cuda_compute_capabilities", None)
    tf_inst(snap)["kb"]["compute_capabilities"] = knowledge.tf_release("2.17")["compute_capabilities"]
    gpu_edit(snap)
    got = [f for f in run_rules(snap, wanted={"tensorflow.no-kernels-for-gpu"}).findings]
    assert bool(got) == fires
    if fires:
        assert "kb/tensorflow.yaml row" in got[0].evidence[0]


def test_a_bindings_only_install_is_one_import_failure_named_by_its_library():
    """Live on the H100, tensorrt-cu13-bindings without libs fails `import tensorrt` (no front
    end) and `import tensorrt_bindings` (libnvonnxparser.so.11): one cause, one finding."""
    snap = healthy()
    trt_inst(snap)["live"] = {
        "tensorrt": {"import_errors": {"tensorrt": "ModuleNotFoundError: No module named 'tensorrt'"}},
        "tensorrt_bindings": {"import_errors": {"tensorrt_bindings": "ImportError: libnvonnxparser.so.11: cannot open shared object file: No such file or directory"}},
    }
    got = [f for f in run_rules(snap, wanted={"tensorrt.import-failed"}).findings]
    assert [f.title for f in got] == ["import tensorrt_bindings fails: ImportError: libnvonnxparser.so.11: cannot open shared object file: No such file or directory"]
    assert len(got[0].evidence) == 2


def test_a_reboot_is_a_manual_step():
    """A person must reboot: the plan puts it first as manual, not as a command to paste."""
    (fires, _) = CASES["driver.version-mismatch"]
    got = [f for f in run_rules(fires()).findings if f.id == "driver.version-mismatch"]
    assert got and got[0].fix.kind == "manual" and "sudo reboot" in got[0].fix.commands
