"""What a check function sees: the agreement and the reference data it refers to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

from carbonlink.agreements.findings import CompatibilityRow, Finding, Severity
from carbonlink.agreements.rules import RULES
from carbonlink.data import get_ets, get_jurisdiction, national_party, paris_party_status, today
from carbonlink.model.agreement import Agreement, Party
from carbonlink.model.jurisdiction import ETS, Fact, Jurisdiction

#: Article 6.2 content rules that a non-binding MoU/declaration only announces: a breach is a
#: warning there (checklist: EL-07 "—", EL-09/EL-10 "Rec" for form M), an error in a treaty —
#: unless the document itself claims authorisations, transfers or corresponding adjustments
#: (``Agreement.claims_itmos``): then it keeps full severity, whatever its form.
NON_BINDING_SOFT = frozenset({"A62-CA", "A62-CAM", "A62-REP1", "A62-REP2", "A62-FT", "A62-AUTH",
                              "A62-MET"})

@dataclass
class Context:
    """The agreement under check on the reference date ``on``, its parties' jurisdictions and
    ETSs as they stood on that date, and shared results."""

    agreement: Agreement
    on: dt.date = field(default_factory=today)
    compatibility: list[CompatibilityRow] = field(default_factory=list)
    simulation: dict[str, Any] | None = None
    _sim_done: bool = False

    # ---- reference data, as of `on` -------------------------------------------------------
    def ets(self, ets_id: str) -> ETS:
        for s in self.agreement.systems:  # systems carried by the document win
            if s.id == ets_id:
                return s.as_of(self.on)
        return get_ets(ets_id, self.on)

    def jurisdiction(self, jurisdiction_id: str) -> Jurisdiction:
        return get_jurisdiction(jurisdiction_id, self.on)

    def level(self, party: Party) -> str:
        return self.jurisdiction(party.jurisdiction).level

    def is_subnational(self, party: Party) -> bool:
        return self.level(party) in ("subnational", "city")

    def national_party(self, jurisdiction_id: str) -> Jurisdiction:
        return national_party(jurisdiction_id)

    def paris_party(self, jurisdiction_id: str) -> Fact:
        """The Paris Agreement status, on the reference date, of the Party acting for
        ``jurisdiction_id``."""
        return paris_party_status(jurisdiction_id, self.on)

    def paris_text(self, jurisdiction_id: str) -> str:
        """``the United States of America is not a Party to the Paris Agreement on 2026-03-01
        (…)`` — the status on the date, with the dates the data gives."""
        nat = self.national_party(jurisdiction_id)
        fact = self.paris_party(jurisdiction_id)
        why = fact.note or fact.source or ""
        state = {True: "is", False: "is not", None: "may or may not be"}[
            fact.value if isinstance(fact.value, bool) else None]
        return (f"{nat.name} {state} a Party to the Paris Agreement on {self.on.isoformat()}"
                + (f" ({why})" if why else ""))

    def party_systems(self) -> list[tuple[Party, ETS]]:
        """Each party that names an ETS, with the ETS fact sheet."""
        return [(p, self.ets(p.ets)) for p in self.agreement.parties if p.ets]

    def operating_systems(self) -> list[tuple[Party, ETS]]:
        """The parties' systems that have not ended on the date (an ended system is LEG-09's
        finding; no unit of it flows, so no compatibility or feasibility rule rates it)."""
        return [(p, e) for p, e in self.party_systems() if e.status != "ended"]

    def _operating(self, ets_id: str) -> bool:
        return self.ets(ets_id).status != "ended"

    def linked_pairs(self) -> list[tuple[ETS, ETS]]:
        """Unordered pairs of linked ETSs operating on the date: from the links, else every pair
        of the parties' ETSs."""
        a = self.agreement
        if a.links:
            seen: list[tuple[str, str]] = []
            for lk in a.links:
                key = (lk.from_, lk.to) if lk.from_ < lk.to else (lk.to, lk.from_)
                if key not in seen and self._operating(lk.from_) and self._operating(lk.to):
                    seen.append(key)
            return [(self.ets(x), self.ets(y)) for x, y in seen]
        systems = [e for _, e in self.operating_systems()]
        return list(combinations(systems, 2))

    def directed_pairs(self) -> list[tuple[ETS, ETS]]:
        """(exporter, importer) pairs operating on the date: the links' direction (entities in
        ``to`` surrender units issued by ``from``), else both directions of every pair of the
        parties' ETSs."""
        a = self.agreement
        if a.links:
            seen: list[tuple[str, str]] = []
            for lk in a.links:
                if ((lk.from_, lk.to) not in seen and self._operating(lk.from_)
                        and self._operating(lk.to)):
                    seen.append((lk.from_, lk.to))
            return [(self.ets(x), self.ets(y)) for x, y in seen]
        systems = [e for _, e in self.operating_systems()]
        return [(x, y) for x in systems for y in systems if x.id != y.id]

    # ---- results -------------------------------------------------------------------------
    def finding(self, rule_id: str, message: str, subject: str, *,
                severity: Severity | None = None, source: str | None = None) -> Finding:
        r = RULES[rule_id]
        src = source or r.source
        sev: Severity = severity or r.severity
        if (rule_id in NON_BINDING_SOFT and sev == "error"
                and self.agreement.form_group in ("M", "P", "U")
                and not self.agreement.claims_itmos):
            sev = "warning"
            message += (" (non-binding form: to be settled in the implementing agreement or the "
                        "authorisations)")
        if not r.verified and "unverified" not in src:
            src += " (paragraph reference unverified)"
        return Finding(rule=rule_id, severity=sev, message=message,
                       subject=subject, source=src)

    def gap(self, rule_id: str, gap: str, subject: str) -> Finding:
        """The info finding of a rule that could not decide because data is missing."""
        return replace(self.finding(rule_id, f"unknown: {gap} (data gap; the rule could not "
                                    "decide)", subject, severity="info"), data_gap=True)

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
