"""``verify`` replays the transaction history from the journal and compares it with the tables
(issue 11, build point 4): a block's owner or status changed by SQL (within or across Parties),
a transaction row edited (its kind, accounts, quantity, state, proposer, approver or acceptor),
a transaction forged with or without a journal entry of its own, are all found here even when
every other invariant still adds up.

The journal is the record: each transaction's first entry names its accounts, quantity and serial
blocks (``issuance``, ``internal_transfer``, ``external_transfer.proposed``, the surrender, use,
cancellation and retirement kinds), the later entries its state changes and the people who made
them (``external_transfer.approved`` / ``.completed`` / ``.rejected`` / ``.expired``, and
``internal_transfer.proposed`` / ``.approved`` / ``.completed`` / ``.cancelled`` of an
account under four eyes). Replaying
them in order gives, per serial number, the account holding it and its status; merged into
maximal runs, that must equal the ``blocks`` table merged the same way (splitting and
:meth:`~carbonlink.registry.service.Registry.compact` change rows, never owners).
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry.db import blocks, journal, transaction_blocks, transactions

#: journal kind of a terminal transaction → the status its units take (see common.TERMINAL)
TERMINAL_STATUS = {"surrender": "surrendered", "use": "used", "oimp_cancellation": "cancelled",
                   "voluntary_cancellation": "cancelled", "omge_cancellation": "cancelled",
                   "retirement": "retired"}
OPENING = {"issuance", "internal_transfer", "internal_transfer.proposed",
           "external_transfer.proposed", *TERMINAL_STATUS}
#: at most this many messages per kind of divergence (the first ones name the cause)
LIMIT = 20

Series = tuple[str, str, int]
Owner = tuple[int, str]        # (account, status)


class Holdings:
    """Who holds each serial number: per series, disjoint runs ``[start, end] → owner``."""

    def __init__(self) -> None:
        self.starts: dict[Series, list[int]] = defaultdict(list)
        self.runs: dict[Series, list[tuple[int, int, Owner]]] = defaultdict(list)

    def assign(self, series: Series, s: int, e: int, owner: Owner) -> None:
        starts, runs = self.starts[series], self.runs[series]
        i = bisect.bisect_right(starts, s) - 1
        if i < 0 or runs[i][1] < s:
            i += 1
        j = i
        keep: list[tuple[int, int, Owner]] = []
        while j < len(runs) and runs[j][0] <= e:
            rs, re_, ro = runs[j]
            if rs < s:
                keep.append((rs, s - 1, ro))
            if re_ > e:
                keep.append((e + 1, re_, ro))
            j += 1
        new = sorted([*keep, (s, e, owner)])
        runs[i:j] = new
        starts[i:j] = [r[0] for r in new]

    def merged(self) -> dict[Series, list[tuple[int, int, Owner]]]:
        return {k: _merge(v) for k, v in self.runs.items()}


def _merge(runs: list[tuple[int, int, Owner]]) -> list[tuple[int, int, Owner]]:
    out: list[tuple[int, int, Owner]] = []
    for s, e, o in sorted(runs):
        if out and out[-1][2] == o and out[-1][1] + 1 == s:
            out[-1] = (out[-1][0], e, o)
        else:
            out.append((s, e, o))
    return out


def _diff(series: Series, want: list[tuple[int, int, Owner]],
          have: list[tuple[int, int, Owner]]) -> str | None:
    """The first serial range where the journal and the table disagree, described."""
    if want == have:
        return None
    name = f"{series[0]}-{series[1]}-{series[2]}"
    for a, b in zip(want, have, strict=False):
        if a != b:
            lo = min(a[0], b[0])
            return (f"blocks: {name} from serial {lo}: the journal gives account {a[2][0]} "
                    f"({a[2][1]}) for [{a[0]}, {a[1]}], the table account {b[2][0]} "
                    f"({b[2][1]}) for [{b[0]}, {b[1]}]")
    if len(want) > len(have):
        a = want[len(have)]
        return (f"blocks: {name} [{a[0]}, {a[1]}] held by account {a[2][0]} ({a[2][1]}) in "
                "the journal is missing from the table")
    b = have[len(want)]
    return (f"blocks: {name} [{b[0]}, {b[1]}] of account {b[2][0]} ({b[2][1]}) has no "
            "journal entry")


def _series(x: list[Any]) -> tuple[Series, int, int]:
    return (str(x[0]), str(x[1]), int(x[2])), int(x[3]), int(x[4])


def replay(conn: Connection) -> list[str]:
    problems: list[str] = []
    rows = {int(t.id): t for t in conn.execute(sa.select(transactions))}
    held = Holdings()
    opened: dict[int, dict[str, Any]] = {}      # tx → its opening entry (kind + payload)
    state: dict[int, str] = {}
    people: dict[int, dict[str, str | None]] = defaultdict(dict)
    for kind, tx_id, payload in conn.execute(sa.select(
            journal.c.kind, journal.c.tx_id, journal.c.payload).order_by(journal.c.seq)):
        if tx_id is None:
            continue
        tx = int(tx_id)
        try:
            p = json.loads(payload)
        except ValueError:
            continue                               # the chain check names the entry
        if kind in OPENING:
            if tx in opened:
                problems.append(f"transaction {tx}: opened twice in the journal")
                continue
            opened[tx] = {"kind": kind, **p}
            row = rows.get(tx)
            if kind == "issuance":
                owner: Owner = (int(p["account"]), "held")
                state[tx] = "completed"
            elif kind == "internal_transfer":
                owner = (int(p["to"]), "held")
                state[tx] = "completed"
            elif kind in ("external_transfer.proposed", "internal_transfer.proposed"):
                owner = (int(p["from"]), "pending_export")
                state[tx] = "proposed"
                people[tx]["proposer"] = p.get("by")
            else:          # the terminal account is the row's (its payload names the source)
                if row is None or row.to_account is None:
                    continue                       # reported below: no row for the entry
                owner = (int(row.to_account), TERMINAL_STATUS[kind])
                state[tx] = "completed"
            for b in p.get("blocks", []):
                series, s, e = _series(b)
                held.assign(series, s, e, owner)
        elif kind.startswith(("external_transfer.", "internal_transfer.")) and tx in opened:
            step = kind.split(".", 1)[1]
            o = opened[tx]
            if step == "approved":     # an internal one waits out its delay, or completes next
                people[tx]["approver"] = p.get("by")
                state[tx] = "delayed" if p.get("completes_at") else "approved"
                continue
            if step == "completed":
                people[tx]["acceptor"] = p.get("by")
                owner = (int(o["to"]), "held")
            else:                                  # rejected, expired: the escrow goes back
                owner = (int(o["from"]), "held")
            state[tx] = step
            for b in o.get("blocks", []):
                series, s, e = _series(b)
                held.assign(series, s, e, owner)

    # blocks: owners and statuses
    table: dict[Series, list[tuple[int, int, Owner]]] = defaultdict(list)
    for b in conn.execute(sa.select(blocks.c.issuing_registry, blocks.c.unit_type,
                                    blocks.c.vintage, blocks.c.serial_start, blocks.c.serial_end,
                                    blocks.c.account_id, blocks.c.status)):
        table[(str(b[0]), str(b[1]), int(b[2]))].append(
            (int(b[3]), int(b[4]), (int(b[5]), str(b[6]))))
    want = held.merged()
    found = [d for k in sorted(set(want) | set(table))
             if (d := _diff(k, want.get(k, []), _merge(table.get(k, [])))) is not None]
    problems += found[:LIMIT]

    # transactions: the row says what its journal entries say
    moved: dict[int, list[list[Any]]] = defaultdict(list)
    for r in conn.execute(sa.select(
            transaction_blocks.c.tx_id, transaction_blocks.c.issuing_registry,
            transaction_blocks.c.unit_type, transaction_blocks.c.vintage,
            transaction_blocks.c.serial_start, transaction_blocks.c.serial_end)
            .order_by(transaction_blocks.c.tx_id, transaction_blocks.c.seq)):
        moved[int(r[0])].append([str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5])])
    out: list[str] = []
    for tx, t in sorted(rows.items()):
        if (op := opened.get(tx)) is None:
            continue                 # custody: "has no journal entry" (or only later entries)
        k = op["kind"]
        want_kind = k.split(".", 1)[0] if k.endswith(".proposed") else k
        if k == "issuance":
            frm, to = None, op.get("account")
        elif k in TERMINAL_STATUS:
            frm, to = op.get("account"), t.to_account
        else:
            frm, to = op.get("from"), op.get("to")
        said = {"kind": want_kind, "from_account": frm, "to_account": to,
                "quantity": op.get("quantity"), "state": state.get(tx),
                **people.get(tx, {})}
        for field, v in said.items():
            have = getattr(t, field)
            if v is not None and (str(have) if have is not None else None) != str(v):
                out.append(f"transaction {tx}: {field} is {have!r} in the table but "
                           f"{v!r} in the journal")
        if sorted(map(tuple, moved.get(tx, []))) != sorted(map(tuple, op.get("blocks", []))):
            out.append(f"transaction {tx}: its serial blocks differ from its journal entry")
    return problems + out[:LIMIT]
