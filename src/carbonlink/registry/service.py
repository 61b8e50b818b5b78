"""The registry's business rules: the :class:`Registry` object.

Every public method that changes state runs as **one database transaction together with its
journal entry**: the coded checks (:mod:`carbonlink.registry.checks`) run inside it, and a failed
check rolls everything back. On PostgreSQL rows are locked in a fixed order — registry →
accounts (ascending id) → link → authorisation totals → journal head — so concurrent clients
serialise on what they share and never deadlock; deadlock/serialisation errors that the server
still reports are retried.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carbonlink.errors import CarbonlinkError, DocumentError
from carbonlink.registry import bounds, guard
from carbonlink.registry import identity as idm
from carbonlink.registry import journal as jr
from carbonlink.registry import rawsql as raw
from carbonlink.registry.access import REP_ROLES, Actor
from carbonlink.registry.accounting import (
    METHODS,
    NDC_TYPE_METHODS,
    NDC_TYPES,
    CAResult,
    corresponding_adjustments,
)
from carbonlink.registry.checks import fail
from carbonlink.registry.db import (
    accounts,
    api_tokens,
    authorisation_totals,
    authorisations,
    authorised_entities,
    blocks,
    ca_entries,
    client_refs,
    emissions,
    entity_emissions,
    finalisations,
    first_transfers,
    holders,
    links,
    make_engine,
    ndc_accounting,
    pending_actions,
    registries,
    reports_submitted,
    representatives,
    transaction_blocks,
    transactions,
    user_roles,
    users,
)
from carbonlink.registry.guard import PendingAction, operation

T = TypeVar("T")

UNIT_TYPES = ("allowance", "offset", "a64er", "itmo")
_ALL = frozenset(UNIT_TYPES)
#: which unit types each account type may hold (Reg. 920/2010 Annex I style matrix)
ACCOUNT_UNITS: dict[str, frozenset[str]] = {
    "party_holding": _ALL,
    "entity_holding": _ALL,
    "compliance": _ALL,
    "ndc_use": frozenset({"itmo", "a64er", "allowance", "offset"}),
    "oimp_cancellation": frozenset({"itmo", "a64er", "allowance", "offset"}),
    "voluntary_cancellation": _ALL,
    "omge_cancellation": frozenset({"itmo", "a64er"}),
    "retirement": _ALL,
    "sop": frozenset({"a64er"}),
}
HOLDING_TYPES = frozenset({"party_holding", "entity_holding"})
#: terminal account type → status the units take there
TERMINAL: dict[str, str] = {
    "compliance": "surrendered",
    "ndc_use": "used",
    "oimp_cancellation": "cancelled",
    "voluntary_cancellation": "cancelled",
    "omge_cancellation": "cancelled",
    "retirement": "retired",
    "sop": "cancelled",
}
CANCEL_ACCOUNT = {"oimp": "oimp_cancellation", "voluntary": "voluntary_cancellation",
                  "omge": "omge_cancellation"}
PURPOSES = ("NDC", "OIMP", "NDC and OIMP")
FIRST_TRANSFER_DEFINITIONS = ("authorisation", "issuance", "use_or_cancellation")
#: transaction states of an external transfer (two-phase, with escrow)
OPEN_STATES = ("proposed", "approved")

_REGISTRY_ID = re.compile(r"^[A-Z]{3}\d{2}$")
_CA_ID = re.compile(r"^CA\d{4}$")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive(at: datetime) -> datetime:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at


@dataclass(frozen=True)
class Piece:
    """A serial block moved by one transaction (after any split)."""

    block_id: int
    issuing_registry: str
    unit_type: str
    vintage: int
    start: int
    end: int
    authorisation_id: str | None
    first_transferred: bool

    @property
    def quantity(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class Receipt:
    """What a state-changing call did."""

    tx_id: int
    kind: str
    state: str
    quantity: int
    converted_quantity: int | None = None
    first_transferred: int = 0
    blocks: list[tuple[str, str, int, int, int]] = field(default_factory=list)


#: events at which a unit's first transfer is detected (the others catch up: see below)
PRIMARY_EVENTS = ("issuance", "use_or_cancellation")


def first_transfer_due(purposes: str, ftd: str | None, event: str, *, international: bool,
                       abroad: bool) -> bool:
    """Is a unit **not yet first transferred** first transferred at ``event``, under the
    authorisation version in force on the event date (2/CMA.3 annex paras 2 and 6)?

    A unit takes the terms of the version under which it is first transferred; versions recorded
    after that apply to it only prospectively (U5007). Before its first transfer, each event is
    judged under the version then in force:

    * NDC in the purposes (para 2(a)): the first **international** transfer — an external
      transfer to a registry of another Party (``international``). A unit that already sits
      outside the first-transferring Party (``abroad``: it crossed while its authorisation did
      not cover NDC) has had its international transfer: it is first transferred at its next
      event (acceptance, use, cancellation, surrender, retirement).
    * OIMP with first-transfer definition ``authorisation`` or ``issuance`` (para 2(b)): the
      issuance — for a unit issued before this version took effect the defined event has
      already happened, so it is first transferred at its next event.
    * OIMP with ``use_or_cancellation`` (para 2(b)): its OIMP use or cancellation.

    So no authorised unit leaves the first-transferring Party for NDC purposes, or is used or
    cancelled for OIMP, without a corresponding adjustment (para 6), whatever the order of the
    versions.
    """
    purpose_set = {"NDC", "OIMP"} if purposes == "NDC and OIMP" else {purposes}
    if "NDC" in purpose_set and ((event == "external_transfer" and international) or abroad):
        return True
    if "OIMP" in purpose_set:
        if ftd in ("authorisation", "issuance"):
            return True
        if event == "use_or_cancellation":
            return True
    return False


@dataclass(frozen=True)
class Authorisation:
    id: str
    version: int
    cooperative_approach: str
    party: str
    registry_id: str
    quantity: int
    purposes: str
    vintage_from: int
    vintage_to: int
    valid_from: date
    valid_to: date | None
    first_transfer_definition: str | None
    metric: str
    revoked: bool
    effective_from: date
    entities: frozenset[int]
    terms: str | None = None

    @property
    def purpose_set(self) -> frozenset[str]:
        return frozenset({"NDC", "OIMP"}) if self.purposes == "NDC and OIMP" \
            else frozenset({self.purposes})

    def triggers(self) -> frozenset[str]:
        """Events that count as the first transfer (2/CMA.3 annex para 2(b))."""
        out: set[str] = set()
        if "NDC" in self.purpose_set:
            out.add("external_transfer")
        if "OIMP" in self.purpose_set:
            d = self.first_transfer_definition
            out.add("issuance" if d in ("authorisation", "issuance") else "use_or_cancellation")
        return frozenset(out)

    def first_transfer_due(self, event: str, *, international: bool, abroad: bool) -> bool:
        """See :func:`first_transfer_due`; this version is the one in force on the event."""
        return first_transfer_due(self.purposes, self.first_transfer_definition, event,
                                  international=international, abroad=abroad)

    def in_force(self, on: date) -> bool:
        return not self.revoked and self.valid_from <= on and (
            self.valid_to is None or on <= self.valid_to)


def _retriable(exc: sa.exc.DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code in ("40001", "40P01", "26000"):
        return True
    return "database is locked" in str(exc.orig)


class _RolledBack(Exception):
    """Not an error: carries the result of a dry run out of its rolled-back transaction."""

    def __init__(self, out: Any) -> None:
        self.out = out


class _Kept(NamedTuple):
    """A connection kept checked out of the pool (``pooled``), in autocommit mode, and the
    psycopg cursor one-statement work runs on (its ``connection`` is the driver's)."""

    pooled: Any
    cursor: Any


class Registry:
    """An Article 6.2 / linked-ETS registry on a SQLAlchemy URL.

    ``Registry(url)`` or ``Registry.open(url)``; use as a context manager (closes the engine).
    Call :meth:`init` once on an empty database (runs the Alembic migrations).
    """

    def __init__(self, url: str | None = None, *, proposal_ttl: timedelta = timedelta(days=3),
                 **engine_kwargs: Any) -> None:
        if url is None:
            from carbonlink.config import get_settings
            url = get_settings().database_url
        self.url = url
        self.proposal_ttl = proposal_ttl
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
    def open(cls, url: str | None = None, **kwargs: Any) -> Registry:
        return cls(url, **kwargs)

    def close(self) -> None:
        if not self._owner:      # a view made by as_user shares its owner's engine
            return
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for kept in idle:
            self._give_back(kept.pooled)
        self.engine.dispose()

    @staticmethod
    def _give_back(pooled: Any) -> None:
        """Hand a kept connection back to the pool as the pool expects it (not in autocommit),
        or drop it if it is broken."""
        dbc = pooled.driver_connection
        if dbc is None or dbc.closed:
            pooled.invalidate()
        else:
            dbc.autocommit = False
        pooled.close()

    def __enter__(self) -> Registry:
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
        dbc.autocommit = True
        return _Kept(pooled, dbc.cursor())

    def _put_statement_conn(self, kept: _Kept) -> None:
        if not kept.cursor.connection.closed:
            with self._idle_lock:
                if len(self._idle) < self.KEEP_IDLE:
                    self._idle.append(kept)
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

    # ------------------------------------------------------------------ identities
    def as_user(self, actor: Actor | None, *, replay: bool = False) -> Registry:
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
                guard.deny(view, "replay", "replay mode (loading history with the times given "
                           "by the caller) is for a global administrator")
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

    def _load_actor(self, user_id: int, token_scope: str = "write") -> Actor:
        return self._read(lambda c: idm.load_actor(c, user_id, token_scope))

    def trusted_actor(self, username: str) -> Actor:
        """The actor of user ``username`` without credentials, for in-process code that
        already holds the database credentials (tests, benchmarks, administration scripts):
        its roles are the user's, checked like any other. The CLI and the web authenticate
        with :meth:`login` or :meth:`authenticate` instead."""
        row = self._read(lambda c: idm.user_row(c, username))
        if row is None or not row.active:
            raise DocumentError("username", f"no active user {username!r}")
        return self._load_actor(int(row.id))

    def login(self, username: str, password: str, totp: str | None = None) -> Actor:
        """Check a user's password (argon2) and second factor (TOTP, when enrolled); the
        :data:`~carbonlink.registry.identity.LOCK_AFTER`-th failure in a row locks the login.
        Failures are journalled (without the password) and raise ``S7003``."""
        now = self._now()
        u = self._read(lambda c: idm.user_row(c, username))
        ok, reason = idm.check_credentials(u, password, totp, now)   # the KDF: no lock held

        def go(conn: Connection) -> str:
            more = idm.record_attempt(conn, u, ok, password, now) if u is not None else ""
            if not ok:
                jr.append(conn, now, "access.denied", None, {
                    "operation": "login", "user": username, "code": "S7003",
                    "reason": reason + more})
            return more
        more = self._run(go)
        if not ok:
            fail("S7003", "password", reason + more)
        assert u is not None
        return self._load_actor(int(u.id))

    def authenticate(self, token: str) -> Actor:
        """The actor of an API token (``S7003`` when unknown, revoked or expired)."""
        now = self._now()
        found = self._read(lambda c: idm.token_user(c, token, now))
        if found is None:
            self._journal_only("access.denied", {"operation": "authenticate", "user": None,
                                                 "code": "S7003",
                                                 "reason": "unknown, revoked or expired token"})
            fail("S7003", "token", "unknown, revoked or expired API token")
        return self._load_actor(*found)

    def issue_token(self, scope: str = "write", name: str = "cli",
                    ttl: timedelta = idm.TOKEN_TTL) -> str:
        """A new API token for the acting user, shown once (only its hash is stored)."""
        if self.actor is None:
            fail("S7001", "actor", "log in before asking for a token")
        actor = self.actor
        if actor.token_scope != "write" and scope == "write":
            fail("S7001", "scope", "a read-only token cannot make a write token")
        now = self._now()

        def go(conn: Connection) -> str:
            t = idm.new_token(conn, actor.user_id, scope, name, now, ttl)
            jr.append(conn, now, "token.issue", None,
                      {"user": actor.username, "scope": scope, "name": name})
            return t
        return self._run(go)

    def revoke_token(self, token: str) -> None:
        """Revoke a token of the acting user (or any, for a global administrator)."""
        if self.actor is None:
            fail("S7001", "actor", "log in first")
        actor = self.actor
        now = self._now()

        def go(conn: Connection) -> None:
            q = api_tokens.update().where(api_tokens.c.token_hash == idm.token_hash(token))
            if not actor.has("administrator", "*"):
                q = q.where(api_tokens.c.user_id == actor.user_id)
            if not conn.execute(q.values(revoked=True)).rowcount:
                fail("R1005", "token", "no such token of yours")
            jr.append(conn, now, "token.revoke", None, {"user": actor.username})
        self._run(go)

    def change_password(self, old: str, new: str, totp: str | None = None) -> None:
        """The acting user changes their password, proving the old one (and the second
        factor, when enrolled) again."""
        if self.actor is None:
            fail("S7001", "actor", "log in first")
        actor = self.actor
        self.login(actor.username, old, totp)
        idm.check_password_strength(new, "new")
        now = self._now()
        hashed = idm.hash_password(new)

        def go(conn: Connection) -> None:
            conn.execute(users.update().where(users.c.id == actor.user_id).values(
                password_hash=hashed, must_change_password=False))
            jr.append(conn, now, "user.password", None, {"user": actor.username})
        self._run(go)

    def enrol_totp(self) -> str:
        """Give the acting user a TOTP secret; returns the ``otpauth://`` URI for an
        authenticator app (shown once). From then on :meth:`login` needs the code."""
        import pyotp
        if self.actor is None:
            fail("S7001", "actor", "log in first")
        actor = self.actor
        secret = pyotp.random_base32()
        now = self._now()

        def go(conn: Connection) -> None:
            conn.execute(users.update().where(users.c.id == actor.user_id)
                         .values(totp_secret=secret))
            jr.append(conn, now, "user.totp", None, {"user": actor.username})
        self._run(go)
        return pyotp.TOTP(secret).provisioning_uri(name=actor.username, issuer_name="carbonlink")

    def create_first_administrator(self, username: str = "admin") -> str | None:
        """On a registry without users: create the first administrator (scope ``*``) with a
        one-time password, returned once; None when users exist already."""
        now = self._now()

        if self._read(lambda c: c.execute(sa.select(users.c.id).limit(1)).first()) is not None:
            return None
        hashed, otp = idm.new_password_hash(None)

        def go(conn: Connection) -> str | None:
            if conn.execute(sa.select(users.c.id).limit(1)).first() is not None:
                return None
            uid = idm.create_user(conn, username, hashed, True, now)
            conn.execute(user_roles.insert().values(user_id=uid, role="administrator",
                                                    scope="*"))
            jr.append(conn, now, "user.create", None, {
                "user": username, "roles": [["administrator", "*"]], "first": True})
            return otp
        return self._run(go)

    @operation("create_user")
    def create_user(self, username: str, password: str | None = None, *,
                    roles: Sequence[tuple[str, str]] = ()) -> str | None:
        """Create a user with ``roles`` ((role, scope) pairs); returns the one-time password
        when none is given (shown once; it must be changed at first use)."""
        for role, scope in roles:
            idm.check_role(role, scope)
        now = self._now()
        hashed, otp = idm.new_password_hash(password)

        def go(conn: Connection) -> str | None:
            uid = idm.create_user(conn, username, hashed, otp is not None, now)
            for role, scope in sorted(set(roles)):
                conn.execute(user_roles.insert().values(user_id=uid, role=role, scope=scope))
            jr.append(conn, now, "user.create", None, {
                "user": username, "roles": sorted([list(r) for r in set(roles)])})
            return otp
        return self._run(go)

    def _user_id(self, conn: Connection, username: str) -> int:
        u = idm.user_row(conn, username)
        if u is None:
            fail("R1005", "username", f"no user {username!r}")
        return int(u.id)

    @operation("grant_role")
    def grant_role(self, username: str, role: str, scope: str) -> None:
        idm.check_role(role, scope)
        now = self._now()

        def go(conn: Connection) -> None:
            uid = self._user_id(conn, username)
            if conn.execute(sa.select(user_roles).where(
                    user_roles.c.user_id == uid, user_roles.c.role == role,
                    user_roles.c.scope == scope)).first() is None:
                conn.execute(user_roles.insert().values(user_id=uid, role=role, scope=scope))
            jr.append(conn, now, "user.grant", None,
                      {"user": username, "role": role, "scope": scope})
        self._run(go)

    @operation("revoke_role")
    def revoke_role(self, username: str, role: str, scope: str) -> None:
        now = self._now()

        def go(conn: Connection) -> None:
            uid = self._user_id(conn, username)
            if not conn.execute(user_roles.delete().where(
                    user_roles.c.user_id == uid, user_roles.c.role == role,
                    user_roles.c.scope == scope)).rowcount:
                fail("R1005", "role", f"{username!r} does not hold {role} for {scope}")
            jr.append(conn, now, "user.revoke", None,
                      {"user": username, "role": role, "scope": scope})
        self._run(go)

    @operation("set_user_active")
    def set_user_active(self, username: str, active: bool) -> None:
        """Deactivate a user, or reactivate one (which also lifts a lockout)."""
        now = self._now()

        def go(conn: Connection) -> None:
            uid = self._user_id(conn, username)
            conn.execute(users.update().where(users.c.id == uid).values(
                active=active, failed_logins=0, locked_until=None))
            if not active:
                conn.execute(api_tokens.update().where(api_tokens.c.user_id == uid)
                             .values(revoked=True))
            jr.append(conn, now, "user.active", None, {"user": username, "active": active})
        self._run(go)

    @operation("users")
    def users(self) -> list[dict[str, Any]]:
        """Users with their roles and represented accounts (no secrets)."""
        def go(conn: Connection) -> list[dict[str, Any]]:
            out = []
            for u in conn.execute(sa.select(users.c.id, users.c.username, users.c.active,
                                            users.c.locked_until, users.c.totp_secret)
                                  .order_by(users.c.username)):
                a = idm.load_actor(conn, int(u.id))
                out.append({"username": u.username, "active": bool(u.active),
                            "locked_until": u.locked_until, "totp": bool(u.totp_secret),
                            "roles": sorted(a.roles), "accounts": dict(sorted(a.reps.items()))})
            return out
        return self._read(go)

    @staticmethod
    def _rep_spec(spec: str | tuple[str, str]) -> tuple[str, str]:
        name, role = (spec, "initiator_approver") if isinstance(spec, str) else spec
        if isinstance(spec, str) and ":" in spec:
            name, role = spec.split(":", 1)
        if role not in REP_ROLES:
            raise DocumentError("representatives", f"role of {name!r} must be one of "
                                f"{', '.join(REP_ROLES)}, got {role!r}")
        return name, role

    def _add_reps(self, conn: Connection, account: int,
                  specs: Sequence[str | tuple[str, str]]) -> list[list[str]]:
        out = []
        for spec in specs:
            name, role = self._rep_spec(spec)
            u = idm.user_row(conn, name)
            if u is None or not u.active:
                fail("R1005", "representatives", f"no active user {name!r} (create the user "
                     "first: representatives are users)")
            conn.execute(representatives.delete().where(
                representatives.c.account_id == account, representatives.c.name == name))
            conn.execute(representatives.insert().values(account_id=account, name=name,
                                                         role=role))
            out.append([name, role])
        return sorted(out)

    @operation("add_representative")
    def add_representative(self, account: int, username: str,
                           role: str = "initiator_approver") -> None:
        """Make a user a representative of ``account`` (initiator, approver or both)."""
        now = self._now()

        def go(conn: Connection) -> None:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account)
                            ).first() is None:
                fail("R1005", "account", f"no account {account}")
            reps = self._add_reps(conn, account, [(username, role)])
            jr.append(conn, now, "representative.add", None,
                      {"account": account, "representatives": reps})
        self._run(go)

    @operation("remove_representative")
    def remove_representative(self, account: int, username: str) -> None:
        now = self._now()

        def go(conn: Connection) -> None:
            if not conn.execute(representatives.delete().where(
                    representatives.c.account_id == account,
                    representatives.c.name == username)).rowcount:
                fail("R1005", "username", f"{username!r} does not represent account {account}")
            jr.append(conn, now, "representative.remove", None,
                      {"account": account, "user": username})
        self._run(go)

    # ------------------------------------------------------------------ four eyes
    def _propose_action(self, op: str, args: str, scope: str,
                        proposer: str) -> PendingAction:
        now = self._now()

        def go(conn: Connection) -> PendingAction:
            pid = int(conn.execute(pending_actions.insert().values(
                operation=op, args=args, scope=scope, proposer=proposer, proposed_at=now,
                state="proposed").returning(pending_actions.c.id)).scalar_one())
            jr.append(conn, now, "action.proposed", None, {
                "action": pid, "operation": op, "args": json.loads(args), "scope": scope,
                "by": proposer})
            return PendingAction(pid, op, scope, proposer)
        return self._run(go)

    @operation("pending")
    def pending(self, state: str | None = "proposed") -> list[dict[str, Any]]:
        """Administrative actions (by default those waiting for a second person)."""
        def go(conn: Connection) -> list[dict[str, Any]]:
            q = sa.select(pending_actions).order_by(pending_actions.c.id)
            if state is not None:
                q = q.where(pending_actions.c.state == state)
            return [dict(r._mapping) for r in conn.execute(q)]
        return self._read(go)

    def _decide(self, action: int, approve: bool) -> Any:
        op_name = "approve_action" if approve else "reject_action"
        actor = self.actor
        assert actor is not None
        row = self._read(lambda c: c.execute(sa.select(pending_actions).where(
            pending_actions.c.id == action)).first())
        if row is None:
            fail("R1005", "action", f"no pending action {action}")
        if row.state != "proposed":
            fail("R1002", "action", f"action {action} is {row.state}")
        rule = guard.OPERATIONS[row.operation]
        if actor.username == row.proposer and approve:
            guard.deny(self, op_name, f"{actor.username!r} proposed action {action} "
                       f"({row.operation}); a second person approves it", code="S7002")
        target = guard.Target(registry=row.scope, party=row.scope)
        if not guard.allowed(actor, replace(rule, scope="registry"), target):
            guard.deny(self, op_name, f"{actor.username!r} holds no role allowed to "
                       f"{row.operation} in {row.scope} (allowed: "
                       f"{', '.join(sorted(rule.roles))})")
        now = self._now()

        def mark(conn: Connection) -> None:
            n = conn.execute(pending_actions.update().where(
                pending_actions.c.id == action, pending_actions.c.state == "proposed")
                .values(state="approved" if approve else "rejected", approver=actor.username,
                        decided_at=now)).rowcount
            if not n:
                fail("R1002", "action", f"action {action} was decided meanwhile")
            jr.append(conn, now, "action.approved" if approve else "action.rejected", None,
                      {"action": action, "operation": row.operation, "by": actor.username,
                       "proposer": row.proposer})
        if not approve:
            self._run(mark)
            return None
        proposer = self._read(lambda c: idm.user_row(c, row.proposer))
        if proposer is None or not proposer.active or not guard.allowed(
                self._load_actor(int(proposer.id)), replace(rule, scope="registry"), target):
            fail("S7001", "action", f"proposer {row.proposer!r} no longer holds a role "
                 f"allowed to {row.operation} in {row.scope}")
        return guard.run_approved(self, row, actor, mark)

    @operation("approve_action")
    def approve_action(self, action: int) -> Any:
        """A second person with the required role approves a four-eyes action: it runs now
        (in the same database transaction as the approval) and its result is returned."""
        return self._decide(action, True)

    @operation("reject_action")
    def reject_action(self, action: int) -> None:
        """Refuse a four-eyes action (either person may withdraw or refuse it)."""
        self._decide(action, False)

    # ------------------------------------------------------------------ set-up
    @operation("add_registry")
    def add_registry(self, id: str, party: str | None = None, *, system: str | None = None,
                     name: str | None = None, at: datetime | None = None) -> dict[str, int]:
        """A registry (one per participating system/Party) with its Party holding account and
        one account of each terminal type; returns ``{account type: account id}``."""
        if not _REGISTRY_ID.match(id):
            fail("R1004", "registry", f"registry id must be ISO alpha-3 + 2 digits, got {id!r}")
        party = party or id[:3]
        if not re.match(r"^[A-Z]{3}$", party):
            fail("R1004", "party", f"party must be ISO alpha-3, got {party!r}")
        when = self._when(at)

        def go(conn: Connection) -> dict[str, int]:
            if conn.execute(sa.select(registries.c.id).where(registries.c.id == id)).first():
                raise DocumentError("registry", f"registry {id!r} already exists")
            conn.execute(registries.insert().values(id=id, party=party, system=system or id,
                                                    name=name or id, created_at=when))
            out: dict[str, int] = {}
            for t in ["party_holding", *TERMINAL]:
                out[t] = conn.execute(accounts.insert().values(
                    registry_id=id, holder_id=None, type=t, status="open",
                    name=f"{id} {t.replace('_', ' ')}").returning(accounts.c.id)).scalar_one()
            jr.append(conn, when, "registry.add", None,
                      {"registry": id, "party": party, "system": system or id, "accounts": out})
            return out
        return self._run(go)

    @operation("add_holder")
    def add_holder(self, registry: str, name: str, *, country: str | None = None,
                   identifier: str | None = None, at: datetime | None = None) -> int:
        when = self._when(at)

        def go(conn: Connection) -> int:
            self._registry(conn, registry, "registry")
            hid = conn.execute(holders.insert().values(
                registry_id=registry, name=name, country=country, identifier=identifier
            ).returning(holders.c.id)).scalar_one()
            jr.append(conn, when, "holder.add", None,
                      {"holder": hid, "registry": registry, "name": name})
            return int(hid)
        return self._run(go)

    @operation("open_account")
    def open_account(self, registry: str, type: str = "entity_holding", *,
                     holder: int | None = None, name: str | None = None,
                     representatives_: Sequence[str | tuple[str, str]] = (),
                     at: datetime | None = None) -> int:
        if type not in ACCOUNT_UNITS:
            raise DocumentError("type", f"unknown account type {type!r} "
                                f"(one of {', '.join(ACCOUNT_UNITS)})")
        when = self._when(at)

        def go(conn: Connection) -> int:
            self._registry(conn, registry, "registry")
            if holder is not None:
                h = conn.execute(sa.select(holders).where(holders.c.id == holder)).first()
                if h is None or h.registry_id != registry:
                    fail("R1005", "holder", f"holder {holder} is not in registry {registry}")
            aid = conn.execute(accounts.insert().values(
                registry_id=registry, holder_id=holder, type=type, status="open",
                name=name or f"{registry} {type}").returning(accounts.c.id)).scalar_one()
            reps = self._add_reps(conn, aid, representatives_)
            jr.append(conn, when, "account.open", None,
                      {"account": aid, "registry": registry, "type": type, "holder": holder,
                       "representatives": reps})
            return int(aid)
        return self._run(go)

    @operation("set_account_status")
    def set_account_status(self, account: int, status: str, *, at: datetime | None = None) -> None:
        """Open, block (freeze) or close an account."""
        if status not in ("open", "blocked", "closed"):
            raise DocumentError("status", f"must be open, blocked or closed, got {status!r}")
        when = self._when(at)

        def go(conn: Connection) -> None:
            n = conn.execute(accounts.update().where(accounts.c.id == account)
                             .values(status=status)).rowcount
            if not n:
                fail("R1005", "account", f"no account {account}")
            jr.append(conn, when, "account.status", None, {"account": account, "status": status})
        self._run(go)

    @operation("add_link")
    def add_link(self, from_registry: str, to_registry: str, *, exchange_rate: float = 1.0,
                 discount: float = 0.0, quota: int | None = None,
                 entity_share: float | None = None,
                 unit_types: Iterable[str] = ("allowance",),
                 suspended_from: date | None = None, at: datetime | None = None) -> int:
        """Record the link terms of a linkage agreement for one direction ``from → to``
        (replaces earlier terms of the same direction, keeping the quota already used)."""
        ut = sorted(set(unit_types))
        for i, u in enumerate(ut):
            if u not in UNIT_TYPES:
                raise DocumentError(f"unit_types[{i}]", f"unknown unit type {u!r}")
        if not exchange_rate > 0:
            raise DocumentError("exchange_rate", f"must be > 0, got {exchange_rate}")
        if not 0 <= discount < 1:
            raise DocumentError("discount", f"must be in [0, 1), got {discount}")
        if quota is not None and quota < 0:
            raise DocumentError("quota", f"must be >= 0, got {quota}")
        if quota is not None:
            bounds.quantity(quota, "quota", zero=True)
        if entity_share is not None and not 0 <= entity_share <= 1:
            raise DocumentError("entity_share", f"must be in [0, 1], got {entity_share}")
        if from_registry == to_registry:
            raise DocumentError("to", "a link cannot go from a registry to itself")
        when = self._when(at)

        def go(conn: Connection) -> int:
            self._registry(conn, from_registry, "from")
            self._registry(conn, to_registry, "to")
            values = dict(exchange_rate=exchange_rate, discount=discount, quota=quota,
                          entity_share=entity_share, unit_types=",".join(ut),
                          suspended_from=suspended_from)
            old = conn.execute(sa.select(links.c.id).where(
                links.c.from_registry == from_registry, links.c.to_registry == to_registry)
                .with_for_update()).first()
            if old:
                lid = int(old.id)
                conn.execute(links.update().where(links.c.id == lid).values(**values))
            else:
                lid = int(conn.execute(links.insert().values(
                    from_registry=from_registry, to_registry=to_registry, moved=0, **values)
                    .returning(links.c.id)).scalar_one())
            jr.append(conn, when, "link.set", None,
                      {"link": lid, "from": from_registry, "to": to_registry, **values})
            return lid
        return self._run(go)

    @operation("load_links")
    def load_links(self, path: str | Path, *, at: datetime | None = None) -> list[int]:
        """Load ``links:`` from YAML (the simulator's Link format plus ``unit_types`` and an
        optional ``suspended_from`` date); ``from``/``to`` name registry ids or systems."""
        from carbonlink.registry.links import read_links
        specs = read_links(path)
        ids: list[int] = []
        for s in specs:
            f = self._resolve_system(s.from_registry, s.path + ".from")
            t = self._resolve_system(s.to_registry, s.path + ".to")
            ids.append(self.add_link(f, t, exchange_rate=s.exchange_rate, discount=s.discount,
                                     quota=s.quota, entity_share=s.entity_share,
                                     unit_types=s.unit_types, suspended_from=s.suspended_from,
                                     at=at))
        return ids

    def _resolve_system(self, key: str, path: str) -> str:
        def go(conn: Connection) -> str:
            r = conn.execute(sa.select(registries.c.id).where(
                sa.or_(registries.c.id == key, registries.c.system == key))).first()
            if r is None:
                raise DocumentError(path, f"no registry with id or system {key!r}")
            return str(r.id)
        return self._read(go)

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

    # ------------------------------------------------------------------ authorisations
    @operation("authorise")
    def authorise(self, id: str, *, cooperative_approach: str, registry: str, quantity: int,
                  purposes: str = "NDC", vintage_from: int, vintage_to: int,
                  valid_from: date, valid_to: date | None = None,
                  first_transfer_definition: str | None = None,
                  entities: Iterable[int] = (), metric: str = "tCO2e",
                  terms: str | None = None, effective_from: date | None = None,
                  revoked: bool = False, at: datetime | None = None) -> int:
        """Record an authorisation (Art 6.3) or a new version of one; returns the version.

        A change applies only prospectively: ``effective_from`` may not lie before the date
        of the change (U5007), and the cap may not fall below what is already first
        transferred.
        """
        when = self._when(at)
        if not _CA_ID.match(cooperative_approach):
            fail("R1004", "cooperative_approach",
                 f"must be CA followed by four digits, got {cooperative_approach!r}")
        if purposes not in PURPOSES:
            raise DocumentError("purposes", f"must be one of {', '.join(PURPOSES)}, "
                                f"got {purposes!r}")
        if "OIMP" in purposes and first_transfer_definition not in FIRST_TRANSFER_DEFINITIONS:
            raise DocumentError("first_transfer_definition",
                                "required for OIMP (para 2(b)): one of "
                                f"{', '.join(FIRST_TRANSFER_DEFINITIONS)}")
        if quantity < 0:
            fail("R1001", "quantity", f"must be >= 0, got {quantity}")
        bounds.quantity(quantity, zero=True)
        bounds.year(vintage_from, "vintage_from")
        bounds.year(vintage_to, "vintage_to")
        if vintage_to < vintage_from:
            fail("R1006", "vintage_to", f"{vintage_to} is before vintage_from {vintage_from}")
        if valid_to is not None and valid_to < valid_from:
            fail("R1006", "valid_to", f"{valid_to} is before valid_from {valid_from}")
        ents = sorted(set(entities))

        def go(conn: Connection) -> int:
            reg = self._registry(conn, registry, "registry")
            latest = conn.execute(sa.select(authorisations).where(
                authorisations.c.id == id).order_by(authorisations.c.version.desc())).first()
            eff = effective_from or (when.date() if latest else min(valid_from, when.date()))
            if latest is not None:
                if eff < when.date():
                    fail("U5007", "effective_from", f"a change to {id} must take effect on or "
                         f"after {when.date()}, got {eff}")
                if latest.registry_id != registry or latest.cooperative_approach != \
                        cooperative_approach:
                    fail("U5007", "registry", "a new version may not move the authorisation "
                         "to another registry or cooperative approach")
                version = int(latest.version) + 1
                tot = conn.execute(sa.select(authorisation_totals).where(
                    authorisation_totals.c.authorisation_id == id).with_for_update()).one()
                if quantity < tot.first_transferred:
                    fail("U5007", "quantity", f"{tot.first_transferred} units of {id} are "
                         f"already first transferred; the cap cannot drop to {quantity}")
            else:
                version = 1
                conn.execute(authorisation_totals.insert().values(
                    authorisation_id=id, issued=0, first_transferred=0))
            for h in ents:
                if conn.execute(sa.select(holders.c.id).where(holders.c.id == h)).first() is None:
                    fail("R1005", "entities", f"no holder {h}")
            conn.execute(authorisations.insert().values(
                id=id, version=version, cooperative_approach=cooperative_approach,
                party=reg.party, registry_id=registry, quantity=quantity, purposes=purposes,
                vintage_from=vintage_from, vintage_to=vintage_to, valid_from=valid_from,
                valid_to=valid_to, first_transfer_definition=first_transfer_definition,
                metric=metric, revoked=revoked, effective_from=eff, recorded_at=when,
                terms=terms))
            for h in ents:
                conn.execute(authorised_entities.insert().values(
                    authorisation_id=id, version=version, holder_id=h))
            jr.append(conn, when, "authorisation", None, {
                "id": id, "version": version, "approach": cooperative_approach,
                "party": reg.party, "registry": registry, "quantity": quantity,
                "purposes": purposes, "vintages": [vintage_from, vintage_to],
                "valid": [valid_from, valid_to], "ftd": first_transfer_definition,
                "metric": metric, "revoked": revoked, "effective_from": eff, "entities": ents})
            return version
        return self._run(go)

    @operation("revoke")
    def revoke(self, id: str, effective_from: date, *, at: datetime | None = None) -> int:
        """Revoke an authorisation from ``effective_from`` (prospective; ITMOs already first
        transferred keep their status)."""
        a = self.authorisation(id)
        return self.authorise(
            id, cooperative_approach=a.cooperative_approach, registry=a.registry_id,
            quantity=a.quantity, purposes=a.purposes, vintage_from=a.vintage_from,
            vintage_to=a.vintage_to, valid_from=a.valid_from, valid_to=a.valid_to,
            first_transfer_definition=a.first_transfer_definition, entities=a.entities,
            metric=a.metric, terms=a.terms, effective_from=effective_from, revoked=True, at=at)

    @operation("authorisation")
    def authorisation(self, id: str, on: date | None = None) -> Authorisation:
        """The version of authorisation ``id`` in effect on ``on`` (default: the newest)."""
        return self._read(lambda c: self._auth(c, id, on, "authorisation"))

    def _auth(self, conn: Connection, id: str, on: date | None, path: str,
              version: int | None = None) -> Authorisation:
        q = sa.select(authorisations).where(authorisations.c.id == id)
        if version is not None:
            q = q.where(authorisations.c.version == version)
        elif on is not None:
            q = q.where(authorisations.c.effective_from <= on)
        r = conn.execute(q.order_by(authorisations.c.version.desc())).first()
        if r is None:
            fail("U5001", path, f"no authorisation {id!r}" + (f" in effect on {on}" if on else ""))
        ents = conn.execute(sa.select(authorised_entities.c.holder_id).where(
            authorised_entities.c.authorisation_id == id,
            authorised_entities.c.version == r.version)).scalars().all()
        return Authorisation(
            r.id, r.version, r.cooperative_approach, r.party, r.registry_id, int(r.quantity),
            r.purposes, r.vintage_from, r.vintage_to, r.valid_from, r.valid_to,
            r.first_transfer_definition, r.metric, bool(r.revoked), r.effective_from,
            frozenset(int(e) for e in ents), r.terms)

    # ------------------------------------------------------------------ helpers
    def _registry(self, conn: Connection, id: str, path: str, lock: bool = False) -> Any:
        q = sa.select(registries).where(registries.c.id == id)
        r = conn.execute(q.with_for_update() if lock else q).first()
        if r is None:
            fail("R1005", path, f"no registry {id!r}")
        return r

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

    @operation("transfer")
    def transfer(self, from_account: int, to_account: int, quantity: int, *,
                 unit_type: str | None = None, vintage: int | None = None,
                 authorisation: str | None = None,
                 serials: tuple[str, str, int, int, int] | None = None,
                 by: str | None = None, at: datetime | None = None) -> Receipt:
        """Move units. Inside one registry the internal transfer completes at once; to another
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
            if not external and conn.dialect.name == "postgresql":
                payload = jr.canonical({
                    "from": from_account, "to": to_account, "quantity": quantity,
                    "blocks": self._blocks_payload(pieces)})
                ptx = raw.tail_pg(
                    conn, when, dict(kind="internal_transfer", state="completed",
                                     quantity=quantity, from_account=from_account,
                                     to_account=to_account, unit_type=unit_type,
                                     vintage=vintage, proposer=by),
                    [p.block_id for p in pieces], {"account_id": to_account},
                    [(p.issuing_registry, p.unit_type, p.vintage, p.start, p.end,
                      p.authorisation_id) for p in pieces], "internal_transfer", payload)
                jr.sign_head(conn)
                return Receipt(ptx, "internal_transfer", "completed", quantity,
                               blocks=[tuple(x) for x in self._blocks_payload(pieces)])
            if not external:
                tx = self._new_tx(conn, when, "internal_transfer", "completed", quantity,
                                  from_account=from_account, to_account=to_account,
                                  unit_type=unit_type, vintage=vintage, proposer=by)
                self._move(conn, pieces, account_id=to_account)
                self._record_pieces(conn, tx, pieces)
                jr.append(conn, when, "internal_transfer", tx, {
                    "from": from_account, "to": to_account, "quantity": quantity,
                    "blocks": self._blocks_payload(pieces)})
                return Receipt(tx, "internal_transfer", "completed", quantity,
                               blocks=[tuple(x) for x in self._blocks_payload(pieces)])
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

        # one round trip commits inside SQL, where the journal key cannot sign: with a key the
        # transfer takes the general path (one database transaction, signed in it)
        if serials is None and self.engine.dialect.name == "postgresql" and not self.replay \
                and guard.AFTER.get() is None \
                and (self.journal_key is None or self.journal_key.private() is None):
            done = self._run_statement(lambda dbc: self._transfer_pg(
                dbc, from_account, to_account, quantity, unit_type, vintage, authorisation,
                by, when))
            if done is not None:
                return done
        return self._run(go)

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

    def _transfer_pg(self, dbc: Any, from_account: int, to_account: int, quantity: int,
                     unit_type: str | None, vintage: int | None, authorisation: str | None,
                     by: str | None, when: datetime) -> Receipt | None:
        """PostgreSQL internal transfer in **one round trip**: one prepared statement calling
        ``registry_internal_transfer`` (migrations 0002, 0004) on psycopg cursor ``dbc`` of a
        connection in autocommit mode, so the statement is its own database transaction. The
        function locks both accounts in id order, runs the same checks as :meth:`transfer` in
        the same order (returning the failed check's code, path and detail and writing
        nothing), reads the holdings after the lock, moves/splits the blocks, inserts the transaction and appends
        the journal entry (same hash formula as :func:`carbonlink.registry.journal.entry_hash`).
        Returns ``None`` for a transfer to another registry, or of authorised units (their
        authorised entities are checked, U5005), with nothing written: the caller runs the
        general path, which locks and checks again."""
        dbc.execute(raw.PG_INTERNAL_TRANSFER, (from_account, to_account, quantity, unit_type,
                                               vintage, authorisation, by, when,
                                               when.isoformat()), prepare=True)
        tx_id, code, path, detail, payload = dbc.fetchone()
        if code is None:
            return Receipt(int(tx_id), "internal_transfer", "completed", quantity,
                           blocks=[tuple(x) for x in json.loads(payload)["blocks"]])
        if code in ("external", "general"):
            return None
        fail(code, path, detail)

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

    def _locked_external_tx(self, conn: Connection, tx_id: int) -> Any:
        """An external transfer, read again under the locks of both accounts (account locks
        first, in id order, like every other transaction)."""
        tx = conn.execute(sa.select(transactions).where(transactions.c.id == tx_id)).first()
        if tx is None or tx.kind != "external_transfer":
            fail("R1005", "tx", f"no external transfer {tx_id}")
        self._lock_accounts(conn, [tx.from_account, tx.to_account])
        return conn.execute(sa.select(transactions).where(transactions.c.id == tx_id)
                            .with_for_update()).one()

    def _open_tx(self, conn: Connection, tx_id: int, states: Sequence[str],
                 when: datetime) -> Any:
        tx = self._locked_external_tx(conn, tx_id)
        if tx.state not in states:
            fail("R1002", "tx", f"transfer {tx_id} is {tx.state}; expected "
                 f"{' or '.join(states)}")
        if tx.expires_at is not None and when >= tx.expires_at:
            fail("R1003", "tx", f"transfer {tx_id} expired at {tx.expires_at}")
        return tx

    @operation("approve")
    def approve(self, tx_id: int, *, by: str | None = None,
                at: datetime | None = None) -> Receipt:
        """Second representative of the transferring account confirms (four eyes)."""
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            tx = self._open_tx(conn, tx_id, ["proposed"], when)
            if by == tx.proposer:
                fail("A2006", "by", f"{by!r} proposed transfer {tx_id}; a second "
                     "representative must approve")
            self._check_rep(conn, tx.from_account, by, "by")
            conn.execute(transactions.update().where(transactions.c.id == tx_id).values(
                state="approved", approver=by, updated_at=when))
            jr.append(conn, when, "external_transfer.approved", tx_id, {"by": by})
            return Receipt(tx_id, "external_transfer", "approved", int(tx.quantity))
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
        jr.append(conn, when, f"external_transfer.{state}", int(tx.id),
                  {"reason": reason, "by": by})

    @operation("reject")
    def reject(self, tx_id: int, *, by: str | None = None, reason: str = "rejected",
               at: datetime | None = None) -> Receipt:
        """Either side refuses a pending external transfer; the escrow is released."""
        when = self._when(at)

        def go(conn: Connection) -> Receipt:
            tx = self._locked_external_tx(conn, tx_id)
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
        return self._read(lambda c: reporting_calendar(c, as_of or date.today(), party))

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
