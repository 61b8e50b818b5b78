"""The block ledger: serial blocks, splitting and moving them, transaction rows, first
transfers (2/CMA.3 annex para 2), issuance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry import bounds
from carbonlink.registry import journal as jr
from carbonlink.registry import rawsql as raw
from carbonlink.registry.authorisations import Authorisations
from carbonlink.registry.checks import fail
from carbonlink.registry.common import (
    ACCOUNT_UNITS,
    HOLDING_TYPES,
    PRIMARY_EVENTS,
    UNIT_TYPES,
    Authorisation,
    Piece,
    Receipt,
)
from carbonlink.registry.db import (
    accounts,
    authorisation_totals,
    blocks,
    ca_entries,
    finalisations,
    first_transfers,
    registries,
    transactions,
)
from carbonlink.registry.guard import operation


class Ledger(Authorisations):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    # ------------------------------------------------------------------ helpers

    def _lock_accounts(self, conn: Connection, ids: Sequence[int],
                       who: str | None = None) -> dict[int, Any]:
        return raw.lock_accounts(conn, ids, who)

    def _terminal_account(self, conn: Connection, registry: str, type: str) -> int:
        r = conn.execute(sa.select(accounts.c.id).where(
            accounts.c.registry_id == registry, accounts.c.type == type)
            .order_by(accounts.c.id)).first()
        if r is None:
            fail("A2002", "account", f"registry {registry} has no {type} account")
        return int(r.id)

    @staticmethod
    def _check_rep(conn: Connection, account: int, who: str | None, path: str) -> None:
        reps = raw.representatives(conn, account)
        if reps and who not in reps:
            fail("A2005", path, f"{who!r} is not a representative of account {account}")

    @staticmethod
    def _final_overlapping(conn: Connection, party: str, first_year: int, last_year: int) -> Any:
        """A finalisation of ``party`` overlapping ``first_year``–``last_year``, or None."""
        return conn.execute(sa.select(finalisations).where(
            finalisations.c.party == party, finalisations.c.first_year <= last_year,
            finalisations.c.last_year >= first_year)).first()

    def _not_final(self, conn: Connection, party: str, year: int, path: str) -> None:
        r = self._final_overlapping(conn, party, year, year)
        if r is not None:
            fail("D6004", path, f"{party}'s corresponding adjustments for {r.first_year}–"
                 f"{r.last_year} are final (para 12); {year} cannot change")

    def _take(self, conn: Connection, account: int, quantity: int, *,
              unit_type: str | None, vintage: int | None, authorisation: str | None,
              serials: tuple[str, str, int, int, int] | None = None) -> list[Piece]:
        """Select ``quantity`` held units of ``account`` (lowest serials first, or exactly
        ``serials`` = (issuing registry, unit type, vintage, start, end)), splitting the last
        block; returns one :class:`Piece` per row that now holds exactly the taken units."""
        if serials is not None:
            return self._take_serials(conn, account, serials)
        out: list[Piece] = []
        need = quantity
        offset = 0
        page = 64
        while need > 0:
            rows = raw.held_page(conn, account, unit_type, vintage, authorisation, page, offset)
            if not rows:
                break
            offset += page
            for b in rows:
                size = b.serial_end - b.serial_start + 1
                if size <= need:
                    out.append(self._piece(b.id, b, b.serial_start, b.serial_end))
                    need -= size
                else:
                    out.append(self._split(conn, b, need))
                    need = 0
                if need == 0:
                    break
        if need > 0:
            fail("H3001", "quantity", f"account {account} holds {quantity - need} matching "
                 f"units, {quantity} requested")
        return out

    def _take_serials(self, conn: Connection, account: int,
                      serials: tuple[str, str, int, int, int]) -> list[Piece]:
        reg, ut, vin, s, e = serials
        bounds.serial(s)
        bounds.serial(e)
        if e < s or s < 1:
            fail("R1001", "serials", f"serial range [{s}, {e}] is empty")
        rows = conn.execute(sa.select(blocks).where(
            blocks.c.issuing_registry == reg, blocks.c.unit_type == ut, blocks.c.vintage == vin,
            blocks.c.serial_start <= e, blocks.c.serial_end >= s)
            .order_by(blocks.c.serial_start)).all()
        covered = 0
        for b in rows:
            if b.status in ("cancelled", "retired", "used", "surrendered"):
                fail("D6001", "serials", f"units {reg}-{ut}-{vin} [{max(s, b.serial_start)}, "
                     f"{min(e, b.serial_end)}] are already {b.status}")
            if b.account_id != account or b.status != "held":
                fail("H3001", "serials", f"units [{max(s, b.serial_start)}, "
                     f"{min(e, b.serial_end)}] are not held in account {account}")
            covered += min(e, b.serial_end) - max(s, b.serial_start) + 1
        if covered != e - s + 1:
            fail("H3001", "serials", f"serial range [{s}, {e}] is not fully held in account "
                 f"{account}")
        out: list[Piece] = []
        for b in rows:
            lo, hi = max(s, b.serial_start), min(e, b.serial_end)
            if hi < b.serial_end:  # cut off the tail that stays
                raw.set_block_range(conn, b.id, end=hi)
                self._insert_like(conn, b, hi + 1, b.serial_end)
            if lo > b.serial_start:  # cut off the head that stays
                raw.set_block_range(conn, b.id, start=lo)
                self._insert_like(conn, b, b.serial_start, lo - 1)
            out.append(self._piece(b.id, b, lo, hi))
        return out

    @staticmethod
    def _piece(block_id: int, b: Any, s: int, e: int) -> Piece:
        return Piece(int(block_id), b.issuing_registry, b.unit_type, int(b.vintage), int(s),
                     int(e), b.authorisation_id, bool(b.first_transferred))

    @staticmethod
    def _insert_like(conn: Connection, b: Any, s: int, e: int) -> int:
        return raw.insert_block(conn, b.issuing_registry, b.unit_type, b.vintage, s, e,
                                b.account_id, b.status, b.authorisation_id,
                                b.first_transferred, b.pending_tx)

    def _split(self, conn: Connection, b: Any, take: int) -> Piece:
        """Split block ``b``: the lower ``take`` serials become a new row (returned); the
        original row keeps the rest. Shrink first, then insert, so no overlap ever exists."""
        s = int(b.serial_start)
        raw.set_block_range(conn, b.id, start=s + take)
        new_id = self._insert_like(conn, b, s, s + take - 1)
        return self._piece(new_id, b, s, s + take - 1)

    @staticmethod
    def _move(conn: Connection, pieces: Sequence[Piece], **values: Any) -> None:
        raw.move_blocks(conn, [p.block_id for p in pieces], values)

    @staticmethod
    def _new_tx(conn: Connection, at: datetime, kind: str, state: str, quantity: int,
                **values: Any) -> int:
        return raw.insert_tx(conn, at, dict(kind=kind, state=state, quantity=quantity, **values))

    @staticmethod
    def _record_pieces(conn: Connection, tx_id: int, pieces: Sequence[Piece],
                       first: set[int] | None = None) -> None:
        if not pieces:
            return
        # the row names the unit type, vintage and authorisation its blocks share (a request
        # without those filters left them null; mixed blocks leave them null)
        shared: dict[str, Any] = {}
        for col, vals in (("unit_type", {p.unit_type for p in pieces}),
                          ("vintage", {p.vintage for p in pieces}),
                          ("authorisation_id", {p.authorisation_id for p in pieces})):
            if len(vals) == 1 and None not in vals:
                shared[col] = vals.pop()
        if shared:
            conn.execute(transactions.update().where(transactions.c.id == tx_id)
                         .values(**shared))
        raw.insert_tx_blocks(conn, [
            (tx_id, i, p.issuing_registry, p.unit_type, p.vintage, p.start, p.end,
             p.authorisation_id, bool(first and p.block_id in first))
            for i, p in enumerate(pieces)])

    @staticmethod
    def _blocks_payload(pieces: Sequence[Piece]) -> list[list[Any]]:
        return [[p.issuing_registry, p.unit_type, p.vintage, p.start, p.end] for p in pieces]

    def _check_quantity(self, quantity: int) -> None:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            fail("R1001", "quantity", f"must be a positive whole number, got {quantity!r}")
        bounds.quantity(quantity)

    def _party(self, conn: Connection, registry: str) -> str:
        return str(conn.execute(sa.select(registries.c.party).where(
            registries.c.id == registry)).scalar_one())

    def _governing(self, conn: Connection, p: Piece, on: date) -> list[tuple[Authorisation, int]]:
        """The authorisation terms that govern piece ``p`` on ``on``, with the quantity each
        covers: for units already first transferred, the version they were first transferred
        under (changes apply only prospectively, U5007); otherwise the version in force."""
        if p.authorisation_id is None:
            return []
        aid = p.authorisation_id
        if not p.first_transferred:
            return [(self._auth(conn, aid, on, "authorisation"), p.quantity)]
        out: list[tuple[Authorisation, int]] = []
        covered = 0
        for r in conn.execute(sa.select(first_transfers).where(
                first_transfers.c.issuing_registry == p.issuing_registry,
                first_transfers.c.unit_type == p.unit_type,
                first_transfers.c.vintage == p.vintage,
                first_transfers.c.serial_start <= p.end, first_transfers.c.serial_end >= p.start)
                .order_by(first_transfers.c.serial_start)):
            q = min(p.end, int(r.serial_end)) - max(p.start, int(r.serial_start)) + 1
            v = r.authorisation_version
            a = self._auth(conn, aid, None, "authorisation", version=int(v)) if v is not None \
                else self._auth(conn, aid, r.at.date(), "authorisation")
            out.append((a, q))
            covered += q
        if covered < p.quantity:  # not expected: a first-transferred block without its record
            out.append((self._auth(conn, aid, on, "authorisation"), p.quantity - covered))
        return out

    def _first_transfer(self, conn: Connection, tx_id: int, pieces: Sequence[Piece],
                        event: str, at: datetime, *, location: str,
                        international: bool = False) -> set[int]:
        """Detect first transfers among ``pieces`` for ``event`` and book the corresponding
        adjustment of the first-transferring Party for the vintage year (para 8). Works per
        piece, so a partial transfer of a never-transferred block is a first transfer of
        exactly the part moved (avoids UNDP F15). ``location`` is the Party whose registry
        holds the units at the event; ``international``: the event is a transfer to a registry
        of another Party. Which events first-transfer a unit is :func:`first_transfer_due`,
        under the version in force on the event date; that version's terms are re-checked
        (in force U5002, vintage window U5004, cap U5003): a failure rejects the request when
        the event is the defined first transfer, and leaves the units as they are when the
        event only catches up an earlier one. Returns the block ids first-transferred."""
        by_auth: dict[str, list[Piece]] = defaultdict(list)
        for p in pieces:
            if p.authorisation_id is not None and not p.first_transferred:
                by_auth[p.authorisation_id].append(p)
        done: set[int] = set()
        for aid in sorted(by_auth):
            auth = self._auth(conn, aid, at.date(), "authorisation")
            if not auth.first_transfer_due(event, international=international,
                                           abroad=location != auth.party):
                continue
            primary = event in PRIMARY_EVENTS or (event == "external_transfer" and international)
            ps = by_auth[aid]
            if not auth.in_force(at.date()):
                if not primary:
                    continue
                fail("U5002", "authorisation", f"{aid} is not in force on {at.date()} "
                     f"({'revoked' if auth.revoked else 'outside its timeframe'}); its units "
                     "cannot be first transferred")
            outside = [p for p in ps if not auth.vintage_from <= p.vintage <= auth.vintage_to]
            if outside and primary:
                p = outside[0]
                fail("U5004", "vintage", f"units {p.issuing_registry}-{p.unit_type}-{p.vintage} "
                     f"are outside the vintage window {auth.vintage_from}–{auth.vintage_to} of "
                     f"{aid} version {auth.version} in force on {at.date()}; they cannot be "
                     "first transferred")
            ps = [p for p in ps if p not in outside]
            if not ps:
                continue
            qty = sum(p.quantity for p in ps)
            tot = conn.execute(sa.select(authorisation_totals).where(
                authorisation_totals.c.authorisation_id == aid).with_for_update()).one()
            if tot.first_transferred + qty > auth.quantity:
                fail("U5003", "quantity", f"{aid} authorises {auth.quantity}; "
                     f"{tot.first_transferred} already first transferred, {qty} more requested")
            conn.execute(authorisation_totals.update().where(
                authorisation_totals.c.authorisation_id == aid).values(
                first_transferred=tot.first_transferred + qty))
            per_year: dict[int, int] = defaultdict(int)
            for p in ps:
                self._not_final(conn, auth.party, p.vintage, "vintage")
                prev = conn.execute(sa.select(first_transfers.c.serial_end).where(
                    first_transfers.c.issuing_registry == p.issuing_registry,
                    first_transfers.c.unit_type == p.unit_type,
                    first_transfers.c.vintage == p.vintage,
                    first_transfers.c.serial_start <= p.end)
                    .order_by(first_transfers.c.serial_start.desc()).limit(1)).scalar()
                if prev is not None and prev >= p.start:
                    fail("D6003", "serials", f"units {p.issuing_registry}-{p.unit_type}-"
                         f"{p.vintage} [{p.start}, {p.end}] were already first transferred")
                conn.execute(first_transfers.insert().values(
                    authorisation_id=aid, issuing_registry=p.issuing_registry,
                    unit_type=p.unit_type, vintage=p.vintage, serial_start=p.start,
                    serial_end=p.end, tx_id=tx_id, party=auth.party, at=at,
                    authorisation_version=auth.version))
                per_year[p.vintage] += p.quantity
                done.add(p.block_id)
            for y, q in sorted(per_year.items()):
                conn.execute(ca_entries.insert().values(
                    party=auth.party, year=y, kind="first_transfer", quantity=q, tx_id=tx_id,
                    authorisation_id=aid, metric=auth.metric))
        if done:
            self._move(conn, [p for p in pieces if p.block_id in done], first_transferred=True)
        return done

    # ------------------------------------------------------------------ transactions
    @operation("issue")
    def issue(self, account: int, quantity: int, *, unit_type: str = "allowance",
              vintage: int, authorisation: str | None = None,
              at: datetime | None = None) -> Receipt:
        """Issue ``quantity`` units as one new serial block into a holding account of the
        issuing registry. ITMOs need an authorisation (its cap, vintage window, timeframe and
        entities apply); units of any type issued under an authorisation become ITMOs."""
        self._check_quantity(quantity)
        bounds.year(vintage, "vintage")
        if unit_type not in UNIT_TYPES:
            raise DocumentError("unit_type", f"must be one of {', '.join(UNIT_TYPES)}, "
                                f"got {unit_type!r}")
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            acc0 = conn.execute(sa.select(accounts).where(accounts.c.id == account)).first()
            if acc0 is None:
                fail("A2002", "account", f"no account {account}")
            self._registry(conn, acc0.registry_id, "registry", lock=True)
            acc = self._lock_accounts(conn, [account])[account]
            if acc.status != "open":
                fail("A2002", "account", f"account {account} is {acc.status}")
            if acc.type not in HOLDING_TYPES:
                fail("A2003", "account", f"units are issued into a holding account, not "
                     f"{acc.type}")
            if unit_type not in ACCOUNT_UNITS[acc.type]:
                fail("A2003", "unit_type", f"{acc.type} accounts cannot hold {unit_type}")
            auth: Authorisation | None = None
            if authorisation is None and unit_type == "itmo":
                fail("U5001", "authorisation", "ITMOs are issued under an authorisation")
            if authorisation is not None:
                auth = self._auth(conn, authorisation, when.date(), "authorisation")
                if auth.registry_id != acc.registry_id:
                    fail("U5001", "authorisation", f"{authorisation} is recorded in registry "
                         f"{auth.registry_id}, not {acc.registry_id}")
                if not auth.in_force(when.date()):
                    fail("U5002", "authorisation", f"{authorisation} is not in force on "
                         f"{when.date()}")
                if not auth.vintage_from <= vintage <= auth.vintage_to:
                    fail("U5004", "vintage", f"{vintage} is outside {authorisation}'s vintage "
                         f"window {auth.vintage_from}–{auth.vintage_to}")
                if auth.entities and acc.holder_id is not None and \
                        acc.holder_id not in auth.entities:
                    fail("U5005", "account", f"holder {acc.holder_id} is not an authorised "
                         f"entity of {authorisation}")
                tot = conn.execute(sa.select(authorisation_totals).where(
                    authorisation_totals.c.authorisation_id == authorisation)
                    .with_for_update()).one()
                if tot.issued + quantity > auth.quantity:
                    fail("U5003", "quantity", f"{authorisation} authorises {auth.quantity}; "
                         f"{tot.issued} issued, {quantity} more requested")
                conn.execute(authorisation_totals.update().where(
                    authorisation_totals.c.authorisation_id == authorisation)
                    .values(issued=tot.issued + quantity))
            top = conn.execute(sa.select(sa.func.max(blocks.c.serial_end)).where(
                blocks.c.issuing_registry == acc.registry_id, blocks.c.unit_type == unit_type,
                blocks.c.vintage == vintage)).scalar()
            start = int(top or 0) + 1
            if start + quantity - 1 > bounds.MAX_SERIAL:
                fail("R1008", "quantity", f"the series {acc.registry_id}-{unit_type}-{vintage} "
                     f"has {start - 1:,} serial numbers; {quantity:,} more would pass "
                     f"{bounds.MAX_SERIAL:,}")
            bid = int(conn.execute(blocks.insert().values(
                issuing_registry=acc.registry_id, unit_type=unit_type, vintage=vintage,
                serial_start=start, serial_end=start + quantity - 1, account_id=account,
                status="held", authorisation_id=authorisation, first_transferred=False,
                pending_tx=None).returning(blocks.c.id)).scalar_one())
            tx = self._new_tx(conn, when, "issuance", "completed", quantity, to_account=account,
                              unit_type=unit_type, vintage=vintage,
                              authorisation_id=authorisation)
            piece = Piece(bid, acc.registry_id, unit_type, vintage, start,
                          start + quantity - 1, authorisation, False)
            first = self._first_transfer(conn, tx, [piece], "issuance", when,
                                         location=auth.party) if auth else set()
            self._record_pieces(conn, tx, [piece], first)
            jr.append(conn, when, "issuance", tx, {
                "account": account, "quantity": quantity, "authorisation": authorisation,
                "blocks": self._blocks_payload([piece]), "first_transfer": bool(first)})
            return Receipt(tx, "issuance", "completed", quantity,
                           first_transferred=quantity if first else 0,
                           blocks=[tuple(x) for x in self._blocks_payload([piece])])
        return self._run(go)
