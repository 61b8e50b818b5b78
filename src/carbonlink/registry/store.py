"""The store: the engine, database transactions and their retries, the server's clock,
client references, the kept PostgreSQL connections of the fast path."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carbonlink.errors import CarbonlinkError, DocumentError
from carbonlink.registry import guard
from carbonlink.registry import journal as jr
from carbonlink.registry import rawsql as raw
from carbonlink.registry.access import Actor
from carbonlink.registry.common import (
    _Kept,
    _naive,
    _now,
    _retriable,
    _RolledBack,
)
from carbonlink.registry.db import (
    client_refs,
    make_engine,
    transactions,
)

T = TypeVar("T")

#: the delay before a transfer to an account not on the trusted account list completes. ``None``
#: (the default): Commission Delegated Regulation (EU) 2019/1122 Art 35(3)
#: (https://gesetze.legal/eu/vo_eu_2019_1122/35) — proposed for execution (approved) on a
#: working day before 12:00 CET, executed by 12:00 CET of the next working day; after 12:00 CET,
#: at 12:00 CET of the second working day (:func:`carbonlink.registry.transfers.untrusted_due`).
#: A ``timedelta`` instead is a fixed delay (``timedelta(hours=26)``: the figure issue 11 gives
#: for the Union Registry, attributed to the earlier Commission Regulation (EU) No 389/2013
#: Art 39(3), verified: false); ``timedelta(0)``: no delay.
UNTRUSTED_DELAY: timedelta | None = None


class Store:
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    def __init__(self, url: str | None = None, *, proposal_ttl: timedelta = timedelta(days=3),
                 untrusted_delay: timedelta | None = UNTRUSTED_DELAY, **engine_kwargs: Any) -> None:
        if url is None:
            from carbonlink.config import get_settings
            url = get_settings().database_url
        self.url = url
        self.proposal_ttl = proposal_ttl
        #: an approved internal transfer to an account off the trusted list completes after
        #: this delay on the server's clock (:meth:`settle`)
        self.untrusted_delay = untrusted_delay
        #: the authenticated user calls act as (:meth:`as_user`); None: public
        self.actor: Actor | None = None
        #: the server's clock (UTC, naive): every state change takes its time from here
        self.clock: Callable[[], datetime] = _now
        #: replay mode (:meth:`as_user` ``replay=True``, a global administrator only): calls
        #: may give ``at`` to load history; their journal entries are marked ``replayed``
        self.replay = False
        self._owner = True
        try:
            self.engine: Engine = make_engine(url, **engine_kwargs)
        except sa.exc.ArgumentError as exc:   # unknown dialect or driver, malformed URL
            raise DocumentError("url", f"not a database URL the registry can open ({exc}); "
                                "e.g. sqlite:///registry.db or "
                                "postgresql+psycopg://user@host/db") from None
        # one-statement work (the PostgreSQL internal transfer) runs on connections kept
        # checked out of the pool in autocommit mode, a few of them idle between calls
        self._idle: list[_Kept] = []
        self._idle_lock = threading.Lock()
        #: times :meth:`close` ran (a list: views made by :meth:`as_user` share it)
        self._epoch = [0]
        u = sa.engine.make_url(url)
        db = u.database or ""
        self._sqlite_file: Path | None = (
            Path(db) if u.get_backend_name() == "sqlite" and db and db != ":memory:"
            and not db.startswith("file:") and not u.query.get("uri") else None)
        #: the key signing journal entries, a file outside the database (None: unsigned)
        self.journal_key: jr.JournalKey | None = self._journal_key_path()
        if self.journal_key is not None:
            jr.KEYS[self.engine] = self.journal_key

    def _journal_key_path(self) -> jr.JournalKey | None:
        """``CARBONLINK_JOURNAL_KEY``; else, for a SQLite file, ``<file>.journal-key``."""
        from carbonlink.config import get_settings
        path = get_settings().journal_key
        if path:
            return jr.JournalKey(Path(path))
        if self._sqlite_file is not None:
            return jr.JournalKey(self._sqlite_file.with_name(self._sqlite_file.name
                                                             + ".journal-key"))
        return None

    @classmethod
    def open(cls, url: str | None = None, **kwargs: Any) -> Self:
        return cls(url, **kwargs)

    def close(self) -> None:
        if not self._owner:      # a view made by as_user shares its owner's engine
            return
        # the idle list is emptied in place (views share it) and the epoch moves on, so a
        # connection still in use by a call (another thread) is closed when that call ends
        with self._idle_lock:
            idle = self._idle[:]
            self._idle.clear()
            self._epoch[0] += 1
        for kept in idle:
            self._give_back(kept.pooled)
        self.engine.dispose()

    def _give_back(self, pooled: Any) -> None:
        """Hand a kept connection back to the pool as the pool expects it (not in autocommit),
        or drop it if it is broken."""
        dbc = pooled.driver_connection
        if dbc is None or getattr(dbc, "closed", False):
            pooled.invalidate()
        elif self.engine.dialect.name == "postgresql":   # SQLite's stay as the pool made them
            dbc.autocommit = False
        pooled.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def init(self) -> None:
        """Create or upgrade the schema to the newest migration (idempotent)."""
        from carbonlink.registry.migrations import upgrade
        try:
            upgrade(self.engine)
        except sa.exc.DBAPIError as exc:
            self._raise_if_unreachable(exc)
            raise
        if self.journal_key is not None:
            self.journal_key.create()

    def _run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one database transaction, retrying deadlocks and serialisation
        failures."""
        hook, after = guard.ON_COMMIT.get(), guard.AFTER.get()
        dry = guard.DRY_RUN.get()

        def txn() -> T:
            with self.engine.begin() as conn:
                if hook is not None:   # the approval of a four-eyes action, same transaction
                    hook(conn)
                out = fn(conn)
                if after is not None:  # the client reference and its result, same transaction
                    after(conn, out)
                if dry:                # a four-eyes proposal tried: roll the work back
                    raise _RolledBack(out)
                return out
        try:
            out = self._retrying(txn)
        except _RolledBack as done:
            return done.out
        if hook is not None:
            guard.ON_COMMIT.set(None)
        if after is not None:
            guard.AFTER.set(None)
        return out

    def _client_ref(self, user: str, ref: str) -> tuple[str, str] | None:
        r = self._read(lambda c: c.execute(sa.select(
            client_refs.c.operation, client_refs.c.result).where(
            client_refs.c.username == user, client_refs.c.reference == ref)).first())
        return None if r is None else (str(r.operation), str(r.result))

    def _record_ref(self, conn: Connection, user: str, ref: str, op: str, result: str) -> None:
        conn.execute(client_refs.insert().values(username=user, reference=ref, operation=op,
                                                 result=result, at=self._now()))

    #: kept statement connections left idle between calls (more go back to the pool)
    KEEP_IDLE = 4

    def _take_statement_conn(self) -> _Kept:
        """An idle kept connection, or a new one from the pool. Checking a connection out of
        the pool and back in for every transfer (reset, autocommit on and off) cost about a
        fifth of a transfer; kept ones skip that."""
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        pooled = self.engine.raw_connection()
        dbc: Any = pooled.driver_connection
        if self.engine.dialect.name == "postgresql":
            dbc.autocommit = True
        # SQLite: the pool's connections are in autocommit mode already (db.make_engine sets
        # isolation_level None and the registry sends BEGIN itself)
        return _Kept(pooled, dbc.cursor(), self._epoch[0])

    def _put_statement_conn(self, kept: _Kept) -> None:
        broken = getattr(kept.cursor.connection, "closed", False)
        with self._idle_lock:
            stale = kept.epoch != self._epoch[0]
            if not (stale or broken) and len(self._idle) < self.KEEP_IDLE:
                self._idle.append(kept)
                return
        if stale and not broken:     # taken before close(): close it, do not keep it
            kept.pooled.invalidate()
            kept.pooled.close()
            return
        self._give_back(kept.pooled)

    def _run_statement(self, fn: Callable[[Any], T]) -> T:
        """PostgreSQL only: call ``fn`` with a kept psycopg cursor (autocommit mode, so each
        statement it sends is its own database transaction; ``fn`` sends one), with the
        retries of :meth:`_run`. No SQLAlchemy ``Connection`` is built: on the hot
        path its bookkeeping cost more than the statement's round trip."""
        import psycopg

        def call() -> T:
            kept = self._take_statement_conn()
            try:
                return fn(kept.cursor)
            except psycopg.Error as exc:
                raise sa.exc.DBAPIError.instance(
                    None, None, exc, psycopg.Error,
                    connection_invalidated=bool(kept.cursor.connection.closed)) from exc
            finally:
                self._put_statement_conn(kept)
        return self._retrying(call)

    def _run_sqlite(self, fn: Callable[[Any], T | None]) -> T | None:
        """SQLite only: call ``fn`` with a kept ``sqlite3`` cursor inside one database
        transaction (``BEGIN IMMEDIATE``: the write lock, as :meth:`_run` takes it), committed
        when ``fn`` returns a result and rolled back when it returns ``None`` (left to the
        general path) or raises (a failed check writes nothing); with the retries of
        :meth:`_run`. Like :meth:`_run_statement`, no SQLAlchemy ``Connection`` is built
        (:mod:`carbonlink.registry.sqlite_fast`).

        Whatever way the call ends — an exception from ``fn``, a driver error, an interrupt
        arriving as ``BEGIN IMMEDIATE`` returns (Ctrl-C while waiting for the write lock) — no
        kept connection goes back idle inside a transaction: it would hold SQLite's write lock
        for good and fail its next ``BEGIN``. A connection that cannot roll back is dropped
        (closing it releases the lock)."""
        import sqlite3

        def call() -> T | None:
            kept = self._take_statement_conn()
            cur = kept.cursor
            try:
                try:
                    cur.execute("BEGIN IMMEDIATE")
                    out = fn(cur)
                    cur.execute("COMMIT" if out is not None else "ROLLBACK")
                    return out
                except sqlite3.Error as exc:
                    raise sa.exc.DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
            finally:
                try:
                    if cur.connection.in_transaction:
                        cur.execute("ROLLBACK")
                except BaseException:
                    kept.pooled.invalidate()
                    raise
                self._put_statement_conn(kept)
        return self._retrying(call)

    def _retrying(self, call: Callable[[], T]) -> T:
        self._require_database()
        for attempt in range(8):
            try:
                return call()
            except sa.exc.DBAPIError as exc:
                if attempt < 7 and _retriable(exc):
                    continue
                if isinstance(exc, sa.exc.ProgrammingError | sa.exc.OperationalError) and (
                        "no such table" in str(exc.orig) or "does not exist" in str(exc.orig)):
                    raise CarbonlinkError(
                        f"registry database {self._shown_url()!r} is not initialised "
                        "(run `carbonlink registry init`)") from None
                self._raise_if_unreachable(exc)
                if isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError):
                    first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() \
                        else type(exc.orig).__name__
                    raise DocumentError("database", f"the database refused the change "
                                        f"({first}); nothing was written") from None
                raise
        raise AssertionError("unreachable")

    def _shown_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _raise_if_unreachable(self, exc: sa.exc.DBAPIError) -> None:
        """A database that cannot be opened (server down, wrong host or credentials, a SQLite
        path in a missing folder) is one clear error, not a driver traceback."""
        msg = str(exc.orig)
        if isinstance(exc, sa.exc.OperationalError) and any(
                k in msg for k in ("connection failed", "could not connect", "Connection refused",
                                   "unable to open database file", "authentication failed")):
            first = msg.strip().splitlines()[0] if msg.strip() else type(exc.orig).__name__
            raise CarbonlinkError(f"cannot open the registry database "
                                  f"{self._shown_url()!r}: {first}") from None

    def _require_database(self) -> None:
        """A SQLite file that does not exist is not initialised: say so without letting the
        driver create an empty file (only :meth:`init` creates the database)."""
        if self._sqlite_file is not None and not self._sqlite_file.exists():
            raise CarbonlinkError(f"registry database {self.url!r} is not initialised "
                                  "(run `carbonlink registry init`)")

    def _read(self, fn: Callable[[Connection], T]) -> T:
        """Run read-only ``fn`` in one database transaction that takes no write lock (SQLite:
        a deferred BEGIN, one consistent WAL snapshot even while a writer works)."""
        def txn() -> T:
            with self.engine.connect() as conn:
                conn.execution_options(carbonlink_read=True)
                with conn.begin():
                    return fn(conn)
        return self._retrying(txn)

    def _tx_accounts(self, tx_id: Any) -> tuple[int | None, int | None] | None:
        """(from, to) accounts of transaction ``tx_id`` (the access check's one read), or None.
        On PostgreSQL one prepared statement on a kept autocommit connection (one round trip):
        through a pooled SQLAlchemy connection it took three (BEGIN, SELECT, COMMIT) and more
        client time than the approval it guards."""
        if self.engine.dialect.name == "postgresql" and isinstance(tx_id, int) \
                and not isinstance(tx_id, bool) and -2**31 <= tx_id < 2**31:
            def one(dbc: Any) -> Any:
                dbc.execute(raw.PG_TX_ACCOUNTS, (tx_id,), prepare=True)
                return dbc.fetchone()
            row = self._run_statement(one)
        else:
            row = self._read(lambda c: c.execute(sa.select(
                transactions.c.from_account, transactions.c.to_account).where(
                transactions.c.id == tx_id)).first())
        return None if row is None else (row[0], row[1])

    # ------------------------------------------------------------------ identities
    def as_user(self, actor: Actor | None, *, replay: bool = False) -> Self:
        """A view of this registry whose calls act as ``actor`` (shares the engine; closing
        the view leaves the engine open). ``replay``: load history — calls may give the time
        of the action (``at``) and their journal entries are marked ``replayed``; only a
        global administrator may (``S7001``, journalled)."""
        view = copy.copy(self)
        view.actor = actor
        view._owner = False
        if replay:
            if actor is None or not actor.has("administrator", "*"):
                view.replay = False
                guard.deny(cast(Any, view), "replay", "replay mode (loading history with the "
                           "times given by the caller) is for a global administrator")
            view.replay = True
        return view

    def _now(self) -> datetime:
        """The server's time (UTC)."""
        return _naive(self.clock())

    def _when(self, at: datetime | None) -> datetime:
        """The time of a state change: the server's clock; ``at`` only in replay mode (the
        access check refuses it otherwise, S7004)."""
        return self._now() if at is None else _naive(at)

    def _journal_only(self, kind: str, payload: dict[str, Any]) -> None:
        self._run(lambda c: jr.append(c, self._now(), kind, None, payload))
