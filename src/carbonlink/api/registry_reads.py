"""Reads the registry's web pages and API need beyond the :class:`Registry` facade: the
accounts a user represents, an account's holdings by unit type and vintage, its transaction
history (search and filters) and the transfers waiting for the user.

Every read runs the service's own access check first (a :class:`Registry` operation with the
same rule, so a refusal is journalled as ``access.denied`` like any other): an account's
holdings and history through :meth:`Registry.balance` (rule ``balance``: the account's
representatives, administrators, authorising officials, auditors), registry-wide lists through
:meth:`Registry.pending` (administrators, authorising officials, auditors). Queries are bounded
(:data:`MAX_ROWS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa

from carbonlink.registry import Registry
from carbonlink.registry.access import Actor
from carbonlink.registry.checks import fail
from carbonlink.registry.db import (
    accounts,
    authorisations,
    registries,
    transaction_blocks,
    transactions,
)
from carbonlink.reporting.i18n import N_

#: at most this many rows of a history or list (newest first)
MAX_ROWS = 200
#: roles that read every account (the rule of ``accounts``/``pending``)
READ_ALL = ("administrator", "authorising_official", "auditor")


#: Words the working pages show through a variable (``_()`` in the templates, with ``_`` shown
#: as a space): transaction kinds and states, block statuses, account types and statuses,
#: roles and the operations of pending actions.
VOCABULARY = (
    N_("issuance"), N_("internal transfer"), N_("external transfer"), N_("surrender"),
    N_("use"), N_("oimp cancellation"), N_("voluntary cancellation"),
    N_("omge cancellation"), N_("retirement"),
    N_("proposed"), N_("approved"), N_("completed"), N_("delayed"), N_("cancelled"),
    N_("rejected"), N_("expired"),
    N_("held"), N_("pending export"), N_("surrendered"), N_("used"), N_("retired"),
    N_("party holding"), N_("entity holding"), N_("compliance"), N_("ndc use"), N_("sop"),
    N_("open"), N_("closed"), N_("blocked"),
    N_("administrator"), N_("authorising official"), N_("auditor"), N_("initiator"),
    N_("approver"), N_("initiator / approver"), N_("initiator approver"),
    N_("issue"), N_("authorise"), N_("revoke"), N_("add link"), N_("set ndc"),
    N_("report emissions"), N_("report entity emissions"), N_("finalise"),
)

def reads_all(actor: Actor | None) -> bool:
    return actor is not None and any(actor.has(r) for r in READ_ALL)


def _actor(reg: Registry) -> Actor:
    if reg.actor is None:
        fail("S7003", "token", "log in first")
    assert reg.actor is not None
    return reg.actor


def _rows(reg: Registry, q: Any) -> list[dict[str, Any]]:
    with reg.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def represented_accounts(reg: Registry) -> list[dict[str, Any]]:
    """The accounts the acting user represents, each with its registry, name, type, status,
    the user's representative role and the units held."""
    actor = _actor(reg)
    ids = sorted(actor.reps)
    if not ids:
        return []
    rows = _rows(reg, sa.select(accounts.c.id, accounts.c.registry_id, accounts.c.name,
                                accounts.c.type, accounts.c.status, registries.c.party)
                 .join(registries, registries.c.id == accounts.c.registry_id)
                 .where(accounts.c.id.in_(ids)).order_by(accounts.c.id))
    for r in rows:
        r["role"] = actor.reps[int(r["id"])]
        r["balance"] = reg.balance(int(r["id"]))
    return rows


def account(reg: Registry, account_id: int) -> dict[str, Any]:
    """One account (its registry, Party, name, type, status and balance), after the access
    check of :meth:`Registry.balance` (R1005 when there is none)."""
    balance = reg.balance(account_id)           # the access check (journals a refusal)
    rows = _rows(reg, sa.select(accounts.c.id, accounts.c.registry_id, accounts.c.name,
                                accounts.c.type, accounts.c.status, registries.c.party)
                 .join(registries, registries.c.id == accounts.c.registry_id)
                 .where(accounts.c.id == account_id))
    if not rows:
        fail("R1005", "account", f"no account {account_id}")
    return {**rows[0], "balance": balance}


