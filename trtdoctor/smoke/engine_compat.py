"""Can this machine load an engine? Engines are tied to the TensorRT version and, unless
built hardware-compatible, to the GPU's compute capability; the sidecar says which."""

from __future__ import annotations

import json
from pathlib import Path

from .. import knowledge
from ..findings import Finding, Fix


def read_sidecar(engine: Path) -> dict:
    side = engine.with_name(engine.name + ".json")
    if not side.exists():
        raise ValueError(f"{side} not found: trtdoctor reads what an engine was built with from the sidecar `trtdoctor smoke` writes next to it")
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{side} is not a readable sidecar: {exc}") from None


def engine_findings(engine: Path, snapshot: dict) -> list[Finding]:
    if not engine.exists():
        return [Finding("engine.missing", "error", "tensorrt", f"{engine} does not exist")]
    try:
        meta = read_sidecar(engine)
    except ValueError as exc:
        return [Finding("engine.no-sidecar", "warning", "tensorrt", "cannot tell what this engine was built with", str(exc))]
    out = []
    trt_here = (snapshot.get("precision") or {}).get("tensorrt")
    built = meta.get("tensorrt")
    if built and trt_here and knowledge.major_minor(built) != knowledge.major_minor(trt_here):
        out.append(
            Finding(
                "engine.tensorrt-version",
                "error",
                "tensorrt",
                f"engine built with TensorRT {built}; this machine has {trt_here}",
                "Serialized engines load only in the TensorRT version that built them (unless built version-compatible).",
                [f"{engine}: {built}"],
                Fix("Rebuild the engine here.", [f"trtdoctor smoke --precision {meta.get('precision', 'fp16')}"]),
            )
        )
    ccs = {d.get("compute_capability") for d in (snapshot.get("gpus") or {}).get("devices", [])}
    if meta.get("compute_capability") and ccs and meta["compute_capability"] not in ccs and not meta.get("hardware_compatible"):
        out.append(
            Finding(
                "engine.gpu",
                "error",
                "tensorrt",
                f"engine built for compute capability {meta['compute_capability']} ({meta.get('gpu')}); this machine has {', '.join(sorted(c for c in ccs if c))}",
                "Engines are specific to the GPU architecture they were built on.",
                [f"{engine}: built on {meta.get('gpu')}"],
                Fix("Rebuild the engine on this GPU, or build it hardware-compatible."),
            )
        )
    if not out:
        out.append(Finding("engine.compatible", "info", "tensorrt", f"engine ({meta.get('backend')} {built}, sm_{str(meta.get('compute_capability', '?')).replace('.', '')}) matches this machine"))
    return out
