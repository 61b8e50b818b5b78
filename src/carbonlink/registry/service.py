"""The registry service: :class:`Registry`, a thin facade over one module per concern.

========================================  =================================================
module (class)                            what it holds
========================================  =================================================
:mod:`~carbonlink.registry.store`         the engine, database transactions and retries,
(``Store``)                               the server's clock, client references, the kept
                                          PostgreSQL connections of the fast path
:mod:`~carbonlink.registry.users`         access control: logins, tokens, passwords, TOTP,
(``Users``)                               users and roles, representatives, four-eyes
                                          pending actions, trusted-account lists
:mod:`~carbonlink.registry.accounts`      registries, holders, accounts, links
:mod:`~carbonlink.registry.authorisations`  authorisations and their versions
:mod:`~carbonlink.registry.ledger`        the block ledger: serial blocks, transaction rows,
(``Ledger``)                              first transfers, issuance
:mod:`~carbonlink.registry.transfers`     internal transfers (proposal, approval, delay) and
(``Transfers``)                           the proposal of an external transfer
:mod:`~carbonlink.registry.external`      the external-transfer state machine (approve,
(``ExternalTransfers``)                   accept, reject, expire)
:mod:`~carbonlink.registry.terminal`      surrender, use, cancellation, retirement, compaction
:mod:`~carbonlink.registry.ca`            NDC data, emissions, the corresponding-adjustment
(``CorrespondingAdjustments``)            ledger, finalisation, submitted reports
:mod:`~carbonlink.registry.reporting`     holdings, balances, transactions, AEF, calendar,
(``Reporting``)                           public aggregates
:mod:`~carbonlink.registry.common`        shared records and constants (``Receipt``, ...)
========================================  =================================================

Each class extends the one above it (store → … → reporting → :class:`Registry`), so a module
calls only what lies above it in this table and none imports this module; the access rules are
:mod:`~carbonlink.registry.access` (table) and :mod:`~carbonlink.registry.guard` (checks);
``verify`` is :mod:`~carbonlink.registry.verify` and :mod:`~carbonlink.registry.custody`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry import journal as jr
from carbonlink.registry.common import (
    ACCOUNT_UNITS,
    HOLDING_TYPES,
    OPEN_STATES,
    PURPOSES,
    TERMINAL,
    UNIT_TYPES,
    Authorisation,
    Piece,
    Receipt,
    first_transfer_due,
)
from carbonlink.registry.guard import operation
from carbonlink.registry.reporting import Reporting

__all__ = [
    "Registry",
    "ACCOUNT_UNITS",
    "Authorisation",
    "HOLDING_TYPES",
    "OPEN_STATES",
    "PURPOSES",
    "Piece",
    "Receipt",
    "TERMINAL",
    "UNIT_TYPES",
    "first_transfer_due",
]


class Registry(Reporting):
    """An Article 6.2 / linked-ETS registry on a SQLAlchemy URL.

    ``Registry(url)`` or ``Registry.open(url)``; use as a context manager (closes the engine).
    Call :meth:`init` once on an empty database (runs the Alembic migrations).
    """

    @operation("checkpoint")
    def checkpoint(self) -> dict[str, Any]:
        """The journal's head — ``{"seq", "hash", "at"}``, signed (``public_key``,
        ``signature``) when the registry has a journal key — to keep outside the database (a
        file, another system): :meth:`verify` given it finds a journal truncated below it or
        rewritten up to it, even with every hash recomputed."""
        def go(conn: Connection) -> dict[str, Any]:
            r = conn.execute(sa.select(jr.journal.c.seq, jr.journal.c.hash, jr.journal.c.at)
                             .order_by(jr.journal.c.seq.desc()).limit(1)).first()
            if r is None:
                cp = {"seq": 0, "hash": jr.GENESIS, "at": None}
            else:
                cp = {"seq": int(r.seq), "hash": str(r.hash), "at": r.at.isoformat()}
            return jr.sign_checkpoint(self.journal_key, cp)
        return self._read(go)

    @operation("verify")
    def verify(self, checkpoint: dict[str, Any] | None = None) -> list[str]:
        """Recompute the journal chain and the ledger invariants; one message per divergence.
        With a ``checkpoint`` (:meth:`checkpoint`, kept elsewhere) the journal must still hold
        that entry with that hash."""
        from carbonlink.registry.verify import verify

        def go(conn: Connection) -> list[str]:
            problems = verify(conn)
            problems += jr.verify_signatures(
                conn, None if self.journal_key is None else self.journal_key.public_hex())
            if checkpoint is not None:
                problems += jr.checkpoint_signature(self.journal_key, checkpoint)
                problems += jr.against_checkpoint(conn, checkpoint)
            return problems
        return self._read(go)
