"""The knowledge base: YAML data shipped in ``trtdoctor/kb``, each row with its source.

Facts live in data, not code, so they can be reviewed against their sources and
extended without touching the rules.
"""

from __future__ import annotations

import functools
import re
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


def _driver_rows() -> list[dict]:
    """kb/drivers.yaml rows in toolkit order (GA before its updates)."""
    return sorted(load("drivers")["cuda_min_driver"], key=lambda r: Version(r["cuda"]))


def min_driver_for_cuda(cuda: str) -> dict | None:
    """The GA row of a CUDA ``major.minor`` (or None): what a runtime of that minor needs.

    A library's version (libcudart.so.12.8.90) is a component version, not a toolkit
    update, so only its major.minor can be judged."""
    mm = major_minor(cuda)
    return next((r for r in _driver_rows() if major_minor(r["cuda"]) == mm), None) if mm else None


def min_driver_for_toolkit(toolkit: str) -> dict | None:
    """The row of a toolkit release (12.8.1 = 12.8 Update 1): the latest row of its minor
    at or below it, so an update the table does not list inherits the one before."""
    v = parse_version(toolkit)
    if v is None:
        return None
    rows = [r for r in _driver_rows() if major_minor(r["cuda"]) == major_minor(toolkit) and Version(r["cuda"]) <= v]
    return rows[-1] if rows else min_driver_for_cuda(toolkit)


def compat_min_driver(cuda_major: int) -> dict | None:
    """Minor-version compatibility floor for a CUDA major (None before ``minor_compat_from``: none)."""
    if cuda_major < load("drivers")["minor_compat_from"]["cuda_major"]:
        return None
    for row in load("drivers")["major_min_driver"]:
        if row["cuda_major"] == cuda_major:
            return row
    return None


def max_cuda_for_driver(driver: str) -> str | None:
    """The highest CUDA ``major.minor`` whose GA or update minimum the driver meets:
    "supports CUDA <= X.Y" (None: older than every release in the table)."""
    dv = parse_version(driver)
    if dv is None:
        return None
    met = [r for r in _driver_rows() if dv >= Version(r["driver"])]
    if not met:
        return None
    mm = major_minor(met[-1]["cuda"])
    return f"{mm[0]}.{mm[1]}"


def soname_cuda(soname: str) -> tuple[str, str | None] | None:
    """The CUDA releases (first, last; last None: still shipped) whose libraries carry a soname."""
    for row in load("libraries")["libraries"]:
        span = (row.get("cuda") or {}).get(soname)
        if span:
            first, _, last = span.partition("-")
            return first, last or None
    return None


# A letter or digit may not touch either end of a match: "T4" is not in "T4000", "H200" not in "GH200".
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![A-Za-z0-9])(?:", r")(?![A-Za-z0-9])"


@functools.cache
def _gpu_patterns() -> tuple[tuple[re.Pattern, dict], ...]:
    return tuple((re.compile(_EDGE_BEFORE + row["match"] + _EDGE_AFTER, re.I), row) for row in load("gpus")["gpus"])


def gpu_rows_matching(name: str | None) -> list[tuple[int, dict]]:
    """Every kb/gpus.yaml row whose pattern is in ``name``, as (matched length, row), longest first."""
    text = " ".join((name or "").split())
    found = [(len(m.group(0)), row) for pat, row in _gpu_patterns() for m in [pat.search(text)] if m]
    return sorted(found, key=lambda x: -x[0])


def cc_for_gpu(name: str | None) -> dict | None:
    """The row for a model name: the most specific (longest) match wins; a tie between rows of
    different compute capability leaves the model unknown rather than guessing."""
    found = gpu_rows_matching(name)
    if not found:
        return None
    best = [row for n, row in found if n == found[0][0]]
    return best[0] if len({row["cc"] for row in best}) == 1 else None


def precision_for_cc(cc: str | None) -> dict:
    """Precision support for a compute capability: the nearest lower row of kb/precision.yaml,
    else ``fallback_older`` (older than every row)."""
    data = load("precision")
    mm = major_minor(cc)
    if mm is None:
        return {}
    rows = [(major_minor(key), row) for key, row in data["by_cc"].items() if major_minor(key) <= mm]
    return dict(max(rows, key=lambda r: r[0])[1] if rows else data["fallback_older"])


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


def _ships(version: str | None, variant: dict) -> bool:
    """Whether a release ships this build: within the variant's ``first``/``last`` releases
    (``last`` "10.13.0" takes in 10.13.0.35)."""
    v = parse_version(version)
    first, last = parse_version(variant.get("first")), parse_version(variant.get("last"))
    if v is None:
        return True
    if first and v < first:
        return False
    return not (last and Version(".".join(map(str, v.release[: len(last.release)]))) > last)


def _builds(row: dict, version: str | None) -> list[dict]:
    """The variants of a series row that this release ships, each with its ``series``."""
    return [dict(v, series=row["series"]) for v in row["variants"] if _ships(version, v)]


def _summary(row: dict, version: str | None) -> dict:
    """A series seen through its x86-64 builds, for callers that need no build: the lowest
    min_cc, the widest Python range, every CUDA minor named, verified only if all are."""
    builds = [v for v in _builds(row, version) if "x86_64" in v["platform"]] or _builds(row, version) or _builds(row, None)
    pys = [v["python"] for v in builds if v.get("python")]
    out = {
        "series": row["series"],
        "variants": builds,
        "min_cc": min((v["min_cc"] for v in builds), key=major_minor),
        "cuda": sorted({c for v in builds for c in v["cuda"]}, key=Version),
        "source": " ; ".join(dict.fromkeys(p.strip() for v in builds for p in v["source"].split(" ; "))),
        "read": max(v["read"] for v in builds),
        "verified": all(v["verified"] for v in builds),
        "unverified": sorted({f for v in builds for f in v.get("unverified") or ()}),
    }
    if pys:
        out["python"] = [min((p[0] for p in pys), key=major_minor), max((p[1] for p in pys), key=major_minor)]
    if row.get("pip_front"):
        out["pip_front"] = row["pip_front"]
    return out


