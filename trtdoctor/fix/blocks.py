"""Our block inside someone's file, as bytes: found, replaced or removed, the rest untouched.

Each marker line ends in a hash of the block's body, so no line of the user's (and no value we
wrote: values never hold a newline) can pass for one. A file whose markers do not make exactly
one intact block is refused, never guessed at. Notes inside the block record what --undo must
give back: a file we created, or a final newline we added to the user's last line."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import FixError

BEGIN, END = "# >>> trtdoctor >>>", "# <<< trtdoctor <<<"
MARKER = re.compile(rb"# (>>>|<<<) trtdoctor \1(?: ([0-9a-f]{16}))?\r?")  # no token: written before tokens
HEADER = "# written by `trtdoctor fix --write-env`; remove with `trtdoctor fix --undo`"
CREATED = "# trtdoctor created this file: --undo removes it"
NEWLINE = "# trtdoctor ended the line above with a newline: --undo takes it away"


@dataclass
class Found:
    head: bytes
    body: bytes | None  # None: no block
    tail: bytes = b""

    @property
    def notes(self) -> set[str]:
        lines = (self.body or b"").decode("utf-8", "replace").split("\n")
        return {n for n in (CREATED, NEWLINE) if n in lines}


def lines_of(data: bytes) -> list[bytes]:
    """Lines as the shell reads them: split at LF only, each keeping its end."""
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def token(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def find(data: bytes, where: str) -> Found:
    """Split the file around its one block; refuse a damaged, edited or second block."""
    lines = lines_of(data)
    marks = [(i, m) for i, ln in enumerate(lines) if (m := MARKER.fullmatch(ln.rstrip(b"\n")))]
    if not marks:
        return Found(data, None)
    (b, begin), (e, end) = marks[0], marks[-1]
    problem = None
    if len(marks) > 2:
        problem = f"has {len(marks)} trtdoctor marker lines (lines {', '.join(str(i + 1) for i, _ in marks)}), more than one block"
    elif begin.group(1) != b">>>":
        problem = f"has a trtdoctor end marker (line {b + 1}) before any begin marker"
    elif len(marks) == 1 or end.group(1) != b"<<<":
        problem = f"has a trtdoctor block that begins (line {b + 1}) but never ends"
    body = b"".join(lines[b + 1 : e])
    if problem is None and begin.group(2) != end.group(2):
        problem = f"has trtdoctor markers that do not belong together (lines {b + 1} and {e + 1})"
    elif problem is None and begin.group(2) and begin.group(2).decode() != token(body):
        problem = f"has a trtdoctor block that was edited by hand (lines {b + 1}-{e + 1})"
    if problem:
        raise FixError(f"{where} {problem}; fix it by hand and run again (the file was left as it is)")
    return Found(b"".join(lines[:b]), body, b"".join(lines[e + 1 :]))


def make(lines: list[str], notes: set[str]) -> bytes:
    """The block for these shell lines; a value that is not text is refused."""
    text = "".join(f"{ln}\n" for ln in [HEADER, *(n for n in (CREATED, NEWLINE) if n in notes), *lines])
    try:
        body = text.encode("utf-8", "surrogateescape")  # a path's undecodable bytes go back as they were
    except UnicodeEncodeError:
        raise FixError("a value to write is not text (it holds a lone surrogate); nothing was written") from None
    t = token(body).encode()
    return BEGIN.encode() + b" " + t + b"\n" + body + END.encode() + b" " + t + b"\n"


def with_block(data: bytes, lines: list[str], where: str, *, created: bool = False) -> bytes:
    """The file with our block in place of the old one, or appended."""
    found = find(data, where)
    if found.body is not None:
        return found.head + make(lines, found.notes) + found.tail
    newline = bool(data) and not data.endswith(b"\n")
    notes = {CREATED} if created else set()
    return data + (b"\n" + make(lines, notes | {NEWLINE}) if newline else make(lines, notes))


def without_block(data: bytes, where: str) -> tuple[bytes, bool]:
    """The file as it was before our block; True when we created it and nothing else is left."""
    found = find(data, where)
    if found.body is None:
        return data, False
    head = found.head
    if NEWLINE in found.notes and not found.tail and head.endswith(b"\n"):
        head = head[:-1]
    rest = head + found.tail
    return rest, CREATED in found.notes and not rest