@dataclass(frozen=True)
class HoldingLine:
    """Units of an account of one status, issuing registry, unit type and vintage."""

    status: str
    issuing_registry: str
    unit_type: str
    vintage: int
    quantity: int
    blocks: int
    authorisations: tuple[str, ...]


def holdings_by_type(reg: Registry, account_id: int) -> list[HoldingLine]:
    """The account's blocks summed by status, issuing registry, unit type and vintage (the
    access check is :meth:`Registry.holdings`'s)."""
    sums: dict[tuple[str, str, str, int], list[Any]] = {}
    for b in reg.holdings(account_id):
        key = (str(b["status"]), str(b["issuing_registry"]), str(b["unit_type"]),
               int(b["vintage"]))
        line = sums.setdefault(key, [0, 0, set()])
        line[0] += int(b["serial_end"]) - int(b["serial_start"]) + 1
        line[1] += 1
        if b["authorisation_id"]:
            line[2].add(str(b["authorisation_id"]))
    order = {"held": 0}
    return [HoldingLine(s, r, u, v, q, n, tuple(sorted(a)))
            for (s, r, u, v), (q, n, a) in sorted(sums.items(),
                                                  key=lambda kv: (order.get(kv[0][0], 1), kv[0]))]


@dataclass(frozen=True)
class HistoryFilter:
    """Search and filters of a transaction history (all optional)."""

    q: str = ""                  # text in the id, kind, state, people, unit type, authorisation
    kind: str = ""
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None
    limit: int = MAX_ROWS


def history(reg: Registry, account_id: int, f: HistoryFilter = HistoryFilter()
            ) -> list[dict[str, Any]]:
    """Transactions from or to the account, newest first, matching ``f`` (the access check is
    :meth:`Registry.balance`'s: the account's representatives and the roles that read all)."""
    reg.balance(account_id)
    t = transactions.c
    q = sa.select(transactions).where(sa.or_(t.from_account == account_id,
                                             t.to_account == account_id))
    if f.kind:
        q = q.where(t.kind == f.kind)
    if f.state:
        q = q.where(t.state == f.state)
    if f.date_from is not None:
        q = q.where(t.created_at >= datetime.combine(f.date_from, time.min))
    if f.date_to is not None:
        q = q.where(t.created_at <= datetime.combine(f.date_to, time.max))
    text = f.q.strip()
    if text:
        like = f"%{text.lower()}%"
        searched = (t.kind, t.state, t.proposer, t.approver, t.acceptor, t.unit_type,
                    t.authorisation_id, t.reason)
        conds: list[sa.ColumnElement[bool]] = [sa.func.lower(c).like(like) for c in searched]
        if text.isdigit() and len(text) <= 9:
            conds += [t.id == int(text), t.vintage == int(text), t.quantity == int(text)]
        q = q.where(sa.or_(*conds))
    rows = _rows(reg, q.order_by(t.id.desc()).limit(max(1, min(f.limit, MAX_ROWS))))
    _whole(reg, rows)
    return rows


def _whole(reg: Registry, rows: list[dict[str, Any]]) -> None:
    """Fill a row's unit type, vintage and authorisation from the blocks it moved when the
    row leaves them unset and its blocks agree (as :meth:`Registry.transaction` reads back)."""
    ids = [int(r["id"]) for r in rows if None in (r["unit_type"], r["vintage"],
                                                  r["authorisation_id"])]
    if not ids:
        return
    tb = transaction_blocks.c
    seen: dict[int, list[set[Any]]] = {}
    for tx, *values in _rows_plain(reg, sa.select(tb.tx_id, tb.unit_type, tb.vintage,
                                                  tb.authorisation_id).where(tb.tx_id.in_(ids))):
        sets = seen.setdefault(int(tx), [set(), set(), set()])
        for s_, v in zip(sets, values, strict=True):
            s_.add(v)
    for r in rows:
        for k, s_ in zip(("unit_type", "vintage", "authorisation_id"),
                         seen.get(int(r["id"]), []), strict=False):
            if r[k] is None and len(s_) == 1:
                r[k] = next(iter(s_))


