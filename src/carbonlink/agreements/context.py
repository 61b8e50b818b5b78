"""What a check function sees: the agreement and the reference data it refers to."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from carbonlink.agreements.findings import CompatibilityRow, Finding, Severity
from carbonlink.agreements.rules import RULES
from carbonlink.data import get_ets, get_jurisdiction, national_party, paris_party_status
from carbonlink.model.agreement import Agreement, Party
from carbonlink.model.jurisdiction import ETS, Fact, Jurisdiction

#: Article 6.2 content rules that a non-binding MoU/declaration only announces: a breach is a
#: warning there (checklist: EL-07 "—", EL-09/EL-10 "Rec" for form M), an error in a treaty.
NON_BINDING_SOFT = frozenset({"A62-CA", "A62-CAM", "A62-REP1", "A62-REP2", "A62-FT", "A62-AUTH",
                              "A62-MET"})


@dataclass
class Context:
    """The agreement under check, its parties' jurisdictions and ETSs, and shared results."""

    agreement: Agreement
    compatibility: list[CompatibilityRow] = field(default_factory=list)
    simulation: dict[str, Any] | None = None
    _sim_done: bool = False

    # ---- reference data ------------------------------------------------------------------
    def ets(self, ets_id: str) -> ETS:
        for s in self.agreement.systems:  # systems carried by the document win
            if s.id == ets_id:
                return s
        return get_ets(ets_id)

    def jurisdiction(self, jurisdiction_id: str) -> Jurisdiction:
        return get_jurisdiction(jurisdiction_id)

    def level(self, party: Party) -> str:
        return self.jurisdiction(party.jurisdiction).level

    def is_subnational(self, party: Party) -> bool:
        return self.level(party) in ("subnational", "city")

    def national_party(self, jurisdiction_id: str) -> Jurisdiction:
        return national_party(jurisdiction_id)

    def paris_party(self, jurisdiction_id: str) -> Fact:
        return paris_party_status(jurisdiction_id)

    def party_systems(self) -> list[tuple[Party, ETS]]:
        """Each party that names an ETS, with the ETS fact sheet."""
        return [(p, self.ets(p.ets)) for p in self.agreement.parties if p.ets]

    def linked_pairs(self) -> list[tuple[ETS, ETS]]:
        """Unordered pairs of linked ETSs: from the links, else every pair of the parties' ETSs."""
        a = self.agreement
        if a.links:
            seen: list[tuple[str, str]] = []
            for lk in a.links:
                key = (lk.from_, lk.to) if lk.from_ < lk.to else (lk.to, lk.from_)
                if key not in seen:
                    seen.append(key)
            return [(self.ets(x), self.ets(y)) for x, y in seen]
        systems = [e for _, e in self.party_systems()]
        return list(combinations(systems, 2))

    # ---- results -------------------------------------------------------------------------
    def finding(self, rule_id: str, message: str, subject: str, *,
                severity: Severity | None = None, source: str | None = None) -> Finding:
        r = RULES[rule_id]
        src = source or r.source
        sev: Severity = severity or r.severity
        if (rule_id in NON_BINDING_SOFT and sev == "error"
                and self.agreement.form_group in ("M", "P")):
            sev = "warning"
            message += (" (non-binding form: to be settled in the implementing agreement or the "
                        "authorisations)")
        if not r.verified and "unverified" not in src:
            src += " (paragraph reference unverified)"
        return Finding(rule=rule_id, severity=sev, message=message,
                       subject=subject, source=src)

    def simulate(self) -> dict[str, Any] | None:
        """The equilibrium of the agreement's scenario (``None`` when it carries no markets or
        the engine is not available); run once and shared by the FEA rules."""
        if self._sim_done:
            return self.simulation
        self._sim_done = True
        scenario = self.agreement.scenario()
        if scenario is None:
            return None
        try:
            from carbonlink.markets import simulate
        except ImportError:
            return None
        result = simulate(scenario)
        self.simulation = dict(result.to_dict())
        return self.simulation
