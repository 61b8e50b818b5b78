"""The access check every :class:`~carbonlink.registry.service.Registry` operation runs first,
generated from :data:`carbonlink.registry.access.OPERATIONS`.

:func:`operation` wraps a public method: it resolves what the call acts on (registry, Party,
accounts), checks the bound :class:`~carbonlink.registry.access.Actor` against the rule,
journals and raises a refusal (``S7001``), and for a four-eyes operation records a
:class:`PendingAction` instead of running it; :meth:`Registry.approve_action` by a second user
runs it (the approval is written in the same database transaction as the action).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from carbonlink.registry import bounds
from carbonlink.registry import journal as jr
from carbonlink.registry.access import OPERATIONS, Actor, Rule
from carbonlink.registry.checks import CheckFailed
from carbonlink.registry.db import (
    accounts,
    authorisations,
    holders,
    registries,
    trusted_changes,
)

if TYPE_CHECKING:
    from carbonlink.registry.users import Users as Registry

F = TypeVar("F", bound=Callable[..., Any])

#: set while an operation runs: nested operations it calls are not checked again
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("carbonlink_inside", default=False)
#: set while an approved four-eyes action runs: (pending id, proposer, approver)
APPROVED: contextvars.ContextVar[tuple[int, str, str] | None] = contextvars.ContextVar(
    "carbonlink_approved", default=None)
#: written in the same database transaction as the approved action (see Registry._run)
ON_COMMIT: contextvars.ContextVar[Callable[[sa.Connection], None] | None] = \
    contextvars.ContextVar("carbonlink_on_commit", default=None)
#: run after the operation's work, in its database transaction, with its result: records the
#: client reference (see Registry._run)
AFTER: contextvars.ContextVar[Callable[[sa.Connection, Any], None] | None] = \
    contextvars.ContextVar("carbonlink_after", default=None)
#: set while a four-eyes proposal is tried: the work runs and is rolled back (Registry._run)
DRY_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("carbonlink_dry_run",
                                                               default=False)
#: set while an operation runs whose access check waits for its one-statement fast path (see
#: :func:`check`): the accounts the actor may act for under the rule
DEFERRED: contextvars.ContextVar[tuple[int, ...] | None] = contextvars.ContextVar(
    "carbonlink_deferred", default=None)
#: operations whose access check can travel inside their PostgreSQL statement: the rule's roles
#: are account representatives' only, so the check is "does the actor represent the account
#: the statement reads" — one round trip instead of a read before the statement
DEFERRABLE = frozenset({"approve"})
MAX_REFERENCE = 100
MUST_CHANGE = ("logged in with a one-time password: change it first (`carbonlink login` asks "
               "for a new one)")
#: operations that write in one database transaction and so may carry a client reference
REFERENCED = frozenset(name for name, rule in OPERATIONS.items() if rule.write) - {"load_links"}
_REP = frozenset({"initiator", "approver"})


@dataclass(frozen=True)
class PendingAction:
    """A four-eyes administrative action waiting for a second person."""

    id: int
    operation: str
    scope: str
    proposer: str
    state: str = "proposed"


@dataclass(frozen=True)
class Target:
    """What a call acts on; for a transaction, both accounts (and so both registries and
    Parties: an administrator of either side may act where the rule allows it)."""

    registry: str | None = None
    party: str | None = None
    accounts: tuple[int, ...] = ()
    more: tuple[tuple[str, str], ...] = ()    # further (registry, Party) pairs
    #: the check waits for the operation's statement: the accounts the actor may act for
    deferred: tuple[int, ...] | None = None

    def registries(self) -> set[str | None]:
        return {self.registry, *(r for r, _ in self.more)}

    def parties(self) -> set[str | None]:
        return {self.party, *(p for _, p in self.more)}


def _by_name(sig: inspect.Signature) -> bool:
    """Every parameter of ``sig`` can be passed by name (positional-or-keyword or
    keyword-only)."""
    return all(p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values())


def binder(sig: inspect.Signature) -> Callable[..., inspect.BoundArguments]:
    """``sig.bind`` for a method whose parameters are all positional-or-keyword or keyword-only
    (every operation's): the same arguments, in the same order, built without ``inspect``'s
    general walk (~25 µs of every call, a tenth of a SQLite transfer); anything unusual — an
    unknown, repeated or missing argument, another kind of parameter — goes to ``sig.bind``,
    which raises its usual ``TypeError``."""
    params = list(sig.parameters.values())
    simple = _by_name(sig)
    positional = tuple(p.name for p in params
                       if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
    order = tuple(p.name for p in params)
    required = frozenset(p.name for p in params if p.default is inspect.Parameter.empty)

    def bind(*args: Any, **kwargs: Any) -> inspect.BoundArguments:
        if not simple or len(args) > len(positional):
            return sig.bind(*args, **kwargs)
        arguments = dict(zip(positional, args, strict=False))   # len(args) <= len(positional)
        for name in order[len(args):]:
            if name in kwargs:
                arguments[name] = kwargs[name]
        if len(arguments) != len(args) + len(kwargs) or not required <= arguments.keys():
            return sig.bind(*args, **kwargs)
        return inspect.BoundArguments(sig, arguments)
    return bind


def operation(name: str) -> Callable[[F], F]:
    """Mark a Registry method as operation ``name`` (it must have a rule in OPERATIONS)."""
    rule = OPERATIONS[name]

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)
        bind = binder(sig)
        by_name = _by_name(sig)
        has_by = "by" in sig.parameters
        has_tx = "tx_id" in sig.parameters

        @functools.wraps(fn)
        def wrapper(self: Registry, *args: Any, client_ref: str | None = None,
                    **kwargs: Any) -> Any:
            if client_ref is not None:
                return _referenced(self, name, client_ref, wrapper, args, kwargs)
            if _INSIDE.get():
                if rule.four_eyes and APPROVED.get() is None:
                    bound = sig.bind(self, *args, **kwargs)
                    return _propose(self, name, rule, bound, _target(self, name, bound.arguments))
                return fn(self, *args, **kwargs)
            bound = bind(self, *args, **kwargs)
            if has_tx:     # before anything reads the database with it
                bounds.tx_id(bound.arguments.get("tx_id"))
            actor = self.actor
            if actor is not None and actor.must_change_password:
                deny(self, name, MUST_CHANGE, code="S7003", path="password")
            if has_by:
                by = bound.arguments.get("by")
                if actor is not None and by not in (None, actor.username):
                    deny(self, name, f"{actor.username!r} cannot act as {by!r}")
                bound.arguments["by"] = actor.username if actor is not None else None
            target = check(self, name, rule, bound.arguments)
            if bound.arguments.get("at") is not None and not self.replay:
                deny(self, name, "the time of an action is the server's clock; a caller gives "
                     "`at` only to load history, in an administrator's replay mode",
                     code="S7004", path="at")
            if rule.four_eyes and APPROVED.get() is None:
                _try(self, fn, bound)
                return _propose(self, name, rule, bound, target)
            token = _INSIDE.set(True)
            who = jr.ACTOR.set({"by": actor.username} if actor is not None else None)
            replayed = jr.REPLAYED.set(self.replay and rule.write)
            deferred = DEFERRED.set(target.deferred)
            try:
                # every parameter can be passed by name (binder): skip BoundArguments.args
                return fn(**bound.arguments) if by_name else fn(*bound.args, **bound.kwargs)
            finally:
                DEFERRED.reset(deferred)
                jr.REPLAYED.reset(replayed)
                jr.ACTOR.reset(who)
                _INSIDE.reset(token)
        wrapper.__operation__ = name  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]
    return deco


def _referenced(reg: Registry, op: str, ref: str, call: Callable[..., Any],
                args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Idempotency: the first call with (user, ``ref``) runs and its result is recorded in the
    same database transaction; a retry returns that result and changes nothing — also after
    a crash that lost the acknowledgement (the record commits with the change or not at all)."""
    from carbonlink.errors import DocumentError
    if op not in REFERENCED:
        raise DocumentError("client_ref", f"{op} does not take a client reference")
    if not isinstance(ref, str) or not 1 <= len(ref) <= MAX_REFERENCE:
        raise DocumentError("client_ref", f"a client reference is 1–{MAX_REFERENCE} "
                            "characters")
    if reg.actor is None:
        return call(reg, *args, **kwargs)        # refused by the access check
    user = reg.actor.username
    found = reg._client_ref(user, ref)
    if found is not None:
        if found[0] != op:
            raise DocumentError("client_ref", f"reference {ref!r} was used for {found[0]}, "
                                f"not {op}")
        return decode_result(found[1])
    token = AFTER.set(lambda conn, out: reg._record_ref(conn, user, ref, op,
                                                        encode_result(out)))
    try:
        return call(reg, *args, **kwargs)
    except Exception:
        found = reg._client_ref(user, ref)     # a concurrent retry with the reference won
        if found is not None and found[0] == op:
            return decode_result(found[1])
        raise
    finally:
        AFTER.reset(token)


def encode_result(out: Any) -> str:
    from carbonlink.registry.common import Receipt
    if isinstance(out, Receipt):
        return json.dumps({"receipt": {**out.__dict__, "blocks": [list(b) for b in out.blocks]}})
    if isinstance(out, PendingAction):
        return json.dumps({"pending": out.__dict__})
    return json.dumps({"value": encode(out)})


def decode_result(text: str) -> Any:
    from carbonlink.registry.common import Receipt
    d = json.loads(text)
    if "receipt" in d:
        r = d["receipt"]
        return Receipt(**{**r, "blocks": [tuple(b) for b in r["blocks"]]})
    if "pending" in d:
        return PendingAction(**d["pending"])
    v = decode(d["value"])
    if isinstance(v, dict):      # JSON object keys are strings: account ids come back as int
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): x for k, x in v.items()}
    return v


