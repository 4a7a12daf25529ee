"""Rules are pure functions of the snapshot and the knowledge base that return findings.

Each rule declares the snapshot areas it reads and every finding id it can emit, so
``--list-checks`` lists every finding, ``--only``/``--skip`` pick probes from the
declarations (no hand-kept map), and a rule that reads an undeclared area or emits an
undeclared id is caught: it becomes "could not check", never a silent pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

from ..findings import Finding, cause_of

AREAS = ("os", "driver", "gpus", "env", "libraries", "tensorrt", "tensorflow", "pycuda", "onnxruntime", "precision")
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

# Machine-wide root causes, named in Check.follows: fix these first and the rest may go.
DRIVER_CAUSES = ("os.no-os", "driver.missing", "driver.version-mismatch", "driver.no-device-nodes", "os.wsl-libcuda-missing", "os.wsl-linux-driver")
GPU_CAUSES = DRIVER_CAUSES + ("gpus.hidden", "gpus.cuda-init-failed", "gpus.none-found")
TRT_INSTALL_CAUSES = ("tensorrt.bindings-without-libs", "tensorrt.libs-stub", "tensorrt.placeholder")


@dataclass(frozen=True)
class Check:
    """One finding id a rule can emit: its area, the severities it can have, one line, and
    the findings it follows from when they are present (no driver → no GPU)."""

    id: str
    severity: str  # "error", "warning", "info", or several joined by "|"
    title: str
    follows: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def severities(self) -> tuple[str, ...]:
        return tuple(self.severity.split("|"))


@dataclass(frozen=True)
class Rule:
    name: str
    reads: tuple[str, ...]  # areas it cannot judge without: if one could not be collected, the rule does not run
    uses: tuple[str, ...]  # areas it reads when they are there (extra evidence, causes)
    emits: tuple[Check, ...]
    fn: Callable[[Mapping], list[Finding]]


RULES: list[Rule] = []


def rule(*, reads: tuple[str, ...], emits: list[Check], uses: tuple[str, ...] = ()):
    def wrap(fn):
        RULES.append(Rule(fn.__name__, tuple(reads), tuple(uses), tuple(emits), fn))
        return fn

    return wrap


class UndeclaredRead(Exception):
    """Not a KeyError: Mapping.get would swallow that and answer None, a silent pass."""


class SnapshotView(Mapping):
    """The snapshot as one rule may see it: only the areas it declared (and ``target``)."""

    def __init__(self, snap: Mapping, allowed: set[str]):
        self._snap, self._allowed = snap, allowed | {"target"}

    def _allow(self, key: str) -> None:
        if key not in self._allowed:
            raise UndeclaredRead(f"read undeclared area {key!r}")

    def __getitem__(self, key: str):
        self._allow(key)
        return self._snap[key]

    def get(self, key: str, default=None):
        self._allow(key)
        return self._snap.get(key, default)

    def __contains__(self, key: object) -> bool:
        self._allow(key)
        return key in self._snap

    def __iter__(self):
        return (k for k in self._snap if k in self._allowed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def all_rules() -> list[Rule]:
    from . import frameworks, installs, libraries, stack, system  # noqa: F401  (registration)

    return list(RULES)


def all_checks() -> dict[str, Check]:
    return {c.id: c for r in all_rules() for c in r.emits}


def failed_area(snap: Mapping, area: str) -> str | None:
    """The reason an area could not be collected, or None."""
    data = snap.get(area)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return None


@dataclass
class RuleRun:
    findings: list[Finding]
    could_not_check: list[dict]  # {"area", "reason"}: areas a rule could not judge


def run_rules(snap: Mapping, wanted: set[str] | None = None) -> RuleRun:
    """Run every rule that can emit a wanted finding id (all when ``wanted`` is None)."""
    findings: list[Finding] = []
    blocked: list[dict] = []
    for r in all_rules():
        ids = {c.id for c in r.emits}
        if wanted is not None and not ids & wanted:
            continue
        areas = sorted({c.area for c in r.emits if wanted is None or c.id in wanted})
        why = next((f"{a}: {failed_area(snap, a)}" for a in r.reads if failed_area(snap, a)), None)
        if why is None:
            try:
                got = r.fn(SnapshotView(snap, set(r.reads) | set(r.uses)))
                stray = sorted({f.id for f in got} - ids)
                if stray:
                    raise AssertionError(f"emitted undeclared finding id {stray[0]}")
                findings += [f for f in got if wanted is None or f.id in wanted]
                continue
            except Exception as exc:  # a broken rule makes the run incomplete, never a pass
                why = f"check {r.name} crashed: {type(exc).__name__}: {exc}"
        blocked += [{"area": a, "reason": why} for a in areas]
    link_causes(findings)
    findings.sort(key=lambda f: (AREAS.index(f.area) if f.area in AREAS else 99, SEVERITY_ORDER.get(f.severity, 3)))
    return RuleRun(findings, blocked)


def link_causes(findings: list[Finding]) -> None:
    """Point each finding at the first present finding it follows from (same subject when
    both name one), so renderers show the root cause first and its consequences under it."""
    checks = all_checks()
    for f in findings:
        for cause_id in checks[f.id].follows if f.id in checks else ():
            f.caused_by = cause_id
            cause = cause_of(f, findings)
            if cause is not None and not _leads_to(cause, f, findings):
                break
            f.caused_by = None


def _leads_to(cause: Finding, f: Finding, findings: list[Finding]) -> bool:
    """Whether ``cause`` already follows (transitively) from ``f``: linking would loop."""
    seen, cur = set(), cause
    while cur is not None and id(cur) not in seen:
        if cur is f:
            return True
        seen.add(id(cur))
        cur = cause_of(cur, findings)
    return False


@dataclass(frozen=True)
class Selection:
    """What ``--only``/``--skip`` leave: finding ids, the areas shown, the probes to run."""

    ids: set[str] | None  # None: everything
    areas: list[str]
    probe_areas: set[str] | None


def select(only: list[str], skip: list[str]) -> Selection:
    from ..target import UsageError

    checks = all_checks()

    def ids_for(token: str) -> set[str]:
        if token in AREAS:
            return {i for i, c in checks.items() if c.area == token}
        if token in checks:
            return {token}
        raise UsageError(f"unknown area or check {token!r}; areas are: {', '.join(AREAS)} (trtdoctor check --list-checks lists the checks)")

    chosen = set().union(*(ids_for(t) for t in only)) if only else set(checks)
    skipped = set().union(*(ids_for(t) for t in skip)) if skip else set()
    shown = {t if t in AREAS else checks[t].area for t in only} if only else set(AREAS)
    shown -= {t for t in skip if t in AREAS}
    ids = chosen - skipped
    if not shown or not ids:
        raise UsageError("--only/--skip leave nothing to check")
    if not only and not skip:
        return Selection(None, list(AREAS), None)
    rules = [r for r in all_rules() if {c.id for c in r.emits} & ids]
    wanted = set(shown) | {a for r in rules for a in r.reads + r.uses}
    return Selection(ids, [a for a in AREAS if a in shown], wanted)
