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


def read_env_file(path: str) -> str:
    """The text of --env-file: at most ENV_FILE_MAX bytes of UTF-8 without NUL bytes.

    A pipe (``--env-file <(ssh host env)``) is fine; a directory, binary or huge file is a usage error."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(ENV_FILE_MAX + 1)
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
