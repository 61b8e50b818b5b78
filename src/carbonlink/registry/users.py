"""Access control: logins, tokens, passwords and TOTP, users and their roles, account
representatives, and the four-eyes pending actions (propose, approve, reject)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry import guard
from carbonlink.registry import identity as idm
from carbonlink.registry import journal as jr
from carbonlink.registry.access import REP_ROLES, Actor
from carbonlink.registry.checks import fail
from carbonlink.registry.db import (
    accounts,
    api_tokens,
    pending_actions,
    representatives,
    user_roles,
    users,
)
from carbonlink.registry.guard import MUST_CHANGE, PendingAction, operation
from carbonlink.registry.store import Store


class Users(Store):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    def _load_actor(self, user_id: int, token_scope: str = "write") -> Actor:
        return self._read(lambda c: idm.load_actor(c, user_id, token_scope))

    def trusted_actor(self, username: str) -> Actor:
        """The actor of user ``username`` without credentials, for in-process code that
        already holds the database credentials (tests, benchmarks, administration scripts):
        its roles are the user's, checked like any other. The CLI and the web authenticate
        with :meth:`login` or :meth:`authenticate` instead."""
        def go(conn: Connection) -> Actor | None:
            row = idm.user_row(conn, username)
            return idm.load_actor(conn, int(row.id)) if row is not None and row.active else None
        actor = self._read(go)
        if actor is None:
            raise DocumentError("username", f"no active user {username!r}")
        return actor

    def login(self, username: str, password: str, totp: str | None = None) -> Actor:
        """Check a user's password (argon2) and second factor (TOTP, when enrolled); the
        :data:`~carbonlink.registry.identity.LOCK_AFTER`-th failure in a row locks the login.
        Failures are journalled (without the password) and raise ``S7003``. After a one-time
        password (``registry init``, a user created without one) the actor may only
        :meth:`change_password`: every operation and :meth:`issue_token` refuse it."""
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
        actor = self._load_actor(int(u.id))
        if u.must_change_password:     # a one-time password: it is changed before anything else
            actor = replace(actor, must_change_password=True)
        return actor

    def authenticate(self, token: str) -> Actor:
        """The actor of an API token or browser session (``S7003`` when unknown, revoked or
        expired, or its user deactivated; journalled, without the token). Called on every
        request: one statement finds the token by its SHA-256 digest and reads the user, the
        roles and the represented accounts (:data:`~carbonlink.registry.identity.ACTOR_BY_TOKEN`);
        on PostgreSQL it is sent on a kept connection in autocommit mode (one round trip, no
        BEGIN/COMMIT: a single statement sees one snapshot)."""
        now = self._now()
        if self.engine.dialect.name == "postgresql":
            digest = idm.token_hash(token)

            def find(dbc: Any) -> list[Any]:
                dbc.execute(idm.ACTOR_BY_TOKEN, (digest, now), prepare=True)
                return list(dbc.fetchall())
            actor = idm.actor_of(self._run_statement(find), digest=digest)
        else:
            actor = self._read(lambda c: idm.token_actor(c, token, now))
        if actor is None:
            self._journal_only("access.denied", {"operation": "authenticate", "user": None,
                                                 "code": "S7003",
                                                 "reason": "unknown, revoked or expired token"})
            fail("S7003", "token", "unknown, revoked or expired API token")
        return actor

    def issue_token(self, scope: str = "write", name: str = "cli",
                    ttl: timedelta = idm.TOKEN_TTL) -> str:
        """A new API token for the acting user, shown once (only its hash is stored)."""
        if self.actor is None:
            guard.deny(cast(Any, self), "issue_token", "log in before asking for a token")
        actor = self.actor
        assert actor is not None
        if actor.token_scope != "write" and scope == "write":
            guard.deny(cast(Any, self), "issue_token",
                       "a read-only token cannot make a write token", path="scope")
        if actor.must_change_password:
            guard.deny(cast(Any, self), "issue_token", MUST_CHANGE, code="S7003",
                       path="password")
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
