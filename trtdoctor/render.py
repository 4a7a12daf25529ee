"""Renderers: one line per area with ✓ / ! / ✗, details with -v; Markdown for bug reports."""

from __future__ import annotations

import json
import re

from .findings import Finding
from .redact import anonymize_tree, mask_text
from .rules import AREAS

MARK = {"ok": "✓", "warning": "!", "error": "✗", "info": "·", "skipped": "-"}


def _libs(snap: dict) -> dict:
    return (snap.get("libraries") or {}).get("libraries") or {}


def area_summary(area: str, snap: dict) -> str:
    """The key facts of a healthy (or not) area in a few words."""
    s = snap.get(area) or {}
    if isinstance(s, dict) and "error" in s:
        return s["error"]
    if area == "os":
        bits = [s.get("name") or s.get("id") or "unknown OS", s.get("arch"), f"glibc {s['glibc']}" if s.get("glibc") else None]
        bits += ["WSL2" if s.get("wsl2") else None, "container" if s.get("container") else None]
        return ", ".join(b for b in bits if b)
    if area == "driver":
        if not s.get("version"):
            return "no NVIDIA driver found"
        return f"{s['version']} (supports CUDA ≤ {s.get('cuda_driver_version') or '?'})"
    if area == "gpus":
        devs = s.get("devices") or []
        if not devs:
            return "no GPU found"
        return "; ".join(f"{d.get('index')}: {d.get('name')} (sm_{(d.get('compute_capability') or '?').replace('.', '')})" for d in devs)
    if area == "env":
        v = s.get("vars") or {}
        keys = [k for k in ("LD_LIBRARY_PATH", "LD_PRELOAD", "CUDA_VISIBLE_DEVICES", "CONDA_PREFIX", "VIRTUAL_ENV") if k in v]
        return ", ".join(f"{k} set" for k in keys) or "no GPU-related variables set"
    if area == "libraries":
        found = {}
        for soname, lib in _libs(snap).items():
            if lib.get("resolved") and lib.get("key") in ("cuda", "cudart", "cudnn", "nvinfer"):
                found[lib["key"]] = f"{soname} {lib.get('version') or ''}".strip()
        n = len(_libs(snap))
        return (", ".join(found.values()) or "no CUDA/cuDNN/TensorRT libraries resolve") + f" ({n} sonames judged)"
    if area in ("tensorrt", "tensorflow", "pycuda", "onnxruntime"):
        inst = s.get("installs") or []
        if not inst:
            return "not installed"
        if area == "tensorrt":
            return "; ".join(", ".join(f"{n} {v}" for n, v in i["parts"].items()) for i in inst)
        return "; ".join(f"{i.get('package', area)} {i.get('version')}" for i in inst)
    if area == "precision":
        rows = s.get("gpus") or []
        if not rows:
            return "no GPU to judge"
        return "; ".join(f"{r.get('name')}: " + " ".join(k for k, v in (r.get("support") or {}).items() if v is True) for r in rows)
    return ""


def area_status(area: str, snap: dict, findings: list[Finding]) -> str:
    sev = {f.severity for f in findings if f.area == area}
    if "error" in sev:
        return "error"
    if "warning" in sev:
        return "warning"
    if area not in snap:
        return "skipped"
    return "ok"


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


def text(report: dict, findings: list[Finding], verbose: bool = False, areas: list[str] | None = None) -> str:
    snap = report["snapshot"]
    out = [f"trtdoctor {report['tool']['version']} — {report['target']['mode']} check of {report['target']['root']}"]
    for area in areas or AREAS:
        st = area_status(area, snap, findings)
        if st == "skipped":
            continue
        out.append(f"{MARK[st]} {area:<12} {area_summary(area, snap)}")
        for f in (x for x in findings if x.area == area):
            if f.severity == "info" and not verbose:
                continue
            out.append(f"    {MARK[f.severity]} {f.title}")
            if verbose or f.severity == "error":
                if f.detail and verbose:
                    out.append(f"      {f.detail}")
                for e in f.evidence[: None if verbose else 3]:
                    out.append(f"      · {e}")
                if f.fix:
                    out.append(f"      fix: {f.fix.summary}")
                    for c in f.fix.commands:
                        out.append(f"        $ {c}")
        if verbose and area == "libraries":
            out += library_chains(snap)
        if verbose and area == "precision":
            out += precision_table(snap)
    s = report["summary"]
    out.append(f"{s['errors']} error{'s' * (s['errors'] != 1)}, {s['warnings']} warning{'s' * (s['warnings'] != 1)}")
    return "\n".join(out)


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


def explain(soname: str, resolution, copies: list[dict]) -> str:
    lines = [f"Search for {soname}:"]
    for i, st in enumerate(resolution.steps, 1):
        lines.append(f"  {i:>2}. {st.via:<22} {st.where:<50} {st.outcome}")
    if resolution.found:
        lines.append(f"Result: {resolution.path} via {resolution.via}")
    else:
        lines.append(f"Result: {resolution.error}")
    if copies:
        lines.append("Copies on disk:")
        for c in copies:
            extra = f" [{c['elf_error']}]" if c.get("elf_error") else ""
            lines.append(f"  {c['path']} → {c['real']} ({c.get('version') or '?'}) via {c['via']}{extra}")
    return mask_text("\n".join(lines))


def _cell(s: str) -> str:
    """Text for a Markdown table cell or list item: one line, ``|`` escaped."""
    return " ".join(str(s).split()).replace("|", "\\|")


def _longest_backticks(s: str) -> int:
    return max((len(m) for m in re.findall(r"`+", s)), default=0)


def _code(s: str) -> str:
    """Inline code that no backtick in ``s`` can end early (CommonMark: a longer run of backticks)."""
    s = " ".join(str(s).split())
    tick = "`" * (_longest_backticks(s) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{tick}{pad}{s}{pad}{tick}"


def markdown(report: dict, findings: list[Finding], anonymize: bool = True) -> str:
    """A bug report to paste: secrets masked and, by default, GPU UUIDs, serials and home directories too.

    The full snapshot goes in a collapsed block as complete JSON, in a fence longer than any backtick run in it."""
    if anonymize:
        report = anonymize_tree(report)
        findings = [Finding.from_dict(anonymize_tree(f.to_dict())) for f in findings]
    snap = report["snapshot"]
    s = report["summary"]
    out = [
        f"## trtdoctor {report['tool']['version']} report ({report['target']['mode']}, {_code(report['target']['root'])})",
        "",
        f"**{s['status'].upper()}**: {s['errors']} errors, {s['warnings']} warnings",
        "",
        "| area | status | summary |",
        "|---|---|---|",
    ]
    for area in AREAS:
        st = area_status(area, snap, findings)
        if st != "skipped":
            out.append(f"| {area} | {MARK[st]} | {_cell(area_summary(area, snap))} |")
    if findings:
        out += ["", "### Findings", ""]
        for f in findings:
            out.append(f"- **{f.severity}** {_code(f.id)}: {_cell(f.title)}")
            for e in f.evidence:
                out.append(f"  - {_code(e)}")
            if f.fix:
                out.append(f"  - fix: {_cell(f.fix.summary)}")
                for c in f.fix.commands:
                    out.append(f"    {_code(c)}")
    body = json.dumps(snap, indent=1, default=str)
    fence = "`" * max(3, _longest_backticks(body) + 1)
    out += ["", "<details><summary>snapshot (JSON)</summary>", "", fence + "json", body, fence, "", "</details>"]
    return "\n".join(out)
