"""Serial blocks, internal transfers, account/unit matrix, database-level overlap guard."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from carbonlink.errors import DocumentError
from carbonlink.registry import CheckFailed, Registry
from carbonlink.registry.db import blocks, journal
from tests.registry.conftest import T0, World

T1 = datetime(2026, 2, 1)


def _journal_len(r: Registry) -> int:
    with r.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one())


def test_issuance_allocates_consecutive_serials(reg: Registry, world: World) -> None:
    a = reg.issue(world.seller, 100, vintage=2026, at=T1)
    b = reg.issue(world.seller, 50, vintage=2026, at=T1)
    c = reg.issue(world.seller, 10, vintage=2027, at=T1)
    assert a.blocks == [("GHA01", "allowance", 2026, 1, 100)]
    assert b.blocks == [("GHA01", "allowance", 2026, 101, 150)]
    assert c.blocks == [("GHA01", "allowance", 2027, 1, 10)]
    assert reg.balance(world.seller) == 160
    assert reg.verify() == []


def test_partial_internal_transfer_splits_and_conserves(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    other = reg.open_account("GHA01", representatives_=["erin", "fay"], at=T1)
    r = reg.transfer(world.seller, other, 30, by="alice", at=T1)
    assert r.state == "completed" and r.kind == "internal_transfer"
    assert r.blocks == [("GHA01", "allowance", 2026, 1, 30)]
    assert reg.balance(world.seller) == 70 and reg.balance(other) == 30
    rows = sorted((b["serial_start"], b["serial_end"], b["account_id"]) for b in reg.holdings())
    assert rows == [(1, 30, other), (31, 100, world.seller)]
    # move a range spanning two blocks back, by serial numbers
    r2 = reg.transfer(other, world.seller, 0, serials=("GHA01", "allowance", 2026, 21, 30),
                      by="erin", at=T1)
    assert r2.quantity == 10
    assert reg.balance(world.seller) == 80 and reg.balance(other) == 20
    assert reg.verify() == []


def test_insufficient_holdings_writes_nothing(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 10, vintage=2026, at=T1)
    other = reg.open_account("GHA01", at=T1)
    n = _journal_len(reg)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, other, 11, by="alice", at=T1)
    assert e.value.code == "H3001" and e.value.problems[0][0] == "quantity"
    assert isinstance(e.value, DocumentError) and e.value.exit_code == 2
    assert _journal_len(reg) == n
    assert reg.balance(world.seller) == 10
    assert [(b["serial_start"], b["serial_end"]) for b in reg.holdings()] == [(1, 10)]


@pytest.mark.parametrize("q", [0, -3])
def test_quantity_must_be_positive(reg: Registry, world: World, q: int) -> None:
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, q, vintage=2026, at=T1)
    assert e.value.code == "R1001"


def test_account_checks(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 10, vintage=2026, at=T1)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, 999, 1, by="alice", at=T1)
    assert e.value.code == "A2002"
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, world.gha["retirement"], 1, by="alice", at=T1)
    assert e.value.code == "A2003"
    reg.retire(world.seller, 2, by="alice", at=T1)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.gha["retirement"], world.seller, 1, at=T1)
    assert e.value.code == "A2004"
    with pytest.raises(CheckFailed) as e:  # OMGE cancellation accounts hold no allowances
        reg.cancel(world.seller, 1, purpose="omge", by="alice", at=T1)
    assert e.value.code == "A2003"
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, world.gha["party_holding"], 1, by="mallory", at=T1)
    assert e.value.code == "S7001"  # not a representative: refused by access
    reg.set_account_status(world.seller, "blocked", at=T1)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, world.gha["party_holding"], 1, by="alice", at=T1)
    assert e.value.code == "A2001"
    assert reg.verify() == []


def test_terminal_operations_and_double_use(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    reg.surrender(world.seller, 10, year=2026, by="alice", at=T1)
    reg.cancel(world.seller, 5, purpose="voluntary", by="alice", at=T1)
    reg.retire(world.seller, 5, by="alice", at=T1)
    assert reg.balance(world.seller) == 80
    assert reg.balance(world.gha["compliance"], status="surrendered") == 10
    assert reg.balance(world.gha["voluntary_cancellation"], status="cancelled") == 5
    # serials 1..10 were surrendered: naming them again is double counting
    with pytest.raises(CheckFailed) as e:
        reg.retire(world.seller, 0, serials=("GHA01", "allowance", 2026, 5, 12), by="alice",
                   at=T1)
    assert e.value.code == "D6001"
    assert reg.verify() == []


def test_database_rejects_overlapping_blocks(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    with pytest.raises(sa.exc.IntegrityError), reg.engine.begin() as c:
        c.execute(blocks.insert().values(
            issuing_registry="GHA01", unit_type="allowance", vintage=2026, serial_start=50,
            serial_end=150, account_id=world.seller, status="held", first_transferred=False))
    with pytest.raises(sa.exc.IntegrityError), reg.engine.begin() as c:
        c.execute(blocks.insert().values(
            issuing_registry="GHA01", unit_type="allowance", vintage=2026, serial_start=5,
            serial_end=4, account_id=world.seller, status="held", first_transferred=False))
    # a disjoint block is accepted by the database (the ledger then notices it was not issued)
    with reg.engine.begin() as c:
        c.execute(blocks.insert().values(
            issuing_registry="GHA01", unit_type="allowance", vintage=2026, serial_start=101,
            serial_end=110, account_id=world.seller, status="held", first_transferred=False))
    problems = reg.verify()
    assert any("110 units in blocks but 100 issued" in p for p in problems)


def test_registry_ids_are_checked(reg: Registry) -> None:
    with pytest.raises(CheckFailed) as e:
        reg.add_registry("switzerland")
    assert e.value.code == "R1004"
    reg.add_registry("CHE01", at=T0)
    with pytest.raises(DocumentError):
        reg.add_registry("CHE01", at=T0)


def test_compact_merges_adjacent_blocks_and_conserves(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    other = reg.open_account("GHA01", at=T1)
    for _ in range(5):
        reg.transfer(world.seller, other, 10, by="alice", at=T1)
    reg.transfer(other, world.seller, 0, serials=("GHA01", "allowance", 2026, 21, 30), at=T1)
    assert len(reg.holdings()) == 6
    assert reg.compact(at=T1) == 2
    rows = [(b["serial_start"], b["serial_end"], b["account_id"]) for b in reg.holdings()]
    assert rows == [(1, 20, other), (21, 30, world.seller), (31, 50, other),
                    (51, 100, world.seller)]
    assert reg.balance(world.seller) == 60 and reg.balance(other) == 40
    assert reg.verify() == []
