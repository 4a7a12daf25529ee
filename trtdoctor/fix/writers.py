"""Writing the environment part of a plan: conda activation hooks, a venv's activate
script, or a shell file. Every write is backed up, atomic, idempotent and shown as a diff."""

from __future__ import annotations

import difflib
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..redact import masked
from . import FixError

BEGIN, END = "# >>> trtdoctor >>>", "# <<< trtdoctor <<<"
UNSET = "__trtdoctor_unset__"


def fish_quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def activate_lines(env: dict, shell: str = "bash") -> list[str]:
    """Lines that apply the plan's env changes, saving previous values for deactivation.

    Every value enters the written files here. One that holds a credential (or the mark of one
    the plan masked) is not written, neither in clear nor as a broken masked value: a comment says so."""
    out = []
    for var, dirs in env.get("prepend", {}).items():
        for d in reversed(dirs):
            if masked(d):
                out.append(f"# not written: an entry for {var} holds a credential (masked in the plan); add it by hand")
            elif shell == "fish":
                out.append(f"contains -- {fish_quote(d)} $${var}; or set -gx --prepend {var} {fish_quote(d)}".replace("$$", "$"))
            else:
                q = shlex.quote(d)
                out.append(f'case ":${{{var}:-}}:" in *:{q}:*) ;; *) export {var}={q}"${{{var}:+:${var}}}" ;; esac')
    for var, value in env.get("set", {}).items():
        if masked(value):
            out.append(f"# not written: the value for {var} holds a credential (masked in the plan); set it by hand")
        else:
            out.append(f"set -gx {var} {fish_quote(value)}" if shell == "fish" else f"export {var}={shlex.quote(value)}")
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


def block(lines: list[str]) -> str:
    return "\n".join([BEGIN, "# written by `trtdoctor fix --write-env`; remove with `trtdoctor fix --undo`", *lines, END]) + "\n"


def replace_block(text: str, new_block: str | None) -> str:
    """Put our block in place of the old one (or append it); None removes it."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        return head + (new_block or "") + tail
    if new_block is None:
        return text
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + new_block


@dataclass
class Change:
    path: Path
    old: str | None
    new: str | None  # None: delete
    make_parents: bool = False  # create the missing folder when applied (conda's activate.d)

    def diff(self) -> str:
        a = (self.old or "").splitlines(keepends=True)
        b = (self.new or "").splitlines(keepends=True)
        return "".join(difflib.unified_diff(a, b, f"{self.path} (before)", f"{self.path} (after)"))

    @property
    def changes(self) -> bool:
        return self.old != self.new


@dataclass
class WritePlan:
    changes: list[Change] = field(default_factory=list)

    def apply(self) -> list[str]:
        """Apply all changes; check every target first so a refusal changes nothing."""
        for c in self.changes:
            if not c.changes:
                continue
            d = c.path.parent
            if c.new is not None and not d.is_dir():
                if not c.make_parents:
                    raise FixError(f"cannot write {c.path}: {d} does not exist")
                while not d.is_dir():
                    d = d.parent
            if not os.access(d, os.W_OK):
                raise FixError(f"cannot write {c.path}: {d} is not writable (try another --shell-file or fix permissions)")
        done = []
        for c in self.changes:
            if not c.changes:
                continue
            if c.old is not None:
                backup = c.path.with_name(c.path.name + ".trtdoctor-backup")
                if not backup.exists():
                    atomic_write(backup, c.old, mode=c.path.stat().st_mode)
                    done.append(f"backed up {c.path} to {backup}")
            if c.make_parents and c.new is not None:
                try:
                    c.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise FixError(f"cannot create {c.path.parent}: {exc.strerror}") from None
            if c.new is None:
                c.path.unlink()
                done.append(f"removed {c.path}")
            else:
                atomic_write(c.path, c.new, mode=c.path.stat().st_mode if c.path.exists() else 0o644)
                done.append(f"wrote {c.path}")
        return done


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_text(p: Path) -> str | None:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FixError(f"cannot read {p}: {exc.strerror}") from None


def plan_writes(env: dict, judged_env: dict, *, shell: str = "bash", shell_file: str | None = None, undo: bool = False) -> tuple[str, WritePlan]:
    """Where to write (conda hooks, venv activate, or a shell file) and what."""
    conda, venv = judged_env.get("CONDA_PREFIX"), judged_env.get("VIRTUAL_ENV")
    wp = WritePlan()
    if shell_file or not (conda or venv):
        path = Path(shell_file or ("trtdoctor-env.fish" if shell == "fish" else "trtdoctor-env.sh")).absolute()
        old = read_text(path)
        if undo:
            new = replace_block(old, None) if old is not None else None
            new = new if new and new.strip() else None  # nothing but our block: remove the file
        else:
            new = replace_block(old or "", block(activate_lines(env, shell)))
        wp.changes.append(Change(path, old, new))
        return "shell file", wp
    if conda:
        prefix = Path(conda)
        if not prefix.is_dir():
            raise FixError(f"CONDA_PREFIX {prefix} does not exist; activate the env you mean, or pass --shell-file")
        act = prefix / "etc/conda/activate.d/trtdoctor.sh"
        deact = prefix / "etc/conda/deactivate.d/trtdoctor.sh"
        act_text = None if undo else block(save_lines(env) + activate_lines(env))
        deact_text = None if undo else block(restore_lines(env))
        for p, text in ((act, act_text), (deact, deact_text)):
            old = read_text(p)
            if undo and old is not None and BEGIN not in old:
                continue  # not ours
            wp.changes.append(Change(p, old, text, make_parents=True))
        return "conda activation hooks", wp
    activate = Path(venv) / "bin" / "activate"
    old = read_text(activate)
    if old is None:
        raise FixError(f"{activate} does not exist; is VIRTUAL_ENV={venv} a venv? Pass --shell-file to write elsewhere")
    new = replace_block(old, None if undo else block(activate_lines(env)))
    wp.changes.append(Change(activate, old, new))
    return "venv activate script", wp
