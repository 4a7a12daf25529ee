"""Shell text built from values of the judged system, safe to paste or to source.

A path, version or package name can hold ``$(...)``, quotes or a newline. shlex.quote (POSIX
single quotes, right for sh, bash and zsh) does the quoting; this module adds what it lacks:
variable names, prepends that keep ``${VAR:+:$VAR}``, fish's quoting and comment text.
"""

from __future__ import annotations

import re
import shlex

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is fine inside quotes; a newline is not a value

quote = shlex.quote
join = shlex.join


def is_name(text: str) -> bool:
    """A name every supported shell takes as a plain variable (nothing to expand or run)."""
    return NAME.fullmatch(text) is not None


def export(var: str, value: str) -> str:
    return f"export {var}={quote(value)}"


def prepend(var: str, path: str) -> str:
    """``export VAR=<path>`` before the old value, without a trailing ':' when VAR was unset or empty."""
    return f'export {var}={quote(path)}"${{{var}:+:${var}}}"'


def fish_quote(text: str) -> str:
    """fish's single quotes: only backslash and the quote itself are special inside."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def comment(text: str) -> str:
    """Text for after ``#``: a newline there would end the comment and run the rest."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
