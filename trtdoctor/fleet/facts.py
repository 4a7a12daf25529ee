"""The facts of one report that tell nodes apart, as short strings (None: absent there).

Reports come from other machines and other trtdoctor versions, and are read without a full
schema check (5,000 of them must summarise in seconds), so every reader here takes any
shape: a value of the wrong type counts as absent, never as a crash.
"""

from __future__ import annotations

from collections import Counter

NOT_COLLECTED = "(could not collect)"


def _area(snap: dict, name: str) -> dict | None:
    """The area, {} when absent; None when it could not be collected."""
    area = snap.get(name)
    if not isinstance(area, dict):
        return {}
    return None if set(area) == {"error"} else area


def _items(area: dict, key: str) -> list[dict]:
    value = area.get(key)
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _joined(values) -> str | None:
    seen = sorted({v for v in values if v})
    return ", ".join(seen) or None


def gpu(snap: dict) -> str | None:
    """Models with their count: a node that lost a GPU differs from its peers."""
    names = Counter(_text(d.get("name")) or "unknown model" for d in _items(snap, "devices"))
    return ", ".join(f"{n}× {name}" for name, n in sorted(names.items())) or None


def driver(snap: dict) -> str | None:
    return _text(snap.get("version"))


def cuda_driver(snap: dict) -> str | None:
    return _text(snap.get("cuda_driver_version"))


def _library(key: str):
    """The version of the file a plain dlopen gets for the library the knowledge base calls ``key``."""

    def read(snap: dict) -> str | None:
        libs = snap.get("libraries")
        rows = libs.values() if isinstance(libs, dict) else ()
        return _joined(_text(r.get("version")) for r in rows if isinstance(r, dict) and r.get("key") == key and r.get("resolved"))

    return read


def tensorrt(snap: dict) -> str | None:
    """Every TensorRT: pip runtimes (``(lean)``, ``(rtx)`` marked), and installs outside pip."""
    out = []
    for inst in _items(snap, "installs"):
        runtimes = _items(inst, "runtimes")
        for rt in runtimes:
            version, kind = _text(rt.get("version")), rt.get("kind")
            if version:
                out.append(version if kind == "full" else f"{version} ({kind})")
        parts = inst.get("parts")
        if not runtimes and isinstance(parts, dict):
            out += [v for v in parts.values() if isinstance(v, str)]
    return _joined(out)


def trt_system(snap: dict) -> str | None:
    return _joined(f"{i['version']} ({i.get('kind')})" for i in _items(snap, "installs") if _text(i.get("version")))


def tensorflow(snap: dict) -> str | None:
    return _joined(_text(i.get("version")) for i in _items(snap, "installs"))


def kernel(snap: dict) -> str | None:
    return _text(snap.get("kernel"))


def os_name(snap: dict) -> str | None:
    return _text(snap.get("name")) or _text(snap.get("id"))


def container(snap: dict) -> str | None:
    if not isinstance(snap.get("container"), bool):
        return None
    markers = [m for m in snap.get("container_markers") or [] if isinstance(m, str)]
    return ("yes" + (f" ({', '.join(markers)})" if markers else "")) if snap["container"] else "no"


# (fact, label, area, reader): the order of the summary.
FACTS = (
    ("gpu", "GPU", "gpus", gpu),
    ("driver", "driver", "driver", driver),
    ("cuda_driver", "CUDA (driver)", "driver", cuda_driver),
    ("cuda_runtime", "CUDA runtime", "libraries", _library("cudart")),
    ("cudnn", "cuDNN", "libraries", _library("cudnn")),
    ("tensorrt", "TensorRT (pip)", "tensorrt", tensorrt),
    ("tensorrt_system", "TensorRT (system)", "trt_system", trt_system),
    ("tensorflow", "TensorFlow", "tensorflow", tensorflow),
    ("kernel", "kernel", "os", kernel),
    ("os", "OS", "os", os_name),
    ("container", "container", "os", container),
)
LABELS = {name: label for name, label, _, _ in FACTS}


def facts_of(snapshot) -> dict[str, str | None]:
    """Fact name → value for one report's snapshot."""
    snap = snapshot if isinstance(snapshot, dict) else {}
    out = {}
    for name, _, area_name, read in FACTS:
        area = _area(snap, area_name)
        out[name] = NOT_COLLECTED if area is None else read(area)
    return out
