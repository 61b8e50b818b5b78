"""Read-outs: holdings, balances, transactions, accounts, the AEF, the reporting calendar,
the initial report and regular information, the public aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry.ca import CorrespondingAdjustments
from carbonlink.registry.checks import fail
from carbonlink.registry.db import (
    accounts,
    blocks,
    ca_entries,
    links,
    reports_submitted,
    transaction_blocks,
    transactions,
)
from carbonlink.registry.guard import operation


class Reporting(CorrespondingAdjustments):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    # ------------------------------------------------------------------ queries
    @operation("holdings")
    def holdings(self, account: int | None = None) -> list[dict[str, Any]]:
        """Serial blocks (optionally of one account), lowest serial first."""
        def go(conn: Connection) -> list[dict[str, Any]]:
            q = sa.select(blocks)
            if account is not None:
                q = q.where(blocks.c.account_id == account)
            q = q.order_by(blocks.c.issuing_registry, blocks.c.unit_type, blocks.c.vintage,
                           blocks.c.serial_start)
            return [dict(r._mapping) for r in conn.execute(q)]
        return self._read(go)

    @operation("balance")
    def balance(self, account: int, *, status: str = "held") -> int:
        def go(conn: Connection) -> int:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(
                blocks.c.serial_end - blocks.c.serial_start + 1), 0)).where(
                blocks.c.account_id == account, blocks.c.status == status)).scalar_one())
        return self._read(go)

    @operation("transaction")
    def transaction(self, tx_id: int) -> dict[str, Any]:
        def go(conn: Connection) -> dict[str, Any]:
            r = conn.execute(sa.select(transactions).where(transactions.c.id == tx_id)).first()
            if r is None:
                fail("R1005", "tx", f"no transaction {tx_id}")
            out = dict(r._mapping)
            # read back whole: the unit type, vintage and authorisation of the units moved come
            # from the transaction's blocks when the row leaves them unset (they are the fields
            # an AEF action reports, Decision 6/CMA.4 annex); a field stays null only when the
            # blocks differ in it (or the transaction moved no block)
            parts = conn.execute(sa.select(
                transaction_blocks.c.unit_type, transaction_blocks.c.vintage,
                transaction_blocks.c.authorisation_id).where(
                transaction_blocks.c.tx_id == tx_id)).all()
            for k, col in (("unit_type", 0), ("vintage", 1), ("authorisation_id", 2)):
                seen = {p[col] for p in parts}
                if out[k] is None and len(seen) == 1:
                    out[k] = seen.pop()
            return out
        return self._read(go)

    @operation("balances")
    def balances(self, registry: str | None = None) -> dict[int, int]:
        """Held units per account (of one registry, or all) in one grouped query; accounts
        holding nothing are absent."""
        def go(conn: Connection) -> dict[int, int]:
            q = (sa.select(blocks.c.account_id,
                           sa.func.sum(blocks.c.serial_end - blocks.c.serial_start + 1))
                 .where(blocks.c.status == "held").group_by(blocks.c.account_id))
            if registry is not None:
                q = q.where(blocks.c.account_id.in_(
                    sa.select(accounts.c.id).where(accounts.c.registry_id == registry)))
            return {int(a): int(n) for a, n in conn.execute(q)}
        return self._read(go)

    @operation("accounts")
    def accounts(self, registry: str | None = None, *,
                 account: int | None = None) -> list[dict[str, Any]]:
        """Accounts (of one registry, or the one with id ``account``), by id."""
        def go(conn: Connection) -> list[dict[str, Any]]:
            q = sa.select(accounts).order_by(accounts.c.id)
            if registry is not None:
                q = q.where(accounts.c.registry_id == registry)
            if account is not None:
                q = q.where(accounts.c.id == account)
            return [dict(r._mapping) for r in conn.execute(q)]
        return self._read(go)

    # ------------------------------------------------------------------ reports
    @operation("aef")
    def aef(self, party: str, year: int, *, version: str = "1.0",
            submitted: date | None = None) -> dict[str, list[dict[str, Any]]]:
        """The five AEF tables of ``party`` for ``year`` (Decision 6/CMA.4 annex). The
        submission date is ``submitted``, else the recorded submission of the annual
        information for ``year`` (:meth:`record_report`), else today on the server's clock."""
        from carbonlink.registry.reports.aef import aef_tables

        def go(conn: Connection) -> dict[str, list[dict[str, Any]]]:
            day = submitted
            if day is None:
                at = conn.execute(sa.select(reports_submitted.c.at).where(
                    reports_submitted.c.party == party, reports_submitted.c.kind == "annual",
                    reports_submitted.c.year == year)).scalar()
                day = at.date() if at is not None else self._now().date()
            return aef_tables(conn, party, year, version=version, submitted=day)
        return self._read(go)

    @operation("write_aef")
    def write_aef(self, party: str, year: int, out_dir: str | Path, *,
                  formats: tuple[str, ...] = ("xlsx", "csv"),
                  counterparts: Sequence[str | Path] = (), version: str = "1.0",
                  submitted: date | None = None) -> list[Path]:
        """Run the pre-consistency checks (internal, and block overlaps against counterpart
        Parties' AEF Holdings CSV files); write XLSX/CSV only when they pass."""
        from carbonlink.registry.reports.aef import (
            consistency_checks,
            read_holdings_csv,
            write_aef,
        )
        tables = self.aef(party, year, version=version, submitted=submitted)
        others = [read_holdings_csv(p) for p in counterparts]
        problems = consistency_checks(tables, others)
        if problems:
            raise DocumentError([("aef", m) for m in problems])
        return write_aef(tables, out_dir, stem=f"aef-{party}-{year}", formats=formats)

    @operation("calendar")
    def calendar(self, as_of: date | None = None, party: str | None = None) -> list[Any]:
        """Reporting calendar with overdue items (initial, annual by 15 April, regular)."""
        from carbonlink.registry.reports.calendar import reporting_calendar
        return self._read(lambda c: reporting_calendar(c, as_of or self._now().date(), party))

    @operation("initial_report")
    def initial_report(self, party: str) -> str:
        from carbonlink.registry.reports.outlines import initial_report
        return self._read(lambda c: initial_report(c, party))

    @operation("regular_information")
    def regular_information(self, party: str) -> str:
        from carbonlink.registry.reports.outlines import regular_information
        return self._read(lambda c: regular_information(c, party))

    @operation("public_aggregates")
    def public_aggregates(self) -> dict[str, list[dict[str, Any]]]:
        """What anyone may see (Decision 2/CMA.3 annex para 35: public information): units
        held per registry, unit type and vintage; completed external transfers per link;
        corresponding adjustments per Party, year and metric. No account, holder or person
        is named."""
        def go(conn: Connection) -> dict[str, list[dict[str, Any]]]:
            held = conn.execute(
                sa.select(accounts.c.registry_id, blocks.c.unit_type, blocks.c.vintage,
                          sa.func.sum(blocks.c.serial_end - blocks.c.serial_start + 1))
                .join(accounts, accounts.c.id == blocks.c.account_id)
                .where(blocks.c.status == "held")
                .group_by(accounts.c.registry_id, blocks.c.unit_type, blocks.c.vintage)
                .order_by(accounts.c.registry_id, blocks.c.unit_type, blocks.c.vintage)).all()
            moved = conn.execute(
                sa.select(links.c.from_registry, links.c.to_registry,
                          sa.func.count(transactions.c.id), sa.func.sum(transactions.c.quantity))
                .join(links, links.c.id == transactions.c.link_id)
                .where(transactions.c.kind == "external_transfer",
                       transactions.c.state == "completed")
                .group_by(links.c.from_registry, links.c.to_registry)
                .order_by(links.c.from_registry, links.c.to_registry)).all()
            ca = conn.execute(
                sa.select(ca_entries.c.party, ca_entries.c.year, ca_entries.c.metric,
                          ca_entries.c.kind, sa.func.sum(ca_entries.c.quantity))
                .group_by(ca_entries.c.party, ca_entries.c.year, ca_entries.c.metric,
                          ca_entries.c.kind)
                .order_by(ca_entries.c.party, ca_entries.c.year, ca_entries.c.metric)).all()
            out_ca: dict[tuple[str, int, str], dict[str, Any]] = {}
            for party, year, metric, kind, q in ca:
                row = out_ca.setdefault((party, int(year), metric), {
                    "party": party, "year": int(year), "metric": metric,
                    "first_transferred": 0, "used": 0})
                row["first_transferred" if kind == "first_transfer" else "used"] += int(q)
            return {
                "holdings": [{"registry": r, "unit_type": u, "vintage": int(v),
                              "quantity": int(q)} for r, u, v, q in held],
                "transfers": [{"from_registry": f, "to_registry": t, "transfers": int(n),
                               "quantity": int(q or 0)} for f, t, n, q in moved],
                "adjustments": list(out_ca.values()),
            }
        return self._read(go)
