"""Tampering with the ledger by SQL, found by ``verify`` replaying the transaction history from
the journal (issue 11, "Tamper evidence is partial"), on SQLite and PostgreSQL: a block's owner
changed within and across Parties, a block's status changed, an internal-transfer row edited, a
transfer forged with and without a journal entry of its own, the last entry deleted."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from carbonlink.registry.db import (
    journal,
    journal_head,
    journal_signatures,
    transaction_blocks,
)
from carbonlink.registry.journal import canonical, entry_hash
from carbonlink.registry.replay import Holdings
from tests.registry.conftest import Acting, World, full_transfer, make_world, tampering

T1 = datetime(2026, 3, 1)



def _history(reg: Acting, w: World) -> dict[str, int]:
    """Issuance, an internal transfer (seller → GHA Party holding) and an external one."""
    reg.issue(w.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    internal = reg.transfer(w.seller, w.gha["party_holding"], 10, by="alice", at=T1).tx_id
    external = full_transfer(reg, w.seller, w.buyer, 40, T1, vintage=2026)
    assert reg.verify() == []
    return {"internal": internal, "external": external, "seller": w.seller,
            "party": w.gha["party_holding"], "buyer": w.buyer, "buyer2": w.buyer2}


CASES = [
    # a block's owner changed within one Party (entity → the Party's holding account)
    ("UPDATE blocks SET account_id = {party} WHERE account_id = {seller}",
     "blocks: GHA01-itmo-2026"),
    # ... and across Parties (a Ghanaian entity's units given to a Swiss one)
    ("UPDATE blocks SET account_id = {buyer2} WHERE account_id = {seller}",
     "the table account {buyer2}"),
    # a block's status changed (held units marked retired in place)
    ("UPDATE blocks SET status = 'retired' WHERE account_id = {buyer}", "(retired)"),
    # an internal-transfer row edited: its destination, its quantity
    ("UPDATE transactions SET to_account = {buyer2} WHERE id = {internal}",
     "transaction {internal}: to_account is {buyer2} in the table"),
    ("UPDATE transactions SET quantity = 1 WHERE id = {internal}",
     "transaction {internal}: quantity is 1 in the table but 10"),
    # an external transfer's proposer and acceptor edited (approver = proposer is custody's)
    ("UPDATE transactions SET proposer = 'bob' WHERE id = {external}",
     "transaction {external}: proposer is 'bob' in the table but 'alice'"),
    ("UPDATE transactions SET acceptor = 'dave' WHERE id = {external}",
     "transaction {external}: acceptor is 'dave' in the table but 'carol'"),
    ("UPDATE transactions SET state = 'rejected' WHERE id = {external}",
     "transaction {external}: state is 'rejected' in the table but 'completed'"),
    # a transaction's recorded blocks edited
    ("UPDATE transaction_blocks SET serial_end = serial_end - 1 WHERE tx_id = {internal}",
     "transaction {internal}: its serial blocks differ"),
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_ledger_tampering_is_found(reg: Acting, world: World, sql: str, expected: str) -> None:
    ids = _history(reg, world)
    with tampering(reg.engine) as c:
        c.exec_driver_sql(sql.format(**ids))
    found = reg.verify()
    assert any(expected.format(**ids) in p for p in found), found


def _forge(c: sa.Connection, ids: dict[str, int], *, entry: bool, move: bool) -> int:
    """An internal transfer of 5 units seller → buyer2's … by SQL: the transaction row, its
    block, optionally the units moved and a journal entry appended with a correct hash."""
    dialect = c.dialect.name
    blk = c.exec_driver_sql(
        f"SELECT id, issuing_registry, unit_type, vintage, serial_start, serial_end, "
        "authorisation_id "
        f"FROM blocks WHERE account_id = {ids['seller']} AND status = 'held' "
        "ORDER BY serial_start").first()
    assert blk is not None
    s = int(blk.serial_start)
    tx = c.exec_driver_sql(
        "INSERT INTO transactions (kind, state, created_at, updated_at, from_account, "
        f"to_account, quantity, proposer) VALUES ('internal_transfer', 'completed', "
        f"'2026-03-02', '2026-03-02', {ids['seller']}, {ids['party']}, 5, 'alice') "
        "RETURNING id").scalar_one()
    c.execute(transaction_blocks.insert().values(
        tx_id=int(tx), seq=0, issuing_registry=blk.issuing_registry, unit_type=blk.unit_type,
        vintage=int(blk.vintage), serial_start=s, serial_end=s + 4,
        authorisation_id=blk.authorisation_id, first_transfer=False))
    if move:
        c.exec_driver_sql(f"UPDATE blocks SET serial_start = {s + 5} WHERE id = {blk.id}")
        c.exec_driver_sql(
            "INSERT INTO blocks (issuing_registry, unit_type, vintage, serial_start, "
            "serial_end, account_id, status, authorisation_id, first_transferred) "
            f"SELECT issuing_registry, unit_type, vintage, {s}, {s + 4}, {ids['party']}, "
            f"'held', authorisation_id, first_transferred FROM blocks WHERE id = {blk.id}")
    if entry:
        head = c.execute(sa.select(journal_head.c.seq, journal_head.c.hash)).one()
        last = c.execute(sa.select(journal.c.at).where(journal.c.seq == head.seq)).scalar_one()
        at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
        body = canonical({"from": ids["seller"], "to": ids["party"], "quantity": 5,
                          "blocks": [[blk.issuing_registry, blk.unit_type, int(blk.vintage),
                                      s, s + 4]]})
        seq = int(head.seq) + 1
        h = entry_hash(str(head.hash), seq, at, "internal_transfer", int(tx), body)
        c.execute(journal.insert().values(seq=seq, at=at, kind="internal_transfer",
                                          tx_id=int(tx), payload=body, prev_hash=head.hash,
                                          hash=h))
        c.execute(journal_head.update().values(seq=seq, hash=h))
    assert dialect in ("sqlite", "postgresql")
    return int(tx)


def test_a_forged_transfer_without_a_journal_entry_is_found(reg: Acting, world: World
                                                           ) -> None:
    ids = _history(reg, world)
    with tampering(reg.engine) as c:
        tx = _forge(c, ids, entry=False, move=True)
    found = reg.verify()
    assert any(f"transaction {tx} (internal_transfer) has no journal entry" in p
               for p in found), found
    assert any(p.startswith("blocks: GHA01-itmo-2026 from serial") and
               f"the table account {ids['party']} (held)" in p for p in found), found


def test_a_forged_transfer_with_a_journal_entry_is_found(signed: Acting) -> None:
    """With its entry appended and its hash right: if the units did not move, the replayed
    history disagrees with the blocks; if they moved too, the entry has no signature (the key
    is outside the database)."""
    reg = signed
    ids = _history(reg, make_world(reg))
    cp = reg.checkpoint()
    with tampering(reg.engine) as c:
        _forge(c, ids, entry=True, move=False)
    found = reg.verify()
    assert any(p.startswith("blocks: GHA01-itmo-2026") for p in found), found
    assert reg.verify(cp) != []
    with tampering(reg.engine) as c:
        c.exec_driver_sql("DELETE FROM transaction_blocks WHERE tx_id = "
                          "(SELECT MAX(id) FROM transactions)")
        c.exec_driver_sql("DELETE FROM transactions WHERE id = (SELECT MAX(id) FROM "
                          "transactions)")
        head = c.execute(sa.select(journal_head.c.seq)).scalar_one()
        c.execute(journal.delete().where(journal.c.seq == head))
        prev = c.execute(sa.select(journal).where(journal.c.seq == head - 1)).one()
        c.execute(journal_head.update().values(seq=prev.seq, hash=prev.hash))
    assert reg.verify() == []
    with tampering(reg.engine) as c:
        _forge(c, ids, entry=True, move=True)
    found = reg.verify()
    assert not any(p.startswith(("blocks:", "transaction ")) for p in found), found
    assert any("is not signed" in p for p in found), found


def test_the_last_entry_deleted_is_found_when_it_moved_units(reg: Acting, world: World
                                                             ) -> None:
    """Without a checkpoint the chain of the remaining entries is intact; the units the deleted
    entry moved are where the table says, not where the history puts them. (The last entry is
    the transfer's completion: since every internal transfer is proposed and approved first,
    its proposal and approval stay.)"""
    ids = _history(reg, world)
    last = reg.transfer(ids["seller"], ids["party"], 3, by="alice", at=T1).tx_id
    with tampering(reg.engine) as c:
        seq = c.execute(sa.select(sa.func.max(journal.c.seq)).where(journal.c.tx_id == last)
                        ).scalar_one()
        assert c.execute(sa.select(journal.c.kind).where(journal.c.seq == seq)).scalar_one() \
            == "internal_transfer.completed"
        c.execute(journal.delete().where(journal.c.seq == seq))
        c.execute(journal_signatures.delete().where(journal_signatures.c.seq == seq))
        prev = c.execute(sa.select(journal).where(journal.c.seq == seq - 1)).one()
        c.execute(journal_head.update().values(seq=prev.seq, hash=prev.hash))
    found = reg.verify()
    assert any(f"transaction {last}: state is 'completed' in the table" in p
               for p in found), found
    assert any(p.startswith("blocks: GHA01-itmo-2026") for p in found), found


def test_holdings_replay_matches_a_plain_serial_by_serial_model() -> None:
    """The run structure against a dict serial → owner, on a fixed pseudo-random history."""
    import random
    rnd = random.Random(11)
    h = Holdings()
    plain: dict[int, tuple[int, str]] = {}
    for _ in range(400):
        s = rnd.randint(1, 60)
        e = s + rnd.randint(0, 15)
        o = (rnd.randint(1, 3), rnd.choice(("held", "pending_export")))
        h.assign(("X", "itmo", 2026), s, e, o)
        plain.update({i: o for i in range(s, e + 1)})
    runs = h.merged()[("X", "itmo", 2026)]
    got = {i: o for s, e, o in runs for i in range(s, e + 1)}
    assert got == plain
    assert all(a[1] < b[0] for a, b in zip(runs, runs[1:], strict=False))
