"""Rules on TensorRT, TF-TRT, pycuda, onnxruntime and per-GPU precision."""

from __future__ import annotations

import re

from .. import knowledge
from ..findings import Finding, Fix
from ..fix import recipes
from ..probes.libraries import part_kind, role_of, runtime_by_package, soname_parts, trt_runtimes
from ..shell import quote
from . import GPU_CAUSES, Check, rule
from .installs import system_bindings, system_installs

TRT_PIP_DOCS = "https://docs.nvidia.com/deeplearning/tensorrt/latest/installing-tensorrt/installing.html"


def _trt_version(parts: dict) -> str | None:
    for n in ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-bindings", "tensorrt-cu12-bindings", "tensorrt-bindings"):
        if n in parts:
            return parts[n]
    # lean, dispatch: their bindings, else their front end (tensorrt-lean-cu13)
    return next((v for n, v in sorted(parts.items(), key=lambda nv: not nv[0].endswith("-bindings")) if not n.endswith("-libs") and n not in _placeholders(parts)), None)


def _placeholders(parts: dict) -> dict[str, dict]:
    """Installed packages that hold no TensorRT of their own (kb placeholders), by name."""
    rows = {r["package"]: r for r in knowledge.load("tensorrt")["placeholders"]}
    return {n: rows[n] for n, v in parts.items() if n in rows and v == rows[n]["version"]}


def _cuda_of(parts: dict) -> str | None:
    for n in parts:
        m = re.search(r"^tensorrt(-lean|-dispatch)?-cu(\d+)(-|$)", n)
        if m:
            return m.group(2)
    return None


def _pip_command(cuda: str | None, version: str | None, kind: str = "full") -> str:
    """Pins for an installed release (8.x wheels carry no CUDA major), else the kb's install for ``cuda``."""
    rel = knowledge.trt_release(version)
    if version and (cuda or (rel or {}).get("pip_front")):
        return recipes.pip_install_command(version, cuda, kind)
    return recipes.default_install(cuda)


def _gpus(snap: dict) -> list[dict]:
    return (snap.get("gpus") or {}).get("devices") or []


@rule(
    reads=("tensorrt",),
    uses=("libraries", "gpus", "driver", "trt_system", "os"),
    emits=[
        Check("tensorrt.placeholder", "error", "A placeholder package (kb placeholders) without the TensorRT it pulls"),
        Check("tensorrt.parts-mismatch", "error", "TensorRT parts disagree in version"),
        Check("tensorrt.bindings-without-libs", "error", "TensorRT Python bindings are installed without the TensorRT libraries"),
        Check("tensorrt.libs-stub", "error", "A TensorRT -libs package holds no libnvinfer"),
        Check("tensorrt.python-unsupported", "error|warning", "TensorRT has no wheels for this Python"),
        Check("tensorrt.bindings-libs-mismatch", "error", "TensorRT bindings would load libnvinfer of another release"),
        Check("tensorrt.cuda-mismatch", "error", "TensorRT is built for another CUDA major than the runtime here"),
        Check("tensorrt.driver-too-old", "error", "TensorRT's CUDA major needs a newer driver"),
        Check("tensorrt.gpu-unsupported", "error|warning", "TensorRT does not support this GPU's compute capability"),
        Check("tensorrt.glibc-too-old", "error|warning", "The installed TensorRT build needs a newer glibc than the system has", follows=("libraries.glibc-too-old",)),
        Check("tensorrt.builder-failed", "error", "TensorRT imports but cannot create a Builder (lean, dispatch: a Runtime)", follows=GPU_CAUSES),
        Check("tensorrt.runtime-only", "info", "Only a lean or dispatch TensorRT runtime is installed: it runs engines but cannot build them"),
        Check(
            "tensorrt.import-failed",
            "error",
            "import tensorrt fails",
            follows=("tensorrt.bindings-without-libs", "tensorrt.libs-stub", "tensorrt.placeholder", "tensorrt.python-unsupported", "tensorrt.bindings-libs-mismatch"),
        ),
    ],
)
def trt_install(snap: dict) -> list[Finding]:
    out = []
    for inst in (snap.get("tensorrt") or {}).get("installs", []):
        if _system_owned(snap, inst):
            continue
        start = len(out)
        kinds = [k for k in ("full", "lean", "dispatch") if any(part_kind(n) == k for n in inst["parts"])]
        for kind in kinds:
            out += _trt_runtime(snap, inst, kind)
        if kinds and "full" not in kinds:
            out += _runtime_only(inst, kinds)
        if kinds and not any(f.id == "tensorrt.placeholder" for f in out[start:]):
            parts = {n: v for n, v in inst["parts"].items() if part_kind(n) == kinds[0]}
            ver, cuda = _trt_version(parts), _cuda_of(parts)
            out += _trt_python(inst, ver, cuda)
            out += _trt_cuda(snap, inst, ver, cuda)
            out += _trt_gpus(snap, ver, "TensorRT", cuda)
            out += _trt_glibc(snap, ver, cuda)
            out += _trt_live(inst)
        for f in out[start:]:
            f.subject = inst["site_packages"]
    return out


