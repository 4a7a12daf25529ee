"""The probes, in order, and how they fill a snapshot. They run concurrently, each after the probes
listed before it whose areas it needs (see schedule.py); a probe that fails becomes
``could not collect: <reason>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..target import Target
from . import frameworks, libraries, live_gpu, pyenvs, system, trt_system
from .schedule import run_probes


@dataclass(frozen=True)
class Probe:
    area: str
    fn: Callable[[Target, dict], dict]
    needs: tuple[str, ...] = ()
    live_only: bool = False
    merge: bool = False  # live phase: update the area the static probe wrote


PROBES: list[Probe] = [
    Probe("os", system.probe_os),
    Probe("env", system.probe_env),
    Probe("nvml", live_gpu.probe_nvml, live_only=True),
    Probe("driver", system.probe_driver, needs=("nvml",)),
    Probe("gpus", system.probe_gpus, needs=("nvml",)),
    Probe("devices", system.probe_devices),
    Probe("cuda", system.probe_cuda),
    Probe("python", pyenvs.probe_python),
    Probe("tensorflow", frameworks.probe_tensorflow, needs=("python",)),
    Probe("tensorrt", frameworks.probe_tensorrt, needs=("python",)),
    Probe("trt_system", trt_system.probe_trt_system, needs=("os", "python")),
    Probe("libraries", libraries.probe_libraries, needs=("os", "cuda", "python", "tensorflow")),
    Probe("tensorrt", frameworks.live_tensorrt, needs=("tensorrt",), live_only=True, merge=True),
    Probe("tensorflow", frameworks.live_tensorflow, needs=("tensorflow", "libraries"), live_only=True, merge=True),
    Probe("pycuda", frameworks.probe_pycuda, needs=("python",)),
    Probe("onnxruntime", frameworks.probe_onnxruntime, needs=("python",)),
    Probe("precision", frameworks.probe_precision, needs=("gpus", "tensorrt")),
    # Live phases that only add detail: listed last, so no probe above waits for them.
    Probe("python", pyenvs.live_python, needs=("python",), live_only=True, merge=True),
    Probe("cuda", system.live_cuda, needs=("cuda",), live_only=True, merge=True),
]


def probes_for(areas: set[str] | None) -> list[Probe]:
    """The probes that fill ``areas`` and every area those probes need (all when None)."""
    if areas is None:
        return list(PROBES)
    wanted, grown = set(areas), True
    while grown:
        more = {n for p in PROBES if p.area in wanted for n in p.needs} - wanted
        wanted |= more
        grown = bool(more)
    return [p for p in PROBES if p.area in wanted]


def collect(target: Target, areas: set[str] | None = None, progress=None) -> dict:
    """Run the probes into a snapshot. ``areas`` limits them to those areas and their needs."""
    snap: dict = {"_timings": {}}
    selected = [p for p in probes_for(areas) if target.live or not p.live_only]
    run_probes(target, selected, snap, progress)  # concurrently, each after the probes it reads
    return snap
