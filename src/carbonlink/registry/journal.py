"""Hash-chained journal: every state change appends one entry in the same database transaction.

``hash = sha256(prev_hash | seq | at | kind | tx_id | payload)`` where ``payload`` is canonical
JSON (sorted keys, no spaces). Each entry's hash is signed (Ed25519) by a key file kept outside
the database (``journal_signatures``), so a chain rewritten with recomputed hashes by someone
without the key fails :func:`verify_signatures`. The head row (``journal_head``, id 1) is locked ``FOR UPDATE``
while appending, so entries form a single chain even with concurrent writers.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from carbonlink.registry import rawsql as raw
from carbonlink.registry.db import journal, journal_head, journal_signatures

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
    sign_entry(conn, seq, h)
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


# ---------------------------------------------------------------- signatures (revision 0007)
class JournalKey:
    """The Ed25519 key signing journal entries: a PEM file outside the database (path from
    ``CARBONLINK_JOURNAL_KEY``). Loaded on first use; the private key never leaves this
    object (its ``repr`` names the path only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._private: Any = None      # Ed25519PrivateKey once loaded

    def __repr__(self) -> str:
        return f"JournalKey({str(self.path)!r})"

    def create(self) -> bool:
        """Create the key file (mode 0600) if absent; True when created."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        if self.path.exists():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return True

    def private(self) -> Any:
        """The private key (``Ed25519PrivateKey``), or None when the file does not exist."""
        if self._private is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                return None
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{self.path} is not an Ed25519 private key")
            self._private = key
        return self._private

    def public_hex(self) -> str | None:
        from cryptography.hazmat.primitives import serialization
        k = self.private()
        if k is None:
            return None
        return k.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw).hex()

    def sign(self, message: str) -> str | None:
        k = self.private()
        return None if k is None else str(k.sign(message.encode()).hex())


#: the key of each open registry's engine (set by :class:`~carbonlink.registry.Registry`)
KEYS: weakref.WeakKeyDictionary[Engine, JournalKey] = weakref.WeakKeyDictionary()


def key_of(conn: sa.Connection) -> JournalKey | None:
    return KEYS.get(conn.engine)


def sign_entry(conn: sa.Connection, seq: int, h: str) -> None:
    """Store the signature of entry ``seq`` (hash ``h``) when this registry has a key."""
    k = key_of(conn)
    sig = None if k is None else k.sign(h)
    if sig is not None:
        raw.run(conn, "INSERT INTO journal_signatures (seq, signature) VALUES (%s, %s)",
                (seq, sig))


def sign_head(conn: sa.Connection) -> None:
    """Sign the entry the head points at (after a statement that appended it in SQL)."""
    if key_of(conn) is None:
        return
    head = raw.run(conn, "SELECT seq, hash FROM journal_head WHERE id = 1").first()
    if head is not None:
        sign_entry(conn, int(head[0]), str(head[1]))


def _valid(public_hex: str, signature_hex: str, message: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_signatures(conn: sa.Connection, public_hex: str | None) -> list[str]:
    """Every entry from the first signed one on carries a valid signature of its hash by
    ``public_hex`` (the key file's public key). Entries before the first signature were
    written before signing was enabled: they are unsigned, not tampered (the hash chain and a
    checkpoint still cover them)."""
    sigs = {int(s): str(g) for s, g in conn.execute(
        sa.select(journal_signatures.c.seq, journal_signatures.c.signature))}
    if not sigs:
        return []
    if public_hex is None:
        return ["journal: entries are signed but the journal key file is not available "
                "(CARBONLINK_JOURNAL_KEY): signatures cannot be checked"]
    problems: list[str] = []
    first = min(sigs)
    seqs: set[int] = set()
    for seq, kind, h in conn.execute(sa.select(journal.c.seq, journal.c.kind, journal.c.hash)
                                     .order_by(journal.c.seq)):
        seqs.add(int(seq))
        if seq < first:
            continue
        sig = sigs.get(int(seq))
        if sig is None:
            problems.append(f"journal: entry {seq} ({kind}) is not signed (signing began at "
                            f"entry {first})")
        elif not _valid(public_hex, sig, str(h)):
            problems.append(f"journal: entry {seq} ({kind}) signature invalid: written or "
                            "rewritten without the journal key")
    for seq in sorted(set(sigs) - seqs):
        problems.append(f"journal: a signature for entry {seq} has no entry (deleted)")
    return problems


def unsigned_before(conn: sa.Connection) -> int:
    """How many entries precede the first signature (all of them when nothing is signed)."""
    first = conn.execute(sa.select(sa.func.min(journal_signatures.c.seq))).scalar()
    q = sa.select(sa.func.count()).select_from(journal)
    if first is not None:
        q = q.where(journal.c.seq < first)
    return int(conn.execute(q).scalar() or 0)


def checkpoint_message(cp: dict[str, Any]) -> str:
    return canonical({k: cp.get(k) for k in ("seq", "hash", "at")})


def sign_checkpoint(key: JournalKey | None, cp: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint with ``public_key`` and ``signature`` (over seq, hash and at) added
    when a key is available."""
    sig = None if key is None else key.sign(checkpoint_message(cp))
    if sig is None:
        return cp
    return {**cp, "public_key": key.public_hex() if key else None, "signature": sig}


def checkpoint_signature(key: JournalKey | None, cp: dict[str, Any]) -> list[str]:
    """Check a checkpoint's signature against the key file's public key (or, without the key
    file, against the public key the checkpoint names — which shows only that it was not
    altered since it was signed by that key)."""
    sig = cp.get("signature")
    if sig is None:
        return ["checkpoint: not signed (made without a journal key): its seq and hash are "
                "trusted as given"] if key is not None and key.public_hex() else []
    own = key.public_hex() if key is not None else None
    public = own or cp.get("public_key")
    if not isinstance(public, str) or not isinstance(sig, str):
        return ["checkpoint: signature or public key malformed"]
    if own is not None and cp.get("public_key") not in (None, own):
        return ["checkpoint: signed by another key than the journal key file's"]
    if not _valid(public, sig, checkpoint_message(cp)):
        return ["checkpoint: signature invalid: the checkpoint was altered"]
    return []
