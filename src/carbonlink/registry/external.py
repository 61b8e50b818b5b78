"""The external-transfer state machine: proposed → approved → completed, or rejected /
expired (units in escrow until then)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from math import floor
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry import guard, sqlite_fast
from carbonlink.registry import journal as jr
from carbonlink.registry.checks import fail
from carbonlink.registry.common import (
    OPEN_STATES,
    Receipt,
)
from carbonlink.registry.db import (
    accounts,
    blocks,
    links,
    transaction_blocks,
    transactions,
)
from carbonlink.registry.guard import operation
from carbonlink.registry.transfers import Transfers


class ExternalTransfers(Transfers):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    def _open_tx(self, conn: Connection, tx_id: int, states: Sequence[str],
                 when: datetime) -> Any:
        tx = self._locked_tx(conn, tx_id, "external_transfer")
        if tx.state not in states:
            fail("R1002", "tx", f"transfer {tx_id} is {tx.state}; expected "
                 f"{' or '.join(states)}")
        if tx.expires_at is not None and when >= tx.expires_at:
            fail("R1003", "tx", f"transfer {tx_id} expired at {tx.expires_at}")
        return tx

    @operation("approve")
    def approve(self, tx_id: int, *, by: str | None = None,
                at: datetime | None = None) -> Receipt:
        """Second representative of the transferring account confirms (four eyes) a transfer
        proposed by another: an external transfer (then accepted by the receiving registry),
        or an internal one (then completed at once or after the delay)."""
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            kind = conn.execute(sa.select(transactions.c.kind).where(
                transactions.c.id == tx_id)).scalar()
            if kind == "internal_transfer":
                return self._approve_internal(conn, tx_id, by, when)
            tx = self._open_tx(conn, tx_id, ["proposed"], when)
            if by == tx.proposer:
                fail("A2006", "by", f"{by!r} proposed transfer {tx_id}; a second "
                     "representative must approve")
            self._check_rep(conn, tx.from_account, by, "by")
            conn.execute(transactions.update().where(transactions.c.id == tx_id).values(
                state="approved", approver=by, updated_at=when))
            jr.append(conn, when, "external_transfer.approved", tx_id, {"by": by})
            return Receipt(tx_id, "external_transfer", "approved", int(tx.quantity))
        # an internal transfer in one PostgreSQL statement; the access check deferred to it
        # (guard.DEFERRED) is made there, also when it leaves the transfer to the general path:
        # the guard defers exactly when this predicate holds
        if self._fast_path(by):
            try:
                done = self._run_fast(lambda cur: self._approve_lite(cur, tx_id, by, when),
                                      lambda dbc: self._approve_pg(dbc, tx_id, by, when))
            except sqlite_fast.Denied as no:    # rolled back: journalled on its own
                guard.refuse(cast(Any, self), "approve", guard.Target(
                    accounts=() if no.account is None else (int(no.account),)))
                raise AssertionError("unreachable") from None
            if done is not None:
                return done
        return self._run(go)

    @operation("accept")
    def accept(self, tx_id: int, *, by: str | None = None,
               at: datetime | None = None) -> Receipt:
        """The receiving registry accepts: link terms and authorisation re-checked on arrival,
        units move out of escrow, first transfers are detected and the corresponding
        adjustments booked; the converted quantity (exchange rate × (1 − discount)) is
        recorded."""
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            tx = self._open_tx(conn, tx_id, ["approved"], when)
            self._check_rep(conn, tx.to_account, by, "by")
            dst = conn.execute(sa.select(accounts).where(accounts.c.id == tx.to_account)).one()
            if dst.status != "open":
                fail("A2002", "to_account", f"account {tx.to_account} is {dst.status}")
            rows = conn.execute(sa.select(blocks).where(blocks.c.pending_tx == tx_id)
                                .order_by(blocks.c.id)).all()
            pieces = [self._piece(b.id, b, b.serial_start, b.serial_end) for b in rows]
            src_reg = conn.execute(sa.select(accounts.c.registry_id).where(
                accounts.c.id == tx.from_account)).scalar_one()
            link = self._check_link(conn, src_reg, dst.registry_id, pieces, 0, when,
                                    lock=False)
            src_party = self._party(conn, src_reg)
            international = src_party != self._party(conn, dst.registry_id)
            self._check_auth_for_transfer(conn, pieces, dst, when, src_party=src_party,
                                          international=international)
            self._move(conn, pieces, account_id=tx.to_account, status="held", pending_tx=None)
            first = self._first_transfer(conn, tx_id, pieces, "external_transfer", when,
                                         location=src_party, international=international)
            if first:
                conn.execute(transaction_blocks.update().where(
                    transaction_blocks.c.tx_id == tx_id).values(first_transfer=sa.case(
                        *[((transaction_blocks.c.serial_start == p.start)
                           & (transaction_blocks.c.issuing_registry == p.issuing_registry)
                           & (transaction_blocks.c.unit_type == p.unit_type)
                           & (transaction_blocks.c.vintage == p.vintage), True)
                          for p in pieces if p.block_id in first], else_=False)))
            factor = Fraction(str(link.exchange_rate)) * (1 - Fraction(str(link.discount)))
            converted = floor(factor * int(tx.quantity))
            conn.execute(transactions.update().where(transactions.c.id == tx_id).values(
                state="completed", acceptor=by, updated_at=when, converted_quantity=converted))
            ft = sum(p.quantity for p in pieces if p.block_id in first)
            jr.append(conn, when, "external_transfer.completed", tx_id, {
                "by": by, "converted_quantity": converted, "first_transferred": ft})
            return Receipt(tx_id, "external_transfer", "completed", int(tx.quantity),
                           converted_quantity=converted, first_transferred=ft,
                           blocks=[tuple(x) for x in self._blocks_payload(pieces)])
        return self._run(go)

    def _release(self, conn: Connection, tx: Any, state: str, when: datetime,
                 reason: str | None, by: str | None) -> None:
        conn.execute(blocks.update().where(blocks.c.pending_tx == tx.id).values(
            status="held", pending_tx=None))
        if tx.link_id is not None:
            conn.execute(links.update().where(links.c.id == tx.link_id).values(
                moved=links.c.moved - tx.quantity))
        conn.execute(transactions.update().where(transactions.c.id == tx.id).values(
            state=state, updated_at=when, reason=reason))
        jr.append(conn, when, f"{tx.kind}.{state}", int(tx.id),
                  {"reason": reason, "by": by})

    @operation("reject")
    def reject(self, tx_id: int, *, by: str | None = None, reason: str = "rejected",
               at: datetime | None = None) -> Receipt:
        """Either side refuses a pending external transfer; the escrow is released."""
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            tx = self._locked_tx(conn, tx_id, "external_transfer")
            if tx.state not in OPEN_STATES:
                fail("R1002", "tx", f"transfer {tx_id} is {tx.state}")
            lk = conn.execute(sa.select(links.c.id).where(links.c.id == tx.link_id)
                              .with_for_update()).first()
            del lk
            self._release(conn, tx, "rejected", when, reason, by)
            return Receipt(tx_id, "external_transfer", "rejected", int(tx.quantity))
        return self._run(go)

    @operation("expire")
    def expire(self, *, at: datetime | None = None) -> list[int]:
        """Terminate every pending external transfer past its time limit; returns their ids."""
        when = self._when(at)

        def go(conn: Connection) -> list[int]:
            due = conn.execute(sa.select(transactions).where(
                transactions.c.state.in_(OPEN_STATES), transactions.c.expires_at <= when)
                .order_by(transactions.c.id)).all()
            out: list[int] = []
            for t in due:
                self._lock_accounts(conn, [t.from_account, t.to_account])
                tx = conn.execute(sa.select(transactions).where(transactions.c.id == t.id)
                                  .with_for_update()).one()
                if tx.state in OPEN_STATES:
                    self._release(conn, tx, "expired", when, "time limit passed", None)
                    out.append(int(tx.id))
            return out
        return self._run(go)
