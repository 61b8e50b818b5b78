"""SQLite's internal transfer on the driver: the proposal and the approval of
:class:`~carbonlink.registry.transfers.Transfers`, each one database transaction (``BEGIN
IMMEDIATE`` … ``COMMIT``) sent straight to ``sqlite3`` — the counterpart of PostgreSQL's one
statement per step (migrations 0011, 0012, 0014).

Why: through SQLAlchemy a complete internal transfer (proposal and approval) ran ~35 statements,
each costing more to build, compile and wrap than SQLite takes to execute it; the benchmark's
goal of 1,000 complete transfers a second (issue 4) was missed by five times. Here each step
sends the fewest statements that write the same rows: the proposal reads both accounts (with
the representatives' counts) and the holdings, then writes the transaction row, the escrow, the
transaction's blocks and its journal entry; the approval reads the transaction, the accounts
and the trusted list only when it matters, then moves the blocks, updates the row and writes
both journal entries, signed like every entry.

The checks, their order and their codes, paths and details are those of the general path
(``Transfers.transfer`` and ``Transfers._approve_internal``); ``tests/registry/test_fastpath.py``
runs the same cases through both on SQLite (and through PostgreSQL's statements). What this
path does not handle it leaves, having written nothing, to the general path: a transfer to
another registry and one of authorised units (``None``).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from carbonlink.registry import journal as jr
from carbonlink.registry import rawsql as raw
from carbonlink.registry.checks import fail
from carbonlink.registry.common import ACCOUNT_UNITS, Receipt

if TYPE_CHECKING:
    from carbonlink.registry.transfers import Transfers

_TYPES: dict[tuple[str, ...], Any] = {}


class Denied(Exception):
    """The approval's deferred access check refused (``guard.DEFERRED``): nothing was written;
    the caller journals and raises the refusal after the transaction ended."""

    def __init__(self, account: int | None) -> None:
        super().__init__(account)
        self.account = account


def _rows(cur: Any, text: str, params: Sequence[Any] = ()) -> list[Any]:
    """Rows with attribute access by column name (like SQLAlchemy's ``Row``)."""
    cur.execute(text, params)
    names = tuple(d[0] for d in cur.description)
    cls = _TYPES.get(names)
    if cls is None:
        cls = _TYPES[names] = namedtuple("LiteRow", names)
    return [cls(*r) for r in cur.fetchall()]


def _dt(value: Any) -> datetime | None:
    """A stored ``DateTime`` (SQLAlchemy's SQLite text form) as the general path reads it."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


_LOCK_TWO = raw.for_sqlite(raw.lock_query([1, 2])[0])
_LOCK_ONE = raw.for_sqlite(raw.lock_query([1])[0])
_TX = ("SELECT kind, from_account, to_account, state, quantity, proposer, expires_at "
       "FROM transactions WHERE id = ?")
_HEAD = ("SELECT h.seq, h.hash, j.at FROM journal_head h LEFT JOIN journal j ON j.seq = h.seq "
         "WHERE h.id = 1")
_INSERT_TX = ("INSERT INTO transactions (kind, state, quantity, from_account, to_account, "
              "unit_type, vintage, proposer, expires_at, created_at, updated_at) "
              "VALUES ('internal_transfer', 'proposed', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
_ESCROW = "UPDATE blocks SET status = 'pending_export', pending_tx = ? WHERE id = ?"
_SHRINK = "UPDATE blocks SET serial_start = ? WHERE id = ?"
_INSERT_ESCROWED = ("INSERT INTO blocks (issuing_registry, unit_type, vintage, serial_start, "
                    "serial_end, account_id, status, authorisation_id, first_transferred, "
                    "pending_tx) VALUES (?, ?, ?, ?, ?, ?, 'pending_export', ?, ?, ?)")
_TX_BLOCKS = ("INSERT INTO transaction_blocks (tx_id, seq, issuing_registry, unit_type, vintage, "
              "serial_start, serial_end, authorisation_id, first_transfer) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)")
_TRUSTED = ("SELECT 1 FROM trusted_accounts WHERE account_id = ? AND trusted_id = ? "
            "AND added_at <= ?")
_RELEASE = ("UPDATE blocks SET account_id = ?, status = 'held', pending_tx = NULL "
            "WHERE pending_tx = ?")
_COMPLETED = ("UPDATE transactions SET state = 'completed', approver = ?, updated_at = ? "
              "WHERE id = ?")
_DELAYED = ("UPDATE transactions SET state = 'delayed', approver = ?, updated_at = ?, "
            "completes_at = ? WHERE id = ?")


def _lock(cur: Any, ids: Sequence[int], who: str | None) -> dict[int, Any]:
    text, params = raw.lock_query(ids, who)
    return {int(r.id): r for r in _rows(cur, _LOCK_TWO if len(params) == 3 else _LOCK_ONE,
                                        params)}


def append(reg: Transfers, cur: Any, at: datetime,
           entries: Iterable[tuple[str, int, dict[str, Any]]]) -> None:
    """:func:`carbonlink.registry.journal.append` for entries of a transaction (so without an
    actor; never in replay mode), the head read once: the same seq, time, payload, hash and
    signature."""
    head = _rows(cur, _HEAD)
    if head:
        seq, prev, prev_at = int(head[0].seq), str(head[0].hash), _dt(head[0].at)
        if prev_at is not None and at < prev_at:
            at = prev_at       # the server's clock stepped back: keep the journal monotone
    else:
        seq, prev = 0, jr.GENESIS
    key = reg.journal_key
    stamp = raw.ts_text(at)
    journal, signatures = [], []
    for kind, tx_id, payload in entries:
        seq += 1
        body = jr.canonical(payload)
        h = jr.entry_hash(prev, seq, at, kind, tx_id, body)
        journal.append((seq, stamp, kind, tx_id, body, prev, h))
        sig = None if key is None else key.sign(h)
        if sig is not None:
            signatures.append((seq, sig))
        prev = h
    cur.executemany("INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", journal)
    if signatures:
        cur.executemany("INSERT INTO journal_signatures (seq, signature) VALUES (?, ?)",
                        signatures)
    if head:
        cur.execute("UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    else:
        cur.execute("INSERT INTO journal_head (id, seq, hash) VALUES (1, ?, ?)", (seq, prev))


def propose(reg: Transfers, cur: Any, from_account: int, to_account: int, quantity: int,
            unit_type: str | None, vintage: int | None, authorisation: str | None,
            by: str | None, when: datetime) -> Receipt | None:
    """The proposal of an internal transfer (``Transfers.transfer`` inside one registry):
    units held in escrow (*pending export*) until a second representative approves."""
    accs = _lock(cur, [from_account, to_account], by)
    src, dst = reg._check_transfer_accounts(accs, from_account, to_account, by)
    if src.registry_id != dst.registry_id:
        return None                       # an external transfer: the general path
    # the holdings, lowest serials first (Ledger._take), read until enough
    text, params = raw.held_query(from_account, unit_type, vintage, authorisation, -1, 0)
    held = cur.connection.execute(raw.for_sqlite(text), params)
    take: list[tuple[Any, ...]] = []      # block row, first serial, last serial
    need = quantity
    try:
        for b in held:
            # id, issuing_registry, unit_type, vintage, serial_start, serial_end, account_id,
            # status, authorisation_id, first_transferred, pending_tx (rawsql.BLOCK_COLS)
            size = b[5] - b[4] + 1
            if size <= need:
                take.append((b, b[4], b[5]))
                need -= size
            else:
                take.append((b, b[4], b[4] + need - 1))
                need = 0
            if need == 0:
                break
    finally:
        held.close()
    if need > 0:
        fail("H3001", "quantity", f"account {from_account} holds {quantity - need} matching "
             f"units, {quantity} requested")
    units = ACCOUNT_UNITS[dst.type]
    for b, _, _ in take:
        if b[2] not in units:
            fail("A2003", "to_account", f"{dst.type} accounts cannot hold {b[2]}")
    if any(b[8] is not None for b, _, _ in take):
        return None                       # authorised units: the general path checks entities
    # the row names the unit type and vintage its blocks share (Ledger._record_pieces)
    uts, vins = {b[2] for b, _, _ in take}, {b[3] for b, _, _ in take}
    t_ut = next(iter(uts)) if len(uts) == 1 else unit_type
    t_vin = next(iter(vins)) if len(vins) == 1 else vintage
    stamp = raw.ts_text(when)
    cur.execute(_INSERT_TX, (quantity, from_account, to_account, t_ut, t_vin, by,
                             raw.ts_text(when + reg.proposal_ttl), stamp, stamp))
    tx_id = int(cur.fetchone()[0])
    whole: list[tuple[int, int]] = []
    for b, s, e in take:
        if e == b[5]:
            whole.append((tx_id, b[0]))
        else:     # split (Ledger._split): shrink first, then insert, so no overlap ever exists
            cur.execute(_SHRINK, (e + 1, b[0]))
            cur.execute(_INSERT_ESCROWED, (b[1], b[2], b[3], s, e, b[6], b[8], b[9], tx_id))
    if whole:
        cur.executemany(_ESCROW, whole)
    pieces = [[b[1], b[2], int(b[3]), int(s), int(e)] for b, s, e in take]
    cur.executemany(_TX_BLOCKS, [(tx_id, i, *p, None) for i, p in enumerate(pieces)])
    append(reg, cur, when, [("internal_transfer.proposed", tx_id, {
        "from": from_account, "to": to_account, "quantity": quantity, "blocks": pieces,
        "by": by})])
    return Receipt(tx_id, "internal_transfer", "proposed", quantity,
                   blocks=[tuple(p) for p in pieces])


def approve(reg: Transfers, cur: Any, tx_id: int, by: str | None, when: datetime,
            allowed: tuple[int, ...] | None) -> Receipt | None:
    """The second representative's approval (``Transfers._approve_internal``): to a trusted
    account, or in a registry without a delay, the transfer completes now; to any other it is
    ``delayed`` until ``Transfers._untrusted_due``. ``allowed``: the access check deferred to
    here — the accounts the actor represents as an approver (:class:`Denied` otherwise)."""
    # one read: SQLite holds the write lock from BEGIN IMMEDIATE, so the row read before the
    # accounts are "locked" is the row after (PostgreSQL reads it again under the locks)
    cur.execute(_TX, (tx_id,))
    tx = cur.fetchone()
    if allowed is not None and (tx is None or tx[1] is None or tx[1] not in allowed):
        raise Denied(None if tx is None else tx[1])
    if tx is None or tx[0] != "internal_transfer":
        return None                       # not an internal transfer: the general path
    _, src, dst, state, qty, proposer, expires = tx
    accs = _lock(cur, [src, dst], by)
    if state != "proposed":
        fail("R1002", "tx", f"transfer {tx_id} is {state}; expected proposed")
    expires_at = _dt(expires)
    if expires_at is not None and when >= expires_at:
        fail("R1003", "tx", f"transfer {tx_id} expired at {expires_at}")
    if by == proposer:
        fail("A2006", "by", f"{by!r} proposed transfer {tx_id}; a second representative "
             "must approve")
    s = accs.get(src)
    if s is not None and s.n_reps and not s.is_rep:
        fail("A2005", "by", f"{by!r} is not a representative of account {src}")
    d = accs.get(dst)
    if d is None or d.status != "open":      # Transfers._check_still_open
        fail("A2002", "to_account", f"account {dst} is {None if d is None else d.status}")
    due = reg._untrusted_due(when)
    trusted = due is None
    if not trusted:   # the holder's own accounts (Art 23(2)), else the trusted list in force
        trusted = (s is not None and d is not None and s.holder_id is not None
                   and s.holder_id == d.holder_id)
        if not trusted:
            cur.execute(_TRUSTED, (src, dst, raw.ts_text(when)))
            trusted = cur.fetchone() is not None
    stamp = raw.ts_text(when)
    if trusted:
        cur.execute(_RELEASE, (dst, tx_id))
        cur.execute(_COMPLETED, (by, stamp, tx_id))
        append(reg, cur, when, [
            ("internal_transfer.approved", tx_id, {"by": by, "completes_at": None}),
            ("internal_transfer.completed", tx_id, {})])
        return Receipt(tx_id, "internal_transfer", "completed", int(qty))
    assert due is not None
    cur.execute(_DELAYED, (by, stamp, raw.ts_text(due), tx_id))
    append(reg, cur, when, [("internal_transfer.approved", tx_id,
                             {"by": by, "completes_at": due.isoformat()})])
    return Receipt(tx_id, "internal_transfer", "delayed", int(qty))
