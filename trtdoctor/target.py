"""What is being judged: a root file system, an environment, and whether it is live."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


@dataclass
class Target:
    root: Path = Path("/")
    env: dict[str, str] = field(default_factory=dict)
    live: bool = True
    timeout: float = 10.0
    python: str | None = None  # --python: an interpreter whose environment is judged too

    @property
    def mode(self) -> str:
        return "live" if self.live else "static"

    def path(self, p: str | os.PathLike) -> Path:
        """Map an absolute path on the judged system to a path we can open."""
        p = str(p)
        if str(self.root) == "/":
            return Path(p)
        return self.root / p.lstrip("/")

    def unroot(self, p: str | os.PathLike) -> str:
        """Inverse of ``path``: how the judged system spells a path we found."""
        p = str(p)
        r = str(self.root)
        if r == "/" or not p.startswith(r):
            return p
        rest = p[len(r) :]
        return "/" + rest.lstrip("/")

    def read_text(self, p: str) -> str | None:
        try:
            return self.path(p).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None


def parse_env_lines(text: str, origin: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` and quotes allowed, ``#`` comments)."""
    env: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise UsageError(f"{origin}:{n}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def build_env(*, live: bool, env_file: str | None, env_items: list[str], base: dict | None = None) -> dict[str, str]:
    """The environment to judge: the env file (or, live, the process's own) plus --env."""
    if env_file:
        try:
            text = Path(env_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --env-file {env_file}: {exc.strerror}") from None
        env = parse_env_lines(text, env_file)
    elif live:
        env = dict(os.environ if base is None else base)
    else:
        env = {}
    for item in env_items:
        env.update(parse_env_lines(item, "--env"))
    return env
