"""The check report: building it, the JSON contract, and reading a saved one back."""

from __future__ import annotations

import json

from . import __version__
from .findings import Finding, summarize
from .target import UsageError

SCHEMA = "trtdoctor.report/1"


def build(snapshot: dict, findings: list[Finding], target: dict, areas: dict | None = None) -> dict:
    """The report; ``areas`` holds one verdict per area shown (see areas.py)."""
    snap = {k: v for k, v in snapshot.items() if not k.startswith("_")}
    areas = areas or {}
    could_not_check = [{"area": a, "reason": v["reason"]} for a, v in areas.items() if "reason" in v]
    return {
        "schema": SCHEMA,
        "tool": {"name": "trtdoctor", "version": __version__},
        "target": target,
        "summary": summarize(findings, could_not_check),
        "areas": areas,
        "snapshot": snap,
        "findings": [f.to_dict() for f in findings],
    }


def load(path: str) -> dict:
    """Read a saved report; a malformed one is a usage error with a one-line cause."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON (line {exc.lineno}: {exc.msg}); pass a file written by `trtdoctor check --json`") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("snapshot"), dict):
        raise UsageError(f"{path} is not a trtdoctor report (expected schema {SCHEMA!r})")
    return data
