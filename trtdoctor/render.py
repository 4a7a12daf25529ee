"""Renderers: one line per area with ✓ / ! / ✗, details with -v; Markdown for bug reports."""

from __future__ import annotations

import json
import re

from .escape import UNDECODABLE_NOTE, has_undecodable, json_ready, shown, visible
from .findings import Finding, cause_of
from .redact import anonymize_tree, mask_text

MARK = {"ok": "✓", "warning": "!", "error": "✗", "info": "·", "not-applicable": "–", "could-not-check": "?"}


def _libs(snap: dict) -> dict:
    return (snap.get("libraries") or {}).get("libraries") or {}


def area_line(area: str, v: dict) -> str:
    """One line per area; an area not (fully) checked says why."""
    if v["status"] == "could-not-check":
        return f"{MARK['could-not-check']} {area:<12} could not check: {v.get('reason')}"
    extra = f" (could not check all of it: {v['reason']})" if v.get("reason") else ""
    return f"{MARK[v['status']]} {area:<12} {v['summary']}{extra}"


def precision_table(snap: dict) -> list[str]:
    rows = (snap.get("precision") or {}).get("gpus") or []
    if not rows:
        return []
    cols = ["fp32", "tf32", "fp16", "bf16", "int8", "fp8", "fp4"]
    word = {True: "yes", False: "no", None: "?"}
    lines = ["      GPU              " + " ".join(f"{c:>6}" for c in cols)]
    for r in rows:
        sup = r.get("support") or {}
        lines.append(
            f"      {str(r.get('index')) + ': sm_' + (r.get('compute_capability') or '?').replace('.', ''):<16} "
            + " ".join(f"{word.get(sup.get(c), sup.get(c)) if not isinstance(sup.get(c), str) else sup.get(c):>6}" for c in cols)
        )
        if r.get("tensorrt"):
            how = r.get("request_by") or {}
            lines.append(f"      TensorRT {r['tensorrt']} requests fp16/int8 by: {how.get('fp16')}")
    return lines


def _finding_lines(f: Finding, findings: list[Finding], verbose: bool, indent: str = "    ") -> list[str]:
    out = [f"{indent}{MARK[f.severity]} {f.title}"]
    if verbose or f.severity == "error" or f.id.endswith(".not-installed"):
        if f.detail and verbose:
            out.append(f"{indent}  {f.detail}")
        for e in f.evidence[: None if verbose else 3]:
            out.append(f"{indent}  · {e}")
        if f.fix:
            out.append(f"{indent}  fix: {f.fix.summary}")
            out += [f"{indent}    $ {c}" for c in f.fix.commands]
            out += [f"{indent}    see {link}" for link in f.fix.links if verbose]
    for g in findings:
        if cause_of(g, findings) is f:
            out.append(f"{indent}  ↳ then {g.severity}: {g.title} [{g.id}]")
    return out


def text(report: dict, findings: list[Finding], verbose: bool = False) -> str:
    """Areas in order, each finding under its area; a finding that follows from another is
    listed under its cause (fix that first) and only named in its own area; the engine's
    verdict (``check --engine``) just above the totals, -v or not.

    Every line is escaped on its own (``escape.shown``): names from the judged system cannot
    start a line or reach the terminal as control sequences."""
    snap = report["snapshot"]
    out = [f"trtdoctor {report['tool']['version']} — {report['target'].get('mode', '?')} check of {report['target'].get('root', '?')}"]
    for area, v in report.get("areas", {}).items():
        out.append(area_line(area, v))
        for f in (x for x in findings if x.area == area):
            if f.severity == "info" and not verbose:
                continue
            cause = cause_of(f, findings)
            if cause is not None:
                out.append(f"    {MARK[f.severity]} {f.title} (follows from {cause.id}: fix that first)")
            else:
                out += _finding_lines(f, findings, verbose)
        if verbose and area == "libraries":
            out += library_chains(snap)
        if verbose and area == "precision":
            out += precision_table(snap)
    if report.get("engine"):
        out += engine_lines(report["engine"])
    if report.get("undecodable") or any(has_undecodable(line) for line in out):
        out.append(f"note: {UNDECODABLE_NOTE}")
    out.append(summary_line(report["summary"]))
    return shown(out)


