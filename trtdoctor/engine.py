"""One check run: probes → snapshot → rules → area verdicts → report."""

from __future__ import annotations

from .areas import verdicts
from .findings import Finding
from .probes.registry import collect
from .report import build, provenance
from .rules import Selection, run_rules, select
from .target import Target


def target_info(target: Target) -> dict:
    return {"mode": target.mode, "root": str(target.root)}


def judge(snap: dict, selection: Selection, origin: dict | None = None) -> tuple[dict, list[Finding]]:
    """Rules and area verdicts over a snapshot, as a report (``origin``: its provenance)."""
    run = run_rules(snap, selection.ids)
    areas = verdicts(snap, run.findings, run.could_not_check, selection.areas)
    return build(snap, run.findings, snap["target"], areas, origin), run.findings


def check(target: Target, selection: Selection | None = None, progress=None) -> tuple[dict, list[Finding]]:
    selection = selection or select([], [])
    snap = collect(target, selection.probe_areas, progress)
    snap["target"] = target_info(target)
    return judge(snap, selection, provenance(target))


def recheck(saved: dict, selection: Selection | None = None) -> tuple[dict, list[Finding]]:
    """Re-run the rules on a saved snapshot (support tickets, fleet reports)."""
    snap = dict(saved["snapshot"])
    snap["target"] = saved.get("target") or snap.get("target") or {"mode": "static", "root": "/"}
    return judge(snap, selection or select([], []), saved.get("provenance"))
