"""``fleet summary``: many nodes' reports → the majority configuration and every node that
differs from it, as text or as ``trtdoctor.fleet/1``.

Reports are read with ``json`` and a few type checks, not the full schema check of
``check --from`` (about 10 ms a report): a fleet has thousands, and the summary reads only a
few facts, each read defensively (see facts.py). A file that is no report (a node that
printed an error, or nothing) is a node without a report, not a reason to stop, as long as
one report was found.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from .. import __version__
from ..escape import shown
from ..report import MAX_BYTES, SCHEMA
from ..target import UsageError
from ..userfile import Refused, read_capped
from .facts import FACTS, LABELS, facts_of

FLEET_SCHEMA = "trtdoctor.fleet/1"
SHOWN_NAMES = 8  # node names listed in text before "and N more" (JSON lists them all)
SEVERE = ("error", "warning")


def report_files(paths: list[str]) -> list[Path]:
    """The files to read: each FILE, and each DIR's ``*.json``; a path that is neither is bad input."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix == ".json")
            if not found:
                raise UsageError(f"{p} holds no *.json report")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    return files


def _why_not(path: Path, raw: bytes | None, err: str | None) -> str:
    """Why a node has no report: the read error, else what is wrong with the text, and the
    last line of a ``<node>.err`` beside it (what ``fleet slurm`` keeps of a node's stderr)."""
    why = err or ("empty: the check printed nothing" if not raw or not raw.strip() else "not a trtdoctor report")
    try:
        last = [ln for ln in path.with_suffix(".err").read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        last = []
    return f"{why}; stderr: {last[-1].strip()[:200]}" if last else why


def _parse(path: Path) -> tuple[dict | None, str | None, bytes | None]:
    """(report, None, raw) or (None, why not, raw)."""
    try:
        raw = read_capped(path, MAX_BYTES)
    except Refused as exc:
        return None, f"{path.name} {exc}", None
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}", None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, None, raw
    if not isinstance(data, dict):
        return None, None, raw
    if data.get("schema") != SCHEMA or not isinstance(data.get("snapshot"), dict):
        return None, f"not a trtdoctor report (schema {str(data.get('schema'))[:40]!r})", raw
    return data, None, raw


def _count(summary: dict, key: str) -> int:
    v = summary.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def read_node(path: Path) -> dict:
    """One node (``FleetNode``) from one file; ``_titles`` carries finding titles along."""
    rep, err, raw = _parse(path)
    if rep is None:
        return {"name": path.stem, "file": str(path), "status": "no report", "reason": _why_not(path, raw, err)}
    prov = rep.get("provenance") if isinstance(rep.get("provenance"), dict) else {}
    summary = rep.get("summary") if isinstance(rep.get("summary"), dict) else {}
    host = prov.get("host") if isinstance(prov.get("host"), str) and prov.get("host") else None
    found = [f for f in rep.get("findings") or [] if isinstance(f, dict) and f.get("severity") in SEVERE and isinstance(f.get("id"), str)]
    errors, warnings = _count(summary, "errors"), _count(summary, "warnings")
    node = {"name": host or path.stem, "file": str(path), "status": "error" if errors else "warning" if warnings else "ok", "host": host}
    if isinstance(prov.get("created"), str):
        node["created"] = prov["created"]
    node.update(errors=errors, warnings=warnings, incomplete=_count(summary, "incomplete"), facts=facts_of(rep["snapshot"]))
    node["findings"] = sorted({f["id"] for f in found})
    node["_titles"] = {f["id"]: (f["severity"], str(f.get("title") or "")) for f in found}
    return node