def summary_line(s: dict) -> str:
    line = f"{s['errors']} error{'s' * (s['errors'] != 1)}, {s['warnings']} warning{'s' * (s['warnings'] != 1)}"
    if s.get("incomplete"):
        line += f"; {s['incomplete']} area{'s' * (s['incomplete'] != 1)} could not be checked (incomplete: exit code 1)"
    return line


def library_chains(snap: dict) -> list[str]:
    lines = []
    for soname, lib in sorted(_libs(snap).items()):
        head = f"{soname} → {lib['resolved']} ({lib.get('version') or '?'}) via {lib.get('via')}" if lib.get("resolved") else f"{soname} → not found"
        others = [c for c in lib.get("copies", []) if c["real"] != lib.get("resolved_real")]
        if others:
            head += "; also " + "; ".join(f"{c['path']} ({c.get('version') or '?'}) via {c['via']}" for c in others)
        if "live_agrees" in lib:
            head += " [loader agrees]" if lib["live_agrees"] else f" [loader mapped {(lib.get('live') or {}).get('loaded')}]"
        lines.append("      " + head)
    return lines


def explain(soname: str, resolution, copies: list[dict], preloads: list = ()) -> str:
    """The search step by step; ``preloads``: (consumer, its resolution) where a package loads the
    library by full path before that consumer, so its search never runs."""
    lines = [f"Search for {soname}:"]
    for i, st in enumerate(resolution.steps, 1):
        lines.append(f"  {i:>2}. {st.via:<22} {st.where:<50} {st.outcome}")
    if resolution.found:
        lines.append(f"Result: {resolution.path} via {resolution.via}")
    else:
        lines.append(f"Result: {resolution.error}")
    for c, r in preloads:
        lines.append(f"For {c['name']} ({c.get('requester')}): already loaded, preloaded by {r['preloaded_by']}: {r['resolved']}")
    if copies:
        lines.append("Copies on disk:")
        for c in copies:
            extra = f" [{c['elf_error']}]" if c.get("elf_error") else ""
            lines.append(f"  {c['path']} → {c['real']} ({c.get('version') or '?'}) via {c['via']}{extra}")
    return shown([mask_text(line) for line in lines])


ENGINE_WORDS = {"loadable": "loadable here", "not-loadable": "NOT loadable here", "unknown": "unknown: cannot tell whether this machine can load it"}
ENGINE_MARKS = {"loadable": "✓", "not-loadable": "✗", "unknown": "!"}


def _built_with(b: dict) -> str:
    """What the sidecar (or, without one, the plan's header) says built the engine; its values
    are scalars: see engine_compat.judge."""
    bits = [
        f"{b.get('backend') or 'TensorRT'} {b['tensorrt']}" if b.get("tensorrt") else None,
        f"{b.get('gpu') or 'GPU'} (sm_{str(b['compute_capability']).replace('.', '')})" if b.get("compute_capability") else None,
        b.get("precision"),
        f"from the {b['from']}" if b.get("from") else None,
    ]
    return ", ".join(str(x) for x in bits if x) or "(the sidecar names nothing)"


def engine_lines(v: dict) -> list[str]:
    """The verdict of ``check --engine``: always shown, -v or not."""
    lines = [f"{ENGINE_MARKS[v['verdict']]} {'engine':<12} {v['path']}: {ENGINE_WORDS[v['verdict']]}"]
    lines += [f"    · {r}" for r in v["reasons"]]
    if v["built_with"]:
        lines.append(f"    built with: {_built_with(v['built_with'])}")
    lines.append(f"    checked by: {v['checked_by'] or 'nothing (see above)'}")
    return lines


# --- Markdown: every value goes through _cell (text) or _code (a code span) ---------------

