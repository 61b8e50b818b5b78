"""External transfers across a link: two-phase protocol with escrow, link terms."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from carbonlink.errors import DocumentError
from carbonlink.registry import CheckFailed, Registry
from tests.registry.conftest import T0, World, full_transfer, make_world

T1 = datetime(2026, 3, 1, 10)


def test_two_phase_transfer_with_escrow(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    p = reg.transfer(world.seller, world.buyer, 40, by="alice", at=T1)
    assert p.state == "proposed"
    assert reg.balance(world.seller) == 60
    assert reg.balance(world.seller, status="pending_export") == 40
    assert reg.balance(world.buyer) == 0
    with pytest.raises(CheckFailed) as e:  # accept before approval
        reg.accept(p.tx_id, by="carol", at=T1)
    assert e.value.code == "R1002"
    with pytest.raises(CheckFailed) as e:  # four eyes
        reg.approve(p.tx_id, by="alice", at=T1)
    assert e.value.code == "A2006"
    with pytest.raises(CheckFailed) as e:
        reg.approve(p.tx_id, by="carol", at=T1)
    assert e.value.code == "S7001"  # not a representative of the account: refused by access
    assert reg.approve(p.tx_id, by="bob", at=T1).state == "approved"
    with pytest.raises(CheckFailed) as e:  # the receiving account's representative accepts
        reg.accept(p.tx_id, by="bob", at=T1)
    assert e.value.code == "S7001"
    done = reg.accept(p.tx_id, by="carol", at=T1 + timedelta(hours=1))
    assert done.state == "completed" and done.converted_quantity == 40
    assert reg.balance(world.seller) == 60 and reg.balance(world.buyer) == 40
    assert reg.balance(world.seller, status="pending_export") == 0
    with pytest.raises(CheckFailed) as e:
        reg.accept(p.tx_id, by="carol", at=T1)
    assert e.value.code == "R1002"
    assert reg.verify() == []


def test_reject_and_expire_release_escrow(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    a = reg.transfer(world.seller, world.buyer, 30, by="alice", at=T1)
    b = reg.transfer(world.seller, world.buyer, 20, by="alice", at=T1)
    reg.approve(b.tx_id, by="bob", at=T1)
    assert reg.reject(a.tx_id, by="carol", reason="price", at=T1).state == "rejected"
    assert reg.balance(world.seller) == 80
    with pytest.raises(CheckFailed) as e:  # past the time limit
        reg.accept(b.tx_id, by="carol", at=T1 + timedelta(days=4))
    assert e.value.code == "R1003"
    assert reg.expire(at=T1 + timedelta(days=1)) == []
    assert reg.expire(at=T1 + timedelta(days=4)) == [b.tx_id]
    assert reg.transaction(b.tx_id)["state"] == "expired"
    assert reg.balance(world.seller) == 100
    assert reg.balance(world.seller, status="pending_export") == 0
    with pytest.raises(CheckFailed):
        reg.reject(b.tx_id, at=T1)
    assert reg.verify() == []


def test_link_terms(reg: Registry) -> None:
    w = make_world(reg, quota=50, discount=0.2, unit_types=("allowance",))
    reg.issue(w.seller, 100, vintage=2026, at=T1)
    reg.issue(w.seller, 10, unit_type="offset", vintage=2026, at=T1)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(w.seller, w.buyer, 5, unit_type="offset", by="alice", at=T1)
    assert e.value.code == "L4002"
    tx = full_transfer(reg, w.seller, w.buyer, 30, T1, unit_type="allowance")
    assert reg.transaction(tx)["converted_quantity"] == 24  # 30 × (1 − 0.2)
    pending = reg.transfer(w.seller, w.buyer, 20, unit_type="allowance", by="alice", at=T1)
    with pytest.raises(CheckFailed) as e:  # 30 done + 20 in escrow: quota 50 used up
        reg.transfer(w.seller, w.buyer, 1, unit_type="allowance", by="alice", at=T1)
    assert e.value.code == "L4003"
    reg.reject(pending.tx_id, at=T1)
    reg.transfer(w.seller, w.buyer, 20, unit_type="allowance", by="alice", at=T1)
    # no link back
    with pytest.raises(CheckFailed) as e:
        reg.transfer(w.buyer, w.seller, 1, by="carol", at=T1)
    assert e.value.code == "L4001"
    # suspension from a date, re-checked on acceptance
    p = reg.transfer(w.seller, w.gha["party_holding"], 1, by="alice", at=T1)  # internal
    assert p.state == "completed"
    reg.add_link("GHA01", "CHE01", unit_types=["allowance"], quota=100,
                 suspended_from=date(2026, 6, 1), at=T1)
    q = reg.transfer(w.seller, w.buyer, 5, unit_type="allowance", by="alice",
                     at=datetime(2026, 5, 31, 12))
    reg.approve(q.tx_id, by="bob", at=datetime(2026, 5, 31, 13))
    with pytest.raises(CheckFailed) as e:
        reg.accept(q.tx_id, by="carol", at=datetime(2026, 6, 1, 9))
    assert e.value.code == "L4004"
    with pytest.raises(CheckFailed) as e:
        reg.transfer(w.seller, w.buyer, 5, by="alice", at=datetime(2026, 6, 2))
    assert e.value.code == "L4004"
    assert reg.verify() == []


def test_entity_share_limits_surrender_of_linked_units(reg: Registry) -> None:
    w = make_world(reg)
    reg.add_link("GHA01", "CHE01", unit_types=["allowance"], entity_share=0.1, at=T1)
    reg.issue(w.seller, 100, vintage=2026, at=T1)
    reg.issue(w.che["party_holding"], 100, vintage=2026, at=T1)
    reg.transfer(w.che["party_holding"], w.buyer, 100, at=T1)
    full_transfer(reg, w.seller, w.buyer, 50, T1)
    with pytest.raises(CheckFailed) as e:  # no verified emissions yet
        reg.surrender(w.buyer, 1, year=2026, serials=("GHA01", "allowance", 2026, 1, 1),
                      by="carol", at=T1)
    assert e.value.code == "L4005"
    reg.report_entity_emissions(w.buyer_holder, 2026, 200, at=T1)
    reg.surrender(w.buyer, 15, year=2026, serials=("GHA01", "allowance", 2026, 1, 15),
                  by="carol", at=T1)
    with pytest.raises(CheckFailed) as e:  # 15 + 10 > 10 % of 200
        reg.surrender(w.buyer, 10, year=2026, serials=("GHA01", "allowance", 2026, 16, 25),
                      by="carol", at=T1)
    assert e.value.code == "L4005"
    reg.surrender(w.buyer, 100, year=2026, serials=("CHE01", "allowance", 2026, 1, 100),
                  by="carol", at=T1)
    assert reg.verify() == []


def test_links_from_yaml(reg: Registry, tmp_path: Path) -> None:
    reg.add_registry("CHE01", system="ch", at=T0)
    reg.add_registry("EUU01", system="eu", at=T0)
    f = tmp_path / "links.yaml"
    f.write_text("links:\n  - between: [eu, ch]\n    quota: 1000\n"
                 "    unit_types: [allowance]\n    suspended_from: 2031-01-01\n")
    assert len(reg.load_links(f, at=T0)) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("links:\n  - from: eu\n    to: ch\n    discount: 1.5\n")
    with pytest.raises(DocumentError) as e:
        reg.load_links(bad)
    assert e.value.problems[0][0] == "links[0].discount"
    bad.write_text("links:\n  - from: eu\n    to: xx\n")
    with pytest.raises(DocumentError) as e:
        reg.load_links(bad)
    assert e.value.problems[0][0] == "links[0].to"
