"""The fix plan: what to do, in order, each step tied to the finding it fixes.

Each step's kind is the fix's own (``Fix.kind``), never guessed from its command text, and
every command of a fix is kept. Steps come in the order of ``findings.FIX_KINDS``: what a
person must do, commands, installs, then environment changes."""

from __future__ import annotations

from ..findings import FIX_KINDS, default_kind
from ..redact import mask_tree
from ..shell import export, is_name, prepend
from . import FixError

ORDER = {k: i for i, k in enumerate(FIX_KINDS)}
STEP_KIND = {"environment": "env"}  # trtdoctor.plan/1 named environment steps "env": kept for its readers


def build_plan(report: dict) -> dict:
    """Steps in kind order and the merged environment changes, credentials masked (a saved
    report from an older trtdoctor may hold them unmasked)."""
    steps, env = [], {"prepend": {}, "set": {}}
    for f in report.get("findings", []):
        fix = f.get("fix")
        if not fix or f["severity"] == "info":
            continue
        _merge_env(f["id"], fix.get("env") or {}, env)
        kind = fix.get("kind") or default_kind(fix.get("commands", []), fix.get("env") or {})
        if kind == "environment" and not fix.get("env"):  # a saved report's kind without the change it names
            kind = default_kind(fix.get("commands", []), {})
        step = {"kind": STEP_KIND.get(kind, kind), "finding": f["id"], "title": f["title"], "summary": fix["summary"], "commands": list(fix.get("commands", []))}
        if fix.get("env"):
            step["env"] = fix["env"]
        step["links"] = list(fix.get("links") or [])
        same = next((s for s in steps if kind == "install" and s["kind"] == "install" and s["commands"] == step["commands"]), None)
        if same:  # the same install fixes several findings: one step names them all
            same.setdefault("also_fixes", []).append(f["id"])
            continue
        steps.append(step)
    steps.sort(key=lambda s: ORDER[{v: k for k, v in STEP_KIND.items()}.get(s["kind"], s["kind"])])
    for var, dirs in env["prepend"].items():
        if env["set"].get(var, "").startswith(tuple(dirs)):
            del env["set"][var]  # a full value that already starts with the prepended dirs
    return mask_tree({"schema": "trtdoctor.plan/1", "steps": steps, "env": env})


def _merge_env(finding: str, fix_env: dict, env: dict) -> None:
    for var, value in fix_env.items():
        if not is_name(var):  # a saved report is input: its names end up in shell text
            raise FixError(f"{finding}: refusing the variable {var[:40]!r}: not a shell variable name (letters, digits, _)")
        if value.endswith(f":${var}"):
            for d in value[: -len(var) - 2].split(":"):
                env["prepend"].setdefault(var, [])
                if d and d not in env["prepend"][var]:
                    env["prepend"][var].append(d)
        else:
            env["set"][var] = value


def plan_text(plan: dict) -> str:
    if not plan["steps"]:
        return "Nothing to fix."
    out = []
    for i, s in enumerate(plan["steps"], 1):
        also = f"; also fixes {', '.join(s['also_fixes'])}" if s.get("also_fixes") else ""
        out.append(f"{i}. [{s['kind']}] {s['summary']}  ({s['finding']}: {s['title']}{also})")
        out += [f"     $ {c}" for c in s.get("commands", [])]
        out += [f"     {env_command(k, v)}" for k, v in (s.get("env") or {}).items()]
        out += [f"     see {link}" for link in s.get("links", [])]
    return "\n".join(out)


def plan_markdown(plan: dict) -> str:
    """The plan as a Markdown list, every value escaped or in a code span (render's helpers)."""
    from ..render import _cell, _code, _link

    if not plan["steps"]:
        return "## trtdoctor fix plan\n\nNothing to fix."
    out = ["## trtdoctor fix plan", ""]
    for i, s in enumerate(plan["steps"], 1):
        out.append(f"{i}. **{_cell(s['kind'])}** {_cell(s['summary'])} ({_code(s['finding'])}: {_cell(s['title'])})")
        out += [f"   - {_code(c)}" for c in s.get("commands", [])]
        out += [f"   - {_code(env_command(k, v))}" for k, v in (s.get("env") or {}).items()]
        out += [f"   - {_link(link)}" for link in s.get("links", [])]
    return "\n".join(out)


def env_command(var: str, value: str) -> str:
    """A fix's env change as a command safe to paste: ``DIR:$VAR`` prepends, anything else sets."""
    tail = f":${var}"
    return prepend(var, value[: -len(tail)]) if value.endswith(tail) else export(var, value)
