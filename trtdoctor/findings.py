"""Findings: what a rule concluded, with the evidence and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("error", "warning", "info")


@dataclass
class Fix:
    summary: str
    commands: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)


@dataclass
class Finding:
    id: str
    severity: str
    area: str
    title: str
    detail: str = ""
    evidence: list[str] = field(default_factory=list)
    fix: Fix | None = None

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
        )


def summarize(findings: list[Finding]) -> dict:
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    status = "error" if errors else "warning" if warnings else "ok"
    return {"status": status, "errors": errors, "warnings": warnings}
