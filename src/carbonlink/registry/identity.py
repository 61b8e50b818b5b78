"""Users, passwords, second factor, lockout and API tokens (the rows of revision 0005).

* Passwords are hashed with **argon2id** (``argon2-cffi``, RFC 9106 parameters of the
  library); a hash made with older parameters is re-hashed at the next good login.
* Second factor: **TOTP** (RFC 6238, ``pyotp``), 30 s steps, one step of drift accepted.
* Throttling and lockout: each wrong password or code counts; the
  :data:`LOCK_AFTER`-th consecutive failure locks the login for :data:`LOCK_FOR` (an
  administrator can unlock earlier by setting the user active again). Every failure is
  journalled (``access.denied``) without the password.
* API tokens (and browser sessions, whose cookie holds one): 32 random bytes shown once; only
  their SHA-256 is stored (a token is a 256-bit random secret, so a plain hash suffices: a KDF
  such as argon2 only slows the guessing of *low*-entropy secrets like passwords, and a keyed
  hash would only matter for those too), with a scope (``read`` or ``write``) and an expiry.
  A request's token is found by its digest through the unique index and the digest read back
  is compared in constant time (:func:`hmac.compare_digest`); expiry, revocation, the user's
  being active, the roles and the represented accounts are read **on every request**, in one
  statement (:data:`ACTOR_BY_TOKEN`), nothing cached between requests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from carbonlink.registry import rawsql as raw
from carbonlink.registry.access import REP_ROLES, USER_ROLES, Actor
from carbonlink.registry.checks import fail
from carbonlink.registry.db import api_tokens, users

#: consecutive failures after which the login locks (the sixth wrong password locks it)
LOCK_AFTER = 6
LOCK_FOR = timedelta(minutes=30)
TOKEN_TTL = timedelta(days=30)
MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
#: argon2id with argon2-cffi's defaults — RFC 9106's second recommended option (t=3,
#: m=64 MiB, p=4): the parameters every password is hashed with. Nothing in carbonlink lowers
#: them; ``tests/registry/test_hash_parameters.py`` checks a fresh interpreter uses them.
PRODUCTION_HASHER = PasswordHasher()
_hasher = PRODUCTION_HASHER


def use_test_hash_parameters() -> None:
    """**Test suites only**: hash with argon2id's smallest costs (t=1, m=8 KiB, p=1) in this
    process. The production parameters take most of a second per hash on a loaded 2-CPU machine
    and the tests create hundreds of users; verification reads the parameters from each hash,
    so hashes of either kind still verify. Called by ``tests/conftest.py``, never by carbonlink."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str, path: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        fail("S7003", path, f"a password has at least {MIN_PASSWORD} characters")


def check_username(username: str, path: str = "username") -> None:
    if not _USERNAME.match(username):
        fail("R1004", path, "a username is 1–64 characters: lower-case letter first, then "
             f"letters, digits, '.', '_' or '-'; got {username!r}")


def one_time_password() -> str:
    return secrets.token_urlsafe(15)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_row(conn: Connection, username: str) -> Any:
    return conn.execute(sa.select(users).where(users.c.username == username)).first()


def new_password_hash(password: str | None) -> tuple[str, str | None]:
    """(argon2 hash, one-time password or None). Hash **before** opening the database
    transaction: the KDF takes most of a second and must not hold a write lock."""
    otp = None
    if password is None:
        password = otp = one_time_password()
    else:
        check_password_strength(password)
    return hash_password(password), otp


def create_user(conn: Connection, username: str, hashed: str, must_change: bool,
                now: datetime) -> int:
    """Insert a user with password hash ``hashed`` (:func:`new_password_hash`)."""
    check_username(username)
    if user_row(conn, username) is not None:
        fail("R1004", "username", f"user {username!r} already exists")
    uid = conn.execute(users.insert().values(
        username=username, password_hash=hashed, totp_secret=None,
        must_change_password=must_change, failed_logins=0, locked_until=None, active=True,
        created_at=now).returning(users.c.id)).scalar_one()
    return int(uid)


def check_role(role: str, scope: str) -> None:
    if role not in USER_ROLES:
        fail("R1004", "role", f"must be one of {', '.join(USER_ROLES)} (account "
             f"representatives are per account: {', '.join(REP_ROLES)}), got {role!r}")
    if role == "authorising_official" and not re.match(r"^[A-Z]{3}$", scope):
        fail("R1004", "scope", f"an authorising official acts for a Party (ISO alpha-3), got "
             f"{scope!r}")
    if role in ("administrator", "auditor") and not (
            scope == "*" or re.match(r"^[A-Z]{3}\d{2}$", scope)):
        fail("R1004", "scope", f"{role} scope is '*' or a registry id, got {scope!r}")


#: the actor of a credential in **one statement** (one round trip, one snapshot): the user
#: (kind 0: id, username, token scope, token digest), their roles (kind 1: role, scope) and the
#: accounts they represent (kind 2: account, representative role). ``{who}`` selects the user;
#: ``%s`` placeholders (rewritten for SQLite by :func:`carbonlink.registry.rawsql.sql`).
_ACTOR = (
    "WITH who AS ({who}) "
    "SELECT 0, who.id, who.username, who.scope, who.token_hash FROM who "
    "UNION ALL SELECT 1, NULL, r.role, r.scope, NULL FROM user_roles r "
    "JOIN who ON r.user_id = who.id "
    "UNION ALL SELECT 2, p.account_id, p.role, NULL, NULL FROM representatives p "
    "JOIN who ON p.name = who.username")