def deny(reg: Registry, op: str, reason: str, code: str = "S7001",
         path: str = "actor") -> Any:
    """Journal the refusal (its own database transaction), then raise it."""
    who = reg.actor.username if reg.actor is not None else None
    reg._journal_only("access.denied", {"operation": op, "user": who, "code": code,
                                        "reason": reason})
    raise CheckFailed(code, path, reason)


def check(reg: Registry, op: str, rule: Rule, args: dict[str, Any]) -> Target:
    actor = reg.actor
    if "public" in rule.roles:
        return Target()
    if actor is None:
        deny(reg, op, f"{op} needs a logged-in user (roles: {', '.join(sorted(rule.roles))})",
             code="S7003")
    assert actor is not None
    if rule.write and actor.token_scope != "write":
        deny(reg, op, f"{op} changes state; the token of {actor.username!r} is read-only")
    fast = getattr(reg, "_fast_path", None)     # Transfers: the one-statement path applies
    if op in DEFERRABLE and fast is not None and fast(args.get("by")):
        # the statement reads the transaction's accounts under its locks and refuses unless
        # the actor represents the right one; the operation then calls refuse() (journalled)
        return Target(deferred=tuple(sorted(
            a for a in actor.reps if any(actor.represents(a, r) for r in rule.roles))))
    target = _target(reg, op, args) if rule.scope != "global" else Target()
    if not allowed(actor, rule, target):
        refuse(reg, op, target)
    return target