def _runtime_only(inst: dict, kinds: list[str]) -> list[Finding]:
    """Lean or dispatch alone: engines deserialize and run, nothing builds them (no Builder)."""
    rows = [r for r in inst.get("runtimes") or [] if r["kind"] in kinds]
    parts = {n: v for n, v in inst["parts"].items() if part_kind(n) in kinds}
    ver, cuda = _trt_version(parts), _cuda_of(parts)
    names = " and ".join(next(r["module"] for r in trt_runtimes() if r["kind"] == k) for k in kinds)
    return [
        Finding(
            "tensorrt.runtime-only",
            "info",
            "tensorrt",
            f"Only the {' and '.join(kinds)} TensorRT runtime is installed: it runs engines but cannot build them",
            f"{names} can deserialize and run engines (lean: built version-compatible; dispatch: built with the full TensorRT), but has no Builder or ONNX parser. "
            "`trtdoctor smoke` builds an engine, so it needs the full package.",
            [f"{inst['site_packages']}: {', '.join(f'{n} {v}' for n, v in sorted(parts.items()))}"] + [f"{r['kind']}: can build: {'yes' if r['can_build'] else 'no'}" for r in rows],
            Fix("To build engines here (and run `trtdoctor smoke`), install the full TensorRT of the same release.", [_pip_command(cuda, ver if cuda else None)], links=[TRT_PIP_DOCS]),
        )
    ]


def _trt_row(ver: str | None, cuda: str | None) -> dict | None:
    """The installed build (its CUDA major is in the pip name), else the series (8.x wheels
    carry no CUDA major)."""
    return knowledge.trt_variant(ver, cuda) or knowledge.trt_release(ver)


def _build_name(row: dict) -> str:
    return f"TensorRT {row['series']}" + (f" ({row['build']} build)" if row.get("build") else "")


def _trt_python(inst: dict, ver: str | None, cuda: str | None) -> list[Finding]:
    row = _trt_row(ver, cuda)
    py = inst.get("python_version")
    if row and py and row.get("python"):
        lo, hi = row["python"]
        if not (knowledge.major_minor(lo) <= knowledge.major_minor(py) <= knowledge.major_minor(hi)):
            return [
                Finding(
                    "tensorrt.python-unsupported",
                    knowledge.fact_severity(row, fields=("python",)),
                    "tensorrt",
                    f"TensorRT {ver} has no wheels for Python {py} (supports {lo}–{hi})",
                    "",
                    [f"{inst['site_packages']}: Python {py}", f"{_build_name(row)}: Python {lo}–{hi} ({knowledge.cite(row)})"],
                    Fix(f"Use Python {lo}–{hi} for TensorRT {row['series']}."),
                )
            ]
    return []


