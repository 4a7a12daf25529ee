"""One check run: probes → snapshot → rules → report."""

from __future__ import annotations

from .findings import Finding
from .probes import collect
from .report import build
from .rules import AREAS, run_rules
from .target import Target, UsageError


def select_areas(only: list[str], skip: list[str]) -> set[str] | None:
    for a in only + skip:
        if a not in AREAS:
            raise UsageError(f"unknown area {a!r}; areas are: {', '.join(AREAS)}")
    if not only and not skip:
        return None
    return (set(only) if only else set(AREAS)) - set(skip)


def target_info(target: Target) -> dict:
    return {"mode": target.mode, "root": str(target.root)}


def check(target: Target, areas: set[str] | None = None, progress=None) -> tuple[dict, list[Finding]]:
    snap = collect(target, areas, progress)
    snap["target"] = target_info(target)
    findings = run_rules(snap, areas)
    return build(snap, findings, target_info(target)), findings


def recheck(saved: dict, areas: set[str] | None = None) -> tuple[dict, list[Finding]]:
    """Re-run the rules on a saved snapshot (support tickets, fleet reports)."""
    snap = dict(saved["snapshot"])
    snap.setdefault("target", saved.get("target", {}))
    findings = run_rules(snap, areas)
    return build(snap, findings, saved.get("target", {})), findings