def refuse(reg: Registry, op: str, target: Target) -> Any:
    """Journal and raise the refusal of ``op`` on ``target`` (``S7001``)."""
    rule = OPERATIONS[op]
    who = reg.actor.username if reg.actor is not None else None
    where = target.registry or target.party or (
        f"account {target.accounts[0]}" if target.accounts else "*")
    # journalled as before the operation ran (a deferred check refuses from inside it)
    actor, replayed = jr.ACTOR.set(None), jr.REPLAYED.set(False)
    try:
        deny(reg, op, f"{who!r} holds no role allowed to {op} in {where} "
             f"(allowed: {', '.join(sorted(rule.roles))}; {rule.why})")
    finally:
        jr.REPLAYED.reset(replayed)
        jr.ACTOR.reset(actor)


def allowed(actor: Actor, rule: Rule, target: Target) -> bool:
    for role in rule.roles:
        if role in _REP:
            if any(actor.represents(a, role) for a in target.accounts):
                return True
            continue
        for r, s in actor.roles:
            if r != role:
                continue
            if s == "*" or rule.scope == "any":
                return True
            if rule.scope == "global":
                continue
            if role == "authorising_official" and s in target.parties():
                return True
            if role != "authorising_official" and s in target.registries():
                return True
    return False


def _target(reg: Registry, op: str, a: dict[str, Any]) -> Target:
    """What the call acts on (registry, Party, accounts); one read at most."""
    rule = OPERATIONS[op]
    if rule.scope in ("global", "any"):
        return Target()
    needs_db = bool(rule.roles - _REP)

    def of_accounts(*ids: int | None) -> Target:
        acc = tuple(int(i) for i in ids if i is not None)
        if not needs_db or not acc:
            return Target(accounts=acc)
        rows = reg._read(lambda c: c.execute(
            sa.select(accounts.c.id, accounts.c.registry_id, registries.c.party)
            .join(registries, registries.c.id == accounts.c.registry_id)
            .where(accounts.c.id.in_(acc))).all())
        found = {int(r.id): (str(r.registry_id), str(r.party)) for r in rows}
        pairs = [found[a] for a in acc if a in found]
        if not pairs:
            return Target(accounts=acc)
        return Target(pairs[0][0], pairs[0][1], acc, tuple(pairs[1:]))

    def of_registry(rid: str | None) -> Target:
        if rid is None:
            return Target()
        p = reg._read(lambda c: c.execute(sa.select(registries.c.party).where(
            registries.c.id == rid)).scalar())
        return Target(rid, p)

    if op in ("transfer",):
        return of_accounts(a["from_account"])
    if op in ("approve", "accept", "reject", "transaction", "cancel_transfer"):
        tx = reg._tx_accounts(a["tx_id"])
        if tx is None:
            return Target()
        from_account, to_account = tx
        if op in ("approve", "cancel_transfer"):
            return of_accounts(from_account)
        if op == "accept":
            return of_accounts(to_account)
        return of_accounts(to_account, from_account)
    if op in ("approve_trust", "reject_trust"):
        acc = reg._read(lambda c: c.execute(sa.select(trusted_changes.c.account_id).where(
            trusted_changes.c.id == a["change"])).scalar())
        return of_accounts(acc)
    if "account" in a and a["account"] is not None and op != "open_account":
        return of_accounts(a["account"])
    if op in ("holdings", "balance"):
        return Target()
    if op == "add_link":
        return of_registry(a["from_registry"])
    if "registry" in a:
        return of_registry(a["registry"])
    if op == "revoke":
        r = reg._read(lambda c: c.execute(sa.select(authorisations.c.registry_id).where(
            authorisations.c.id == a["id"])).first())
        return of_registry(r.registry_id if r else None)
    if op == "report_entity_emissions":
        r = reg._read(lambda c: c.execute(sa.select(holders.c.registry_id).where(
            holders.c.id == a["holder"])).first())
        return of_registry(r.registry_id if r else None)
    if "party" in a:
        return Target(party=a["party"])
    raise AssertionError(f"no target resolution for {op}")   # a rule without a resolver