def _trt_runtime(snap: dict, inst: dict, kind: str) -> list[Finding]:
    """One runtime (full, lean or dispatch) of an install: its parts, bindings and libraries."""
    out = []
    row = next(r for r in trt_runtimes() if r["kind"] == kind)
    parts = {n: v for n, v in inst["parts"].items() if part_kind(n) == kind}
    site = inst["site_packages"]
    cuda = _cuda_of(parts)
    held = _placeholders(parts)
    parts = {n: v for n, v in parts.items() if n not in held}
    if held and not parts:
        name, ph = next(iter(held.items()))
        out.append(
            Finding(
                "tensorrt.placeholder",
                "error",
                "tensorrt",
                f"{name} {ph['version']} holds no TensorRT, and the {ph['pulls']} it pulls is not installed",
                f"{ph['why']}.",
                [f"{site}: {name} {ph['version']}", knowledge.cite(ph)],
                Fix(f"Remove it and install a real TensorRT ({ph['pulls']} was left out, e.g. by --no-deps).", [f"pip uninstall -y {name}", _pip_command(cuda, None)]),
                subject=site,
            )
        )
        return out
    ver = _trt_version(parts)
    versions = sorted(set(parts.values()))
    if len(versions) > 1:
        out.append(
            Finding(
                "tensorrt.parts-mismatch",
                "error",
                "tensorrt",
                f"TensorRT parts disagree in version: {', '.join(versions)}",
                "All parts of one install (tensorrt, tensorrt-cuXX, -bindings, -libs) must carry the same version (NVIDIA/TensorRT#3838).",
                [f"{n} {v}" for n, v in sorted(parts.items())],
                Fix("Reinstall all parts at one version.", [_pip_command(cuda, max(versions, key=lambda v: knowledge.parse_version(v) or knowledge.parse_version("0")))]),
            )
        )
    has_bindings = any(n.endswith("-bindings") or n == "tensorrt" for n in parts) or inst["modules"].get(row["bindings"])
    libs_pkg = [n for n in parts if n.endswith("-libs")]
    rt = next((r for r in inst.get("runtimes") or [] if r["kind"] == kind), None)
    nvinfer = [f for f in (rt["libs_files"] if rt else inst.get("libs_files", [])) if f.startswith(row["library"] + ".so")]
    if has_bindings and not libs_pkg and not _libs_resolve(snap, inst, row):
        out.append(
            Finding(
                "tensorrt.bindings-without-libs",
                "error",
                "tensorrt",
                "TensorRT Python bindings are installed without the TensorRT libraries",
                "The bindings need libnvinfer, libnvinfer_plugin and libnvonnxparser; "
                "`import tensorrt` fails with 'ModuleNotFoundError' or 'libnvonnxparser.so.N: cannot open shared object file'. PyPI's -libs packages are stubs that fetch the real wheel from NVIDIA's index.",
                [f"{site}: {', '.join(f'{n} {v}' for n, v in sorted(parts.items()))}"] + [f"bindings need: {', '.join(b.get('needs', []))}" for b in inst.get("bindings_so", [])],
                Fix("Install the full package from NVIDIA's index, all parts pinned to one version.", [_pip_command(cuda, ver, kind)]),
            )
        )
    elif libs_pkg and not nvinfer:
        out.append(
            Finding(
                "tensorrt.libs-stub",
                "error",
                "tensorrt",
                f"{libs_pkg[0]} is installed but holds no {row['library']}",
                "The -libs package on PyPI is a stub; without NVIDIA's index its real wheel was never downloaded.",
                [f"{site}/{row['libs']}: {', '.join(rt['libs_files'] if rt else inst.get('libs_files') or []) or 'empty or absent'}"],
                Fix("Reinstall with NVIDIA's index.", [f"pip uninstall -y {quote(libs_pkg[0])}", _pip_command(cuda, ver, kind)]),
            )
        )
    out += _bindings_vs_libs(snap, inst, ver, row)
    return out


@rule(reads=("tensorrt", "python"), uses=("driver", "gpus", "trt_system"), emits=[Check("tensorrt.not-installed", "warning", "TensorRT is not installed", follows=("os.no-os",))])
def trt_missing(snap: dict) -> list[Finding]:
    """No TensorRT anywhere: say so with the exact install for this driver, GPU and Python."""
    area = snap.get("tensorrt") or {}
    if area.get("installs") or area.get("headers") or system_installs(snap):
        return []
    pythons = sorted({e["python_version"] for e in (snap.get("python") or {}).get("environments", []) if e.get("python_version")})
    try:
        choice = recipes.choose(snap, "tensorrt", None, pythons[-1] if pythons else None)
    except recipes.RecipeError as exc:
        return [Finding("tensorrt.not-installed", "warning", "tensorrt", "TensorRT is not installed", str(exc), [])]
    return [
        Finding(
            "tensorrt.not-installed",
            "warning",
            "tensorrt",
            "TensorRT is not installed in any Python environment found",
            "No tensorrt package and no TensorRT headers were found. The install below fits this machine: " + "; ".join(choice["why"]) + ".",
            [f"Python environments looked at: {len(pythons) and ', '.join(pythons) or 'none'}"],
            Fix(
                f"Install TensorRT {choice['tensorrt']} for CUDA {choice['cuda_major']} (all parts pinned to one version, from NVIDIA's index).",
                [recipes.pip_install_command(choice["tensorrt"], choice["cuda_major"])],
                links=[TRT_PIP_DOCS],
            ),
        )
    ]


def _system_owned(snap: dict, inst: dict) -> bool:
    """Bindings of a deb/RPM/conda/NGC install (a dist-info beside them makes them look like pip):
    rules/installs.py judges them, against the libraries of their own install."""
    owned = system_bindings(snap)
    return bool(owned) and any(b["path"] in owned for b in inst.get("bindings_so", []))


def _runtime_of(path: str | None) -> dict | None:
    """The runtime a bindings extension belongs to, by its package folder (``tensorrt_lean_bindings``)."""
    return runtime_by_package(path.rsplit("/", 2)[-2]) if path and path.count("/") >= 1 else None


def _bindings_consumers(snap: dict, inst: dict, row: dict) -> list[dict]:
    cons = (snap.get("libraries") or {}).get("consumers", [])
    return [c for c in cons if role_of(c) == "tensorrt-bindings" and c["site_packages"] == inst["site_packages"] and (_runtime_of(c.get("requester")) or {"kind": "full"})["kind"] == row["kind"]]


