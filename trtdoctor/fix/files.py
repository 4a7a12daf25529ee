"""Reading and replacing files we may write: regular files only, bytes in and bytes out.

A FIFO would block the read and a device never ends; a symbolic link would be replaced by a
file (or lead somewhere else): all are refused. A write goes to a temporary file in the same
folder, gets the original's mode and owner, and replaces the original in one rename.
Written on the standard library: the atomicwrites package is archived, and none refuses
FIFOs or keeps the owner."""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import FixError

NEW_FILE_MODE = 0o644


@dataclass(frozen=True)
class Original:
    data: bytes
    mode: int
    uid: int
    gid: int


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
    if stat.S_ISLNK(st.st_mode):
        raise FixError(f"{path} is a symbolic link (to {os.readlink(path)}); name the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise FixError(f"{path} is not a regular file (a FIFO, device or folder); trtdoctor writes only regular files")
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FixError(f"{path} changed while it was read; run again")
        return Original(fh.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def check_writable(path: Path, old: Original | None, make_parents: bool = False) -> None:
    """Refuse before anything is written: a missing or read-only folder, someone else's file."""
    d = path.parent
    if not d.is_dir():
        if not make_parents:
            raise FixError(f"cannot write {path}: {d} does not exist")
        while not d.is_dir():
            d = d.parent
    if not os.access(d, os.W_OK):
        raise FixError(f"cannot write {path}: {d} is not writable (try another --shell-file or fix permissions)")
    if old is not None and os.geteuid() not in (0, old.uid):
        raise FixError(f"cannot write {path}: it belongs to another user (uid {old.uid}), and replacing it would make it yours")


def atomic_write(path: Path, data: bytes, like: Original | None) -> None:
    """Replace ``path`` with ``data`` in one rename, keeping the mode and owner of ``like``."""
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
