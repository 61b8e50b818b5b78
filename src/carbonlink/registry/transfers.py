"""Transfers: the proposal of an internal transfer (approved by a second representative, then
completed at once or after the delay) and the proposal of an external transfer across a link,
with their checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry import bounds, guard, sqlite_fast
from carbonlink.registry import journal as jr
from carbonlink.registry import rawsql as raw
from carbonlink.registry.checks import fail
from carbonlink.registry.common import (
    ACCOUNT_UNITS,
    HOLDING_TYPES,
    Piece,
    Receipt,
)
from carbonlink.registry.db import (
    accounts,
    blocks,
    links,
    transactions,
    trusted_accounts,
    trusted_changes,
)
from carbonlink.registry.guard import operation
from carbonlink.registry.ledger import Ledger


class Transfers(Ledger):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    @operation("transfer")
    def transfer(self, from_account: int, to_account: int, quantity: int, *,
                 unit_type: str | None = None, vintage: int | None = None,
                 authorisation: str | None = None,
                 serials: tuple[str, str, int, int, int] | None = None,
                 by: str | None = None, at: datetime | None = None) -> Receipt:
        """Move units. Every transfer out of an account is under four eyes (issue 11, build
        point 2; Reg. (EU) 2019/1122 Art 35(1)). Inside one registry the **internal transfer** is
        proposed now (units held in escrow as *pending export*), a second representative
        approves it (:meth:`approve`), and then it completes at once to an account on the
        trusted list (:meth:`trust`) and to any other when :meth:`_untrusted_due` says (Art
        35(3), or a fixed :attr:`untrusted_delay`; :meth:`settle`), cancellable until then
        (:meth:`cancel_transfer`). To another
        registry it is an **external transfer**: proposed now (units held in escrow as
        *pending export*), then :meth:`approve` by a second representative, then
        :meth:`accept` by the receiving registry — or :meth:`reject` / :meth:`expire`."""
        if serials is not None:
            quantity = serials[4] - serials[3] + 1
        self._check_quantity(quantity)
        if vintage is not None:
            bounds.year(vintage, "vintage")
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            accs = self._lock_accounts(conn, [from_account, to_account], by)
            src, dst = self._check_transfer_accounts(accs, from_account, to_account, by)
            external = src.registry_id != dst.registry_id
            pieces = self._take(conn, from_account, quantity, unit_type=unit_type,
                                vintage=vintage, authorisation=authorisation, serials=serials)
            for p in pieces:
                if p.unit_type not in ACCOUNT_UNITS[dst.type]:
                    fail("A2003", "to_account", f"{dst.type} accounts cannot hold {p.unit_type}")
            if not external and any(p.authorisation_id for p in pieces):
                self._check_entities(conn, pieces, dst.holder_id, when, "to_account")
            if not external:
                return self._propose_internal(conn, when, from_account, to_account, quantity,
                                              pieces, unit_type, vintage, by)
            link = self._check_link(conn, src.registry_id, dst.registry_id, pieces, quantity,
                                    when, lock=True)
            src_party = self._party(conn, src.registry_id)
            self._check_auth_for_transfer(
                conn, pieces, dst, when, src_party=src_party,
                international=src_party != self._party(conn, dst.registry_id))
            tx = self._new_tx(conn, when, "external_transfer", "proposed", quantity,
                              from_account=from_account, to_account=to_account,
                              unit_type=unit_type, vintage=vintage, link_id=link.id,
                              proposer=by, expires_at=when + self.proposal_ttl)
            self._move(conn, pieces, status="pending_export", pending_tx=tx)
            conn.execute(links.update().where(links.c.id == link.id)
                         .values(moved=link.moved + quantity))
            self._record_pieces(conn, tx, pieces)
            jr.append(conn, when, "external_transfer.proposed", tx, {
                "from": from_account, "to": to_account, "quantity": quantity,
                "link": link.id, "blocks": self._blocks_payload(pieces), "by": by})
            return Receipt(tx, "external_transfer", "proposed", quantity,
                           blocks=[tuple(x) for x in self._blocks_payload(pieces)])

        if serials is None and self._fast_path(by):
            args = (from_account, to_account, quantity, unit_type, vintage, authorisation, by,
                    when)
            done = self._run_fast(lambda cur: self._propose_lite(cur, *args),
                                  lambda dbc: self._propose_pg(dbc, *args))
            if done is not None:
                return done
        return self._run(go)

    def _run_fast(self, lite: Callable[[Any], Receipt | None],
                  pg: Callable[[Any], Receipt | None]) -> Receipt | None:
        """One fast-path step (:meth:`_fast_path`): ``lite`` in SQLite's driver-level
        transaction (:meth:`_run_sqlite`), ``pg`` as PostgreSQL's one statement on a kept
        connection (:meth:`_run_statement`)."""
        if self.engine.dialect.name == "sqlite":
            return self._run_sqlite(lite)
        return self._run_statement(pg)

    #: SQLite: internal transfers on the driver (:mod:`carbonlink.registry.sqlite_fast`);
    #: False sends them through the general path (the parity tests run both)
    sqlite_fast_path = True

    def _fast_path(self, by: str | None = None) -> bool:
        """May this internal transfer step run on the fast path: one statement on PostgreSQL
        (migration 0011), one driver-level transaction on SQLite
        (:mod:`~carbonlink.registry.sqlite_fast`)? Not in replay mode (its journal rule
        differs), not with a client reference (recorded in the same database transaction), not
        inside a four-eyes administrative action; on SQLite, for a database file (not
        ``:memory:`` or a URI). On PostgreSQL also not with a journal key
        (one statement commits inside SQL, where the key cannot sign; SQLite's path signs in
        Python), not for a name that SQL would print differently from Python
        (:func:`rawsql.plain_name`)."""
        dialect = self.engine.dialect.name
        if dialect not in ("postgresql", "sqlite") or self.replay \
                or guard.AFTER.get() is not None or guard.ON_COMMIT.get() is not None \
                or guard.DRY_RUN.get():
            return False
        if dialect == "sqlite":     # a file: its pool's connections may change threads
            return self.sqlite_fast_path and self._sqlite_file is not None
        return raw.plain_name(by) and (self.journal_key is None
                                       or self.journal_key.private() is None)

    def _propose_lite(self, cur: Any, from_account: int, to_account: int, quantity: int,
                      unit_type: str | None, vintage: int | None, authorisation: str | None,
                      by: str | None, when: datetime) -> Receipt | None:
        """SQLite's proposal of an internal transfer (:func:`sqlite_fast.propose`)."""
        return sqlite_fast.propose(self, cur, from_account, to_account, quantity, unit_type,
                                   vintage, authorisation, by, when)

    def _approve_lite(self, cur: Any, tx_id: int, by: str | None,
                      when: datetime) -> Receipt | None:
        """SQLite's approval of an internal transfer (:func:`sqlite_fast.approve`), with the
        access check deferred to it (``guard.DEFERRED``)."""
        return sqlite_fast.approve(self, cur, tx_id, by, when, guard.DEFERRED.get())

    def _propose_pg(self, dbc: Any, from_account: int, to_account: int, quantity: int,
                    unit_type: str | None, vintage: int | None, authorisation: str | None,
                    by: str | None, when: datetime) -> Receipt | None:
        """The proposal of an internal transfer as **one statement** on a kept psycopg cursor
        in autocommit mode (its own database transaction): ``registry_propose_internal``
        (migration 0011) locks both accounts, runs the checks of :meth:`transfer` in the same
        order (a failed one writes nothing and is raised here with its code, path and detail),
        and writes what :meth:`_propose_internal` writes. ``None`` for a transfer the function
        leaves to the general path (another registry; authorised units), nothing written."""
        dbc.execute(raw.PG_PROPOSE_INTERNAL, (from_account, to_account, quantity, unit_type,
                                              vintage, authorisation, by, when,
                                              when.isoformat(), when + self.proposal_ttl),
                    prepare=True)
        tx_id, code, path, detail, payload = dbc.fetchone()
        if code is None:
            return Receipt(int(tx_id), "internal_transfer", "proposed", quantity,
                           blocks=[tuple(x) for x in json.loads(payload)["blocks"]])
        if code in ("external", "general"):
            return None
        fail(code, path, detail)

    def _approve_pg(self, dbc: Any, tx_id: int, by: str | None,
                    when: datetime) -> Receipt | None:
        """The approval of an internal transfer as **one statement**:
        ``registry_approve_internal`` (migration 0011) does what :meth:`_approve_internal`
        does, with its checks in the same order. ``None`` when ``tx_id`` is not an internal
        transfer (nothing written; the general path answers)."""
        due = self._untrusted_due(when)
        delay = timedelta(0) if due is None else due - when
        allowed = guard.DEFERRED.get()
        dbc.execute(raw.PG_APPROVE_INTERNAL, (tx_id, by, when, when.isoformat(), delay,
                                              (when + delay).isoformat(),
                                              None if allowed is None else list(allowed)),
                    prepare=True)
        state, qty, code, path, detail, account = dbc.fetchone()
        if code is None:
            return Receipt(tx_id, "internal_transfer", str(state), int(qty))
        if code == "general":
            return None
        if code == "denied":
            guard.refuse(cast(Any, self), "approve", guard.Target(
                accounts=() if account is None else (int(account),)))
        fail(code, path, detail)

    @staticmethod
    def _check_transfer_accounts(accs: dict[int, Any], from_account: int, to_account: int,
                                 by: str | None) -> tuple[Any, Any]:
        """The account-layer checks of a transfer (A2001–A2007 minus the registry test)."""
        src, dst = accs.get(from_account), accs.get(to_account)
        if src is None or src.status != "open":
            fail("A2001", "from_account", f"account {from_account} " +
                 ("does not exist" if src is None else f"is {src.status}"))
        if dst is None or dst.status != "open":
            fail("A2002", "to_account", f"account {to_account} " +
                 ("does not exist" if dst is None else f"is {dst.status}"))
        if from_account == to_account:
            fail("A2007", "to_account", "transfer to the same account")
        if src.type not in HOLDING_TYPES:
            fail("A2004", "from_account", f"units never leave a {src.type} account")
        if dst.type not in HOLDING_TYPES:
            fail("A2003", "to_account", f"transfers go to holding accounts; use surrender, "
                 f"use, cancel or retire for {dst.type}")
        if src.n_reps and not src.is_rep:
            fail("A2005", "by", f"{by!r} is not a representative of account {from_account}")
        return src, dst

    def _check_link(self, conn: Connection, src_reg: str, dst_reg: str,
                    pieces: Sequence[Piece], quantity: int, when: datetime,
                    lock: bool) -> Any:
        q = sa.select(links).where(links.c.from_registry == src_reg,
                                   links.c.to_registry == dst_reg)
        link = conn.execute(q.with_for_update() if lock else q).first()
        if link is None:
            fail("L4001", "to_account", f"no link {src_reg} → {dst_reg}")
        if link.suspended_from is not None and when.date() >= link.suspended_from:
            fail("L4004", "at", f"link {src_reg} → {dst_reg} is suspended from "
                 f"{link.suspended_from}")
        recognised = set(link.unit_types.split(",")) if link.unit_types else set()
        for p in pieces:
            if p.unit_type not in recognised:
                fail("L4002", "unit_type", f"{p.unit_type} is not recognised on link "
                     f"{src_reg} → {dst_reg} (recognised: {', '.join(sorted(recognised))})")
        if lock and link.quota is not None and link.moved + quantity > link.quota:
            fail("L4003", "quantity", f"link {src_reg} → {dst_reg} quota {link.quota}: "
                 f"{link.moved} moved, {quantity} more requested")
        return link

    def _check_auth_for_transfer(self, conn: Connection, pieces: Sequence[Piece], dst: Any,
                                 when: datetime, *, src_party: str, international: bool) -> None:
        """Authorisation terms of an external transfer: units it would first transfer must be
        under a version in force (U5002) whose vintage window holds them (U5004); the acquiring
        holder must be an authorised entity (U5005)."""
        for aid in sorted({p.authorisation_id for p in pieces if p.authorisation_id}):
            pending = [p for p in pieces if p.authorisation_id == aid and not p.first_transferred]
            if not pending or not international:
                continue
            auth = self._auth(conn, aid, when.date(), "authorisation")
            if not auth.first_transfer_due("external_transfer", international=True,
                                           abroad=src_party != auth.party):
                continue
            if not auth.in_force(when.date()):
                fail("U5002", "authorisation", f"{aid} is not in force on {when.date()}; its "
                     "units cannot be first transferred")
            for p in pending:
                if not auth.vintage_from <= p.vintage <= auth.vintage_to:
                    fail("U5004", "vintage", f"units {p.issuing_registry}-{p.unit_type}-"
                         f"{p.vintage} are outside the vintage window {auth.vintage_from}–"
                         f"{auth.vintage_to} of {aid} version {auth.version} in force on "
                         f"{when.date()}; they cannot be first transferred")
        self._check_entities(conn, pieces, dst.holder_id, when, "to_account")

    def _check_entities(self, conn: Connection, pieces: Sequence[Piece], holder: int | None,
                        when: datetime, path: str) -> None:
        """The holder receiving, using or cancelling authorised units is an authorised entity
        of the terms that govern them (U5005; :meth:`_governing`) — on every transfer, internal
        or external, and at use or cancellation."""
        if holder is None:
            return
        for p in pieces:
            for auth, _ in self._governing(conn, p, when.date()):
                if auth.entities and holder not in auth.entities:
                    fail("U5005", path, f"holder {holder} is not an authorised entity of "
                         f"{auth.id} (version {auth.version})")

    # ------------------------------------------------------------------ internal, four eyes
    def _is_trusted(self, conn: Connection, src: int, dst: int, when: datetime) -> bool:
        """``dst`` is on ``src``'s trusted-account list in force at ``when``, or belongs to the same account
        holder (Reg. (EU) 2019/1122 Art 23(2): those are on it automatically)."""
        if conn.execute(sa.select(trusted_accounts.c.trusted_id).where(
                trusted_accounts.c.account_id == src,
                trusted_accounts.c.trusted_id == dst,
                trusted_accounts.c.added_at <= when)).first() is not None:
            return True
        rows = {int(r.id): r.holder_id for r in conn.execute(sa.select(
            accounts.c.id, accounts.c.holder_id).where(accounts.c.id.in_((src, dst))))}
        return rows.get(src) is not None and rows.get(src) == rows.get(dst)

    def _propose_internal(self, conn: Connection, when: datetime, from_account: int,
                          to_account: int, quantity: int, pieces: Sequence[Piece],
                          unit_type: str | None, vintage: int | None, by: str | None
                          ) -> Receipt:
        """An internal transfer: proposed now, its units held in escrow until a second
        representative approves (Reg. (EU) 2019/1122 Art 35(1))."""
        tx = self._new_tx(conn, when, "internal_transfer", "proposed", quantity,
                          from_account=from_account, to_account=to_account,
                          unit_type=unit_type, vintage=vintage, proposer=by,
                          expires_at=when + self.proposal_ttl)
        self._move(conn, pieces, status="pending_export", pending_tx=tx)
        self._record_pieces(conn, tx, pieces)
        jr.append(conn, when, "internal_transfer.proposed", tx, {
            "from": from_account, "to": to_account, "quantity": quantity,
            "blocks": self._blocks_payload(pieces), "by": by})
        return Receipt(tx, "internal_transfer", "proposed", quantity,
                       blocks=[tuple(x) for x in self._blocks_payload(pieces)])

    def _locked_tx(self, conn: Connection, tx_id: int, kind: str) -> Any:
        """Transaction ``tx_id`` of ``kind`` (``internal_transfer``, ``external_transfer``),
        read again under the locks of both accounts (account locks first, in id order, like
        every other transaction); ``R1005`` when there is no such transfer."""
        tx = conn.execute(sa.select(transactions).where(transactions.c.id == tx_id)).first()
        if tx is None or tx.kind != kind:
            fail("R1005", "tx", f"no {kind.replace('_', ' ')} {tx_id}")
        self._lock_accounts(conn, [tx.from_account, tx.to_account])
        return conn.execute(sa.select(transactions).where(transactions.c.id == tx_id)
                            .with_for_update()).one()

    def _untrusted_due(self, approved: datetime) -> datetime | None:
        """When a transfer approved at ``approved`` to an account off the trusted list
        completes: Reg. (EU) 2019/1122 Art 35(3) (:func:`untrusted_due`) unless the registry
        sets a fixed :attr:`untrusted_delay`; ``None`` when it completes at once (delay 0)."""
        delay = self.untrusted_delay
        if delay is None:
            return untrusted_due(approved)
        return approved + delay if delay > timedelta(0) else None

    def _approve_internal(self, conn: Connection, tx_id: int, by: str | None,
                          when: datetime) -> Receipt:
        """The second representative approves: to a trusted account (or in a registry whose
        :attr:`untrusted_delay` is zero) the transfer completes at once; to any other it
        completes when :meth:`_untrusted_due` says (``delayed``), and the transferring account's
        representatives may cancel it until then."""
        tx = self._locked_tx(conn, tx_id, "internal_transfer")
        if tx.state != "proposed":
            fail("R1002", "tx", f"transfer {tx_id} is {tx.state}; expected proposed")
        if tx.expires_at is not None and when >= tx.expires_at:
            fail("R1003", "tx", f"transfer {tx_id} expired at {tx.expires_at}")
        if by == tx.proposer:
            fail("A2006", "by", f"{by!r} proposed transfer {tx_id}; a second "
                 "representative must approve")
        self._check_rep(conn, tx.from_account, by, "by")
        self._check_still_open(conn, int(tx.to_account))
        q = int(tx.quantity)
        due = self._untrusted_due(when)
        if due is None or \
                self._is_trusted(conn, int(tx.from_account), int(tx.to_account), when):
            conn.execute(transactions.update().where(transactions.c.id == tx_id).values(
                approver=by, updated_at=when))
            jr.append(conn, when, "internal_transfer.approved", tx_id,
                      {"by": by, "completes_at": None})
            self._complete_internal(conn, tx, when)
            return Receipt(tx_id, "internal_transfer", "completed", q)
        conn.execute(transactions.update().where(transactions.c.id == tx_id).values(
            state="delayed", approver=by, updated_at=when, completes_at=due))
        jr.append(conn, when, "internal_transfer.approved", tx_id,
                  {"by": by, "completes_at": due.isoformat()})
        return Receipt(tx_id, "internal_transfer", "delayed", q)

    @staticmethod
    def _account_status(conn: Connection, account: int) -> str | None:
        return conn.execute(sa.select(accounts.c.status).where(
            accounts.c.id == account)).scalar()

    def _check_still_open(self, conn: Connection, account: int) -> None:
        """A2002 when the transfer executes (approval, or settle after the delay), not only when
        it was proposed: the acquiring account may have been blocked or closed since, and
        units never go into an account that is not open (as ``accept`` re-checks it for an
        external transfer)."""
        status = self._account_status(conn, account)
        if status != "open":
            fail("A2002", "to_account", f"account {account} is {status}")

    def _complete_internal(self, conn: Connection, tx: Any, when: datetime,
                           settled_by: str | None = None) -> None:
        conn.execute(blocks.update().where(blocks.c.pending_tx == tx.id).values(
            account_id=tx.to_account, status="held", pending_tx=None))
        conn.execute(transactions.update().where(transactions.c.id == tx.id).values(
            state="completed", updated_at=when))
        jr.append(conn, when, "internal_transfer.completed", int(tx.id),
                  {"settled_by": settled_by} if settled_by is not None else {})

    @operation("cancel_transfer")
    def cancel_transfer(self, tx_id: int, *, by: str | None = None,
                        reason: str = "cancelled", at: datetime | None = None) -> Receipt:
        """A representative of the transferring account cancels an internal transfer that is
        proposed or in its delay (Reg. (EU) 2019/1122 Art 35); the units return."""
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            tx = self._locked_tx(conn, tx_id, "internal_transfer")
            if tx.state not in ("proposed", "delayed"):
                fail("R1002", "tx", f"transfer {tx_id} is {tx.state}; only a proposed or "
                     "delayed transfer can be cancelled")
            self._check_rep(conn, tx.from_account, by, "by")
            conn.execute(blocks.update().where(blocks.c.pending_tx == tx_id).values(
                status="held", pending_tx=None))
            conn.execute(transactions.update().where(transactions.c.id == tx_id).values(
                state="cancelled", updated_at=when, reason=reason))
            jr.append(conn, when, "internal_transfer.cancelled", tx_id,
                      {"by": by, "reason": reason})
            return Receipt(tx_id, "internal_transfer", "cancelled", int(tx.quantity))
        return self._run(go)

    @operation("settle")
    def settle(self, *, by: str | None = None, at: datetime | None = None) -> list[int]:
        """Complete every delayed internal transfer whose delay has passed on the server's
        clock; returns their ids. The web server runs it every ``settle_seconds`` as
        :data:`~carbonlink.registry.access.SCHEDULER`; ``carbonlink registry settle --watch``
        runs it as the logged-in administrator. Each completion's journal entry names who
        settled it (``settled_by``). A transfer whose acquiring account is no longer open
        (blocked or closed during the delay) is not completed: it stays delayed — completed by
        a later settle once the account is open again, or cancelled by the transferring
        account's representatives (A2002 applies when a transfer executes)."""
        when = self._when(at)

        def go(conn: Connection) -> list[int]:
            due = conn.execute(sa.select(transactions.c.id).where(
                transactions.c.state == "delayed", transactions.c.completes_at <= when)
                .order_by(transactions.c.id)).all()
            out: list[int] = []
            for (tid,) in due:
                tx = self._locked_tx(conn, int(tid), "internal_transfer")
                open_ = self._account_status(conn, int(tx.to_account)) == "open"
                if open_ and tx.state == "delayed" and tx.completes_at <= when:
                    self._complete_internal(conn, tx, when, by)
                    out.append(int(tid))
            return out
        return self._run(go)

    # ------------------------------------------------------------------ trusted accounts
    @operation("trust")
    def trust(self, account: int, trusted_account: int, *, by: str | None = None,
              at: datetime | None = None) -> dict[str, Any]:
        """A representative of ``account`` proposes putting ``trusted_account`` on its
        trusted-account list; another representative approves (:meth:`approve_trust`), and the
        addition is in force from :func:`trusted_from` (Reg. (EU) 2019/1122 Art 23(4))."""
        return self._propose_trust(account, trusted_account, "add", by, self._when(at))

    @operation("distrust")
    def distrust(self, account: int, trusted_account: int, *, by: str | None = None,
                 at: datetime | None = None) -> dict[str, Any]:
        """A representative of ``account`` proposes taking ``trusted_account`` off its
        trusted-account list; it is off as soon as another representative approves
        (Art 23(4): removals are carried out immediately)."""
        return self._propose_trust(account, trusted_account, "remove", by, self._when(at))

    def _propose_trust(self, account: int, trusted_account: int, action: str,
                       by: str | None, when: datetime) -> dict[str, Any]:
        def go(conn: Connection) -> dict[str, Any]:
            self._lock_accounts(conn, [account])
            found = {int(r.id) for r in conn.execute(sa.select(accounts.c.id).where(
                accounts.c.id.in_((account, trusted_account))))}
            for a, path in ((account, "account"), (trusted_account, "trusted_account")):
                if a not in found:
                    fail("A2001", path, f"no account {a}")
            if account == trusted_account:
                fail("A2007", "trusted_account", "an account does not trust itself")
            listed = conn.execute(sa.select(trusted_accounts.c.trusted_id).where(
                trusted_accounts.c.account_id == account,
                trusted_accounts.c.trusted_id == trusted_account)).first() is not None
            if action == "add" and listed:
                fail("R1002", "trusted_account", f"account {trusted_account} is already on "
                     f"the trusted list of account {account}")
            if action == "remove" and not listed:
                fail("R1005", "trusted_account", f"account {trusted_account} is not on the "
                     f"trusted list of account {account}")
            if conn.execute(sa.select(trusted_changes.c.id).where(
                    trusted_changes.c.account_id == account,
                    trusted_changes.c.trusted_id == trusted_account,
                    trusted_changes.c.state == "proposed")).first() is not None:
                fail("R1002", "trusted_account", f"a change of account {trusted_account} on "
                     f"the trusted list of account {account} is already proposed")
            cid = int(conn.execute(trusted_changes.insert().values(
                account_id=account, trusted_id=trusted_account, action=action,
                state="proposed", proposer=by, proposed_at=when)
                .returning(trusted_changes.c.id)).scalar_one())
            jr.append(conn, when, "trusted.proposed", None, {
                "change": cid, "account": account, "trusted": trusted_account,
                "action": action, "by": by})
            return self._trust_change(conn, cid)
        return self._run(go)

    @staticmethod
    def _trust_change(conn: Connection, cid: int) -> dict[str, Any]:
        r = conn.execute(sa.select(trusted_changes).where(trusted_changes.c.id == cid)).first()
        if r is None:
            fail("R1005", "change", f"no trusted-list change {cid}")
        return dict(r._mapping)

    def _open_trust_change(self, conn: Connection, change: int) -> dict[str, Any]:
        """The proposed trusted-list change ``change``, read again under its account's lock
        (R1005 when there is none, R1002 when it was decided)."""
        c = self._trust_change(conn, change)
        self._lock_accounts(conn, [int(c["account_id"])])
        c = self._trust_change(conn, change)
        if c["state"] != "proposed":
            fail("R1002", "change", f"trusted-list change {change} is {c['state']}; "
                 "expected proposed")
        return c

    @operation("approve_trust")
    def approve_trust(self, change: int, *, by: str | None = None,
                      at: datetime | None = None) -> dict[str, Any]:
        """A second representative of the account approves a proposed change of its trusted
        list (Art 23(4): initiated and approved by two representatives): a removal takes effect
        now, an addition at :func:`trusted_from` of its proposal (or now, if that has passed)."""
        when = self._when(at)

        def go(conn: Connection) -> dict[str, Any]:
            c = self._open_trust_change(conn, change)
            if by == c["proposer"]:
                fail("A2006", "by", f"{by!r} proposed trusted-list change {change}; a second "
                     "representative must approve")
            self._check_rep(conn, int(c["account_id"]), by, "by")
            acc, other = int(c["account_id"]), int(c["trusted_id"])
            if c["action"] == "add":
                effective = max(when, trusted_from(c["proposed_at"]))
                conn.execute(trusted_accounts.insert().values(
                    account_id=acc, trusted_id=other, added_at=effective))
                jr.append(conn, when, "trusted.add", None, {
                    "account": acc, "trusted": other, "change": change,
                    "effective": effective.isoformat(), "by": c["proposer"],
                    "approved_by": by})
            else:
                effective = when
                conn.execute(trusted_accounts.delete().where(
                    trusted_accounts.c.account_id == acc,
                    trusted_accounts.c.trusted_id == other))
                jr.append(conn, when, "trusted.remove", None, {
                    "account": acc, "trusted": other, "change": change,
                    "by": c["proposer"], "approved_by": by})
            conn.execute(trusted_changes.update().where(trusted_changes.c.id == change).values(
                state="approved", approver=by, decided_at=when, effective_at=effective))
            return self._trust_change(conn, change)
        return self._run(go)

    @operation("reject_trust")
    def reject_trust(self, change: int, *, by: str | None = None,
                     at: datetime | None = None) -> dict[str, Any]:
        """A representative of the account withdraws (its proposer) or refuses (another) a
        proposed change of its trusted list: it never takes effect (Art 23(4): a change needs
        the second representative's agreement)."""
        when = self._when(at)

        def go(conn: Connection) -> dict[str, Any]:
            c = self._open_trust_change(conn, change)
            self._check_rep(conn, int(c["account_id"]), by, "by")
            conn.execute(trusted_changes.update().where(trusted_changes.c.id == change).values(
                state="rejected", approver=by, decided_at=when))
            jr.append(conn, when, "trusted.rejected", None, {
                "change": change, "account": int(c["account_id"]),
                "trusted": int(c["trusted_id"]), "action": c["action"], "by": by})
            return self._trust_change(conn, change)
        return self._run(go)

    @operation("trusted")
    def trusted(self, account: int, *, pending: bool = False) -> list[Any]:
        """The accounts on ``account``'s trusted list in force now on the server's clock
        (besides the holder's own accounts); with ``pending``, every entry and proposed change
        as dicts (``trusted``, ``since``: in force from; or a proposed change's fields)."""
        when = self._now()

        def go(c: Connection) -> list[Any]:
            rows = c.execute(sa.select(trusted_accounts.c.trusted_id,
                                       trusted_accounts.c.added_at).where(
                trusted_accounts.c.account_id == account)
                .order_by(trusted_accounts.c.trusted_id)).all()
            if not pending:
                return [int(r.trusted_id) for r in rows if r.added_at <= when]
            out: list[Any] = [{"trusted": int(r.trusted_id), "since": r.added_at,
                               "in_force": r.added_at <= when} for r in rows]
            out += [dict(r._mapping) for r in c.execute(sa.select(trusted_changes).where(
                trusted_changes.c.account_id == account,
                trusted_changes.c.state == "proposed").order_by(trusted_changes.c.id))]
            return out
        return self._read(go)