def _libs_resolve(snap: dict, inst: dict, row: dict) -> bool:
    for c in _bindings_consumers(snap, inst, row):
        return bool(c["needs"]) and all(r.get("resolved") for r in c["resolutions"].values())
    return False


def _bindings_vs_libs(snap: dict, inst: dict, ver: str | None, row: dict) -> list[Finding]:
    """The libnvinfer each bindings extension gets: as that extension resolves it (preloaded by
    its -libs package, its RPATH), else as a plain dlopen does."""
    out = []
    libs = (snap.get("libraries") or {}).get("libraries") or {}
    mine = {c.get("requester"): c for c in _bindings_consumers(snap, inst, row)}
    for b in inst.get("bindings_so", []):
        if (_runtime_of(b["path"]) or {"kind": "full"})["kind"] != row["kind"]:
            continue
        for soname in b.get("needs", []):
            lib = (mine.get(b["path"]) or {}).get("resolutions", {}).get(soname)
            if not (lib and lib.get("version")):
                lib = libs.get(soname) or {}
            got = lib.get("version")
            if got and ver and knowledge.major_minor(got) != knowledge.major_minor(ver):
                out.append(
                    Finding(
                        "tensorrt.bindings-libs-mismatch",
                        "error",
                        "tensorrt",
                        f"TensorRT bindings {ver} would load {soname} {got}",
                        "Bindings and libnvinfer must be the same TensorRT release.",
                        [f"{b['path']} needs {soname}", f"{soname} → {lib.get('resolved')} ({got}) via {lib.get('via')}"],
                        Fix("Install matching versions.", [_pip_command(_cuda_of(inst["parts"]), ver, row["kind"])]),
                    )
                )
    return out


def _trt_cuda(snap: dict, inst: dict, ver: str | None, cuda: str | None) -> list[Finding]:
    if not cuda:
        return []
    libs = (snap.get("libraries") or {}).get("libraries") or {}
    # a plain dlopen's cudart, and the one pip installed beside this TensorRT (its -libs wheel requires nvidia-cuda-runtime-cuXX)
    site = inst["site_packages"].rstrip("/") + "/"
    majors = sorted({(soname_parts(s) or ("", "0"))[1].split(".")[0] for s, v in libs.items() if v.get("key") == "cudart" and (v.get("resolved") or any(c["path"].startswith(site) for c in v.get("copies", [])))})
    drv_cuda = (snap.get("driver") or {}).get("cuda_driver_version")
    out = []
    if majors and cuda not in majors:
        out.append(
            Finding(
                "tensorrt.cuda-mismatch",
                "error",
                "tensorrt",
                f"TensorRT {ver} is built for CUDA {cuda}, but the CUDA runtime here is {', '.join(majors)}",
                "TensorRT needs the CUDA runtime of its own major.",
                [f"{inst['site_packages']}: {', '.join(n for n in inst['parts'])}", f"libcudart majors that resolve: {', '.join(majors)}"] + _builds_line(ver),
                _rebuild_fix(ver, majors[-1]),
            )
        )
    if drv_cuda and knowledge.major_minor(drv_cuda)[0] < int(cuda):
        out.append(
            Finding(
                "tensorrt.driver-too-old",
                "error",
                "tensorrt",
                f"TensorRT for CUDA {cuda} on a driver that supports CUDA ≤ {drv_cuda}",
                "",
                [f"driver supports CUDA {drv_cuda}"],
                Fix(f"Upgrade the driver, or install the TensorRT build for CUDA {knowledge.major_minor(drv_cuda)[0]}.", [_pip_command(str(knowledge.major_minor(drv_cuda)[0]), None)]),
            )
        )
    return out


def _build_desc(v: dict) -> str:
    """One build as evidence: its CUDA range, what it needs of cuDNN and where it ships."""
    dep = v.get("cudnn")
    cudnn = "no cuDNN" if dep is None else f"cuDNN {dep['version']} {'optional' if dep['optional'] else 'required'}"
    return f"{v['build']}: CUDA {v['cuda'][0]}–{v['cuda'][1]}, {cudnn}, {'/'.join(v['platform'])}"


def _builds_line(ver: str | None) -> list[str]:
    builds = knowledge.trt_builds(ver)
    return [f"TensorRT {ver} builds: " + "; ".join(_build_desc(v) for v in builds)] if builds else []


def _rebuild_fix(ver: str | None, major: str) -> Fix:
    """The same release built for the runtime's CUDA major when it exists, else the kb's install for that major."""
    if knowledge.trt_variant(ver, major):
        return Fix(f"Install the CUDA {major} build of TensorRT {ver}.", [_pip_command(major, ver)])
    return Fix(f"TensorRT {ver} has no CUDA {major} build: install a TensorRT built for CUDA {major}.", [_pip_command(major, None)])


