"""Live GPU facts: NVML through pynvml and the CUDA driver API through ctypes, in a child
process with the judged environment (so CUDA_VISIBLE_DEVICES acts as it would for the
user); ``nvidia-smi`` only when NVML cannot answer."""

from __future__ import annotations

import importlib.util
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor

from ..subproc import run, run_python_json
from ..target import Target

# NVML and the CUDA driver API run in two children at once: cuInit alone takes about 0.2 s
# on an H100, and NVML needs no CUDA. Both start isolated (-I -S): NVML's child gets pynvml's
# folder on sys.path and nothing else from site-packages.
NVML_CODE = r"""
import json, sys
sys.path.insert(0, __PYNVML_DIR__)
out = {}
def s(x):
    return x.decode() if isinstance(x, bytes) else x
try:
    import pynvml as n
    n.nvmlInit()
    out["driver"] = s(n.nvmlSystemGetDriverVersion())
    try:
        out["cuda_driver_version"] = n.nvmlSystemGetCudaDriverVersion_v2()
    except n.NVMLError as e:
        out["cuda_driver_version_error"] = str(e)
    devs = []
    for i in range(n.nvmlDeviceGetCount()):
        h = n.nvmlDeviceGetHandleByIndex(i)
        d = {"index": i, "name": s(n.nvmlDeviceGetName(h)), "uuid": s(n.nvmlDeviceGetUUID(h))}
        try:
            d["compute_capability"] = "%d.%d" % n.nvmlDeviceGetCudaComputeCapability(h)
        except n.NVMLError:
            pass
        try:
            d["memory_total_mib"] = n.nvmlDeviceGetMemoryInfo(h).total // 2**20
        except n.NVMLError:
            pass
        try:
            d["mig_mode"] = n.nvmlDeviceGetMigMode(h)[0]
        except n.NVMLError:
            d["mig_mode"] = None
        devs.append(d)
    out["devices"] = devs
    out["source"] = "nvml"
except ImportError:
    out["nvml_error"] = "pynvml (nvidia-ml-py) is not installed"
except Exception as e:
    out["nvml_error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""

CUDA_CODE = r"""
import ctypes, json
out = {}
def s(x):
    return x.decode() if isinstance(x, bytes) else x
try:
    cu = ctypes.CDLL("libcuda.so.1")
    v = ctypes.c_int(0)
    out["cuDriverGetVersion"] = [cu.cuDriverGetVersion(ctypes.byref(v)), v.value]
    r = cu.cuInit(0)
    out["cuInit"] = r
    if r:
        name = ctypes.c_char_p()
        cu.cuGetErrorName(r, ctypes.byref(name))
        out["cuInit_name"] = s(name.value)
    else:
        c = ctypes.c_int(0)
        cu.cuDeviceGetCount(ctypes.byref(c))
        out["cuda_device_count"] = c.value
except OSError as e:
    out["libcuda_error"] = str(e)
print(json.dumps(out))
"""


def _pynvml_dir() -> str:
    spec = importlib.util.find_spec("pynvml")
    return os.path.dirname(spec.origin) if spec and spec.origin else ""


SMI_FIELDS = "index,name,uuid,driver_version,compute_cap,memory.total,mig.mode.current"
MAX_GPUS = 64  # rows of nvidia-smi kept: more is a broken or hostile nvidia-smi, not a machine


def _nvidia_smi(target: Target) -> dict:
    exe = shutil.which("nvidia-smi", path=target.env.get("PATH", ""))
    if not exe:
        return {"smi_error": "nvidia-smi not found on PATH"}
    res = run(
        [exe, f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader,nounits"],
        env=target.env,
        timeout=target.timeout,
    )
    if not res.ok:
        return {"smi_error": f"could not collect: nvidia-smi {res.error}"}
    devs, driver, rows = [], None, 0
    for line in res.stdout.strip().splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 7:
            continue
        rows += 1
        if len(devs) >= MAX_GPUS:
            continue
        driver = cols[3]
        devs.append(
            {
                "index": int(cols[0]) if cols[0].isdigit() else len(devs),
                "name": cols[1],
                "uuid": cols[2],
                "compute_capability": cols[4] if cols[4][:1].isdigit() else None,
                "memory_total_mib": int(cols[5]) if cols[5].isdigit() else None,
                "mig_mode": {"Enabled": 1, "Disabled": 0}.get(cols[6]),
            }
        )
    out = {"driver": driver, "devices": devs, "source": "nvidia-smi"}
    if rows > MAX_GPUS or res.truncated:
        more = "more than 1 MiB of output, at least " if res.truncated else ""
        out["smi_truncated"] = f"nvidia-smi printed {more}{rows} GPU rows; kept the first {len(devs)}"
    return out


def run_nvml(env: dict, timeout: float):
    """The NVML child alone: driver, GPUs, compute capabilities (pynvml's answers as JSON)."""
    return run_python_json(NVML_CODE.replace("__PYNVML_DIR__", repr(_pynvml_dir())), env=env, timeout=timeout, isolated=True)


def _nvml_and_cuda(env: dict, timeout: float):
    with ThreadPoolExecutor(2) as pool:
        nvml = pool.submit(run_nvml, env, timeout)
        cuda = pool.submit(run_python_json, CUDA_CODE, env=env, timeout=timeout, isolated=True)
        return nvml.result(), cuda.result()


_PREFETCHED: dict[int, Future] = {}


def prefetch(target: Target) -> None:
    """Start the NVML and CUDA children now, while the rest of trtdoctor is still being
    imported: cuInit is the slowest probe of a live check (0.2 s on an H100)."""
    if target.live:
        _PREFETCHED[id(target)] = ThreadPoolExecutor(1).submit(_nvml_and_cuda, target.env, target.timeout)


def probe_nvml(target: Target, snap: dict) -> dict:
    if not target.live:
        return {"skipped": "static mode"}
    started = _PREFETCHED.pop(id(target), None)
    res, cu = started.result() if started else _nvml_and_cuda(target.env, target.timeout)
    if res.data is None:
        out = {"error": f"could not collect: NVML probe {res.error}"}
    else:
        out = dict(res.data)
        if not res.ok:
            out["probe_error"] = res.error
    if cu.data is not None:
        out.update(cu.data)
    elif "error" not in out:
        out["libcuda_error"] = f"could not collect: CUDA driver probe {cu.error}"
    if not out.get("devices") and not out.get("driver"):
        smi = _nvidia_smi(target)
        out.update({k: v for k, v in smi.items() if k not in out or k == "source"})
    return out
