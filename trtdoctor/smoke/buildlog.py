"""TensorRT's log as the builder speaks it: each message with its severity. Warnings of a
build that succeeded are what users miss (INT64 weights cast down to INT32, layers left in
higher precision), so they are kept and counted; INFO and VERBOSE only with --verbose."""

from __future__ import annotations

from collections import Counter

# ILogger.Severity's values in order; the letters are those TensorRT's own samples print.
SEVERITIES = ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE")
LETTERS = {"INTERNAL_ERROR": "F", "ERROR": "E", "WARNING": "W", "INFO": "I", "VERBOSE": "V"}


def severity_name(severity) -> str:
    """The Severity enum as a name; pybind11 enums and IntEnums both convert with int()."""
    try:
        return SEVERITIES[int(severity)]
    except (TypeError, ValueError, IndexError):
        return str(getattr(severity, "name", severity)).upper()


class BuildLog:
    """What the logger was told; ``echo`` (a callable taking a line) shows it as it comes."""

    def __init__(self, verbose: bool = False, echo=None):
        self.verbose, self.echo = verbose, echo
        self.records: list[tuple[str, str]] = []

    def add(self, severity, msg) -> None:
        name = severity_name(severity)
        if name in ("INFO", "VERBOSE") and not self.verbose:
            return
        self.records.append((name, str(msg)))
        if self.echo:
            self.echo(f"[{LETTERS.get(name, '?')}] {msg}")

    @property
    def messages(self) -> list[str]:
        """Errors and warnings: what a failed build or load is explained by."""
        return [m for n, m in self.records if n not in ("INFO", "VERBOSE")]

    def warnings(self) -> list[dict]:
        """Each WARNING once, with how often it came, in order of first appearance."""
        counts = Counter(m for n, m in self.records if n == "WARNING")
        return [{"message": m, "count": c} for m, c in counts.items()]

    def lines(self) -> list[str]:
        return [f"[{LETTERS.get(n, '?')}] {m}" for n, m in self.records]
