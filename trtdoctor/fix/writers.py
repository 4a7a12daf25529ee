"""Writing the environment part of a plan: conda activation hooks, a venv's activate
script, or a shell file. Every write is backed up, atomic, idempotent and shown as a diff;
with --root, the judged environment's paths are inside the root or the write is refused."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..redact import masked
from ..shell import CONTROL, export, fish_quote, is_name, prepend, quote
from . import FixError, blocks, files
from .blocks import BEGIN, END  # noqa: F401  (the marker text, for callers and tests)

UNSET = "__trtdoctor_unset__"


def check_env(env: dict) -> None:
    """Refuse a name that is not a plain variable and a value that cannot sit on one line."""
    for var, values in [*env.get("prepend", {}).items(), *((k, [v]) for k, v in env.get("set", {}).items())]:
        if not is_name(var):
            raise FixError(f"refusing to write the variable {var[:40]!r}: not a shell variable name (letters, digits, _)")
        if any(CONTROL.search(v) for v in values):
            raise FixError(f"refusing to write {var}: its value holds a newline or another control character")


def activate_lines(env: dict, sh: str = "bash") -> list[str]:
    """Lines that apply the plan's env changes, every value quoted for the shell.

    One that holds a credential (or the mark of one the plan masked) is not written, neither
    in clear nor as a broken masked value: a comment says so."""
    check_env(env)
    out = []
    for var, dirs in env.get("prepend", {}).items():
        for d in reversed(dirs):
            if masked(d):
                out.append(f"# not written: an entry for {var} holds a credential (masked in the plan); add it by hand")
            elif sh == "fish":
                q = fish_quote(d)
                out.append(f"contains -- {q} ${var}; or set -gx --prepend {var} {q}")
            else:
                out.append(f'case ":${{{var}:-}}:" in *:{quote(d)}:*) ;; *) {prepend(var, d)} ;; esac')
    for var, value in env.get("set", {}).items():
        if masked(value):
            out.append(f"# not written: the value for {var} holds a credential (masked in the plan); set it by hand")
        else:
            out.append(f"set -gx {var} {fish_quote(value)}" if sh == "fish" else export(var, value))
    return out


def save_lines(env: dict) -> list[str]:
    names = list(env.get("prepend", {})) + list(env.get("set", {}))
    return [f'export _TRTDOCTOR_OLD_{v}="${{{v}-{UNSET}}}"' for v in names]


def restore_lines(env: dict) -> list[str]:
    out = []
    for v in list(env.get("prepend", {})) + list(env.get("set", {})):
        old = f"_TRTDOCTOR_OLD_{v}"
        out.append(f'if [ "${{{old}-{UNSET}}}" = "{UNSET}" ]; then unset {v}; else export {v}="${old}"; fi; unset {old}')
    return out


@dataclass
class Change:
    path: Path
    old: files.Original | None
    new: bytes | None  # None: delete
    make_parents: bool = False  # create the missing folder when applied (conda's activate.d)

    def diff(self) -> str:
        a = (self.old.data if self.old else b"").decode("utf-8", "backslashreplace").splitlines(keepends=True)
        b = (self.new or b"").decode("utf-8", "backslashreplace").splitlines(keepends=True)
        return "".join(difflib.unified_diff(a, b, f"{self.path} (before)", f"{self.path} (after)"))

    @property
    def changes(self) -> bool:
        return (self.old.data if self.old else None) != self.new


@dataclass
class WritePlan:
    changes: list[Change] = field(default_factory=list)

    def apply(self) -> list[str]:
        """Apply all changes; check every target first so a refusal changes nothing."""
        todo = [c for c in self.changes if c.changes]
        for c in todo:
            files.check_writable(c.path, c.old, c.make_parents)
        done = []
        for c in todo:
            if files.read(c.path) != c.old:
                raise FixError(f"{c.path} changed since it was read; run again")
            if c.old is not None and (b := files.backup(c.path, c.old)):
                done.append(f"backed up {c.path} to {b}")
            if c.new is None:
                c.path.unlink()
                done.append(f"removed {c.path}")
                continue
            if c.make_parents:
                files.make_dirs(c.path.parent)
            files.atomic_write(c.path, c.new, c.old or files.new_file_owner(c.path.parent))
            done.append(f"wrote {c.path}")
        return done


def place(p: str, root: Path | None) -> Path:
    """Where a path of the judged system lies here: with --root, inside it (its folders'
    symbolic links followed) or refused, never on the host. The last part is not followed:
    a link there is refused when read. (openat2's RESOLVE_IN_ROOT would resolve links as the
    judged system does, but Python does not offer it: a link out of the root is refused.)"""
    if root is None:
        return Path(p).absolute()
    if not p.startswith("/"):
        raise FixError(f"with --root, {p} must be an absolute path of the judged system (inside {root})")
    inside = root / p.lstrip("/")
    real_root, parent = Path(os.path.realpath(root)), Path(os.path.realpath(inside.parent))
    if inside.name in ("", ".", "..") or (parent != real_root and real_root not in parent.parents):
        raise FixError(f"{p} leads out of --root {root} (through a symbolic link or '..'); refusing to write on the host")
    return parent / inside.name


def _change(path: Path, lines: list[str], undo: bool, *, make_parents: bool = False) -> Change:
    old = files.read(path)
    if undo:
        new, remove = blocks.without_block(old.data, str(path)) if old else (None, False)
        return Change(path, old, None if remove else new)
    return Change(path, old, blocks.with_block(old.data if old else b"", lines, str(path), created=old is None), make_parents)


def plan_writes(env: dict, judged_env: dict, *, sh: str = "bash", shell_file: str | None = None, undo: bool = False, root: Path | None = None) -> tuple[str, WritePlan]:
    """Where to write (conda hooks, venv activate, or a shell file) and what."""
    conda, venv = judged_env.get("CONDA_PREFIX"), judged_env.get("VIRTUAL_ENV")
    wp = WritePlan()
    if shell_file or not (conda or venv):
        if root is not None and not shell_file:
            raise FixError(f"the judged environment has no CONDA_PREFIX or VIRTUAL_ENV inside --root {root}: name the file to write with --shell-file")
        # --shell-file is a path here, as the user typed it (like --out); only the judged env's paths are inside --root
        path = Path(shell_file or ("trtdoctor-env.fish" if sh == "fish" else "trtdoctor-env.sh")).absolute()
        wp.changes.append(_change(path, [] if undo else activate_lines(env, sh), undo))
        return "shell file", wp
    if conda:
        if not place(conda, root).is_dir():
            raise FixError(f"CONDA_PREFIX {conda} does not exist{f' in {root}' if root else ''}; activate the env you mean, or pass --shell-file")
        hooks = (("activate.d", save_lines(env) + activate_lines(env)), ("deactivate.d", restore_lines(env)))
        for folder, lines in hooks:
            path = place(f"{conda.rstrip('/')}/etc/conda/{folder}/trtdoctor.sh", root)
            wp.changes.append(_change(path, [] if undo else lines, undo, make_parents=True))
        return "conda activation hooks", wp
    activate = place(f"{venv.rstrip('/')}/bin/activate", root)
    if files.read(activate) is None:
        raise FixError(f"{activate} does not exist; is VIRTUAL_ENV={venv} a venv? Pass --shell-file to write elsewhere")
    wp.changes.append(_change(activate, [] if undo else activate_lines(env), undo))
    return "venv activate script", wp
