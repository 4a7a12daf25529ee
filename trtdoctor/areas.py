"""One verdict per area: checked and clean, a finding's severity, not applicable here, or
could not be checked. ✓ is given only to an area that was checked and is clean."""

from __future__ import annotations

from .findings import Finding
from .rules import AREAS, failed_area

NOT_APPLICABLE = "not-applicable"
COULD_NOT_CHECK = "could-not-check"


def _libs(snap: dict) -> dict:
    return (snap.get("libraries") or {}).get("libraries") or {}


def _os(s: dict, snap: dict) -> tuple[bool, str]:
    bits = [s.get("name") or s.get("id") or "unknown OS", s.get("arch"), f"glibc {s['glibc']}" if s.get("glibc") else None]
    bits += ["WSL2" if s.get("wsl2") else None, "container" if s.get("container") else None]
    return True, ", ".join(b for b in bits if b)


def _driver(s: dict, snap: dict) -> tuple[bool, str]:
    if not s.get("version") and s.get("wsl_libcuda"):
        return True, "the Windows driver, through /usr/lib/wsl/lib (its version shows only live)"
    if not s.get("version"):
        return False, "no NVIDIA driver found under this root: not judged" if _static(snap) else "no NVIDIA driver found"
    return True, f"{s['version']} (supports CUDA ≤ {s.get('cuda_driver_version') or '?'})"


def _gpus(s: dict, snap: dict) -> tuple[bool, str]:
    devs = s.get("devices") or []
    if not devs:
        if not (snap.get("driver") or {}).get("version"):
            return False, "not checked: no NVIDIA driver"
        return True, "no GPU found"
    return True, "; ".join(f"{d.get('index')}: {d.get('name')} (sm_{(d.get('compute_capability') or '?').replace('.', '')})" for d in devs)


def _env(s: dict, snap: dict) -> tuple[bool, str]:
    v = s.get("vars") or {}
    keys = [k for k in ("LD_LIBRARY_PATH", "LD_PRELOAD", "CUDA_VISIBLE_DEVICES", "CONDA_PREFIX", "VIRTUAL_ENV") if k in v]
    return True, ", ".join(f"{k} set" for k in keys) or "no GPU-related variables set"


def _libraries(s: dict, snap: dict) -> tuple[bool, str]:
    libs = _libs(snap)
    if not any(lib.get("resolved") or lib.get("copies") for lib in libs.values()):
        return False, "no CUDA, cuDNN or TensorRT library found"
    found = {}
    for soname, lib in libs.items():
        if lib.get("resolved") and lib.get("key") in ("cuda", "cudart", "cudnn", "nvinfer"):
            found[lib["key"]] = f"{soname} {lib.get('version') or ''}".strip()
    return True, (", ".join(found.values()) or "no CUDA/cuDNN/TensorRT libraries resolve") + f" ({len(libs)} sonames judged)"


def _packages(area: str):
    def summary(s: dict, snap: dict) -> tuple[bool, str]:
        inst = s.get("installs") or []
        system = ((snap.get("trt_system") or {}).get("installs") or []) if area == "tensorrt" else []
        if not inst and not system:
            return area == "tensorrt", "not installed"
        if area == "tensorrt":  # pip parts, then installs outside pip (probes/trt_system.py)
            return True, "; ".join([", ".join(f"{n} {v}" for n, v in i.get("parts", {}).items()) for i in inst] + [f"{i['kind']} {i.get('version')} ({i.get('lib_dir')})" for i in system])
        return True, "; ".join(f"{i.get('package', area)} {i.get('version')}" for i in inst)

    return summary


def _precision(s: dict, snap: dict) -> tuple[bool, str]:
    rows = s.get("gpus") or []
    if not rows:
        return False, "not judged: no GPU"
    return True, "; ".join(f"{r.get('name')}: " + " ".join(k for k, v in (r.get("support") or {}).items() if v is True) for r in rows)


SUMMARIES = {
    "os": _os,
    "driver": _driver,
    "gpus": _gpus,
    "env": _env,
    "libraries": _libraries,
    "tensorrt": _packages("tensorrt"),
    "tensorflow": _packages("tensorflow"),
    "pycuda": _packages("pycuda"),
    "onnxruntime": _packages("onnxruntime"),
    "precision": _precision,
}


def _static(snap: dict) -> bool:
    return (snap.get("target") or {}).get("mode") == "static"


def verdict(area: str, snap: dict, findings: list[Finding], could_not_check: list[dict]) -> dict:
    """``{"status", "summary"[, "reason"]}`` for one area."""
    sev = {f.severity for f in findings if f.area == area}
    reasons = [c["reason"] for c in could_not_check if c["area"] == area]
    failed = failed_area(snap, area)
    if failed:
        reasons.insert(0, failed)
    applicable, summary = SUMMARIES[area](snap.get(area) or {}, snap) if not failed else (True, failed)
    out = {"summary": summary}
    if reasons:
        out["reason"] = "; ".join(dict.fromkeys(reasons))
    if "error" in sev:
        out["status"] = "error"
    elif "warning" in sev:
        out["status"] = "warning"
    elif reasons:
        out["status"] = COULD_NOT_CHECK
    elif not applicable:
        out["status"] = NOT_APPLICABLE
    else:
        out["status"] = "ok"
    return out


def verdicts(snap: dict, findings: list[Finding], could_not_check: list[dict], shown: list[str] | None = None) -> dict[str, dict]:
    return {a: verdict(a, snap, findings, could_not_check) for a in (shown or AREAS)}