def _trt_gpus(snap: dict, ver: str | None, product: str, cuda: str | None = None) -> list[Finding]:
    row = _trt_row(ver, cuda)
    if not row:
        return []
    out = []
    for g in _gpus(snap):
        cc = knowledge.cc_tuple(g.get("compute_capability"))
        if cc and cc < knowledge.cc_tuple(row["min_cc"]):
            out.append(
                Finding(
                    "tensorrt.gpu-unsupported",
                    knowledge.fact_severity(row, g, fields=("min_cc",)),
                    "tensorrt",
                    f"{product} {ver} does not support {g.get('name')} (compute capability {g['compute_capability']}; needs ≥ {row['min_cc']})",
                    f"{_build_name(row)} is built for compute capability {row['min_cc']} and newer.",
                    [f"GPU {g.get('index')}: {g.get('name')} sm_{cc[0]}{cc[1]}", f"{_build_name(row)}: min compute capability {row['min_cc']} ({knowledge.cite(row)})"] + knowledge.cc_note(g),
                    _older_trt_fix(cc),
                )
            )
        elif cc and row.get("max_cc") and cc > knowledge.cc_tuple(row["max_cc"]):
            out.append(_newer_gpu(g, cc, row, product, ver))
    return out


def _newer_gpu(g: dict, cc: tuple[int, int], row: dict, product: str, ver: str | None) -> Finding:
    """A GPU newer than any the build knows: only a warning, since a support matrix lists the
    GPUs of its day and the build may still carry code for this one."""
    return Finding(
        "tensorrt.gpu-unsupported",
        "warning",
        "tensorrt",
        f"{product} {ver} predates {g.get('name')} (compute capability {g['compute_capability']}; the {row['build']} build supports ≤ {row['max_cc']})",
        "Engines may fail to build with an unsupported-SM error; a newer TensorRT knows this GPU.",
        [f"GPU {g.get('index')}: {g.get('name')} sm_{cc[0]}{cc[1]}", f"{_build_name(row)}: max compute capability {row['max_cc']} ({knowledge.cite(row)})"] + knowledge.cc_note(g),
        Fix("Install a newer TensorRT for this GPU.", [recipes.default_install(row["build"].removeprefix("cu"))]),
    )


def _trt_glibc(snap: dict, ver: str | None, cuda: str | None) -> list[Finding]:
    """The build's glibc floor (its wheels' manylinux tag) against the system's glibc."""
    row = knowledge.trt_variant(ver, cuda)
    sysg = (snap.get("os") or {}).get("glibc")
    if not (row and row.get("glibc") and sysg and knowledge.parse_version(sysg)):
        return []
    if knowledge.parse_version(sysg) >= knowledge.parse_version(row["glibc"]):
        return []
    return [
        Finding(
            "tensorrt.glibc-too-old",
            knowledge.fact_severity(row, fields=("glibc",)),
            "tensorrt",
            f"TensorRT {ver} ({row['build']}) needs glibc ≥ {row['glibc']}; the system has {sysg}",
            "Its libraries need symbols this C library lacks: the import fails with 'GLIBC_… not found'.",
            [f"system glibc: {sysg}", f"{_build_name(row)}: glibc ≥ {row['glibc']} ({knowledge.cite(row)})"],
            Fix("Use a newer OS release or container base, or a TensorRT whose build supports this glibc."),
        )
    ]


def _older_trt_fix(cc: tuple[int, int]) -> Fix:
    """The kb's newest pinned TensorRT whose release still runs on this compute capability."""
    fit = knowledge.pip_installs(cc=cc)
    if not fit:
        return Fix(f"No TensorRT in the knowledge base runs on sm_{cc[0]}{cc[1]}.")
    row = fit[0]
    return Fix(f"Use TensorRT {row['tensorrt']} on this GPU ({row['why']}).", [recipes.pip_install_command(row["tensorrt"], row["cuda"])])


def _trt_live(inst: dict) -> list[Finding]:
    out = []
    failed = []
    for mod, data in (inst.get("live") or {}).items():
        if data.get("module"):
            if data.get("builder_error") or data.get("runtime_error"):
                what = "a Builder" if data.get("builder_error") else "a Runtime"
                out.append(
                    Finding(
                        "tensorrt.builder-failed",
                        "error",
                        "tensorrt",
                        f"{mod} imports but cannot create {what}: {data.get('builder_error') or data['runtime_error']}",
                        "",
                        [f"{inst['site_packages']}: {mod} {data.get('version')}"],
                        Fix("See the GPU and driver findings."),
                    )
                )
            continue
        failed.append((mod, data.get("import_errors") or {"": data.get("error", "?")}))
    return out + _import_failed(inst, failed)


