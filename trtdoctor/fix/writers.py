"""Writing the environment part of a plan: conda activation hooks, a venv's activate
scripts (bash/zsh, fish, csh), or a shell file for bash, zsh, fish or csh/tcsh. Every write
is backed up, atomic, locked, idempotent and shown as a diff; with --root, the judged
environment's paths are inside the root or the write is refused."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..shell import CONTROL, is_name, quote
from . import FixError, blocks, dialects, files
from .blocks import BEGIN, END  # noqa: F401  (the marker text, for callers and tests)
from .dialects import UNSET


def check_env(env: dict) -> None:
    """Refuse a name that is not a plain variable and a value that cannot sit on one line."""
    for var, values in [*env.get("prepend", {}).items(), *((k, [v]) for k, v in env.get("set", {}).items())]:
        if not is_name(var):
            raise FixError(f"refusing to write the variable {var[:40]!r}: not a shell variable name (letters, digits, _)")
        if any(CONTROL.search(v) for v in values):
            raise FixError(f"refusing to write {var}: its value holds a newline or another control character")


def activate_lines(env: dict, sh: str = "bash") -> list[str]:
    """Lines that apply the plan's env changes in shell ``sh``, every value quoted for it."""
    check_env(env)
    return dialects.apply_lines(env, dialects.family(sh))


def save_lines(env: dict) -> list[str]:
    return [f'export {dialects.OLD}{v}="${{{v}-{UNSET}}}"' for v in dialects.names(env)]


def restore_lines(env: dict) -> list[str]:
    out = []
    for v in dialects.names(env):
        old = f"{dialects.OLD}{v}"
        out.append(f'if [ "${{{old}-{UNSET}}}" = "{UNSET}" ]; then unset {v}; else export {v}="${old}"; fi; unset {old}')
    return out


@dataclass
class Change:
    path: Path
    old: files.Original | None
    new: bytes | None  # None: delete
    make_parents: bool = False  # create the missing folder when applied (conda's activate.d)
    option: str = "--shell-file"  # the option that chose this path, named when it cannot be written
    rebuild: Optional[Callable[[Optional[files.Original]], Optional[bytes]]] = None  # the new content for what is there now

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

    def check(self) -> None:
        """Refuse before anything is written or printed: a kernel file, a folder we cannot write."""
        for c in self.changes:
            files.refuse_kernel_fs(c.path)
            if c.changes:
                files.check_writable(c.path, c.old, c.make_parents, c.option)

    def apply(self) -> list[str]:
        """Apply all changes under a lock; check every target first so a refusal changes nothing.
        A file another run changed since it was read is read again and its change rebuilt."""
        self.check()
        todo = [c for c in self.changes if c.changes]
        for c in todo:
            if c.make_parents:
                files.make_dirs(c.path.parent)
        done: list[str] = []
        with files.locked([c.path.parent for c in todo]):
            for c in todo:
                self._apply_one(c, done)
        return done

    @staticmethod
    def _apply_one(c: Change, done: list[str]) -> None:
        now = files.read(c.path)
        if now != c.old:
            if c.rebuild is None:
                raise FixError(f"{c.path} changed since it was read; run again")
            c.old, c.new = now, c.rebuild(now)
            if not c.changes:
                done.append(f"{c.path}: already up to date (another run wrote it)")
                return
        if c.old is not None and (b := files.backup(c.path, c.old)):
            done.append(f"backed up {c.path} to {b}")
        if c.new is None:
            c.path.unlink()
            done.append(f"removed {c.path}")
            return
        files.atomic_write(c.path, c.new, c.old or files.new_file_owner(c.path.parent))
        done.append(f"wrote {c.path}")


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


def _change(path: Path, lines: list[str], undo: bool, *, make_parents: bool = False, root: Path | None = None) -> Change:
    """The change to ``path`` (through a symbolic link to its target): our block put in, or taken out."""
    path = files.through_link(path, root)
    files.refuse_kernel_fs(path)

    def rebuild(old: files.Original | None) -> bytes | None:
        if undo:
            new, remove = blocks.without_block(old.data, str(path)) if old else (None, False)
            return None if remove else new
        return blocks.with_block(old.data if old else b"", lines, str(path), created=old is None)

    old = files.read(path)
    return Change(path, old, rebuild(old), make_parents, rebuild=rebuild)


def has_changes(env: dict) -> bool:
    return bool(env.get("prepend") or env.get("set"))


def plan_writes(env: dict, judged_env: dict, *, sh: str = "bash", shell_file: str | None = None, undo: bool = False, root: Path | None = None) -> tuple[Where, WritePlan]:
    """Where to write (conda hooks, venv activate scripts, or a shell file) and what."""
    conda, venv = judged_env.get("CONDA_PREFIX"), judged_env.get("VIRTUAL_ENV")
    if not undo:
        check_env(env)
    wp = WritePlan()
    if shell_file or not (conda or venv):
        if root is not None and not shell_file:
            raise FixError(f"the judged environment has no CONDA_PREFIX or VIRTUAL_ENV inside --root {root}: name the file to write with --shell-file")
        # --shell-file is a path here, as the user typed it (like --out); only the judged env's paths are inside --root
        path = Path(shell_file or f"trtdoctor-env.{ {'fish': 'fish', 'csh': 'csh'}.get(dialects.family(sh), 'sh') }").absolute()
        wp.changes.append(_change(path, [] if undo else activate_lines(env, sh), undo))
        return Where("shell file", apply_command(sh, path)), wp
    if conda:
        if not place(conda, root).is_dir():
            raise FixError(f"CONDA_PREFIX {conda} does not exist{f' in {root}' if root else ''}; activate the env you mean, or pass --shell-file")
        hooks = (("activate.d", save_lines(env) + activate_lines(env)), ("deactivate.d", restore_lines(env)))
        for folder, lines in hooks:
            path = place(f"{conda.rstrip('/')}/etc/conda/{folder}/trtdoctor.sh", root)
            wp.changes.append(_change(path, [] if undo else lines, undo, make_parents=True, root=root))
        return Where("conda activation hooks", f"conda deactivate && conda activate {quote(conda)}"), wp
    bin_ = f"{venv.rstrip('/')}/bin"
    activate = place(f"{bin_}/activate", root)
    if not os.path.lexists(activate):
        raise FixError(f"{activate} does not exist; is VIRTUAL_ENV={venv} a venv? Pass --shell-file to write elsewhere")
    for name, fam in (("activate", "posix"), ("activate.fish", "fish"), ("activate.csh", "csh")):
        path = place(f"{bin_}/{name}", root)
        if os.path.lexists(path):
            wp.changes.append(_change(path, [] if undo else dialects.venv_lines(env, fam), undo, root=root))
    script = {"fish": "activate.fish", "csh": "activate.csh"}.get(dialects.family(sh), "activate")
    return Where("venv activate scripts", f"deactivate; source {quote(bin_ + '/' + script)}"), wp


@dataclass(frozen=True)
class Where:
    """What was written, and the one command that applies it in the current shell."""

    what: str
    apply: str


def apply_command(sh: str, path: Path) -> str:
    fam = dialects.family(sh)
    if fam == "csh":
        return f"source {dialects.csh_quote(str(path))}"
    return f"source {quote(str(path))}" if fam == "fish" else f". {quote(str(path))}"
