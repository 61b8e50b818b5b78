"""Result types of an agreement check: findings, the compatibility matrix, the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
Rating = Literal["aligned", "compatible", "conflict", "unknown"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One result of one rule: what is missing, unlawful or incompatible, and why (its source)."""

    rule: str
    severity: Severity
    message: str
    subject: str
    source: str
    #: the rule could not decide because reference data is missing (``Context.gap``); ``--strict``
    #: leaves such a finding info
    data_gap: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:
        from carbonlink.reporting.notebook import finding_html

        return finding_html(self)


@dataclass(frozen=True)
class CompatibilityRow:
    """One cell of the compatibility matrix: a design dimension for a pair of ETSs (``A|B``) or
    for one party, rated ``aligned | compatible | conflict`` (``unknown`` when data is missing)."""

    dimension: str
    subject: str
    rating: Rating
    reason: str
    severity: Literal["MUST", "SHOULD", "MAY"]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class CheckReport:
    """All findings for one agreement document, with a summary and the compatibility matrix."""

    document: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    compatibility: list[CompatibilityRow] = field(default_factory=list)
    simulation: dict[str, Any] | None = None
    rules_run: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when no error-level finding exists (``carbonlink check`` exit 0)."""
        return not self.errors

    @property
    def summary(self) -> dict[str, Any]:
        sev = Counter(f.severity for f in self.findings)
        groups = Counter(f.rule.split("-")[0] for f in self.findings)
        ratings = Counter(r.rating for r in self.compatibility)
        return {
            "errors": sev.get("error", 0),
            "warnings": sev.get("warning", 0),
            "info": sev.get("info", 0),
            "by_group": dict(sorted(groups.items())),
            "compatibility": {k: ratings.get(k, 0)
                              for k in ("aligned", "compatible", "conflict", "unknown")},
            "rules_run": len(self.rules_run),
            "ok": self.ok,
        }

    def _repr_html_(self) -> str:
        """In a notebook: the summary and every finding, errors first."""
        from carbonlink.reporting.notebook import check_html

        return check_html(self)

    def by_rule(self, rule_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule_id]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "document": self.document,
            "findings": [f.to_dict() for f in self.findings],
            "summary": self.summary,
            "compatibility": [r.to_dict() for r in self.compatibility],
        }
        if self.simulation is not None:
            out["simulation"] = self.simulation
        return out
