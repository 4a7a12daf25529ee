"""The fix plan: what to do, in order, each step tied to the finding it fixes."""

from __future__ import annotations

import re

from ..redact import mask_tree
from ..shell import export, is_name, prepend
from . import FixError

ORDER = {"manual": 0, "install": 1, "env": 2}
MANUAL = re.compile(r"reboot|modprobe|driver|docker run|--gpus|Windows|wsl|sudo", re.I)


def build_plan(report: dict) -> dict:
    """Steps (manual → install → env) and the merged environment changes, credentials masked
    (a saved report from an older trtdoctor may hold them unmasked)."""
    steps, seen_cmds = [], set()
    env = {"prepend": {}, "set": {}}
    for f in report.get("findings", []):
        fix = f.get("fix")
        if not fix or f["severity"] == "info":
            continue
        cmds = [c for c in fix.get("commands", []) if not c.startswith(("trtdoctor ", "ldd ", "ls ", "cat ", "nvidia-smi"))]
        installs = [c for c in cmds if c.startswith(("pip ", "conda ", "python -m pip"))]
        manual = [c for c in cmds if c not in installs and MANUAL.search(c)]
        for var, value in (fix.get("env") or {}).items():
            if not is_name(var):  # a saved report is input: its names end up in shell text
                raise FixError(f"{f['id']}: refusing the variable {var[:40]!r}: not a shell variable name (letters, digits, _)")
            if value.endswith(f":${var}"):
                for d in value[: -len(var) - 2].split(":"):
                    env["prepend"].setdefault(var, [])
                    if d and d not in env["prepend"][var]:
                        env["prepend"][var].append(d)
            else:
                env["set"][var] = value
        new_installs = [c for c in installs if c not in seen_cmds]
        seen_cmds.update(new_installs)
        if new_installs:
            steps.append({"kind": "install", "finding": f["id"], "title": f["title"], "summary": fix["summary"], "commands": new_installs})
        if fix.get("env"):
            steps.append({"kind": "env", "finding": f["id"], "title": f["title"], "summary": fix["summary"], "env": fix["env"]})
        if manual or (not installs and not fix.get("env")):
            steps.append({"kind": "manual", "finding": f["id"], "title": f["title"], "summary": fix["summary"], "commands": manual})
    steps.sort(key=lambda s: ORDER[s["kind"]])
    for var, dirs in env["prepend"].items():
        if env["set"].get(var, "").startswith(tuple(dirs)):
            del env["set"][var]  # a full value that already starts with the prepended dirs
    return mask_tree({"schema": "trtdoctor.plan/1", "steps": steps, "env": env})


def plan_text(plan: dict) -> str:
    if not plan["steps"]:
        return "Nothing to fix."
    out = []
    for i, s in enumerate(plan["steps"], 1):
        out.append(f"{i}. [{s['kind']}] {s['summary']}  ({s['finding']}: {s['title']})")
        for c in s.get("commands", []):
            out.append(f"     $ {c}")
        for k, v in (s.get("env") or {}).items():
            out.append(f"     {env_command(k, v)}")
    return "\n".join(out)


def env_command(var: str, value: str) -> str:
    """A fix's env change as a command safe to paste: ``DIR:$VAR`` prepends, anything else sets."""
    tail = f":${var}"
    return prepend(var, value[: -len(tail)]) if value.endswith(tail) else export(var, value)
