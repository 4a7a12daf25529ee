"""What a plan file says of itself before any runtime reads it: its magic tag (a TensorRT or
a TensorRT-RTX plan) and the version of the library that serialized it. With no sidecar and
no runtime here, that is still evidence; the tags and the offset are kb facts
(kb/tensorrt.yaml: plan_magic, plan_version) with their sources."""

from __future__ import annotations

import json
import os
import stat

from .. import knowledge

HEAD = 32  # the magic tag, and the version bytes at the kb's offset
PREFIX_MAX = 1 << 20  # a JSON metadata prefix larger than this is not one


def read(path: str | os.PathLike) -> dict | None:
    """``{"magic", "backend", "version", "offset", "row"}``; ``backend`` None for bytes that
    are not a known plan's; None when the file cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = fh.read(HEAD)
        offset = _json_prefix(fh, head)
        if offset:
            fh.seek(offset)
            head = fh.read(HEAD)
    return parse(head, offset)


def _json_prefix(fh, head: bytes) -> int:
    """Some exporters (Ultralytics) write a little-endian uint32 length and a JSON object of
    metadata before the plan; Netron's tensorrt.js skips the same. The plan's offset, or 0."""
    if len(head) < 5 or head[4:5] != b"{":
        return 0
    n = int.from_bytes(head[:4], "little")
    if not 0 < n <= PREFIX_MAX:
        return 0
    fh.seek(4)
    try:
        json.loads(fh.read(n))
    except ValueError:
        return 0
    return 4 + n


def parse(head: bytes, offset: int = 0) -> dict:
    kb = knowledge.load("tensorrt")
    magic = head[:4].decode("latin-1")
    row = next((r for r in kb["plan_magic"] if r["tag"] == magic), None)
    at = kb["plan_version"]["offset"]
    version = ".".join(str(b) for b in head[at : at + 3]) if row and len(head) >= at + 3 else None
    return {"magic": magic.encode("latin-1").hex() if row is None else magic, "backend": row["backend"] if row else None, "version": version, "offset": offset, "row": row}
