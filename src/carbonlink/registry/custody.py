"""Custody checks of ``verify``: who may act, replayed from the journal and compared with the
tables, so a representative, a role or an approval changed by SQL is found.

7. representatives: replaying ``account.open``, ``representative.add`` and
   ``representative.remove`` gives exactly the ``representatives`` table (users and roles);
8. roles: replaying ``user.create``, ``user.grant`` and ``user.revoke`` gives exactly
   ``user_roles``;
9. transactions: every transaction has its journal entry; an approved or completed external
   transfer, and an approved internal one, names an approver who is not its proposer (four
   eyes); trusted-account lists are exactly the journalled ones (entries and the time each is
   in force from), and so are the proposed and approved changes of them, each approved by
   someone other than its proposer. (``account.four_eyes`` entries
   of journals written before revision 0009, when four eyes was opt-in per account, are
   history: every internal transfer is now under four eyes, and its approval is checked.)
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry.db import (
    journal,
    representatives,
    transactions,
    trusted_accounts,
    trusted_changes,
    user_roles,
    users,
)


def _reps_entry(value: object) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for x in value if isinstance(value, list) else []:
        if isinstance(x, list) and len(x) == 2:
            out.append((str(x[0]), str(x[1])))
        else:                                       # before revision 0005: names only
            out.append((str(x), "initiator_approver"))
    return out


def verify_custody(conn: Connection) -> list[str]:
    problems: list[str] = []
    reps: dict[tuple[int, str], str] = {}
    roles: set[tuple[str, str, str]] = set()
    logged: set[int] = set()
    trusted: set[tuple[int, int]] = set()
    since: dict[tuple[int, int], str | None] = {}
    changes: dict[int, dict[str, object]] = {}
    for kind, tx_id, payload in conn.execute(sa.select(
            journal.c.kind, journal.c.tx_id, journal.c.payload).order_by(journal.c.seq)):
        if tx_id is not None:
            logged.add(int(tx_id))
        if not (kind.startswith(("account.", "representative.", "user.", "trusted."))):
            continue
        try:
            p = json.loads(payload)
        except ValueError:
            continue                                  # the chain check names the entry
        if kind in ("account.open", "representative.add"):
            for name, role in _reps_entry(p.get("representatives")):
                reps[(int(p["account"]), name)] = role
        elif kind == "trusted.add":
            pair = (int(p["account"]), int(p["trusted"]))
            trusted.add(pair)
            since[pair] = str(p["effective"]) if "effective" in p else None
            if "change" in p:
                changes.setdefault(int(p["change"]), {}).update(
                    state="approved", approver=p.get("approved_by"))
        elif kind == "trusted.remove":
            trusted.discard((int(p["account"]), int(p["trusted"])))
            if "change" in p:
                changes.setdefault(int(p["change"]), {}).update(
                    state="approved", approver=p.get("approved_by"))
        elif kind == "trusted.rejected":
            changes.setdefault(int(p["change"]), {}).update(state="rejected",
                                                            approver=p.get("by"))
        elif kind == "trusted.proposed":
            changes.setdefault(int(p["change"]), {}).update(
                account=int(p["account"]), trusted=int(p["trusted"]), action=str(p["action"]),
                proposer=p.get("by"), state="proposed", approver=None)
        elif kind == "representative.remove":
            reps.pop((int(p["account"]), str(p["user"])), None)
        elif kind == "user.create":
            roles |= {(str(p["user"]), str(r), str(s)) for r, s in p.get("roles", [])}
        elif kind == "user.grant":
            roles.add((str(p["user"]), str(p["role"]), str(p["scope"])))
        elif kind == "user.revoke":
            roles.discard((str(p["user"]), str(p["role"]), str(p["scope"])))
    table = {(int(a), str(n)): str(r) for a, n, r in conn.execute(sa.select(
        representatives.c.account_id, representatives.c.name, representatives.c.role))}
    for (acc, name), role in sorted(table.items()):
        if (acc, name) not in reps:
            problems.append(f"representatives: {name!r} represents account {acc} without a "
                            "journal entry")
        elif reps[(acc, name)] != role:
            problems.append(f"representatives: {name!r} of account {acc} is {role} in the "
                            f"table, {reps[(acc, name)]} in the journal")
    for (acc, name) in sorted(set(reps) - set(table)):
        problems.append(f"representatives: {name!r} of account {acc} is journalled but missing")
    granted = {(str(u), str(r), str(s)) for u, r, s in conn.execute(
        sa.select(users.c.username, user_roles.c.role, user_roles.c.scope)
        .join(users, users.c.id == user_roles.c.user_id))}
    for u, r, s in sorted(granted - roles):
        problems.append(f"roles: {u!r} holds {r} for {s} without a journal entry")
    for u, r, s in sorted(roles - granted):
        problems.append(f"roles: {u!r} was granted {r} for {s} (journal) but does not hold it")
    table_trusted = {(int(a), int(b)) for a, b in conn.execute(sa.select(
        trusted_accounts.c.account_id, trusted_accounts.c.trusted_id))}
    for a, b in sorted(table_trusted - trusted):
        problems.append(f"trusted accounts: {b} is on the trusted list of account {a} without "
                        "a journal entry")
    for a, b in sorted(trusted - table_trusted):
        problems.append(f"trusted accounts: {b} was put on the trusted list of account {a} "
                        "(journal) but is missing")
    for a, b, added in conn.execute(sa.select(trusted_accounts.c.account_id,
                                              trusted_accounts.c.trusted_id,
                                              trusted_accounts.c.added_at)):
        want = since.get((int(a), int(b)))
        if want is not None and added.isoformat() != want:
            problems.append(f"trusted accounts: {b} is trusted by account {a} from {added} in "
                            f"the table, from {want} in the journal")
    for ch in conn.execute(sa.select(trusted_changes).order_by(trusted_changes.c.id)):
        j = changes.get(int(ch.id))
        row = {"account": int(ch.account_id), "trusted": int(ch.trusted_id), "action": ch.action,
               "proposer": ch.proposer, "state": ch.state, "approver": ch.approver}
        if j is None:
            problems.append(f"trusted-list change {ch.id} has no journal entry")
        elif any(j.get(k) != v for k, v in row.items()):
            problems.append(f"trusted-list change {ch.id}: {row} in the table, {j} in the "
                            "journal")
        if ch.state == "approved" and ch.approver is not None and ch.approver == ch.proposer:
            problems.append(f"trusted-list change {ch.id}: approved by {ch.approver!r}, its "
                            "proposer (four eyes need two people)")
    for cid in sorted(set(changes) - {int(i) for (i,) in conn.execute(
            sa.select(trusted_changes.c.id))}):
        problems.append(f"trusted-list change {cid} is journalled but missing")
    for t in conn.execute(sa.select(transactions.c.id, transactions.c.kind,
                                    transactions.c.state, transactions.c.proposer,
                                    transactions.c.approver).order_by(transactions.c.id)):
        if int(t.id) not in logged:
            problems.append(f"transaction {t.id} ({t.kind}) has no journal entry")
        four_eyes = (t.kind == "external_transfer" and t.state in ("approved", "completed")) \
            or (t.kind == "internal_transfer" and (t.state == "delayed" or t.approver is not None))
        if four_eyes and (t.approver is None or t.approver == t.proposer):
            problems.append(f"transaction {t.id}: approved by {t.approver!r}, its proposer "
                            f"{t.proposer!r} (four eyes need two people)")
    return problems
