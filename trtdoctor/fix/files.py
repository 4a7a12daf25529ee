"""Reading and replacing files we may write: regular files only, bytes in and bytes out.

A FIFO would block the read and a device never ends: both are refused. A symbolic link (a
dotfiles manager's rc file) is written through to the regular file it leads to, so the link
stays a link. A write goes to a temporary file in the same folder, gets the original's mode
and owner, and replaces the original in one rename, under a lock that serialises two runs.
Written on the standard library: the atomicwrites package is archived, and none refuses
FIFOs or keeps the owner; filelock would add a dependency for twenty lines of fcntl."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import FixError

NEW_FILE_MODE = 0o644
KERNEL_FS = ("/proc", "/sys", "/dev")  # their "files" are the kernel's: never ours to write
LOCK_NAME = ".trtdoctor.lock"


@dataclass(frozen=True)
class Original:
    data: bytes
    mode: int
    uid: int
    gid: int


def through_link(path: Path, root: Path | None = None) -> Path:
    """The file to write for ``path``: itself, or the regular file its symbolic link leads to
    (inside ``root`` when given). A dangling link or one to something else is refused."""
    if not path.is_symlink():
        return path
    real = Path(os.path.realpath(path))
    if root is not None:
        real_root = Path(os.path.realpath(root))
        if real != real_root and real_root not in real.parents:
            raise FixError(f"{path} is a symbolic link that leads out of --root {root} (to {real}); refusing to write on the host")
    if not os.path.lexists(real):
        raise FixError(f"{path} is a dangling symbolic link (to {os.readlink(path)}); create its target or name another file")
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise FixError(f"{path} is a symbolic link to {real}, which is not a regular file; trtdoctor writes only regular files")
    return real


def refuse_kernel_fs(path: Path) -> None:
    """/proc, /sys and /dev hold the kernel's files: refused before anything is opened."""
    real = os.path.realpath(path)
    for top in KERNEL_FS:
        if real == top or real.startswith(top + "/"):
            raise FixError(f"{path} is under {top}, the kernel's file system; trtdoctor writes only regular files of yours")


def read(path: Path) -> Original | None:
    """The file's bytes and who owns it; None when there is none. Looked at before it is
    opened (opening a device can do things), and opened so that a swap since cannot fool us."""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FixError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):  # through_link resolves links before; one here was swapped in since
        raise FixError(f"{path} became a symbolic link (to {os.readlink(path)}) while it was read; run again")
    if not stat.S_ISREG(st.st_mode):
        raise FixError(f"{path} is not a regular file (a FIFO, device or folder); trtdoctor writes only regular files")
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FixError(f"{path} changed while it was read; run again")
        return Original(fh.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def check_writable(path: Path, old: Original | None, make_parents: bool = False, option: str = "--shell-file") -> None:
    """Refuse before anything is written: a missing or read-only folder, someone else's file."""
    d = path.parent
    if not d.is_dir():
        if not make_parents:
            raise FixError(f"cannot write {path}: {d} does not exist (try another {option})")
        while not d.is_dir():
            if d.exists():
                raise FixError(f"cannot write {path}: {d} is not a folder (try another {option})")
            d = d.parent
    if not os.access(d, os.W_OK):
        raise FixError(f"cannot write {path}: {d} is not writable (try another {option} or fix permissions)")
    if old is not None and os.geteuid() not in (0, old.uid):
        raise FixError(f"cannot write {path}: it belongs to another user (uid {old.uid}), and replacing it would make it yours")


def atomic_write(path: Path, data: bytes, like: Original | None) -> None:
    """Replace ``path`` with ``data`` in one rename, keeping the mode and owner of ``like``."""
    try:
        replace_atomically(path, data, like)
    except OSError as exc:
        raise FixError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed there") from None


def replace_atomically(path: Path, data: bytes, like: Original | None = None) -> None:
    """A temporary file beside ``path``, synced, given ``like``'s mode and owner (a new file's
    mode without it), renamed over ``path``; removed again if anything fails. OSError as is."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            st = os.fstat(fh.fileno())
            if like and (st.st_uid, st.st_gid) != (like.uid, like.gid):
                _chown(fh.fileno(), path, like)
            os.fchmod(fh.fileno(), like.mode if like else NEW_FILE_MODE)  # after chown, which clears set-id bits
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _chown(fd: int, path: Path, like: Original) -> None:
    try:
        os.fchown(fd, like.uid, like.gid)
    except PermissionError:
        raise FixError(f"cannot keep the owner of {path} (uid {like.uid}, gid {like.gid}); nothing was written to it") from None


def new_file_owner(folder: Path) -> Original | None:
    """Run as root inside someone's folder, a file we create is theirs, not root's."""
    if os.geteuid() != 0:
        return None
    st = os.stat(folder)
    return Original(b"", NEW_FILE_MODE, st.st_uid, st.st_gid)


def make_dirs(folder: Path) -> None:
    """Create ``folder`` and the missing folders above it, each owned like its parent when root."""
    if folder.is_dir():
        return
    make_dirs(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:  # another run made it just now
        if folder.is_dir():
            return
        raise FixError(f"cannot create {folder}: something else is there") from None
    except OSError as exc:
        raise FixError(f"cannot create {folder}: {exc.strerror}") from None
    try:
        if os.geteuid() == 0:
            st = os.stat(folder.parent)
            os.chown(folder, st.st_uid, st.st_gid)
    except OSError as exc:
        raise FixError(f"cannot create {folder}: {exc.strerror}") from None


def backup(path: Path, old: Original) -> Path | None:
    """The first original of ``path`` beside it, as private as the original; None if one is there."""
    b = path.with_name(path.name + ".trtdoctor-backup")
    if os.path.lexists(b):
        return None
    atomic_write(b, old.data, old)
    return b


@contextlib.contextmanager
def locked(folders: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock on each folder's lock file (in one order: no deadlock), so two
    runs never interleave their read and write. The file is removed after; a waiter that got
    a removed file's lock tries again."""
    with contextlib.ExitStack() as stack:
        for d in sorted(set(folders)):
            stack.enter_context(_lock(d / LOCK_NAME))
        yield


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise FixError(f"cannot lock {path.parent}: {exc.strerror}") from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
