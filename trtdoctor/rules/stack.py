"""Rules on the GPU against the stack built for it: a CUDA runtime that has no code for the
GPU's architecture (dropped, or newer than the release), and a TensorFlow wheel compiled for
other compute capabilities."""

from __future__ import annotations

from .. import knowledge
from ..findings import Finding, Fix
from ..probes.libraries import soname_parts
from . import Check, rule

NO_KERNEL = "'no kernel image is available for execution on the device'"


def _gpus(snap: dict) -> list[dict]:
    return [g for g in (snap.get("gpus") or {}).get("devices") or [] if g.get("compute_capability")]


def _runtimes(snap: dict) -> list[tuple[str, dict]]:
    """(version, library) for each CUDA runtime (libcudart) that resolves."""
    libs = (snap.get("libraries") or {}).get("libraries") or {}
    return [(lib["version"], lib) for soname, lib in sorted(libs.items()) if lib.get("key") == "cudart" and lib.get("resolved") and lib.get("version") and soname_parts(soname)]


def _sm(cc: str) -> str:
    return "sm_" + cc.replace(".", "")


@rule(
    reads=("gpus", "libraries"),
    emits=[
        Check("gpus.arch-dropped-by-cuda", "error|warning", "The CUDA runtime no longer has code for this GPU's architecture"),
        Check("gpus.arch-newer-than-cuda", "warning", "The GPU is newer than the CUDA runtime that resolves"),
    ],
)
def arch_vs_cuda(snap: dict) -> list[Finding]:
    out = []
    for version, lib in _runtimes(snap):
        cuda = knowledge.major_minor(version)
        for g in _gpus(snap):
            row = knowledge.cuda_architecture(g["compute_capability"])
            if not row or not cuda:
                continue
            ev = [f"GPU {g.get('index')}: {g.get('name')} ({_sm(g['compute_capability'])})", f"{lib['resolved']}: CUDA {version} via {lib.get('via')}"]
            if row.get("last_cuda") and cuda > knowledge.major_minor(row["last_cuda"]):
                out.append(
                    Finding(
                        "gpus.arch-dropped-by-cuda",
                        knowledge.fact_severity(row, g),
                        "gpus",
                        f"CUDA {cuda[0]}.{cuda[1]} has no code for {g.get('name')} ({_sm(g['compute_capability'])}): the last CUDA for it is {row['last_cuda']}",
                        f"Libraries built with this CUDA (cuBLAS, cuDNN, TensorRT) carry no kernels for this GPU and fail with {NO_KERNEL}.",
                        ev + [knowledge.cite(row)] + knowledge.cc_note(g),
                        Fix(f"Use a CUDA {row['last_cuda'].split('.')[0]}.x stack (≤ {row['last_cuda']}) on this GPU.", ["trtdoctor fix --recipe pip"], links=[row["source"]]),
                    )
                )
            elif cuda < knowledge.major_minor(row["first_cuda"]):
                out.append(
                    Finding(
                        "gpus.arch-newer-than-cuda",
                        "warning",
                        "gpus",
                        f"{g.get('name')} ({_sm(g['compute_capability'])}) needs CUDA ≥ {row['first_cuda']}; the runtime here is {version}",
                        f"Code built with this CUDA has no native kernels for the GPU: it runs only where PTX was shipped and can be JIT-compiled, otherwise it fails with {NO_KERNEL}. TensorRT and cuDNN builds of this CUDA do not support the GPU.",
                        ev + [knowledge.cite(row)],
                        Fix(f"Install a CUDA ≥ {row['first_cuda']} stack (and a TensorRT built for it).", ["trtdoctor fix --recipe pip"], links=[row["source"]]),
                    )
                )
    return out


def _covers(arches: list[str], cc: str) -> bool:
    """Whether TF's compiled list runs on ``cc``: a cubin (sm_XY) runs on the same major with an
    equal or higher minor; PTX (compute_XY) is JIT-compiled for any equal or newer GPU."""
    major, minor = knowledge.major_minor(cc)
    for a in arches:
        kind, _, digits = str(a).partition("_")
        if not digits.isdigit():
            continue
        am, an = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and am == major and an <= minor:
            return True
        if kind == "compute" and (am, an) <= (major, minor):
            return True
    return False


@rule(reads=("tensorflow", "gpus"), emits=[Check("tensorflow.no-kernels-for-gpu", "error|warning", "The TensorFlow wheel has no kernels for this GPU")])
def tf_arches(snap: dict) -> list[Finding]:
    out = []
    for inst in (snap.get("tensorflow") or {}).get("installs", []):
        arches, where = (inst.get("build_info") or {}).get("cuda_compute_capabilities"), "build_info"
        if not isinstance(arches, list) or not arches:
            arches, where = (inst.get("kb") or {}).get("compute_capabilities"), f"kb/tensorflow.yaml row {inst.get('version')}"
        if not isinstance(arches, list) or not arches:
            continue
        for g in _gpus(snap):
            if not _covers(arches, g["compute_capability"]):
                out.append(
                    Finding(
                        "tensorflow.no-kernels-for-gpu",
                        knowledge.fact_severity(g),
                        "tensorflow",
                        f"TensorFlow {inst.get('version')} was compiled for {', '.join(map(str, arches))}: nothing runs on {g.get('name')} ({_sm(g['compute_capability'])})",
                        f"A cubin runs only on its own major with an equal or higher minor, PTX only on equal or newer GPUs; TensorFlow fails with {NO_KERNEL} or takes minutes to JIT and then fails.",
                        [f"{inst.get('site_packages')}: {where} cuda_compute_capabilities = {arches}", f"GPU {g.get('index')}: {_sm(g['compute_capability'])}"] + knowledge.cc_note(g),
                        Fix("Install a TensorFlow release built for this GPU (newer GPUs need newer TensorFlow), or build TensorFlow with TF_CUDA_COMPUTE_CAPABILITIES set."),
                        subject=inst.get("site_packages"),
                    )
                )
    return out
