"""NDC data, emissions, the corresponding-adjustment ledger, finalisation of a period and
the record of submitted reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry import bounds
from carbonlink.registry import journal as jr
from carbonlink.registry.accounting import (
    METHODS,
    NDC_TYPE_METHODS,
    NDC_TYPES,
    CAResult,
    corresponding_adjustments,
)
from carbonlink.registry.checks import fail
from carbonlink.registry.db import (
    ca_entries,
    emissions,
    entity_emissions,
    finalisations,
    ndc_accounting,
    reports_submitted,
)
from carbonlink.registry.guard import operation
from carbonlink.registry.terminal import Terminal


class CorrespondingAdjustments(Terminal):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    @operation("set_ndc")
    def set_ndc(self, party: str, method: str, first_year: int, last_year: int, *,
                metric: str = "tCO2e", ndc_type: str | None = None,
                at: datetime | None = None) -> None:
        """Record the Party's NDC period, type and corresponding-adjustment method (para 7).

        ``ndc_type`` is ``single_year`` (para 7(a): ``trajectory`` or ``averaging``) or
        ``multi_year`` (para 7(b): ``multi_year`` or ``trajectory``, never ``averaging``);
        default: ``multi_year`` for the ``multi_year`` method, else ``single_year`` (R1007).
        One method for the whole implementation period: it cannot change once the Party has
        CA entries (para 7, D6004). Nothing can change once any year of the recorded or the
        new period is finalised (para 12, D6004)."""
        if method not in METHODS:
            raise DocumentError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
        bounds.year(first_year, "first_year")
        bounds.year(last_year, "last_year")
        ndc_type = ndc_type or ("multi_year" if method == "multi_year" else "single_year")
        if ndc_type not in NDC_TYPES:
            raise DocumentError("ndc_type", f"must be one of {', '.join(NDC_TYPES)}, "
                                f"got {ndc_type!r}")
        if method not in NDC_TYPE_METHODS[ndc_type]:
            fail("R1007", "method", f"a {ndc_type.replace('_', '-')} NDC applies "
                 f"{' or '.join(NDC_TYPE_METHODS[ndc_type])} (para 7"
                 f"{'(a)' if ndc_type == 'single_year' else '(b)'}), not {method}")
        if last_year < first_year:
            fail("R1006", "last_year", f"{last_year} is before first_year {first_year}")
        when = self._when(at)
        new = dict(method=method, first_year=first_year, last_year=last_year, metric=metric,
                   ndc_type=ndc_type)

        def go(conn: Connection) -> None:
            old = conn.execute(sa.select(ndc_accounting).where(
                ndc_accounting.c.party == party)).first()
            if old is not None and {k: getattr(old, k) for k in new} == new:
                return  # unchanged
            spans = [(first_year, last_year)]
            if old is not None:
                spans.append((int(old.first_year), int(old.last_year)))
            for lo, hi in spans:
                f = self._final_overlapping(conn, party, lo, hi)
                if f is not None:
                    fail("D6004", "ndc", f"{party}'s corresponding adjustments for "
                         f"{f.first_year}–{f.last_year} are final (para 12); its NDC period, "
                         "type and method can no longer change")
            if old is not None and old.method != method and conn.execute(
                    sa.select(ca_entries.c.id).where(ca_entries.c.party == party)).first():
                fail("D6004", "method", f"{party} applies {old.method}; the method is kept for "
                     "the whole NDC implementation period (para 7)")
            conn.execute(ndc_accounting.delete().where(ndc_accounting.c.party == party))
            conn.execute(ndc_accounting.insert().values(party=party, **new))
            jr.append(conn, when, "ndc.set", None, {"party": party, **new})
        self._run(go)

    @operation("report_emissions")
    def report_emissions(self, party: str, year: int, tonnes: int, *,
                         at: datetime | None = None) -> None:
        """Emissions covered by the Party's NDC for ``year`` (national inventory; net of
        removals, so possibly negative)."""
        bounds.year(year)
        bounds.emissions(tonnes, net=True)
        when = self._when(at)

        def go(conn: Connection) -> None:
            self._not_final(conn, party, year, "year")
            conn.execute(emissions.delete().where(emissions.c.party == party,
                                                  emissions.c.year == year))
            conn.execute(emissions.insert().values(party=party, year=year, emissions=tonnes))
            jr.append(conn, when, "emissions.report", None,
                      {"party": party, "year": year, "emissions": tonnes})
        self._run(go)

    @operation("report_entity_emissions")
    def report_entity_emissions(self, holder: int, year: int, tonnes: int, *,
                                at: datetime | None = None) -> None:
        """Verified emissions of a covered entity (for entity-share limits of links)."""
        bounds.year(year)
        bounds.emissions(tonnes, net=False)
        when = self._when(at)

        def go(conn: Connection) -> None:
            conn.execute(entity_emissions.delete().where(entity_emissions.c.holder_id == holder,
                                                         entity_emissions.c.year == year))
            conn.execute(entity_emissions.insert().values(holder_id=holder, year=year,
                                                          emissions=tonnes))
            jr.append(conn, when, "entity_emissions.report", None,
                      {"holder": holder, "year": year, "emissions": tonnes})
        self._run(go)

    # ------------------------------------------------------------------ accounting
    @operation("ca_ledger_by_metric")
    def ca_ledger_by_metric(self, party: str
                            ) -> dict[str, tuple[dict[int, int], dict[int, int]]]:
        """Per metric: per-year ITMOs first transferred (added) and used (subtracted) by
        ``party``. Adjustments stay in their metric (para 9): they are never summed across
        metrics."""
        def go(conn: Connection) -> dict[str, tuple[dict[int, int], dict[int, int]]]:
            rows = conn.execute(sa.select(ca_entries.c.metric, ca_entries.c.year,
                                          ca_entries.c.kind, sa.func.sum(ca_entries.c.quantity))
                                .where(ca_entries.c.party == party)
                                .group_by(ca_entries.c.metric, ca_entries.c.year,
                                          ca_entries.c.kind)).all()
            out: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
            for m, y, k, q in rows:
                ft, used = out.setdefault(str(m), ({}, {}))
                (ft if k == "first_transfer" else used)[int(y)] = int(q)
            return out
        return self._read(go)

    @operation("ca_ledger")
    def ca_ledger(self, party: str, metric: str | None = None
                  ) -> tuple[dict[int, int], dict[int, int]]:
        """Per-year ITMOs first transferred (added) and used (subtracted) by ``party`` in one
        metric: ``metric``, by default the metric of the Party's NDC (``set_ndc``), else
        tCO2e. Entries in other metrics are in :meth:`ca_ledger_by_metric`."""
        if metric is None:
            metric = self._read(lambda c: c.execute(sa.select(ndc_accounting.c.metric).where(
                ndc_accounting.c.party == party)).scalar()) or "tCO2e"
        return self.ca_ledger_by_metric(party).get(metric, ({}, {}))

    @operation("corresponding_adjustments")
    def corresponding_adjustments(self, party: str) -> CAResult:
        """Apply the Party's chosen method to its CA ledger (in the NDC's metric) and reported
        emissions."""
        def go(conn: Connection) -> tuple[Any, dict[int, int]]:
            ndc = conn.execute(sa.select(ndc_accounting).where(
                ndc_accounting.c.party == party)).first()
            if ndc is None:
                raise DocumentError("party", f"no NDC accounting recorded for {party} "
                                    "(set_ndc first)")
            em = {int(r.year): int(r.emissions) for r in conn.execute(
                sa.select(emissions).where(emissions.c.party == party))}
            return ndc, em
        ndc, em = self._read(go)
        ft, used = self.ca_ledger(party, ndc.metric)
        return corresponding_adjustments(party, ndc.method, ndc.first_year, ndc.last_year,
                                         ft, used, em, ndc_type=ndc.ndc_type)

    @operation("finalise")
    def finalise(self, party: str, first_year: int, last_year: int, *,
                 at: datetime | None = None) -> None:
        """Freeze the Party's additions and subtractions for a period (para 12)."""
        when = self._when(at)
        bounds.year(first_year, "first_year")
        bounds.year(last_year, "last_year")
        if last_year < first_year:
            fail("R1006", "last_year", f"{last_year} is before {first_year}")

        def go(conn: Connection) -> None:
            # any overlap with a finalised period, not only the end years (para 12)
            done = self._final_overlapping(conn, party, first_year, last_year)
            if done is not None:
                fail("D6004", "first_year", f"{party}'s corresponding adjustments for "
                     f"{done.first_year}–{done.last_year} are final (para 12); "
                     f"{first_year}–{last_year} overlaps them")
            conn.execute(finalisations.insert().values(party=party, first_year=first_year,
                                                       last_year=last_year, at=when))
            ft: dict[str, int] = {}
            used: dict[str, int] = {}
            for y, k, q in conn.execute(sa.select(
                    ca_entries.c.year, ca_entries.c.kind, sa.func.sum(ca_entries.c.quantity))
                    .where(ca_entries.c.party == party, ca_entries.c.year >= first_year,
                           ca_entries.c.year <= last_year)
                    .group_by(ca_entries.c.year, ca_entries.c.kind)):
                (ft if k == "first_transfer" else used)[str(y)] = int(q)
            jr.append(conn, when, "ca.finalise", None, {
                "party": party, "period": [first_year, last_year],
                "first_transferred": ft, "used": used})
        self._run(go)

    @operation("record_report")
    def record_report(self, party: str, kind: str, year: int = 0, *,
                      at: datetime | None = None) -> None:
        """Record that a report was submitted (``initial``, ``annual`` for ``year``, or
        ``regular`` for the BTR ``year``); the calendar uses it."""
        if kind not in ("initial", "annual", "regular"):
            raise DocumentError("kind", f"must be initial, annual or regular, got {kind!r}")
        if year != 0 or kind != "initial":
            bounds.year(year)
        when = self._when(at)

        def go(conn: Connection) -> None:
            conn.execute(reports_submitted.insert().values(party=party, kind=kind, year=year,
                                                           at=when))
            jr.append(conn, when, "report.submitted", None,
                      {"party": party, "kind": kind, "year": year})
        self._run(go)
