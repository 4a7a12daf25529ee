"""The knowledge base: YAML data shipped in ``trtdoctor/kb``, each row with its source.

Facts live in data, not code, so they can be reviewed against their sources and
extended without touching the rules.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

KB_DIR = Path(__file__).with_name("kb")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load(name: str) -> dict:
    with open(KB_DIR / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)


def parse_version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version(str(text).strip())
    except InvalidVersion:
        return None


def major_minor(text: str | None) -> tuple[int, int] | None:
    v = parse_version(text)
    if v is None:
        return None
    rel = v.release + (0,)
    return rel[0], rel[1]


def min_driver_for_cuda(cuda: str) -> dict | None:
    """The row giving the GA minimum driver for a CUDA ``major.minor`` (or None)."""
    mm = major_minor(cuda)
    if mm is None:
        return None
    for row in load("drivers")["cuda_min_driver"]:
        if major_minor(row["cuda"]) == mm:
            return row
    return None


def compat_min_driver(cuda_major: int) -> dict | None:
    """Minor-version compatibility floor for a CUDA major."""
    for row in load("drivers")["major_min_driver"]:
        if row["cuda_major"] == cuda_major:
            return row
    return None


def max_cuda_for_driver(driver: str) -> str | None:
    """Highest CUDA release (from the table) whose GA minimum the driver meets."""
    dv = parse_version(driver)
    if dv is None:
        return None
    best = None
    for row in load("drivers")["cuda_min_driver"]:
        if dv >= Version(row["driver"]):
            best = row["cuda"]
    return best


def cc_for_gpu(name: str | None) -> dict | None:
    if not name:
        return None
    low = name.lower()
    for row in load("gpus")["gpus"]:
        if row["match"].lower() in low:
            return row
    return None


def precision_for_cc(cc: str | None) -> dict:
    """Precision support for a compute capability; nearest lower known row for unknown minors."""
    data = load("precision")
    mm = major_minor(cc)
    if mm is None:
        return {}
    if mm < (6, 0):
        return dict(data["fallback_below_6"])
    best = None
    for key, row in data["by_cc"].items():
        if major_minor(key) <= mm:
            best = row
    return dict(best or {})


def _series_key(version: str | None) -> tuple[int, int] | None:
    return major_minor(version)


def _release(table: str, version: str | None) -> dict | None:
    """The newest release row whose series is <= version (same major)."""
    mm = _series_key(version)
    if mm is None:
        return None
    best = None
    for row in load(table)["releases"]:
        smm = major_minor(row["series"])
        if smm[0] == mm[0] and smm <= mm and (best is None or smm > major_minor(best["series"])):
            best = row
    return best


def trt_release(version: str | None) -> dict | None:
    return _release("tensorrt", version)


def tf_release(version: str | None) -> dict | None:
    mm = _series_key(version)
    if mm is None:
        return None
    for row in load("tensorflow")["releases"]:
        if major_minor(row["series"]) == mm:
            return row
    return None


def cc_tuple(cc: str | None) -> tuple[int, int] | None:
    return major_minor(cc)


def cuda_architecture(cc: str | None) -> dict | None:
    """The kb/cuda.yaml row for a compute capability (the nearest lower minor of its major)."""
    mm = major_minor(cc)
    if mm is None:
        return None
    rows = [r for r in load("cuda")["architectures"] if major_minor(r["cc"])[0] == mm[0] and major_minor(r["cc"]) <= mm]
    return max(rows, key=lambda r: major_minor(r["cc"]), default=None)
