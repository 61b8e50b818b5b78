"""Hash-chained journal: every state change appends one entry in the same database transaction.

``hash = sha256(prev_hash | seq | at | kind | tx_id | payload)`` where ``payload`` is canonical
JSON (sorted keys, no spaces). The head row (``journal_head``, id 1) is locked ``FOR UPDATE``
while appending, so entries form a single chain even with concurrent writers.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from carbonlink.registry import rawsql as raw
from carbonlink.registry.db import journal, journal_head

GENESIS = "0" * 64
#: who the entries being appended are written for (set by the access check,
#: :mod:`carbonlink.registry.guard`): ``{"by": user}`` plus ``"approved_by"`` for four-eyes
ACTOR: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "carbonlink_actor", default=None)
#: set while an administrator loads history (replay mode): entries say ``"replayed": true``
REPLAYED: contextvars.ContextVar[bool] = contextvars.ContextVar("carbonlink_replayed",
                                                                default=False)


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, seq: int, at: datetime, kind: str, tx_id: int | None,
               payload: str) -> str:
    text = f"{prev_hash}|{seq}|{at.isoformat()}|{kind}|{tx_id if tx_id is not None else ''}|"
    return hashlib.sha256((text + payload).encode()).hexdigest()


def append(conn: sa.Connection, at: datetime, kind: str, tx_id: int | None,
           payload: dict[str, Any]) -> str:
    """Append one entry (caller holds the DB transaction); returns its hash."""
    head = raw.run(conn, "SELECT seq, hash FROM journal_head WHERE id = 1{fu}").first()
    prev_seq, prev_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    seq = prev_seq + 1
    if head is not None:     # the journal is monotone: never earlier than its predecessor
        prev_at = raw.run(conn, "SELECT at FROM journal WHERE seq = %s", (prev_seq,)).scalar()
        if isinstance(prev_at, str):
            prev_at = datetime.fromisoformat(prev_at)
        if prev_at is not None and at < prev_at:
            if REPLAYED.get():
                from carbonlink.registry.checks import fail
                fail("R1006", "at", f"{at.isoformat()} is before the journal's last entry "
                     f"({prev_at.isoformat()}): history is replayed in order")
            at = prev_at      # the server's clock stepped back: keep the journal monotone
    if REPLAYED.get() and "replayed" not in payload:
        payload = {**payload, "replayed": True}
    who = ACTOR.get()
    # entries of a transaction name their people in its row (proposer, approver, acceptor)
    if who is not None and tx_id is None and "actor" not in payload:
        payload = {**payload, "actor": who}
    body = canonical(payload)
    h = entry_hash(prev_hash, seq, at, kind, tx_id, body)
    raw.run(conn, "INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (seq, raw.ts(conn, at), kind, tx_id, body, prev_hash, h))
    if head is None:
        raw.run(conn, "INSERT INTO journal_head (id, seq, hash) VALUES (1, %s, %s)", (seq, h))
    else:
        raw.run(conn, "UPDATE journal_head SET seq = %s, hash = %s WHERE id = 1", (seq, h))
    return h


def verify_chain(conn: sa.Connection) -> list[str]:
    """Recompute every hash; return one message per divergence (empty when intact)."""
    problems: list[str] = []
    prev_hash, expected_seq = GENESIS, 1
    rows = conn.execute(sa.select(journal).order_by(journal.c.seq))
    for r in rows:
        if r.seq != expected_seq:
            problems.append(f"journal: entry {expected_seq} missing (next is {r.seq})")
        if r.prev_hash != prev_hash:
            problems.append(f"journal: entry {r.seq} does not point at the previous hash")
        h = entry_hash(r.prev_hash, r.seq, r.at, r.kind, r.tx_id, r.payload)
        if h != r.hash:
            problems.append(f"journal: entry {r.seq} ({r.kind}) hash mismatch: content altered")
        prev_hash, expected_seq = r.hash, r.seq + 1
    head = conn.execute(sa.select(journal_head).where(journal_head.c.id == 1)).one_or_none()
    last = expected_seq - 1
    if head is not None and (head.seq != last or head.hash != prev_hash):
        problems.append(f"journal: head says entry {head.seq} but the chain ends at {last}")
    if head is None and last:
        problems.append("journal: head row missing")
    return problems


def against_checkpoint(conn: sa.Connection, checkpoint: dict[str, Any]) -> list[str]:
    """Does the journal still hold the checkpoint's entry, with its hash? (A chain truncated
    below it, or rewritten up to it with recomputed hashes, does not.)"""
    try:
        seq, want = int(checkpoint["seq"]), str(checkpoint["hash"])
    except (KeyError, TypeError, ValueError):
        return ["checkpoint: not a checkpoint (needs seq and hash)"]
    if seq == 0:
        return []
    r = conn.execute(sa.select(journal.c.hash).where(journal.c.seq == seq)).first()
    if r is None:
        return [f"journal: entry {seq} of the checkpoint is missing: the journal was truncated"]
    if str(r.hash) != want:
        return [f"journal: entry {seq} differs from the checkpoint: history was rewritten"]
    return []