# Inline Markdown that a value could start: emphasis, code, links and images ([ ]), HTML and
# autolinks (< >), entities (&), tables (|), strikethrough (~), headings and GitHub's #123
# links (#). An underscore inside a word (sm_90, VIRTUAL_ENV) emphasises nothing. Block syntax
# (a heading, list, quote or fence) only starts a line, and a value never does: it follows
# literal text on its line and visible() has already turned its line breaks into \n.
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~&#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_SAFE_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def _cell(s) -> str:
    """Text for a Markdown table cell or list item: one line, nothing hidden, nothing Markdown acts on."""
    return _MD_SPECIAL.sub(r"\\\g<0>", " ".join(visible(str(s)).split()))


def _longest_backticks(s: str) -> int:
    return max((len(m) for m in re.findall(r"`+", s)), default=0)


def _code(s) -> str:
    """Inline code, one line with nothing hidden, that no backtick in ``s`` can end early
    (CommonMark: a longer run of backticks)."""
    s = " ".join(visible(str(s)).split())
    tick = "`" * (_longest_backticks(s) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{tick}{pad}{s}{pad}{tick}"


def _link(url) -> str:
    """An autolink for a plain http(s) URL; anything else is shown as text."""
    return f"<{url}>" if _SAFE_URL.fullmatch(str(url)) else _cell(url)


def _md_finding(f: Finding, findings: list[Finding], depth: int) -> list[str]:
    pad = "  " * depth
    out = [f"{pad}- **{_cell(f.severity)}** {_code(f.id)}: {_cell(f.title)}"]
    out += [f"{pad}  - {_code(e)}" for e in f.evidence]
    if f.fix:
        out.append(f"{pad}  - fix: {_cell(f.fix.summary)}")
        out += [f"{pad}    {_code(c)}" for c in f.fix.commands]
        out += [f"{pad}    {_link(link)}" for link in f.fix.links]
    for g in findings:
        if cause_of(g, findings) is f:
            out.append(f"{pad}  - then, because of this:")
            out += _md_finding(g, findings, depth + 2)
    return out


def _md_engine(v: dict) -> list[str]:
    lines = ["", "### Engine", "", f"{ENGINE_MARKS[v['verdict']]} {_code(v['path'])}: **{_cell(v['verdict'])}** (checked by: {_cell(v['checked_by'] or 'nothing')})", ""]
    lines += [f"- {_cell(r)}" for r in v["reasons"]]
    if v["built_with"]:
        lines.append(f"- built with: {_cell(_built_with(v['built_with']))}")
    return lines


def markdown(report: dict, findings: list[Finding], anonymize: bool = True) -> str:
    """A bug report to paste: area table, root causes first with their consequences nested,
    the engine's verdict (``check --engine``), secrets masked and, by default, GPU UUIDs,
    serials and home directories too.

    The full snapshot goes in a collapsed block as complete JSON, in a fence longer than any backtick run in it."""
    if anonymize:
        report = anonymize_tree(report)
        findings = [Finding.from_dict(anonymize_tree(f.to_dict())) for f in findings]
    snap = report["snapshot"]
    s = report["summary"]
    t = report["target"]
    out = [
        f"## trtdoctor {_cell(report['tool']['version'])} report ({_cell(t.get('mode'))}, {_code(t.get('root'))})",
        "",
        f"**{_cell(s['status'].upper())}**: {_cell(summary_line(s))}",
        "",
        "| area | status | summary |",
        "|---|---|---|",
    ]
    for area, v in report.get("areas", {}).items():
        text_ = f"could not check: {v.get('reason')}" if v["status"] == "could-not-check" else v["summary"]
        out.append(f"| {_cell(area)} | {MARK[v['status']]} | {_cell(text_)} |")
    roots = [f for f in findings if cause_of(f, findings) is None]
    if roots:
        out += ["", "### Findings (root causes first)", ""]
        for f in roots:
            out += _md_finding(f, findings, 0)
    if report.get("engine"):
        out += _md_engine(report["engine"])
    snap, undecodable = json_ready(snap)
    if undecodable or report.get("undecodable"):
        out += ["", _cell(f"note: {UNDECODABLE_NOTE}")]
    body = json.dumps(snap, indent=1)
    fence = "`" * max(3, _longest_backticks(body) + 1)
    out += ["", "<details><summary>snapshot (JSON)</summary>", "", fence + "json", body, fence, "", "</details>"]
    return "\n".join(out)
