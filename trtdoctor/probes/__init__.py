"""Probes gather facts and judge nothing. They run in order (later ones read earlier
areas of the snapshot); a probe that fails becomes ``could not collect: <reason>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..target import Target
from . import frameworks, libraries, live_gpu, pyenvs, system
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
    Probe("libraries", libraries.probe_libraries, needs=("os", "cuda", "python", "tensorflow")),
    Probe("tensorrt", frameworks.live_tensorrt, needs=("tensorrt",), live_only=True, merge=True),
    Probe("tensorflow", frameworks.live_tensorflow, needs=("tensorflow", "libraries"), live_only=True, merge=True),
    Probe("pycuda", frameworks.probe_pycuda, needs=("python",)),
    Probe("onnxruntime", frameworks.probe_onnxruntime, needs=("python",)),
    Probe("precision", frameworks.probe_precision, needs=("gpus", "tensorrt")),
]

# Which probe areas each rule area reads; used to skip work that --only/--skip leave out.
AREA_NEEDS = {
    "os": {"os"},
    "driver": {"os", "nvml", "driver", "cuda", "devices", "libraries", "python", "tensorflow"},
    "gpus": {"nvml", "driver", "gpus", "env", "devices"},
    "env": {"env", "libraries", "cuda", "python", "os", "tensorflow"},
    "libraries": {"os", "cuda", "python", "tensorflow", "libraries", "env", "tensorrt"},
    "tensorrt": {"os", "python", "tensorrt", "libraries", "cuda", "gpus", "nvml", "driver", "tensorflow"},
    "tensorflow": {"os", "python", "tensorflow", "libraries", "gpus", "nvml", "env", "cuda", "driver"},
    "pycuda": {"python", "pycuda", "driver", "nvml", "libraries", "os", "cuda", "tensorflow"},
    "onnxruntime": {"python", "onnxruntime", "libraries", "os", "cuda", "tensorflow"},
    "precision": {"nvml", "gpus", "tensorrt", "python", "driver"},
}


def collect(target: Target, areas: set[str] | None = None, progress=None) -> dict:
    """Run the probes into a snapshot. ``areas`` limits them to what those rule areas read."""
    wanted = None
    if areas is not None:
        wanted = set()
        for a in areas:
            wanted |= AREA_NEEDS.get(a, {a})
    snap: dict = {"_timings": {}}
    selected: list[Probe] = []
    for probe in PROBES:
        if probe.live_only and not target.live:
            continue
        if wanted is not None and probe.area not in wanted:
            continue
        selected.append(probe)
    run_probes(target, selected, snap, progress)  # concurrently, each after the probes it reads
    return snap