def trt_release(version: str | None) -> dict | None:
    """The series of a TensorRT release, summarised over its builds (see ``trt_variant``
    when the verdict depends on the build)."""
    row = _release("tensorrt", version)
    return _summary(row, version) if row else None


def trt_variant(version: str | None, cuda_major: str | int | None) -> dict | None:
    """The build of a TensorRT release for a CUDA major (``tensorrt-cu12`` -> 12), or None
    when that release has no such build."""
    row = _release("tensorrt", version)
    if not row or cuda_major is None:
        return None
    return next((v for v in _builds(row, version) if v["build"] == f"cu{cuda_major}"), None)


def trt_builds(version: str | None) -> list[dict]:
    """Every build of a TensorRT release (its CUDA majors), oldest CUDA first."""
    row = _release("tensorrt", version)
    return _builds(row, version) if row else []


def removed_api(major: int | None, name: str) -> dict | None:
    """The kb row saying TensorRT ``major`` (or an earlier major) removed the Python API
    ``name`` (``Builder.build_engine``, ``BuilderFlag.FP16``), with its replacement; None
    when it is still there."""
    if major is None:
        return None
    rows = [r for r in load("tensorrt")["removed_apis"] if r["name"] == name and r["major"] <= major]
    return min(rows, key=lambda r: r["major"], default=None)


def deprecated_api(version: str | None, name: str) -> dict | None:
    """The kb row saying TensorRT ``version`` (or an earlier release) deprecated the API
    ``name``, with what supersedes it; None when it is not deprecated there."""
    v = parse_version(version)
    if v is None:
        return None
    return next((r for r in load("tensorrt").get("deprecated_apis", []) if r["name"] == name and v >= parse_version(r["since"])), None)


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


def fact_severity(*facts: dict | None, fields: tuple[str, ...] = ()) -> str:
    """``error`` when every fact a verdict rests on is verified, else ``warning``: an
    unconfirmed knowledge-base row (``verified: false``, or one of ``fields`` listed in its
    ``unverified``) or a GPU whose compute capability came from an unverified model-name row
    may raise a warning, never an error. A row with no ``verified`` key predates the flag and
    counts as checked."""
    for f in facts:
        if f and (f.get("verified") is False or f.get("cc_verified") is False or set(fields) & set(f.get("unverified") or ())):
            return "warning"
    return "error"


def cc_note(gpu: dict) -> list[str]:
    """An evidence line saying where a GPU's compute capability came from, when not from NVML."""
    if gpu.get("cc_source") == "name":
        checked = "a verified" if gpu.get("cc_verified") else "an unverified"
        return [f"compute capability {gpu.get('compute_capability')} from the model name ({checked} kb/gpus.yaml row), not from the driver"]
    return []


def cite(row: dict) -> str:
    """The one evidence line naming a fact's source: "source: URL (read DATE)"."""
    read = f" (read {row['read']})" if row.get("read") else ""
    return f"source: {row.get('source', '?')}{read}"


def tftrt_release() -> dict:
    """The last TensorFlow with TF-TRT: the newest kb/tensorflow.yaml row whose pip build links a TensorRT."""
    rows = [r for r in load("tensorflow")["releases"] if r.get("trt")]
    return max(rows, key=lambda r: major_minor(r["series"]))


def trt_pip_names(version: str, cuda: str | None, kind: str = "full") -> list[str]:
    """The pip distributions of one TensorRT release, front first: the release row's ``pip_front``
    (8.x: unsuffixed names) or the runtime's ``install`` template with the CUDA major."""
    row = trt_release(version) or {}
    tmpl = next(r["install"] for r in load("tensorrt")["runtimes"] if r["kind"] == kind)
    front = row.get("pip_front") or tmpl.format(cuda=cuda)
    return [front, f"{front}-bindings", f"{front}-libs"]


def pip_installs(cuda_max: int | None = None, trt_major: int | None = None, cc: tuple[int, int] | None = None, python: str | None = None) -> list[dict]:
    """kb pip_installs rows that fit, in the kb's order of preference: built for a CUDA major
    <= ``cuda_max`` (newest major first), of TensorRT ``trt_major``, for a GPU of compute
    capability ``cc`` (its release's min_cc) and with wheels for ``python``."""
    out = []
    for row in load("tensorrt")["pip_installs"]:
        rel = trt_variant(row["tensorrt"], row["cuda"]) or trt_release(row["tensorrt"]) or {}
        if cuda_max is not None and int(row["cuda"]) > cuda_max:
            continue
        if trt_major is not None and major_minor(row["tensorrt"])[0] != trt_major:
            continue
        if cc and rel.get("min_cc") and major_minor(rel["min_cc"]) > cc:
            continue
        if python and not (major_minor(row["python"][0]) <= major_minor(python) <= major_minor(row["python"][1])):
            continue
        out.append(row)
    return sorted(out, key=lambda r: -int(r["cuda"]))


def newest_python(*ranges: list[str]) -> str:
    """The newest Python every [low, high] range allows (the recipes' default)."""
    return min((hi for _lo, hi in ranges), key=major_minor)
