"""Rules are pure functions of the snapshot and the knowledge base that return findings.

Each is registered with a stable id prefix, the area it judges and a one-line title, so
``--list-checks`` can list them and ``--only``/``--skip`` can pick them by area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..findings import Finding


@dataclass(frozen=True)
class Rule:
    id: str
    area: str
    title: str
    fn: Callable[[dict], list[Finding]]


RULES: list[Rule] = []
AREAS = ("os", "driver", "gpus", "env", "libraries", "tensorrt", "tensorflow", "pycuda", "onnxruntime", "precision")


def rule(id: str, area: str, title: str):
    def wrap(fn):
        RULES.append(Rule(id, area, title, fn))
        return fn

    return wrap


def run_rules(snap: dict, areas: set[str] | None = None) -> list[Finding]:
    from . import frameworks, libraries, system  # noqa: F401  (registration)

    out: list[Finding] = []
    for r in RULES:
        if areas is not None and r.area not in areas:
            continue
        try:
            out.extend(r.fn(snap))
        except Exception as exc:  # a broken rule is reported, never fatal
            out.append(Finding(f"{r.id}.crashed", "warning", r.area, f"check {r.id} could not run", f"{type(exc).__name__}: {exc}"))
    order = {"error": 0, "warning": 1, "info": 2}
    out.sort(key=lambda f: (AREAS.index(f.area) if f.area in AREAS else 99, order.get(f.severity, 3)))
    return out


def all_rules() -> list[Rule]:
    from . import frameworks, libraries, system  # noqa: F401

    return list(RULES)