def _import_failed(inst: dict, failed: list[tuple[str, dict]]) -> list[Finding]:
    """One finding for an install whose modules do not import, titled by the most telling
    error: a bindings-only install fails `import tensorrt` (no front end: "No module named")
    and `import tensorrt_bindings` (the missing library), one cause."""
    if not failed:
        return []
    first = lambda errs: str(next(iter(errs.values())))  # noqa: E731
    mod, errs = next(((m, e) for m, e in failed if not first(e).startswith("ModuleNotFoundError")), failed[0])
    evidence = [f"{inst['site_packages']}: {sub or m}: {e}" for m, es in failed for sub, e in es.items()]
    return [Finding("tensorrt.import-failed", "error", "tensorrt", f"import {mod} fails: {first(errs)}", "", evidence, Fix("See the TensorRT install findings."))]


@rule(reads=("tensorrt", "gpus"), emits=[Check("tensorrt.rtx-unsupported-gpu", "error|warning", "TensorRT-RTX cannot run engines on this GPU")])
def rtx(snap: dict) -> list[Finding]:
    kb = knowledge.load("tensorrt")["rtx"]
    ok = {knowledge.cc_tuple(c) for c in kb["supported_cc"]}
    floor = knowledge.cc_tuple(kb["supported_from_cc"])
    out = []
    for inst in (snap.get("tensorrt") or {}).get("installs", []):
        rparts = {n: v for n, v in inst["parts"].items() if "rtx" in n}
        if not rparts:
            continue
        for g in _gpus(snap):
            cc = knowledge.cc_tuple(g.get("compute_capability"))
            if cc and cc not in ok and cc < floor:
                out.append(
                    Finding(
                        "tensorrt.rtx-unsupported-gpu",
                        knowledge.fact_severity(kb, g),
                        "tensorrt",
                        f"TensorRT-RTX cannot run engines on {g.get('name')} (compute capability {g['compute_capability']})",
                        f"TensorRT-RTX builds plans anywhere but runs them only on compute capability {', '.join(kb['supported_cc'])} and ≥ {kb['supported_from_cc']}; deserialization refuses other GPUs.",
                        [f"{n} {v}" for n, v in rparts.items()] + [f"GPU {g.get('index')}: sm_{cc[0]}{cc[1]}", knowledge.cite(kb)] + knowledge.cc_note(g),
                        Fix("Use the full TensorRT on this GPU.", [_pip_command(_cuda_of(inst["parts"]), None)]),
                    )
                )
    return out


