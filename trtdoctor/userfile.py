"""Reading a small file someone handed us (a saved report, an engine's sidecar): only a
regular file, never more than a cap, and never blocking on a FIFO or a device."""

from __future__ import annotations

import os
import stat

KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


class Refused(Exception):
    """Why the file was not read, as words to follow its name: ``is a FIFO, not a regular file``."""


def read_capped(path: str | os.PathLike, limit: int) -> bytes:
    """The file's bytes; ``Refused`` when it is not a regular file or holds more than ``limit``
    bytes, ``OSError`` when it cannot be read."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"is {KINDS.get(stat.S_IFMT(st.st_mode), 'not a file')}, not a regular file")
        if st.st_size > limit:
            raise Refused(f"is larger than {_size(limit)}")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)  # the size can change after fstat
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Refused(f"is larger than {_size(limit)}")
    return data


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n // 2**10} KiB"