def _rows_plain(reg: Registry, q: Any) -> list[tuple[Any, ...]]:
    with reg.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def history_values(reg: Registry, account_id: int) -> tuple[list[str], list[str]]:
    """The kinds and states the account's transactions have (the filters' choices)."""
    reg.balance(account_id)
    t = transactions.c
    mine = sa.or_(t.from_account == account_id, t.to_account == account_id)
    with reg.engine.connect() as conn:
        kinds = sorted(str(k) for k in conn.execute(sa.select(t.kind).where(mine).distinct())
                       .scalars())
        states = sorted(str(s) for s in conn.execute(sa.select(t.state).where(mine).distinct())
                        .scalars())
    return kinds, states


def awaiting(reg: Registry) -> list[dict[str, Any]]:
    """Transfers waiting for the acting user: proposed (external or internal: every one is
    under four eyes) from an account where they may approve (and did not propose), and
    external ones approved to an account they represent (to accept)."""
    actor = _actor(reg)
    approve = [a for a in actor.reps if actor.represents(a, "approver")]
    accept = list(actor.reps)
    if not accept:
        return []
    t = transactions.c
    rows = _rows(reg, sa.select(transactions).where(sa.or_(
        sa.and_(t.kind.in_(("external_transfer", "internal_transfer")), t.state == "proposed",
                t.from_account.in_(approve or [-1]), t.proposer != actor.username),
        sa.and_(t.kind == "external_transfer", t.state == "approved",
                t.to_account.in_(accept))))
        .order_by(t.id).limit(MAX_ROWS))
    for r in rows:
        r["action"] = "approve" if r["state"] == "proposed" else "accept"
    return rows


def actions_for(actor: Actor | None, tx: dict[str, Any]) -> list[str]:
    """The buttons a transaction row offers the user (the service decides on submission)."""
    if actor is None or actor.token_scope != "write":
        return []
    if tx["kind"] == "internal_transfer":   # four eyes and the delay (Reg. (EU) 2019/1122 Art 35)
        out = []
        if tx["state"] == "proposed" and actor.represents(tx["from_account"], "approver") \
                and tx["proposer"] != actor.username:
            out.append("approve")
        if tx["state"] in ("proposed", "delayed") and tx["from_account"] in actor.reps:
            out.append("cancel")
        return out
    if tx["kind"] != "external_transfer":
        return []
    out = []
    if tx["state"] == "proposed" and actor.represents(tx["from_account"], "approver") \
            and tx["proposer"] != actor.username:
        out.append("approve")
    if tx["state"] == "approved" and tx["to_account"] in actor.reps:
        out.append("accept")
    if tx["state"] in ("proposed", "approved") and (
            tx["from_account"] in actor.reps or tx["to_account"] in actor.reps
            or actor.has("administrator")):
        out.append("reject")
    return out


def authorisation_list(reg: Registry) -> list[dict[str, Any]]:
    """The latest version of every authorisation (the access check is
    :meth:`Registry.pending`'s: administrators, authorising officials, auditors)."""
    reg.pending()
    a = authorisations.c
    latest = (sa.select(a.id, sa.func.max(a.version).label("v")).group_by(a.id).subquery())
    return _rows(reg, sa.select(authorisations).join(
        latest, sa.and_(latest.c.id == a.id, latest.c.v == a.version))
        .order_by(a.party, a.id).limit(MAX_ROWS))


def registry_ids(reg: Registry) -> list[dict[str, Any]]:
    """Registries with their Party (for the forms of officials and administrators)."""
    reg.pending()
    return _rows(reg, sa.select(registries.c.id, registries.c.party).order_by(registries.c.id))