@rule(
    reads=("tensorflow",),
    uses=("libraries", "gpus", "nvml", "env", "driver"),
    emits=[
        Check("tensorflow.no-tftrt", "warning", "TensorFlow newer than the last TF-TRT release has no TF-TRT"),
        Check("tensorflow.python-unsupported", "error", "TensorFlow does not support this Python"),
        Check(
            "tensorflow.tensorrt-not-loadable",
            "error",
            "TensorFlow's TensorRT library does not resolve",
            follows=("libraries.missing", "libraries.wrong-major", "libraries.not-on-loader-path", "libraries.soname-alias-missing"),
        ),
        Check("tensorflow.linked-vs-loaded", "warning", "TF-TRT loaded another TensorRT than it was linked with"),
        Check("tensorflow.no-gpu", "error|warning", "A CUDA build of TensorFlow sees no GPU", follows=GPU_CAUSES + ("libraries.missing", "libraries.wrong-major", "libraries.not-on-loader-path")),
        Check("tensorflow.import-failed", "error", "import tensorflow fails", follows=("libraries.missing", "libraries.wrong-major", "libraries.not-on-loader-path", "libraries.libstdcxx-shadowed")),
    ],
)
def tf_trt(snap: dict) -> list[Finding]:
    out = []
    last = knowledge.tftrt_release()
    consumers = (snap.get("libraries") or {}).get("consumers", [])
    for inst in (snap.get("tensorflow") or {}).get("installs", []):
        v, site, start = inst["version"], inst["site_packages"], len(out)
        row = knowledge.tf_release(v) or {}
        live = inst.get("live") or {}
        mm = knowledge.major_minor(v)
        if mm and mm > knowledge.major_minor(last["series"]):
            out.append(
                Finding(
                    "tensorflow.no-tftrt",
                    "warning",
                    "tensorflow",
                    f"TensorFlow {v} has no TF-TRT",
                    f"TensorRT support is disabled in TF pip builds after {last['series']}: TrtGraphConverterV2 cannot work.",
                    [f"{site}: tensorflow {v}", f"TensorFlow {last['series']} is the last with TF-TRT ({knowledge.cite(last)})"],
                    Fix(f"For TF-TRT use TF ≤ {last['series']} with TensorRT {last['trt']}, or convert with native TensorRT (ONNX → TensorRT).", [recipes.tftrt_install(), "trtdoctor smoke --backend tensorrt"]),
                )
            )
        py = inst.get("python_version")
        if row.get("python") and py:
            lo, hi = row["python"]
            if not (knowledge.major_minor(lo) <= knowledge.major_minor(py) <= knowledge.major_minor(hi)):
                out.append(Finding("tensorflow.python-unsupported", "error", "tensorflow", f"TensorFlow {v} supports Python {lo}–{hi}, not {py}", "", [f"{site}"], Fix(f"Use Python {lo}–{hi}.")))
        c = next((c for c in consumers if c["site_packages"] == site and role_of(c) == "tensorflow"), None)
        linked = live.get("linked_tensorrt") or row.get("trt")
        if c and linked:
            missing = [s for s, r in c["resolutions"].items() if s.startswith("libnvinfer") and not r.get("resolved")]
            if missing:
                out.append(
                    Finding(
                        "tensorflow.tensorrt-not-loadable",
                        "error",
                        "tensorflow",
                        f"TensorFlow {v} was built against TensorRT {linked}, but {missing[0]} does not resolve",
                        "TF-TRT logs 'Could not find TensorRT' / 'Cannot dlopen some TensorRT libraries' and conversion fails; calling get_loaded_tensorrt_version() aborts the interpreter.",
                        [f"{s}: {c['resolutions'][s].get('error')}" for s in missing] + live.get("log", [])[:3],
                        Fix(f"Install TensorRT {linked} (which provides {', '.join(missing)}) and put its directory on the loader path.", [_tf_trt_install(linked), "trtdoctor fix --write-env"]),
                    )
                )
        if (
            live.get("linked_tensorrt")
            and live.get("loaded_tensorrt")
            and not str(live["loaded_tensorrt"]).startswith("could not")
            and live["linked_tensorrt"].split(".")[:2] != str(live["loaded_tensorrt"]).split(".")[:2]
        ):
            out.append(
                Finding(
                    "tensorflow.linked-vs-loaded",
                    "warning",
                    "tensorflow",
                    f"TF-TRT linked TensorRT {live['linked_tensorrt']} but loaded {live['loaded_tensorrt']}",
                    "",
                    [],
                    Fix(f"Install TensorRT {live['linked_tensorrt']}.", [_tf_trt_install(live["linked_tensorrt"])]),
                )
            )
        bi = live.get("build_info") or inst.get("build_info") or {}
        if live and bi.get("is_cuda_build") and live.get("gpus") == []:
            causes = []
            nv = snap.get("nvml") or {}
            env = (snap.get("env") or {}).get("vars") or {}
            if "CUDA_VISIBLE_DEVICES" in env and env["CUDA_VISIBLE_DEVICES"].strip() in ("", "-1"):
                causes.append(f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r} hides every GPU")
            if not (snap.get("driver") or {}).get("version"):
                causes.append("no NVIDIA driver is loaded")
            if nv.get("libcuda_error"):
                causes.append(f"libcuda.so.1 does not load: {nv['libcuda_error']}")
            if c:
                causes += [f"{s} does not resolve" for s, r in c["resolutions"].items() if not r.get("resolved") and not s.startswith("libnvinfer")]
            out.append(
                Finding(
                    "tensorflow.no-gpu",
                    "error" if _gpus(snap) else "warning",
                    "tensorflow",
                    f"TensorFlow {v} (a CUDA build) sees no GPU",
                    "tf.config.list_physical_devices('GPU') is empty, so TF and TF-TRT run on the CPU or fail.",
                    (causes or ["cause unknown: see the log lines"]) + live.get("log", [])[:4],
                    Fix("Fix the causes listed; for pip TF also `pip install tensorflow[and-cuda]==" + v + "`."),
                )
            )
        if live.get("error"):
            out.append(Finding("tensorflow.import-failed", "error", "tensorflow", f"import tensorflow fails: {live['error']}", "", live.get("log", [])[:4], Fix("See the library findings above.")))
        for f in out[start:]:
            f.subject = site
    return out


def _tf_trt_install(linked: str) -> str:
    major = knowledge.major_minor(str(linked))
    if major and knowledge.pip_installs(trt_major=major[0]):
        return recipes.default_install(trt_major=major[0])
    return f"install TensorRT {quote(str(linked))}  # TF-TRT needs that exact major"


