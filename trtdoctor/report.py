"""The check report: building it, the JSON contract, and reading a saved one back."""

from __future__ import annotations

import functools
import json
import os
import re
import reprlib
import socket
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .findings import Finding, Fix, summarize
from .redact import mask_tree
from .target import Target, UsageError
from .userfile import Refused, read_capped

SCHEMA = "trtdoctor.report/1"


def build(snapshot: dict, findings: list[Finding], target: dict, areas: dict | None = None, provenance: dict | None = None) -> dict:
    """The report, credentials masked throughout (see redact.py): JSON, text and Markdown all
    come from it. ``areas`` holds one verdict per area shown (see areas.py); ``provenance``
    (see ``provenance``) is left out when unknown, as in a re-check of an older report.

    The findings are masked in place too, since the text renderer reads them rather than the report."""
    snap = {k: v for k, v in snapshot.items() if not k.startswith("_")}
    for f in findings:
        mask_finding(f)
    areas = areas or {}
    could_not_check = [{"area": a, "reason": v["reason"]} for a, v in areas.items() if "reason" in v]
    rep = {
        "schema": SCHEMA,
        "tool": {"name": "trtdoctor", "version": __version__},
        "target": target,
        "summary": summarize(findings, could_not_check),
        "areas": areas,
        "snapshot": snap,
        "findings": [f.to_dict() for f in findings],
    }
    if provenance:
        rep["provenance"] = provenance
    return mask_tree(rep)


HOST_VAR = "TRTDOCTOR_HOST_NAME"  # a scheduler's name for the node (a pod's own host name is the pod's)
HOST_MAX = 253  # the longest DNS name


def provenance(target: Target) -> dict:
    """Where and when the facts were collected, so a fleet of saved reports can be told apart:
    static mode names the judged root (its /etc/hostname), never the machine reading it."""
    if target.live:
        named = os.environ.get(HOST_VAR, "").strip()
        host, source = (named, HOST_VAR) if named else (socket.gethostname(), "gethostname")
    else:
        lines = (target.read_text("/etc/hostname") or "").strip().splitlines()
        host, source = (lines[0].strip() if lines else ""), "/etc/hostname"
    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"host": host[:HOST_MAX] or None, "host_from": source, "created": created}


def mask_finding(f: Finding) -> None:
    m = mask_tree(f.to_dict())
    f.title, f.detail, f.evidence = m["title"], m["detail"], m["evidence"]
    f.fix = Fix(**m["fix"]) if m["fix"] else None


MAX_BYTES = 64 * 2**20
MAX_DEPTH = 64  # a real report nests about 8 levels deep
DEFAULT_TARGET = {"mode": "static", "root": "/"}
SCHEMA_FILE = Path(__file__).with_name("schemas") / "report-1.json"


def load(path: str) -> dict:
    """Read a saved report and check it against the published schema (``schemas/report-1.json``).

    Whatever is not a /1 report the rules can judge (not a regular file, not JSON, over 64 MiB, nested absurdly
    deep, a wrong type anywhere the schema knows) is a ``UsageError`` of one line naming the
    file, the JSON path and the problem, so the rules never see a wrong shape.

    A report without a top-level ``target`` still loads: it takes the snapshot's own
    ``target`` when that is valid, else ``{"mode": "static", "root": "/"}``. Static because
    a report read back is judged as recorded facts: live-only conclusions (drawn from the
    absence of something only a live probe would see) must not be drawn from it.
    """
    try:
        raw = read_capped(path, MAX_BYTES)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except Refused as exc:
        raise UsageError(f"{path} {exc}: not a trtdoctor report") from None
    hint = "pass a file written by `trtdoctor check --json`"
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not JSON (not UTF-8 text); {hint}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON (line {exc.lineno}: {exc.msg}); {hint}") from None
    except RecursionError:
        raise UsageError(f"{path} is not a trtdoctor report: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise UsageError(f"{path} is not JSON ({_cut(str(exc), 80)}); {hint}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(f"{path} is not a trtdoctor report (expected schema {SCHEMA!r})")
    deep = _too_deep(data)
    if deep is not None:
        raise UsageError(f"{path}: {_cut(_json_path(deep), 120)}: nested deeper than {MAX_DEPTH} levels")
    if "target" not in data:
        data["target"] = _default_target(data.get("snapshot"))
    problem = _schema_problem(data)
    if problem:
        raise UsageError(f"{path}: {problem}")
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _default_target(snap) -> dict:
    t = snap.get("target") if isinstance(snap, dict) else None
    if isinstance(t, dict) and t.get("mode") in ("live", "static") and isinstance(t.get("root"), str):
        return {"mode": t["mode"], "root": t["root"]}
    return dict(DEFAULT_TARGET)


def _too_deep(data) -> list | None:
    """The path of a value nested deeper than MAX_DEPTH, or None (without recursion)."""
    stack = [(data, [])]
    while stack:
        value, where = stack.pop()
        if len(where) > MAX_DEPTH:
            return where
        if isinstance(value, dict):
            stack.extend((v, where + [k]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, where + [i]) for i, v in enumerate(value))
    return None


@functools.lru_cache(maxsize=1)
def _validator():
    try:
        import jsonschema
    except ImportError:
        raise UsageError("reading a saved report needs the jsonschema package: pip install 'jsonschema>=4'") from None
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _schema_problem(data: dict) -> str | None:
    """``where: what`` for the most telling schema violation, or None when the report is valid."""
    from jsonschema.exceptions import best_match

    err = best_match(_validator().iter_errors(data))
    if err is None:
        return None
    while err.validator in ("anyOf", "oneOf") and err.context:
        deepest = max(err.context, key=lambda e: len(e.path))  # the shape it came closest to fitting
        if not deepest.path:
            break
        err = deepest
    where = _cut(_json_path(list(err.absolute_path)), 120)
    return f"{where}: {_describe(err)}" if where else _describe(err)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlevel = 2
_REPR.maxdict = _REPR.maxlist = 3


def _short(value) -> str:
    """A value as Python writes it, cut to about 60 characters (never a whole subtree)."""
    return _cut(_REPR.repr(value), 60)


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _json_path(parts: list) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += f".{p}" if out else p
        else:
            out += f"[{json.dumps(_cut(p, 40), ensure_ascii=False)}]"
    return out


def _describe(err) -> str:
    kind, want = err.validator, err.validator_value
    if kind == "type":
        types = want if isinstance(want, list) else [want]
        return f"{_short(err.instance)} is not of type {' or '.join(repr(t) for t in types)}"
    if kind in ("enum", "const"):
        allowed = want if kind == "enum" else [want]
        return f"{_short(err.instance)} is not one of {_cut(repr(allowed), 80)}"
    if kind == "pattern":
        what = "key " if "propertyNames" in err.schema_path else ""
        return f"{what}{_short(err.instance)} does not match {_cut(repr(want), 60)}"
    if kind == "anyOf":
        # every alternative rejects the value's type (a string where an area belongs): say which types fit
        types = [e.validator_value for e in err.context if e.validator == "type" and not e.path]
        if len(types) == len(want):
            flat = dict.fromkeys(t for ts in types for t in (ts if isinstance(ts, list) else [ts]))
            return f"{_short(err.instance)} is not of type {' or '.join(repr(t) for t in flat)}"
        return f"{_short(err.instance)} matches none of the allowed shapes"
    return _cut(err.message, 120)
