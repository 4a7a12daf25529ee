"""Text from the judged system, made safe to print: what a terminal or editor would act on
is spelled out visibly, and bytes that are not UTF-8 are named, so a file or GPU name can
neither forge a line of output, drive the terminal, nor make JSON a strict parser refuses.

Hand-written (a regex and a small table): the standard library has nothing that spells these
characters out and leaves the rest alone (``repr`` adds quotes, ``unicode_escape`` also
escapes é and ✓).
"""

from __future__ import annotations

import json
import math
import re

# Shown, never acted on: C0 controls (newline, ESC, BEL, ...), DEL, C1 controls (CSI and OSC
# on some terminals), the bidi and zero-width format characters of "Trojan Source"
# (CVE-2021-42574), line and paragraph separators, the BOM, invisible tag characters, and
# lone surrogates: U+DC80-U+DCFF is how Python's surrogateescape carries a byte that is not UTF-8.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

UNDECODABLE_NOTE = "bytes that are not UTF-8 (in file names) are written as \\xNN, NN their hex value: such a name matches the file on disk only with those bytes put back"


def _spell(m: re.Match) -> str:
    c = m.group()
    n = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= n <= 0xDCFF:
        return f"\\x{n - 0xDC00:02x}"  # the byte itself: \xff for a name holding byte 0xff
    return f"\\x{n:02x}" if n < 0x80 else f"\\u{n:04x}"


def visible(s: str) -> str:
    """``s`` on one line with nothing hidden: ESC as ``\\x1b``, a newline as ``\\n``, U+202E as
    ``\\u202e``, an undecodable byte 0xff as ``\\xff``."""
    return _HIDDEN.sub(_spell, s)


def shown(lines: list[str]) -> str:
    """Lines of output: each line escaped on its own, so no value inside one can start another."""
    return "\n".join(visible(line) for line in lines)


def has_undecodable(s: str) -> bool:
    return any(0xDC80 <= ord(c) <= 0xDCFF for c in _SURROGATE.findall(s))


def map_strings(obj, fn, other=lambda v: v):
    """A copy of ``obj`` (dicts, lists, tuples) with ``fn`` applied to every string, keys
    too, and ``other`` to every other value."""
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return {map_strings(k, fn, other): map_strings(v, fn, other) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [map_strings(v, fn, other) for v in obj]
    return other(obj)


def json_ready(obj) -> tuple[object, int]:
    """A copy of ``obj`` for strict JSON (no lone surrogates, no NaN), and how many strings held
    bytes that are not UTF-8 (now written ``\\xNN``)."""
    changed = 0

    def fix(s: str) -> str:
        nonlocal changed
        out = _SURROGATE.sub(_spell, s)
        changed += out != s
        return out

    def scalar(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None  # NaN and Infinity are not JSON
        return v if v is None or isinstance(v, (bool, int, float)) else fix(str(v))

    return map_strings(obj, fix, scalar), changed


def json_text(doc, indent: int | None = 2) -> str:
    """``doc`` as JSON every strict parser accepts; a document (a dict) whose strings held bytes
    that are not UTF-8 says so in its ``undecodable`` key."""
    clean, changed = json_ready(doc)
    if changed and isinstance(clean, dict):
        clean["undecodable"] = {"strings": changed, "note": UNDECODABLE_NOTE}
    return json.dumps(clean, indent=indent)
