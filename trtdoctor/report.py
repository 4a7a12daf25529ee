"""The check report: building it, the JSON contract, and reading a saved one back."""

from __future__ import annotations

import json

from . import __version__
from .findings import Finding, Fix, summarize
from .redact import mask_tree
from .target import UsageError

SCHEMA = "trtdoctor.report/1"


def build(snapshot: dict, findings: list[Finding], target: dict, areas: dict | None = None) -> dict:
    """The report, credentials masked throughout (see redact.py): JSON, text and Markdown all
    come from it. ``areas`` holds one verdict per area shown (see areas.py).

    The findings are masked in place too, since the text renderer reads them rather than the report."""
    snap = {k: v for k, v in snapshot.items() if not k.startswith("_")}
    for f in findings:
        mask_finding(f)
    areas = areas or {}
    could_not_check = [{"area": a, "reason": v["reason"]} for a, v in areas.items() if "reason" in v]
    return mask_tree(
        {
            "schema": SCHEMA,
            "tool": {"name": "trtdoctor", "version": __version__},
            "target": target,
            "summary": summarize(findings, could_not_check),
            "areas": areas,
            "snapshot": snap,
            "findings": [f.to_dict() for f in findings],
        }
    )


def mask_finding(f: Finding) -> None:
    m = mask_tree(f.to_dict())
    f.title, f.detail, f.evidence = m["title"], m["detail"], m["evidence"]
    f.fix = Fix(**m["fix"]) if m["fix"] else None


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