#: an addition to a trusted-account list is in force from 12:00 CET on the fourth working day
#: after its proposal (Reg. (EU) 2019/1122 Art 23(4), consolidated text as read at
#: https://gesetze.legal/eu/vo_eu_2019_1122/23 — the EUR-Lex page itself was not reachable from
#: here, so verified: false; the Swedish Energy Agency's Union Registry guide, energimyndigheten.se
#: "The Trusted account list", also gives four working days). Assumptions: working days are
#: Monday–Friday (public holidays not modelled); CET is UTC+1 all year.
TRUST_WORKING_DAYS = 4
_CET = timedelta(hours=1)


#: Reg. (EU) 2019/1122 Art 35(3) (https://gesetze.legal/eu/vo_eu_2019_1122/35, consolidated
#: text; verified: false like Art 23(4) above): a transfer to an account not on the trusted
#: account list proposed for execution — initiated and approved, Art 35(1) — on a working day
#: before 12:00 CET is executed before 12:00 CET of the following working day; after 12:00 CET,
#: at 12:00 CET of the second working day. The same assumptions as :func:`trusted_from`, and
#: one more: one approved on a Saturday or Sunday counts as approved before 12:00 CET of the
#: next working day (the article names working days only). Executed at 12:00 CET, the latest
#: time the article allows.
def untrusted_due(approved: datetime) -> datetime:
    """When a transfer approved at ``approved`` (server clock, UTC) to an account off the
    trusted list is executed."""
    local = approved + _CET
    d = local.date()
    days = 1 if d.weekday() >= 5 or local.time() < time(12) else 2
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return _noon_cet_after(d, days)


def trusted_from(proposed: datetime) -> datetime:
    """When an addition proposed at ``proposed`` (server clock, UTC) takes effect."""
    return _noon_cet_after((proposed + _CET).date(), TRUST_WORKING_DAYS)


def _noon_cet_after(d: date, working_days: int) -> datetime:
    """12:00 CET (as naive UTC) on the ``working_days``-th working day after the CET date
    ``d`` (Art 23(4), Art 35(3): Monday–Friday, holidays not modelled)."""
    n = 0
    while n < working_days:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n += 1
    return datetime.combine(d, time(12)) - _CET