@rule(
    reads=("pycuda",),
    uses=("driver",),
    emits=[
        Check("pycuda.import-failed", "error", "pycuda fails to import or initialise", follows=GPU_CAUSES),
        Check("pycuda.built-for-newer-cuda", "error", "pycuda was built for a newer CUDA than the driver supports"),
    ],
)
def pycuda(snap: dict) -> list[Finding]:
    out = []
    drv = (snap.get("driver") or {}).get("cuda_driver_version")
    for inst in (snap.get("pycuda") or {}).get("installs", []):
        live = inst.get("live") or {}
        built = live.get("built_cuda")
        if live.get("error"):
            out.append(
                Finding(
                    "pycuda.import-failed",
                    "error",
                    "pycuda",
                    f"pycuda {inst['version']} fails: {live['error']}",
                    "",
                    [inst["site_packages"]],
                    Fix("Rebuild pycuda against the installed CUDA.", ["pip install --no-binary :all: --force-reinstall pycuda"]),
                )
            )
        if built and drv and knowledge.major_minor(built) > knowledge.major_minor(drv):
            out.append(
                Finding(
                    "pycuda.built-for-newer-cuda",
                    "error",
                    "pycuda",
                    f"pycuda was built for CUDA {built}; the driver supports {drv}",
                    "",
                    [f"pycuda built against CUDA {built}", f"driver CUDA {drv}"],
                    Fix("Rebuild pycuda with the CUDA the driver supports, or upgrade the driver."),
                )
            )
    return out


def _trt_hint(soname: str) -> str:
    """The kb's pinned install of the TensorRT major a soname names (libnvinfer.so.10)."""
    major = (soname_parts(soname) or ("", ""))[1].split(".")[0]
    return recipes.default_install(trt_major=int(major)) if major.isdigit() else recipes.default_install()


ORT_PROVIDERS = {  # role -> (finding id, provider, what fixes it)
    "onnxruntime-tensorrt-ep": ("onnxruntime.tensorrt-ep-unloadable", "TensorRT", "Install the TensorRT major it links against."),
    "onnxruntime-cuda-ep": ("onnxruntime.cuda-ep-unloadable", "CUDA", "Install the CUDA and cuDNN majors it links against (onnxruntime-gpu's own requirements)."),
}


@rule(
    reads=("libraries",),
    uses=("onnxruntime",),
    emits=[
        Check("onnxruntime.tensorrt-ep-unloadable", "warning", "onnxruntime's TensorRT provider cannot load its libraries"),
        Check("onnxruntime.cuda-ep-unloadable", "warning", "onnxruntime's CUDA provider cannot load its libraries"),
    ],
)
def ort(snap: dict) -> list[Finding]:
    """onnxruntime's providers are optional: one that cannot load makes it fall back, silently."""
    out = []
    for c in (snap.get("libraries") or {}).get("consumers", []):
        if role_of(c) not in ORT_PROVIDERS:
            continue
        fid, provider, how = ORT_PROVIDERS[role_of(c)]
        miss = [s for s, r in c["resolutions"].items() if not r.get("resolved")]
        if miss:
            cmds = sorted({_trt_hint(s) for s in miss if s.startswith("libnvinfer")}) if provider == "TensorRT" else ["pip install 'onnxruntime-gpu[cuda,cudnn]'"]
            out.append(
                Finding(
                    fid,
                    "warning",
                    "onnxruntime",
                    f"onnxruntime's {provider} provider cannot load: {', '.join(miss)} missing",
                    "onnxruntime silently falls back to the next provider (CUDA, then CPU): sessions that ask for it run elsewhere.",
                    [f"{c['requester']} needs {s}" for s in miss],
                    Fix(how, cmds),
                    subject=c.get("site_packages"),
                )
            )
    return out


@rule(
    reads=("precision",),
    emits=[
        Check("precision.fp16-slow", "warning", "FP16 is slow on this GPU"),
        Check("precision.no-int8", "info", "INT8 is not supported on this GPU"),
    ],
)
def precision(snap: dict) -> list[Finding]:
    out = []
    for g in (snap.get("precision") or {}).get("gpus", []):
        sup = g.get("support") or {}
        name = f"{g.get('name')} (sm_{(g.get('compute_capability') or '?').replace('.', '')})"
        if sup.get("fp16") == "slow":
            out.append(
                Finding(
                    "precision.fp16-slow",
                    "warning",
                    "precision",
                    f"FP16 is slow on {name}",
                    g.get("note") or "FP16 runs far slower than FP32 on this GPU: an FP16 engine builds but runs slower.",
                    [f"GPU {g.get('index')}: fp16 = slow"],
                    Fix("Use --precision fp32 or int8 on this GPU.", ["trtdoctor smoke --precision int8"]),
                )
            )
        if sup.get("int8") is False and sup:
            out.append(Finding("precision.no-int8", "info", "precision", f"INT8 is not supported on {name}", "", [f"GPU {g.get('index')}: int8 = no"]))
    return out