#: parameters (token digest, now): a token that exists, is not revoked, has not expired on the
#: server's clock, of an active user
ACTOR_BY_TOKEN = _ACTOR.format(who=(
    "SELECT users.id, users.username, api_tokens.scope, api_tokens.token_hash "
    "FROM api_tokens JOIN users ON users.id = api_tokens.user_id "
    "WHERE api_tokens.token_hash = %s AND NOT api_tokens.revoked "
    "AND api_tokens.expires_at > %s AND users.active"))
#: parameter (user id): any user (the caller checks ``active`` where it matters)
ACTOR_BY_ID = _ACTOR.format(who=(
    "SELECT id, username, CAST(NULL AS VARCHAR(16)) AS scope, "
    "CAST(NULL AS VARCHAR(64)) AS token_hash FROM users WHERE id = %s"))


def actor_of(rows: Sequence[Sequence[Any]], token_scope: str | None = None,
             digest: str | None = None) -> Actor | None:
    """The :class:`Actor` of the rows of :data:`ACTOR_BY_TOKEN` (``digest``: the request's
    token digest, compared with the stored one in constant time; the scope is the token's) or
    of :data:`ACTOR_BY_ID` (``token_scope``); None when no user row came back."""
    user = next((r for r in rows if r[0] == 0), None)
    if user is None:
        return None
    if digest is not None and not hmac.compare_digest(str(user[4]), digest):
        return None
    roles = frozenset((str(r[2]), str(r[3])) for r in rows if r[0] == 1)
    reps = {int(r[1]): str(r[2]) for r in rows if r[0] == 2}
    scope = str(user[3]) if digest is not None else (token_scope or "write")
    return Actor(int(user[1]), str(user[2]), roles, reps, scope)


def load_actor(conn: Connection, user_id: int, token_scope: str = "write") -> Actor:
    """The actor of user ``user_id`` (any user: check ``active`` where it matters), with its
    roles and represented accounts, in one statement."""
    actor = actor_of(raw.run(conn, ACTOR_BY_ID, (user_id,)).fetchall(), token_scope)
    if actor is None:
        fail("R1005", "user", f"no user {user_id}")
    return actor


def token_actor(conn: Connection, token: str, now: datetime) -> Actor | None:
    """The actor of a valid API token (exists, not revoked, not expired at ``now``, its user
    active), or None, in one statement on ``conn``. (The registry's PostgreSQL path sends
    the same statement on a kept connection: :meth:`carbonlink.registry.users.Users.authenticate`.)"""
    digest = token_hash(token)
    return actor_of(raw.run(conn, ACTOR_BY_TOKEN, (digest, raw.ts(conn, now))).fetchall(),
                    digest=digest)


def check_credentials(u: Any, password: str, totp: str | None, now: datetime
                      ) -> tuple[bool, str]:
    """Check ``password`` and ``totp`` against user row ``u`` (None: unknown user), outside
    any database transaction; returns (ok, reason)."""
    if u is None:
        _hasher.hash(password)          # same work as a real check: no user enumeration by time
        return False, "wrong user name or password"
    if not u.active:
        return False, "user is deactivated"
    if u.locked_until is not None and u.locked_until > now:
        return False, (f"login locked until {u.locked_until.isoformat(timespec='seconds')} "
                       f"after {LOCK_AFTER} failed attempts")
    try:
        _hasher.verify(u.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, "wrong user name or password"
    if u.totp_secret:
        import pyotp
        if not totp or not pyotp.TOTP(u.totp_secret).verify(totp, for_time=now,
                                                             valid_window=1):
            return False, "second factor (TOTP code) missing or wrong"
    return True, ""


def record_attempt(conn: Connection, u: Any, ok: bool, password: str, now: datetime) -> str:
    """Update the failure counter of user row ``u`` after a check; returns what to add to the
    refusal (the lockout), or "". Counts in the database (``failed_logins + 1``), so parallel
    wrong guesses all count."""
    if ok:
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(u.password_hash):
            values["password_hash"] = hash_password(password)
        conn.execute(users.update().where(users.c.id == u.id).values(**values))
        return ""
    conn.execute(users.update().where(users.c.id == u.id)
                 .values(failed_logins=users.c.failed_logins + 1))
    failed = conn.execute(sa.select(users.c.failed_logins).where(users.c.id == u.id)
                          ).scalar_one()
    if failed >= LOCK_AFTER:
        conn.execute(users.update().where(users.c.id == u.id).values(
            failed_logins=0, locked_until=now + LOCK_FOR))
        return f"; login locked for {int(LOCK_FOR.total_seconds() // 60)} minutes"
    return ""


def new_token(conn: Connection, user_id: int, scope: str, name: str, now: datetime,
              ttl: timedelta = TOKEN_TTL) -> str:
    if scope not in ("read", "write"):
        fail("R1004", "scope", f"a token scope is read or write, got {scope!r}")
    token = "clk_" + secrets.token_urlsafe(32)
    conn.execute(api_tokens.insert().values(
        user_id=user_id, token_hash=token_hash(token), scope=scope, name=name[:100],
        created_at=now, expires_at=now + ttl, revoked=False))
    return token
