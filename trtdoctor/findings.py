"""Findings: what a rule concluded, with the evidence and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("error", "warning", "info")
FIX_KINDS = ("manual", "command", "install", "environment")  # also the order of a plan's steps
INSTALLERS = ("pip ", "pip3 ", "python -m pip ", "python3 -m pip ", "conda ", "mamba ", "uv pip ")


@dataclass
class Fix:
    """How to fix a finding. ``kind`` says what sort of step it is; left out, it follows from
    the fields (so rules need not spell it): env -> environment (its commands show the same by
    hand), else only package installs -> install, other commands -> command, neither -> manual
    (a person must do it)."""

    summary: str
    commands: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = default_kind(self.commands, self.env)
        if self.kind not in FIX_KINDS:
            raise ValueError(f"unknown fix kind {self.kind!r}: use one of {', '.join(FIX_KINDS)}")


def default_kind(commands: list[str], env: dict) -> str:
    if env:
        return "environment"
    if commands:
        return "install" if all(c.startswith(INSTALLERS) for c in commands) else "command"
    return "manual"


@dataclass
class Finding:
    id: str
    severity: str
    area: str
    title: str
    detail: str = ""
    evidence: list[str] = field(default_factory=list)
    fix: Fix | None = None
    subject: str | None = None  # what it is about (a site-packages dir, a soname): links causes only within one subject
    caused_by: str | None = None  # the id of the finding this one follows from, set by rules.link_causes

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.fix is None:
            d["fix"] = None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Finding:
        fix = d.get("fix")
        return cls(
            id=d["id"],
            severity=d["severity"],
            area=d["area"],
            title=d["title"],
            detail=d.get("detail", ""),
            evidence=list(d.get("evidence", [])),
            fix=Fix(**fix) if fix else None,
            subject=d.get("subject"),
            caused_by=d.get("caused_by"),
        )


def summarize(findings: list[Finding], could_not_check: list[dict] = ()) -> dict:
    """Counts and a status; areas that could not be checked make the run incomplete."""
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    areas = sorted({c["area"] for c in could_not_check})
    status = "error" if errors else "incomplete" if areas else "warning" if warnings else "ok"
    return {"status": status, "errors": errors, "warnings": warnings, "incomplete": len(areas), "could_not_check": list(could_not_check)}


def cause_of(f: Finding, findings: list[Finding]) -> Finding | None:
    """The finding ``f`` follows from, as rules.link_causes chose it."""
    if not f.caused_by:
        return None
    return next((g for g in findings if g.id == f.caused_by and g is not f and (not f.subject or not g.subject or f.subject == g.subject)), None)
