"""What is being judged: a root file system, an environment, and whether it is live.

Static mode reads a root the way a chroot sees it: every path (and every value of the judged
environment that names one) is resolved inside the root, symlink by symlink: an absolute
target starts again at the root, ``..`` stops at it, and more than ``MAXSYMLINKS`` links is a
loop. Only regular files are opened, and text only up to a size: a root may be hostile."""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .userfile import KINDS

MAXSYMLINKS = 40  # the kernel's limit before ELOOP
TEXT_MAX = 1 << 20  # config files, headers, metadata: a few KiB each
PACKAGE_DB_MAX = 16 << 20  # dpkg's status, RECORD files, ld.so.cache: a few MiB on a full system
# Where a path that loops leads: /dev/null is no directory, so every use fails (ENOTDIR),
# and nothing inside the judged root can change that.
NOWHERE = "/dev/null/symlink-loop"
_MAGIC = re.compile(r"[*?[]")
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


class NotReadable(Exception):
    """A file a probe must not read: not a regular file (never opened: a FIFO blocks, a
    device never ends), or larger than the limit. The probe reports it as could not collect."""


def open_regular(path: str | os.PathLike, name: str | None = None, *, nofollow: bool = False) -> BinaryIO:
    """Open a regular file for reading, or raise NotReadable (``name`` spells it in the
    message) or OSError. Checked with stat before the open and fstat after it; O_NONBLOCK
    so that a FIFO swapped in between cannot block; ``nofollow`` for an already-resolved path."""
    st = os.stat(path)
    _require_regular(st.st_mode, name)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0))
    try:
        _require_regular(os.fstat(fd).st_mode, name)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _require_regular(mode: int, name: str | None) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory")
    what = next((w for test, w in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a regular file")
    if what:
        reason = f"{what}, not a regular file (not opened)"
        raise NotReadable(f"{name} is {reason}" if name else reason)


@dataclass
class Target:
    root: Path = Path("/")
    env: dict[str, str] = field(default_factory=dict)
    live: bool = True
    timeout: float = 10.0
    python: str | None = None  # --python: an interpreter whose environment is judged too
    # judged path (whose parents are real directories) -> its symlink's text, or None: read once
    _links: dict[str, str | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def mode(self) -> str:
        return "live" if self.live else "static"

    @property
    def contained(self) -> bool:
        """Paths are resolved inside a root other than the host's own ``/``."""
        return str(self.root) != "/"

    def path(self, p: str | os.PathLike) -> Path:
        """The host path that opening the judged system's ``p`` opens, every symlink on the way
        resolved inside the root (live: ``p`` itself, for the kernel to resolve)."""
        p = str(p)
        if not self.contained:
            return Path(p)
        real = self._resolve(p)
        return Path(NOWHERE if real is None else str(self.root) + real)

    def realpath(self, p: str) -> str:
        """``p`` with every symlink resolved, as the judged system spells it (``p`` itself on a loop)."""
        if not self.contained:
            return os.path.realpath(p)
        return self._resolve(str(p)) or str(p)

    def islink(self, p: str) -> bool:
        """Whether ``p`` itself (not what it leads to) is a symlink."""
        if not self.contained:
            return os.path.islink(p)
        at = self._resolve(str(p), follow_last=False)
        return at is not None and bool(self._link(at))  # neither None nor _ABSENT

    def unroot(self, p: str | os.PathLike) -> str:
        """Inverse of ``path``: how the judged system spells a path we found."""
        p = str(p)
        r = str(self.root)
        if r == "/" or not (p == r or p.startswith(r + "/")):
            return p
        return "/" + p[len(r) :].lstrip("/")

    def listdir(self, p: str) -> list[str]:
        """The names in directory ``p``, sorted; OSError as os.listdir."""
        return sorted(os.listdir(self.path(p)))

    def glob(self, pattern: str) -> list[str]:
        """Judged-system paths matching ``pattern`` (glob.glob's rules: no hidden names unless
        asked for), sorted. Each level is listed inside the root, so no symlinked directory
        leads a match out of it."""
        if not self.contained:
            return sorted(glob.glob(pattern))
        parts = [c for c in pattern.split("/") if c]
        hits = ["/"]
        for part in parts:
            if not _MAGIC.search(part):
                hits = [os.path.join(h, part) for h in hits]
                continue
            nxt = []
            for h in hits:
                try:
                    names = os.listdir(self.path(h))
                except OSError:
                    continue
                hidden_ok = part.startswith(".")
                nxt += [os.path.join(h, n) for n in fnmatch.filter(names, part) if hidden_ok or not n.startswith(".")]
            hits = nxt
        if parts and not _MAGIC.search(parts[-1]):
            hits = [h for h in hits if self.islink(h) or self.path(h).exists()]
        return sorted(hits)

    def read_text(self, p: str, limit: int = TEXT_MAX, *, head: bool = False) -> str | None:
        """The text of regular file ``p``; None when it is absent or cannot be opened.
        NotReadable when it is a FIFO, device or socket, or larger than ``limit`` bytes
        (``head``: its first ``limit`` bytes instead)."""
        data = self.read_bytes(p, limit, head=head)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_bytes(self, p: str, limit: int = TEXT_MAX, *, head: bool = False) -> bytes | None:
        try:
            with open_regular(self.path(p), p, nofollow=self.contained) as fh:
                data = fh.read(limit if head else limit + 1)
        except (OSError, ValueError):  # ValueError: a NUL in a live path
            return None
        if len(data) > limit:
            raise NotReadable(f"{p} is larger than {_size(limit)} (not read)")
        return data

    def _resolve(self, p: str, follow_last: bool = True) -> str | None:
        """The judged path ``p`` leads to, as a chroot resolves it; None on a loop (ELOOP).
        Past a name that does not exist the rest is kept as written: the kernel stops there
        too (ENOENT), so no ``..`` after it is ever taken. ``follow_last=False``: the last
        name is left as it is (lstat)."""
        if "\0" in p:  # no file has such a name (a NUL in ld.so.conf, say)
            return None
        todo = _names(p)[::-1]
        done: list[str] = []
        links = 0
        while todo:
            name = todo.pop()
            if name == "..":
                if done:
                    done.pop()
                continue
            if not todo and not follow_last:
                done.append(name)
                break
            here = "/" + "/".join(done + [name])
            link = self._link(here)
            if link == _ABSENT:
                return "/".join([here, *todo[::-1]])
            if link is None:
                done.append(name)
                continue
            links += 1
            if links > MAXSYMLINKS:
                return None
            if link.startswith("/"):
                done = []
            todo += _names(link)[::-1]
        return "/" + "/".join(done)

    def _link(self, here: str) -> str | None:
        """The text of the symlink at judged path ``here`` (whose parents are real
        directories of the root); None when it is something else; _ABSENT when there is
        nothing there (or it cannot be reached). Read once per run."""
        try:
            return self._links[here]
        except KeyError:
            pass
        try:
            link = os.readlink(str(self.root) + here)
        except OSError as exc:
            link = None if exc.errno == errno.EINVAL else _ABSENT  # EINVAL: there, but no symlink
        self._links[here] = link
        return link


_ABSENT = ""  # no symlink has empty text


def _names(p: str) -> list[str]:
    return [n for n in p.split("/") if n not in ("", ".")]


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


ENV_FILE_MAX = 1 << 20  # 1 MiB: an environment is a few KiB; anything bigger is the wrong file


def parse_env_lines(text: str, origin: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` and quotes allowed, ``#`` comments).

    A bad line is named by origin and number only: it may be half of a secret."""
    env: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "a").isalnum() or not key.isascii() or key[0].isdigit():
            raise UsageError(f"{origin}, line {n}: expected KEY=VALUE with KEY a variable name (the line is not shown: it may hold a secret)")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def _read_env_bytes(path: str) -> bytes:
    """Up to ENV_FILE_MAX + 1 bytes of a regular file or a pipe. Opened without blocking, so a
    FIFO nobody writes to reads as empty instead of hanging; once open, a pipe with a writer
    (``<(ssh host env)``) is read to its end. Devices, sockets and directories are refused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise OSError(errno.EINVAL, f"it is {KINDS.get(stat.S_IFMT(mode), 'not a file')}, not a regular file or a pipe")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(ENV_FILE_MAX + 1)
    finally:
        os.close(fd)


def read_env_file(path: str) -> str:
    """The text of --env-file: at most ENV_FILE_MAX bytes of UTF-8 without NUL bytes.

    A pipe (``--env-file <(ssh host env)``) is fine; a directory, binary or huge file is a usage error."""
    try:
        data = _read_env_bytes(path)
    except OSError as exc:
        raise UsageError(f"cannot read --env-file {path}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > ENV_FILE_MAX:
        raise UsageError(f"--env-file {path} is larger than {ENV_FILE_MAX >> 20} MiB; pass a file of KEY=VALUE lines (`env > FILE`)")
    if b"\0" in data:
        raise UsageError(f"--env-file {path} is binary (it has NUL bytes), not KEY=VALUE lines; `env -0` output needs `tr '\\0' '\\n'`")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"--env-file {path} is not UTF-8 text (line {line})") from None


def build_env(*, live: bool, env_file: str | None, env_items: list[str], base: dict | None = None) -> dict[str, str]:
    """The environment to judge: the env file (or, live, the process's own) plus --env."""
    if env_file:
        env = parse_env_lines(read_env_file(env_file), f"--env-file {env_file}")
    elif live:
        env = dict(os.environ if base is None else base)
    else:
        env = {}
    for i, item in enumerate(env_items, 1):
        env.update(parse_env_lines(item, f"--env #{i}" if len(env_items) > 1 else "--env"))
    return env
