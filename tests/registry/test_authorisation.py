"""Authorisation terms, first transfers (surviving partial transfers), double counting."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from carbonlink.registry import CheckFailed, Registry
from tests.registry.conftest import World, full_transfer

T1 = datetime(2026, 3, 1, 10)


def test_itmo_needs_authorisation_within_its_terms(reg: Registry, world: World) -> None:
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, 10, unit_type="itmo", vintage=2026, at=T1)
    assert e.value.code == "U5001"
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, 10, unit_type="itmo", vintage=2024, authorisation="GHA-A1",
                  at=T1)
    assert e.value.code == "U5004"
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, 10, unit_type="itmo", vintage=2026, authorisation="GHA-A1",
                  at=datetime(2025, 12, 1))
    assert e.value.code in ("U5001", "U5002")
    reg.issue(world.seller, 10_000, unit_type="itmo", vintage=2026, authorisation="GHA-A1",
              at=T1)
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, 1, unit_type="itmo", vintage=2026, authorisation="GHA-A1",
                  at=T1)
    assert e.value.code == "U5003"
    with pytest.raises(CheckFailed) as e:
        reg.authorise("X", cooperative_approach="CA12", registry="GHA01", quantity=1,
                      vintage_from=2026, vintage_to=2026, valid_from=date(2026, 1, 1))
    assert e.value.code == "R1004"


def test_first_transfer_survives_partial_transfers(reg: Registry, world: World) -> None:
    """UNDP F15: a split child must not lose its first-transfer status."""
    reg.issue(world.seller, 300, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, world.seller, world.buyer, 120, T1)
    full_transfer(reg, world.seller, world.buyer, 100, T1)
    ft, used = reg.ca_ledger("GHA")
    assert ft == {2026: 220} and used == {}
    # moving first-transferred units on is a transfer, not another first transfer
    reg.transfer(world.buyer, world.buyer2, 70, by="carol", at=T1)
    reg.use(world.buyer2, 50, year=2027, by="dave", at=T1)
    assert reg.ca_ledger("GHA") == ({2026: 220}, {})
    assert reg.ca_ledger("CHE") == ({}, {2027: 50})
    assert reg.authorisation("GHA-A1").quantity == 10_000
    assert reg.verify() == []


def test_revocation_is_prospective(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, world.seller, world.buyer, 40, T1)
    with pytest.raises(CheckFailed) as e:  # revocation cannot be backdated
        reg.revoke("GHA-A1", date(2026, 2, 1), at=T1)
    assert e.value.code == "U5007"
    reg.revoke("GHA-A1", date(2026, 4, 1), at=T1)
    after = datetime(2026, 4, 2)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, world.buyer, 10, by="alice", at=after)
    assert e.value.code == "U5002"
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, 1, unit_type="itmo", vintage=2026, authorisation="GHA-A1",
                  at=after)
    assert e.value.code == "U5002"
    # ITMOs first transferred before the revocation stay usable
    reg.use(world.buyer, 40, year=2026, by="carol", at=after)
    assert reg.ca_ledger("CHE") == ({}, {2026: 40})
    # lowering the cap below what was first transferred is not prospective
    with pytest.raises(CheckFailed) as e:
        reg.authorise("GHA-A1", cooperative_approach="CA0002", registry="GHA01", quantity=10,
                      vintage_from=2025, vintage_to=2030, valid_from=date(2026, 1, 1),
                      effective_from=date(2026, 5, 1), at=T1)
    assert e.value.code == "U5007"
    assert reg.verify() == []


def test_purposes_entities_and_oimp_first_transfer(reg: Registry, world: World) -> None:
    reg.authorise("GHA-O1", cooperative_approach="CA0003", registry="GHA01", quantity=500,
                  purposes="OIMP", first_transfer_definition="use_or_cancellation",
                  vintage_from=2026, vintage_to=2026, valid_from=date(2026, 1, 1),
                  entities=[world.seller_holder, world.buyer_holder], at=T1)
    reg.authorise("GHA-O2", cooperative_approach="CA0003", registry="GHA01", quantity=500,
                  purposes="NDC and OIMP", first_transfer_definition="issuance",
                  vintage_from=2026, vintage_to=2026, valid_from=date(2026, 1, 1), at=T1)
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-O1", at=T1)
    assert reg.ca_ledger("GHA") == ({}, {})
    r = reg.issue(world.seller, 30, unit_type="itmo", vintage=2026, authorisation="GHA-O2",
                  at=T1)
    assert r.first_transferred == 30  # first transfer at issuance (para 2(b))
    assert reg.ca_ledger("GHA") == ({2026: 30}, {})
    with pytest.raises(CheckFailed) as e:  # buyer2's holder is not an authorised entity
        reg.transfer(world.seller, world.buyer2, 10, authorisation="GHA-O1", by="alice", at=T1)
    assert e.value.code == "U5005"
    full_transfer(reg, world.seller, world.buyer, 60, T1, authorisation="GHA-O1")
    assert reg.ca_ledger("GHA") == ({2026: 30}, {})  # OIMP-only: no first transfer yet
    with pytest.raises(CheckFailed) as e:  # OIMP-only units are not for NDC use
        reg.use(world.buyer, 10, authorisation="GHA-O1", by="carol", at=T1)
    assert e.value.code == "U5006"
    c = reg.cancel(world.buyer, 25, purpose="oimp", authorisation="GHA-O1", by="carol", at=T1)
    assert c.first_transferred == 25
    assert reg.ca_ledger("GHA") == ({2026: 55}, {})
    assert reg.ca_ledger("CHE") == ({}, {})  # OIMP use is not subtracted from an NDC
    with pytest.raises(CheckFailed) as e:  # Ghana cannot use its own ITMOs
        reg.use(world.seller, 5, authorisation="GHA-O2", by="alice", at=T1)
    assert e.value.code == "U5006"
    assert reg.verify() == []


def test_finalised_period_is_frozen(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, world.seller, world.buyer, 10, T1)
    reg.finalise("GHA", 2026, 2030, at=T1)
    with pytest.raises(CheckFailed) as e:
        full_transfer(reg, world.seller, world.buyer, 10, T1)
    assert e.value.code == "D6004"
    for first, last in [(2028, 2031), (2025, 2031), (2027, 2029)]:  # end years or an enclosing span
        with pytest.raises(CheckFailed) as e:
            reg.finalise("GHA", first, last, at=T1)
        assert e.value.code == "D6004"
    reg.finalise("GHA", 2031, 2035, at=T1)  # the next period is fine
    assert reg.ca_ledger("GHA") == ({2026: 10}, {})
    # the failed acceptance left the transfer approved, units still in escrow
    assert reg.balance(world.seller, status="pending_export") == 10
    assert reg.verify() == []
