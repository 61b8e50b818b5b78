"""Tampering with who may act, by SQL, is found by ``verify`` (on SQLite and PostgreSQL): a
representative added, a role granted, an approver set to the proposer, a transaction row forged
without its journal entry."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from carbonlink.registry.db import journal, journal_head, journal_signatures
from carbonlink.registry.journal import GENESIS, entry_hash
from tests.registry.conftest import Acting, World, full_transfer, tampering

T1 = datetime(2026, 3, 1)


def _ledger(reg: Acting, w: World) -> int:
    reg.issue(w.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    return full_transfer(reg, w.seller, w.buyer, 40, T1, vintage=2026)


@pytest.mark.parametrize(("sql", "expected"), [
    ("INSERT INTO representatives (account_id, name, role) VALUES ({seller}, 'carol', "
     "'initiator_approver')", "'carol' represents account {seller} without a journal entry"),
    ("UPDATE representatives SET role = 'initiator_approver' WHERE name = 'alice'",
     "'alice' of account {seller} is initiator_approver in the table, initiator in"),
    ("DELETE FROM representatives WHERE name = 'bob'", "'bob' of account {seller} is "
     "journalled but missing"),
    ("INSERT INTO user_roles (user_id, role, scope) SELECT id, 'administrator', '*' FROM users "
     "WHERE username = 'carol'", "'carol' holds administrator for * without a journal entry"),
    ("UPDATE transactions SET approver = proposer WHERE id = {tx}",
     "approved by 'alice', its proposer 'alice'"),
    ("INSERT INTO transactions (kind, state, created_at, updated_at, to_account, quantity) "
     "VALUES ('issuance', 'completed', '2026-03-01', '2026-03-01', {seller}, 5)",
     "({kind}) has no journal entry".format(kind="issuance")),
])
def test_custody_tampering_is_found(reg: Acting, world: World, sql: str, expected: str) -> None:
    reg.as_("admin").remove_representative(world.seller, "alice")
    reg.as_("admin").add_representative(world.seller, "alice", "initiator")
    tx = _ledger(reg, world)
    assert reg.verify() == []
    with reg.engine.begin() as c:
        c.exec_driver_sql(sql.format(seller=world.seller, tx=tx))
    found = reg.verify()
    assert any(expected.format(seller=world.seller) in p for p in found), found


def test_a_checkpoint_finds_truncation_and_a_rewritten_chain(
        reg: Acting, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting the last entry (and moving the head back) or rewriting the whole chain with
    recomputed hashes passes the chain check; the head kept outside the database does not."""
    _ledger(reg, world)
    cp = reg.checkpoint()
    assert cp["seq"] > 0 and reg.verify(cp) == []
    with tampering(reg.engine) as c:                   # the last entry deleted
        c.execute(journal.delete().where(journal.c.seq == cp["seq"]))
        c.execute(journal_signatures.delete().where(journal_signatures.c.seq == cp["seq"]))
        prev = c.execute(sa.select(journal).where(journal.c.seq == cp["seq"] - 1)).one()
        c.execute(journal_head.update().values(seq=prev.seq, hash=prev.hash))
    # the chain alone cannot tell; the replayed history can (the entry moved units) and the
    # checkpoint can
    assert not any("hash mismatch" in p or "does not point" in p for p in reg.verify())
    assert any(p.startswith("blocks:") for p in reg.verify())
    assert any("was truncated" in p for p in reg.verify(cp))
    cp = reg.checkpoint()
    with tampering(reg.engine) as c:                   # a payload edited, every hash recomputed
        rows = c.execute(sa.select(journal).order_by(journal.c.seq)).all()
        prev_hash = GENESIS
        for r in rows:
            payload = r.payload.replace('"quantity":40', '"quantity":4') if \
                r.kind == "external_transfer.proposed" else r.payload
            h = entry_hash(prev_hash, r.seq, r.at, r.kind, r.tx_id, payload)
            c.execute(journal.update().where(journal.c.seq == r.seq).values(
                payload=payload, prev_hash=prev_hash, hash=h))
            prev_hash = h
        c.execute(journal_head.update().values(hash=prev_hash))
    # without the journal key the recomputed hashes cannot be signed (SQLite: the key file
    # beside the database; the PostgreSQL fixture has none, so only the checkpoint tells)
    signed = reg.registry.journal_key is not None
    assert any("signature invalid" in p for p in reg.verify()) == signed
    assert not any("hash mismatch" in p or "does not point" in p for p in reg.verify())
    assert any("history was rewritten" in p for p in reg.verify(cp))
    # the CLI: checkpoint to a file, verify against it (exit 1), an unreadable one (exit 2)
    from tests.registry.test_cli_reports import run
    monkeypatch.setenv("CARBONLINK_TOKEN", reg.as_("auditor").issue_token("read"))
    f = tmp_path / "cp.json"
    f.write_text(json.dumps(cp))
    assert run(capsys, "registry", "verify", "--db", reg.url, "--checkpoint", str(f))[0] == 1
    assert run(capsys, "registry", "checkpoint", "--db", reg.url, "--out", str(f))[0] == 0
    # a fresh checkpoint of the rewritten chain: its entries' signatures still fail (with a
    # key), and the replayed history disagrees with the tables (the payload's quantity is
    # no longer the transaction's)
    assert run(capsys, "registry", "verify", "--db", reg.url, "--checkpoint", str(f))[0] == 1
    assert any("quantity is 40 in the table but 4 in the journal" in p for p in reg.verify())
    assert run(capsys, "registry", "verify", "--db", reg.url, "--checkpoint",
               str(tmp_path / "none.json"))[0] == 2
