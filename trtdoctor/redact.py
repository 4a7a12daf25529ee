"""Masking secrets (always) and identifying details (Markdown bug reports) in what we print or write.

``mask_text`` / ``mask_tree`` run over every report, plan and written env file: they hide
credentials wherever they sit (a URL in ``PIP_INDEX_URL``, a token as a path component of
``LD_LIBRARY_PATH``, any value), not only under secret-looking variable names.
``anonymize_tree`` also hides what identifies a machine or a person (GPU UUIDs, serial
numbers, home directories); it is applied to the Markdown meant for pasting into an issue.

Every pattern needs a distinctive shape (a vendor prefix plus a long random tail, or a
URL's ``user:password@``) so ordinary paths and package names (``nvidia-cudnn-cu12``,
``sk-learn``, the long hex hashes in pip caches) are left alone.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
USERINFO = "***@"

_B = r"(?<![A-Za-z0-9])"  # a token starts a word, a path component or a value

# (pattern, replacement, why): applied in order by mask_text.
SECRETS: list[tuple[re.Pattern, str, str]] = [
    (re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.S), REDACTED, "a PEM private key pasted into a value"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s\"'\\<>]+@"), r"\1" + USERINFO, "user:password@ in a URL (PIP_INDEX_URL, CONDA_CHANNEL_ALIAS, git+https://...)"),
    (
        re.compile(r"(?i)([?&](?:access_token|token|api[_-]?key|key|sig|signature|password|secret|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#\s\"'\\]+"),
        r"\1" + REDACTED,
        "a credential in a URL's query (pre-signed S3 / Azure SAS links, ?token=)",
    ),
    (re.compile(_B + r"gh[pousr]_[A-Za-z0-9]{36,}"), REDACTED, "GitHub classic tokens (personal, OAuth, app, refresh)"),
    (re.compile(_B + r"github_pat_[A-Za-z0-9_]{22,}"), REDACTED, "GitHub fine-grained personal access tokens"),
    (re.compile(_B + r"glpat-[A-Za-z0-9_-]{20,}"), REDACTED, "GitLab personal access tokens"),
    (re.compile(_B + r"hf_[A-Za-z0-9]{30,}"), REDACTED, "Hugging Face access tokens (HF_TOKEN copied into a path or URL)"),
    (re.compile(_B + r"xox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED, "Slack tokens"),
    (re.compile(_B + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"), REDACTED, "AWS access key ids"),
    (re.compile(_B + r"sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{32,}"), REDACTED, "OpenAI-style secret keys: sk- and a long tail with digits (sk-learn is not one)"),
    (re.compile(_B + r"pypi-AgE[A-Za-z0-9_-]{20,}"), REDACTED, "PyPI API tokens (a macaroon: always pypi-AgE...)"),
]

_START = r"(?:^|(?<=[\s:;=,\"'(\[]))"  # where a path can begin: start, after a list separator, quote or space
_END = r"(?=$|[/\s:;,\"')\]])"

# Markdown only: what identifies the machine or its user but is no secret.
IDENTIFYING: list[tuple[re.Pattern, str, str]] = [
    (re.compile(r"(?i)\b(GPU|MIG)-[0-9a-f]{8}(?:-[0-9a-f]{4}){0,3}(?:-[0-9a-f]{12})?\b"), r"\1-" + REDACTED, "GPU / MIG UUIDs (also the prefixes CUDA_VISIBLE_DEVICES accepts)"),
    (re.compile(_START + r"/home/[^/\s:;,\"')\]]+"), "~", "home directories name the user"),
    (re.compile(_START + r"/Users/[^/\s:;,\"')\]]+"), "~", "macOS home directories (paths in reports read on a Mac)"),
    (re.compile(_START + r"/root" + _END), "~", "root's home directory"),
]
IDENTIFYING_KEYS = ("serial", "serial_number", "serialnumber")  # board serial numbers, whatever their shape


def _sub(s: str, table: list[tuple[re.Pattern, str, str]]) -> str:
    for pattern, repl, _why in table:
        s = pattern.sub(repl, s)
    return s


def mask_text(s: str) -> str:
    """``s`` with credentials masked: URL userinfo → ``***@``, tokens → ``<redacted>``."""
    return _sub(s, SECRETS)


def masked(s: str) -> bool:
    """Whether ``s`` holds a credential, or the mark of one already masked."""
    return mask_text(s) != s or REDACTED in s or "://" + USERINFO in s


def _tree(obj, fn, keys: tuple[str, ...] = ()):
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return {(fn(k) if isinstance(k, str) else k): (REDACTED if isinstance(k, str) and k.lower() in keys and v not in (None, "") else _tree(v, fn, keys)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tree(v, fn, keys) for v in obj)
    return obj


def mask_tree(obj):
    """A copy of ``obj`` (dicts, lists, strings; keys too) with ``mask_text`` applied to every string."""
    return _tree(obj, mask_text)


def anonymize_text(s: str) -> str:
    """``mask_text`` plus GPU UUIDs and home directories (``/home/NAME``, ``/Users/NAME``, ``/root`` → ``~``)."""
    return _sub(mask_text(s), IDENTIFYING)


def anonymize_tree(obj):
    """``mask_tree`` plus what identifies the machine or its user; for reports pasted in public."""
    return _tree(obj, anonymize_text, IDENTIFYING_KEYS)