# ---------------------------------------------------------------- four eyes
def encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _try(reg: Registry, fn: Callable[..., Any], bound: inspect.BoundArguments) -> None:
    """Run a four-eyes action now and roll it back: a proposal that would fail its checks today
    (a bad number, a cap, a finalised year) is refused at once, not at approval."""
    tokens = (_INSIDE.set(True), APPROVED.set((0, "", "")), DRY_RUN.set(True),
              ON_COMMIT.set(None), AFTER.set(None))
    try:
        fn(*bound.args, **bound.kwargs)
    finally:
        for var, tok in zip((_INSIDE, APPROVED, DRY_RUN, ON_COMMIT, AFTER), tokens,
                            strict=True):
            var.reset(tok)  # type: ignore[attr-defined]


def _propose(reg: Registry, op: str, rule: Rule, bound: inspect.BoundArguments,
             target: Target) -> PendingAction:
    actor = reg.actor
    assert actor is not None
    args = {k: encode(v) for k, v in bound.arguments.items() if k != "self"}
    if reg.replay:
        args["$replay"] = True
    scope = target.registry if rule.roles & {"administrator"} else target.party
    scope = scope or "*"
    return reg._propose_action(op, jr.canonical(args), scope, actor.username)


def run_approved(reg: Registry, row: Any, approver: Actor,
                 mark: Callable[[sa.Connection], None]) -> Any:
    """Run pending action ``row`` (its proposer's call) with the approval ``mark`` written in
    the same database transaction."""
    args = {k: decode(v) for k, v in json.loads(row.args).items()}
    replay = bool(args.pop("$replay", False))
    fn = getattr(type(reg), row.operation)
    t1 = APPROVED.set((int(row.id), str(row.proposer), approver.username))
    t2 = ON_COMMIT.set(mark)
    t3 = _INSIDE.set(True)
    t4 = jr.ACTOR.set({"by": str(row.proposer), "approved_by": approver.username})
    t5 = jr.REPLAYED.set(replay)
    try:
        out = fn(reg, **args)
        if ON_COMMIT.get() is mark:     # the action wrote nothing: record the approval alone
            reg._run(mark)
        return out
    finally:
        jr.REPLAYED.reset(t5)
        jr.ACTOR.reset(t4)
        _INSIDE.reset(t3)
        ON_COMMIT.reset(t2)
        APPROVED.reset(t1)
