"""Units leaving circulation: surrender, use towards an NDC, cancellation, retirement;
compaction of adjacent blocks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from math import floor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry import bounds
from carbonlink.registry import journal as jr
from carbonlink.registry.checks import fail
from carbonlink.registry.common import (
    ACCOUNT_UNITS,
    CANCEL_ACCOUNT,
    HOLDING_TYPES,
    TERMINAL,
    Piece,
    Receipt,
)
from carbonlink.registry.db import (
    accounts,
    blocks,
    ca_entries,
    entity_emissions,
    links,
    ndc_accounting,
    transaction_blocks,
    transactions,
)
from carbonlink.registry.external import ExternalTransfers
from carbonlink.registry.guard import operation


class Terminal(ExternalTransfers):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    def _terminal(self, kind: str, account: int, quantity: int, target_type: str, *,
                  unit_type: str | None, vintage: int | None, authorisation: str | None,
                  serials: tuple[str, str, int, int, int] | None, year: int | None,
                  purpose: str | None, by: str | None, at: datetime | None) -> Receipt:
        if serials is not None:
            quantity = serials[4] - serials[3] + 1
        self._check_quantity(quantity)
        for y, path in ((year, "year"), (vintage, "vintage")):
            if y is not None:
                bounds.year(y, path)
        when = self._when(at)
        use_year = year if year is not None else when.year

        def go(conn: Connection) -> Receipt:
            acc0 = conn.execute(sa.select(accounts).where(accounts.c.id == account)).first()
            if acc0 is None:
                fail("A2001", "account", f"no account {account}")
            target = self._terminal_account(conn, acc0.registry_id, target_type)
            acc = self._lock_accounts(conn, [account, target])[account]
            if acc.status != "open":
                fail("A2001", "account", f"account {account} is {acc.status}")
            if acc.type not in HOLDING_TYPES:
                fail("A2004", "account", f"units never leave a {acc.type} account")
            self._check_rep(conn, account, by, "by")
            reg = self._registry(conn, acc.registry_id, "registry")
            pieces = self._take(conn, account, quantity, unit_type=unit_type, vintage=vintage,
                                authorisation=authorisation, serials=serials)
            for p in pieces:
                if p.unit_type not in ACCOUNT_UNITS[target_type]:
                    fail("A2003", "unit_type", f"{target_type} accounts cannot hold "
                         f"{p.unit_type}")
            tx = self._new_tx(conn, when, kind, "completed", quantity, from_account=account,
                              to_account=target, unit_type=unit_type, vintage=vintage,
                              purpose=purpose, year=use_year, proposer=by,
                              authorisation_id=authorisation)
            if kind == "surrender":
                self._check_entity_share(conn, acc, pieces, use_year)
            if kind in ("use", "oimp_cancellation"):
                for p in pieces:
                    if p.authorisation_id is None:
                        fail("U5006", "account", f"units {p.issuing_registry}-{p.unit_type}-"
                             f"{p.vintage} [{p.start}, {p.end}] are not authorised ITMOs")
            if kind == "use":
                self._check_use_year(conn, reg.party, pieces, use_year)
            # the defined first transfer (OIMP use/cancellation), or one caught up (para 6)
            first = self._first_transfer(
                conn, tx, pieces, "use_or_cancellation" if kind == "oimp_cancellation"
                else kind, when, location=reg.party)
            pieces = [replace(p, first_transferred=True) if p.block_id in first else p
                      for p in pieces]
            # terms: the version each unit was first transferred under (U5007), else in force
            terms = {p.block_id: self._governing(conn, p, when.date()) for p in pieces
                     if p.authorisation_id is not None}
            if kind in ("use", "oimp_cancellation"):
                need = "NDC" if kind == "use" else "OIMP"
                for p in pieces:
                    for auth, _ in terms[p.block_id]:
                        if need not in auth.purpose_set:
                            fail("U5006", "purpose", f"{p.authorisation_id} version "
                                 f"{auth.version} authorises {auth.purposes}, not {need}")
                        if kind == "use" and auth.party == reg.party:
                            fail("U5006", "account", f"{p.authorisation_id} is {reg.party}'s "
                                 "own authorisation; the first-transferring Party does not use "
                                 "its own ITMOs towards its NDC")
                    if kind == "use" and not p.first_transferred:
                        fail("U5006", "account", f"units [{p.start}, {p.end}] of "
                             f"{p.authorisation_id} were never first transferred; only ITMOs "
                             "acquired internationally are used towards an NDC")
                self._check_entities(conn, pieces, acc.holder_id, when, "account")
            self._move(conn, pieces, account_id=target, status=TERMINAL[target_type])
            self._record_pieces(conn, tx, pieces, first)
            # para 8(b): the using Party subtracts ITMOs used towards its NDC — by `use`, or by
            # surrendering authorised NDC ITMOs first transferred by another Party for ETS
            # compliance (an authorised allowance acquired across a link) — each in the
            # metric of the version the units were first transferred under (para 9)
            subtract: dict[tuple[str, str], int] = defaultdict(int)
            if kind in ("use", "surrender"):
                for p in pieces:
                    if not p.first_transferred:
                        continue
                    for auth, q in terms.get(p.block_id, []):
                        if "NDC" in auth.purpose_set and auth.party != reg.party:
                            subtract[(auth.id, auth.metric)] += q
            if subtract:
                self._not_final(conn, reg.party, use_year, "year")
                for (aid, metric), q in sorted(subtract.items()):
                    conn.execute(ca_entries.insert().values(
                        party=reg.party, year=use_year, kind="use", quantity=q, tx_id=tx,
                        authorisation_id=aid, metric=metric))
            ft = sum(p.quantity for p in pieces if p.block_id in first)
            jr.append(conn, when, kind, tx, {
                "account": account, "quantity": quantity, "year": use_year,
                "purpose": purpose, "blocks": self._blocks_payload(pieces),
                "first_transferred": ft})
            return Receipt(tx, kind, "completed", quantity, first_transferred=ft,
                           blocks=[tuple(x) for x in self._blocks_payload(pieces)])
        return self._run(go)

    def _check_use_year(self, conn: Connection, party: str, pieces: Sequence[Piece],
                        year: int) -> None:
        """The year of use (para 8(b)) is not before the vintage of the units used (the
        mitigation must have occurred) and lies in the using Party's NDC implementation period
        when one is recorded (para 7) — otherwise the subtraction would fall outside every
        balance (R1006)."""
        for p in pieces:
            if year < p.vintage:
                fail("R1006", "year", f"year of use {year} is before the vintage {p.vintage} "
                     f"of units {p.issuing_registry}-{p.unit_type}-{p.vintage} "
                     f"[{p.start}, {p.end}]")
        ndc = conn.execute(sa.select(ndc_accounting).where(
            ndc_accounting.c.party == party)).first()
        if ndc is not None and not ndc.first_year <= year <= ndc.last_year:
            fail("R1006", "year", f"year of use {year} is outside {party}'s NDC implementation "
                 f"period {ndc.first_year}–{ndc.last_year} (para 7)")

    def _check_entity_share(self, conn: Connection, acc: Any, pieces: Sequence[Piece],
                            year: int) -> None:
        lk = conn.execute(sa.select(links).where(links.c.to_registry == acc.registry_id,
                                                 links.c.entity_share.is_not(None))).all()
        for link in lk:
            foreign = sum(p.quantity for p in pieces if p.issuing_registry == link.from_registry)
            if not foreign:
                continue
            if acc.holder_id is None:
                continue
            em = conn.execute(sa.select(entity_emissions.c.emissions).where(
                entity_emissions.c.holder_id == acc.holder_id,
                entity_emissions.c.year == year)).scalar()
            if em is None:
                fail("L4005", "year", f"holder {acc.holder_id} has no verified emissions for "
                     f"{year}; the entity share of link {link.from_registry} → "
                     f"{link.to_registry} cannot be checked")
            before = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(
                    transaction_blocks.c.serial_end - transaction_blocks.c.serial_start + 1), 0))
                .select_from(transaction_blocks.join(
                    transactions, transactions.c.id == transaction_blocks.c.tx_id)
                    .join(accounts, accounts.c.id == transactions.c.from_account))
                .where(transactions.c.kind == "surrender", transactions.c.year == year,
                       accounts.c.holder_id == acc.holder_id,
                       transaction_blocks.c.issuing_registry == link.from_registry)
            ).scalar_one()
            limit = floor(Fraction(str(link.entity_share)) * int(em))
            if int(before) + foreign > limit:
                fail("L4005", "quantity", f"units from {link.from_registry} would cover "
                     f"{int(before) + foreign} t of holder {acc.holder_id}'s {em} t in {year}; "
                     f"the entity share {link.entity_share} allows {limit}")

    @operation("surrender")
    def surrender(self, account: int, quantity: int, *, year: int,
                  unit_type: str | None = None, vintage: int | None = None,
                  serials: tuple[str, str, int, int, int] | None = None,
                  by: str | None = None, at: datetime | None = None) -> Receipt:
        """Surrender units for compliance with the ETS obligation of ``year``."""
        return self._terminal("surrender", account, quantity, "compliance", unit_type=unit_type,
                              vintage=vintage, authorisation=None, serials=serials, year=year,
                              purpose="compliance", by=by, at=at)

    @operation("use")
    def use(self, account: int, quantity: int, *, year: int | None = None,
            authorisation: str | None = None, vintage: int | None = None,
            serials: tuple[str, str, int, int, int] | None = None,
            by: str | None = None, at: datetime | None = None) -> Receipt:
        """Use ITMOs towards the NDC of the account's Party; the Party subtracts them for
        ``year`` (default: the year of use), para 8."""
        return self._terminal("use", account, quantity, "ndc_use", unit_type=None,
                              vintage=vintage, authorisation=authorisation, serials=serials,
                              year=year, purpose="NDC", by=by, at=at)

    @operation("cancel")
    def cancel(self, account: int, quantity: int, *, purpose: str = "voluntary",
               authorisation: str | None = None, unit_type: str | None = None,
               vintage: int | None = None, year: int | None = None,
               serials: tuple[str, str, int, int, int] | None = None,
               by: str | None = None, at: datetime | None = None) -> Receipt:
        """Cancel units: ``oimp`` (use/cancellation for other international mitigation
        purposes — the first transfer when the authorisation says so), ``voluntary`` or
        ``omge``."""
        if purpose not in CANCEL_ACCOUNT:
            raise DocumentError("purpose", f"must be one of {', '.join(CANCEL_ACCOUNT)}, "
                                f"got {purpose!r}")
        kind = {"oimp": "oimp_cancellation", "voluntary": "voluntary_cancellation",
                "omge": "omge_cancellation"}[purpose]
        return self._terminal(kind, account, quantity, CANCEL_ACCOUNT[purpose],
                              unit_type=unit_type, vintage=vintage, authorisation=authorisation,
                              serials=serials, year=year, purpose=purpose.upper()
                              if purpose == "oimp" else purpose, by=by, at=at)

    @operation("retire")
    def retire(self, account: int, quantity: int, *, unit_type: str | None = None,
               vintage: int | None = None,
               serials: tuple[str, str, int, int, int] | None = None,
               by: str | None = None, at: datetime | None = None) -> Receipt:
        """Retire units (take them out of circulation without any claim)."""
        return self._terminal("retirement", account, quantity, "retirement",
                              unit_type=unit_type, vintage=vintage, authorisation=None,
                              serials=serials, year=None, purpose=None, by=by, at=at)

    @operation("compact")
    def compact(self, *, at: datetime | None = None) -> int:
        """Merge adjacent serial blocks that share everything but their range (same account,
        status, authorisation, first-transfer status, no escrow); returns the number of rows
        removed. Quantity is conserved; the merge is journaled like any other change."""
        when = self._when(at)

        def go(conn: Connection) -> int:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE blocks IN SHARE ROW EXCLUSIVE MODE")
            rows = conn.execute(sa.select(blocks).where(blocks.c.pending_tx.is_(None))
                                .order_by(blocks.c.issuing_registry, blocks.c.unit_type,
                                          blocks.c.vintage, blocks.c.serial_start)).all()
            merged: list[list[Any]] = []   # [keep_id, end, [absorbed ids]]
            prev: Any = None
            for b in rows:
                same = prev is not None and (
                    (prev.issuing_registry, prev.unit_type, prev.vintage, prev.account_id,
                     prev.status, prev.authorisation_id, bool(prev.first_transferred))
                    == (b.issuing_registry, b.unit_type, b.vintage, b.account_id, b.status,
                        b.authorisation_id, bool(b.first_transferred))
                    and merged and merged[-1][1] + 1 == b.serial_start)
                if same:
                    merged[-1][1] = int(b.serial_end)
                    merged[-1][2].append(int(b.id))
                else:
                    merged.append([int(b.id), int(b.serial_end), []])
                prev = b
            removed = 0
            for keep, end, gone in merged:
                if not gone:
                    continue
                conn.execute(blocks.delete().where(blocks.c.id.in_(gone)))
                conn.execute(blocks.update().where(blocks.c.id == keep).values(serial_end=end))
                removed += len(gone)
            jr.append(conn, when, "blocks.compact", None, {"rows_removed": removed})
            return removed
        return self._run(go)