def _natural(name: str) -> list:
    """node2 before node10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _unique_names(nodes: list[dict]) -> None:
    """Two files naming the same host: both keep the file's name beside the host's."""
    seen = Counter(n["name"] for n in nodes)
    for n in nodes:
        if seen[n["name"]] > 1:
            n["name"] = f"{n['name']} ({Path(n['file']).name})"


def _most_common(counter: Counter):
    """The most common value; a tie goes to the value that sorts first, so runs agree."""
    return min(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[0] if counter else None


def _fact_table(answered: list[dict]) -> list[dict]:
    table = []
    for fact, label, _, _ in FACTS:
        by_value: dict = defaultdict(list)
        for n in answered:
            by_value[n["facts"][fact]].append(n["name"])
        values = sorted(by_value.items(), key=lambda kv: (-len(kv[1]), str(kv[0])))
        majority = _most_common(Counter({v: len(ns) for v, ns in by_value.items()}))
        table.append({"fact": fact, "label": label, "majority": majority, "values": [{"value": v, "nodes": ns} for v, ns in values]})
    return table


def _finding_table(answered: list[dict]) -> list[dict]:
    nodes_by_id: dict = defaultdict(list)
    titles: dict = {}
    for n in answered:
        titles.update(n["_titles"])
        for fid in n["findings"]:
            nodes_by_id[fid].append(n["name"])
    rows = [{"id": fid, "severity": titles[fid][0], "title": titles[fid][1], "nodes": ns} for fid, ns in nodes_by_id.items()]
    return sorted(rows, key=lambda r: (r["severity"] != "error", -len(r["nodes"]), r["id"]))


def _differences(answered: list[dict], majority: dict, common: set) -> list[dict]:
    """Nodes that differ, grouped by how they differ."""
    groups: dict = {}
    for n in answered:
        facts = {k: {"value": v, "majority": majority[k]} for k, v in n["facts"].items() if v != majority[k]}
        extra, missing = sorted(set(n["findings"]) - common), sorted(common - set(n["findings"]))
        if facts or extra or missing:
            key = json.dumps([facts, extra, missing], sort_keys=True)
            groups.setdefault(key, {"nodes": [], "facts": facts, "extra_findings": extra, "missing_findings": missing})["nodes"].append(n["name"])
    return sorted(groups.values(), key=lambda g: (len(g["nodes"]), _natural(g["nodes"][0])))


def summarize(nodes: list[dict]) -> dict:
    """The ``trtdoctor.fleet/1`` document for these nodes (see ``read_node``)."""
    _unique_names(nodes)
    nodes.sort(key=lambda n: _natural(n["name"]))
    answered = [n for n in nodes if n["status"] != "no report"]
    facts = _fact_table(answered)
    majority = {f["fact"]: f["majority"] for f in facts}
    findings = _finding_table(answered)
    common = {f["id"] for f in findings if 2 * len(f["nodes"]) > len(answered)}
    diffs = _differences(answered, majority, common)
    failing = sum(1 for n in nodes if n["status"] in ("error", "no report") or n.get("incomplete"))
    summary = {"nodes": len(nodes), "answered": len(answered), "no_report": len(nodes) - len(answered), "failing": failing, "differing": sum(len(d["nodes"]) for d in diffs)}
    for n in answered:
        del n["_titles"]
    return {
        "schema": FLEET_SCHEMA,
        "tool": {"name": "trtdoctor", "version": __version__},
        "summary": summary,
        "majority": majority,
        "facts": facts,
        "findings": findings,
        "differences": diffs,
        "nodes": nodes,
    }


def summarize_paths(paths: list[str]) -> dict:
    """Read every report; bad input (no such path, not one report among the files) is a UsageError."""
    files = report_files(paths)
    nodes = [read_node(f) for f in files]
    if not any(n["status"] != "no report" for n in nodes):
        first = nodes[0]
        raise UsageError(f"no trtdoctor report among {len(nodes)} file(s) (first: {first['file']}: {first['reason']})")
    return summarize(nodes)


def exit_code(doc: dict) -> int:
    """1 when a node has errors, areas it could not check, or no report at all (like ``check``)."""
    return 1 if doc["summary"]["failing"] else 0


# --- text ----------------------------------------------------------------------------------


def _names(names: list[str]) -> str:
    more = len(names) - SHOWN_NAMES
    return ", ".join(names[:SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")


def _show(value) -> str:
    return "—" if value is None else value


MARK = {"error": "✗", "warning": "!"}


def text(doc: dict) -> str:
    """The summary for a person: counts, majority configuration, findings, differing nodes."""
    s = doc["summary"]
    lines = [f"Fleet: {s['nodes']} nodes, {s['answered']} answered" + (f", {s['no_report']} without a report" if s["no_report"] else "") + f"; {s['differing']} differ from the majority"]
    if s["answered"]:
        lines += ["", f"Majority configuration (of {s['answered']} answered):"]
        for f in doc["facts"]:
            top = next(v for v in f["values"] if v["value"] == f["majority"])
            lines.append(f"  {f['label']:<18} {_show(f['majority']):<40} {len(top['nodes'])}/{s['answered']}")
    if doc["findings"]:
        lines += ["", "Findings:"]
        lines += [f"  {MARK[f['severity']]} {f['id']:<40} {len(f['nodes'])}/{s['answered']}: {_names(f['nodes'])}" for f in doc["findings"]]
    if doc["differences"]:
        lines += ["", "Nodes that differ:"]
        for d in doc["differences"]:
            hows = [f"{LABELS[k]} {_show(c['value'])} (majority {_show(c['majority'])})" for k, c in d["facts"].items()]
            hows += [f"+{fid}" for fid in d["extra_findings"]] + [f"-{fid}" for fid in d["missing_findings"]]
            lines.append(f"  {_names(d['nodes'])}: " + "; ".join(hows))
    missing = [n for n in doc["nodes"] if n["status"] == "no report"]
    if missing:
        lines += ["", "Without a report:"] + [f"  {n['name']}: {n['reason']}" for n in missing]
    run = doc.get("run")
    if run:
        lines += ["", f"Reports in {run['out']}" + (f"; srun: {run['error']}" if run["error"] else "")]
    lines += ["", f"{s['failing']} of {s['nodes']} nodes failing (errors, areas not checked, or no report)"]
    return shown(lines)
