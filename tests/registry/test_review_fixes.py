"""Defects from the accounting review: first-transfer rule across authorisation versions,
prospective terms, metrics, NDC period/type, domestic transfers, authorised entities."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from carbonlink.registry import CheckFailed, Registry
from tests.registry.conftest import World, full_transfer

AT = datetime(2026, 6, 1)
LATER = datetime(2026, 8, 1)


def _version(reg: Registry, **kw: object) -> None:
    """A new version of GHA-A1 effective 2026-07-01 (recorded 2026-06-15)."""
    args: dict[str, object] = dict(cooperative_approach="CA0002", registry="GHA01",
                                   quantity=10_000, purposes="NDC", vintage_from=2025,
                                   vintage_to=2030, valid_from=date(2026, 1, 1),
                                   effective_from=date(2026, 7, 1), at=datetime(2026, 6, 15))
    args.update(kw)
    reg.authorise("GHA-A1", **args)  # type: ignore[arg-type]


def test_purpose_change_cannot_let_itmos_escape_the_ca(reg: Registry, world: World) -> None:
    """Defect 1: NDC-only v1, then OIMP v2 with first transfer at issuance (para 2(b)): units
    issued under v1 are first transferred at their next event under v2 (para 6)."""
    reg.issue(world.seller, 300, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    _version(reg, purposes="OIMP", first_transfer_definition="issuance")
    p = reg.transfer(world.seller, world.buyer, 100, by="alice", at=LATER)
    reg.approve(p.tx_id, by="bob", at=LATER)
    assert reg.accept(p.tx_id, by="carol", at=LATER).first_transferred == 100
    assert reg.cancel(world.buyer, 100, purpose="oimp", by="carol",
                      at=LATER).first_transferred == 0       # already adjusted, once
    assert reg.ca_ledger("GHA") == ({2026: 100}, {})
    assert reg.verify() == []


def test_oimp_units_abroad_become_ndc_itmos(reg: Registry, world: World) -> None:
    """Defect 1, the other order: OIMP-only units (first transfer at cancellation) cross the
    link without a first transfer; v2 authorises NDC: their international transfer has
    happened, so they are first transferred at their next event (CHE's use)."""
    reg.authorise("GHA-O", cooperative_approach="CA0003", registry="GHA01", quantity=500,
                  purposes="OIMP", first_transfer_definition="use_or_cancellation",
                  vintage_from=2026, vintage_to=2026, valid_from=date(2026, 1, 1), at=AT)
    reg.issue(world.seller, 50, unit_type="itmo", vintage=2026, authorisation="GHA-O", at=AT)
    full_transfer(reg, world.seller, world.buyer, 50, AT)
    assert reg.ca_ledger("GHA") == ({}, {})
    reg.authorise("GHA-O", cooperative_approach="CA0003", registry="GHA01", quantity=500,
                  purposes="NDC", vintage_from=2026, vintage_to=2026,
                  valid_from=date(2026, 1, 1), effective_from=date(2026, 7, 1),
                  at=datetime(2026, 6, 15))
    r = reg.use(world.buyer, 20, year=2026, by="carol", at=LATER)
    assert r.first_transferred == 20
    assert reg.ca_ledger("GHA") == ({2026: 20}, {}) and reg.ca_ledger("CHE") == ({}, {2026: 20})
    assert reg.verify() == []


def test_verify_flags_units_that_escaped_the_first_transfer(reg: Registry,
                                                            world: World) -> None:
    reg.issue(world.seller, 30, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 30, AT)
    with reg.engine.begin() as c:  # tamper: forget the first transfer
        c.execute(sa.text("DELETE FROM first_transfers"))
        c.execute(sa.text("DELETE FROM ca_entries"))
        c.execute(sa.text("UPDATE authorisation_totals SET first_transferred = 0"))
    problems = reg.verify()
    assert any("left GHA for CHE" in p and "without a first transfer" in p for p in problems)


def test_later_versions_do_not_apply_to_itmos_already_first_transferred(
        reg: Registry, world: World) -> None:
    """Defect 2: purposes and entities of the version the units were first transferred under
    (prospective changes, U5007)."""
    reg.issue(world.seller, 300, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 100, AT)
    _version(reg, purposes="OIMP", first_transfer_definition="use_or_cancellation",
             entities=[world.seller_holder])
    reg.use(world.buyer, 40, year=2026, by="carol", at=LATER)   # v1 terms: NDC, any entity
    assert reg.ca_ledger("CHE") == ({}, {2026: 40})
    with pytest.raises(CheckFailed) as e:                      # v1 did not authorise OIMP
        reg.cancel(world.buyer, 10, purpose="oimp", by="carol", at=LATER)
    assert e.value.code == "U5006"
    assert reg.verify() == []


def test_ca_entries_keep_the_metric_of_the_first_transfer(reg: Registry,
                                                          world: World) -> None:
    """Defect 3 (para 9): a later version in another metric does not re-label units first
    transferred earlier; balances never sum across metrics."""
    reg.issue(world.seller, 300, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 100, AT)
    _version(reg, metric="MWh")
    full_transfer(reg, world.seller, world.buyer, 100, LATER)
    reg.use(world.buyer, 30, year=2026, by="carol", at=LATER)      # units of v1: tCO2e
    assert reg.ca_ledger_by_metric("GHA") == {"tCO2e": ({2026: 100}, {}),
                                              "MWh": ({2026: 100}, {})}
    assert reg.ca_ledger("CHE") == ({}, {2026: 30})
    assert reg.ca_ledger("GHA") == ({2026: 100}, {})
    reg.set_ndc("GHA", "trajectory", 2026, 2030, at=AT)
    assert reg.corresponding_adjustments("GHA").cumulative_first_transferred == 100
    assert "in metric MWh (not in the tCO2e balance" in reg.regular_information("GHA")
    assert reg.verify() == []


def test_ndc_period_is_frozen_once_finalised(reg: Registry, world: World) -> None:
    """Defect 4 (para 12 finality, para 7 one method)."""
    reg.set_ndc("GHA", "averaging", 2026, 2028, at=AT)
    reg.issue(world.seller, 10, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 10, AT)
    with pytest.raises(CheckFailed) as e:       # method locked once entries exist
        reg.set_ndc("GHA", "trajectory", 2026, 2028, at=AT)
    assert e.value.code == "D6004"
    reg.finalise("GHA", 2026, 2028, at=datetime(2030, 1, 1))
    before = reg.corresponding_adjustments("GHA")
    for args in [(2027, 2028), (2026, 2030)]:
        with pytest.raises(CheckFailed) as e:   # period locked once any year is final
            reg.set_ndc("GHA", "averaging", *args, at=datetime(2030, 2, 1))
        assert e.value.code == "D6004"
    reg.set_ndc("GHA", "averaging", 2026, 2028, at=datetime(2030, 2, 1))  # unchanged: no-op
    assert reg.corresponding_adjustments("GHA") == before
    assert reg.verify() == []


def test_transfer_between_registries_of_one_party_is_not_a_first_transfer(
        reg: Registry, world: World) -> None:
    """Defect 5 (para 2(a): first *international* transfer)."""
    reg.add_registry("GHA02", party="GHA", system="gh-ets", at=AT)
    h = reg.add_holder("GHA02", "Domestic", at=AT)
    dom = reg.open_account("GHA02", holder=h, at=AT)
    reg.add_link("GHA01", "GHA02", unit_types=("itmo",), at=AT)
    reg.add_link("GHA02", "CHE01", unit_types=("itmo",), at=AT)
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    p = reg.transfer(world.seller, dom, 60, by="alice", at=AT)
    reg.approve(p.tx_id, by="bob", at=AT)
    assert reg.accept(p.tx_id, at=AT).first_transferred == 0
    assert reg.ca_ledger("GHA") == ({}, {})
    p = reg.transfer(dom, world.buyer, 60, at=AT)
    reg.approve(p.tx_id, by="rep2", at=AT)
    assert reg.accept(p.tx_id, by="carol", at=AT).first_transferred == 60
    assert reg.ca_ledger("GHA") == ({2026: 60}, {})
    assert reg.verify() == []


def test_use_year_and_out_of_period_entries(reg: Registry, world: World) -> None:
    """Defect 6: R1006 for a year of use before the vintage or outside the NDC period; entries
    outside the period are reported, not dropped."""
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2025, authorisation="GHA-A1", at=AT)
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2027, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 200, AT)
    reg.set_ndc("GHA", "averaging", 2026, 2030, at=AT)
    reg.set_ndc("CHE", "trajectory", 2026, 2030, at=AT)
    for year in (2019, 2035):
        with pytest.raises(CheckFailed) as e:
            reg.use(world.buyer, 50, year=year, by="carol", at=datetime(2027, 3, 1))
        assert e.value.code == "R1006"
    with pytest.raises(CheckFailed) as e:  # serials 1-50 are vintage 2025, 2027 units later
        reg.use(world.buyer, 150, year=2026, by="carol", at=datetime(2027, 3, 1))
    assert e.value.code == "R1006"
    g = reg.corresponding_adjustments("GHA")
    assert g.cumulative_first_transferred == 100
    assert g.outside_period == [(2025, "first_transfer", 100)]
    assert any("GHA 2025 first transfer 100 lies outside its NDC implementation period"
               in p for p in reg.verify())


def test_narrowed_vintage_window_applies_before_first_transfer(reg: Registry,
                                                               world: World) -> None:
    """Defect 7: U5004 re-checked at first transfer under the version then in force."""
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 40, AT)
    _version(reg, vintage_from=2028, vintage_to=2030)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.seller, world.buyer, 10, by="alice", at=LATER)
    assert e.value.code == "U5004"
    reg.use(world.buyer, 40, year=2026, by="carol", at=LATER)  # first transferred under v1
    assert reg.verify() == []


def test_internal_transfer_checks_authorised_entities(reg: Registry, world: World) -> None:
    """Defect 8 (U5005) — on both backends, including the PostgreSQL fast path."""
    _version(reg, entities=[world.seller_holder, world.buyer_holder],
             effective_from=date(2026, 6, 1), at=datetime(2026, 5, 1))
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 100, AT)
    reg.issue(world.seller, 5, vintage=2026, at=AT)   # unauthorised allowances move freely
    other = reg.open_account("GHA01", at=AT)
    reg.transfer(world.seller, other, 5, unit_type="allowance", by="alice", at=AT)
    with pytest.raises(CheckFailed) as e:
        reg.transfer(world.buyer, world.buyer2, 40, by="carol", at=AT)
    assert e.value.code == "U5005"
    assert reg.balance(world.buyer) == 100


def test_ndc_type(reg: Registry, world: World) -> None:
    """Defect 9: averaging is for single-year NDCs only (para 7(a) vs 7(b)); a multi-year NDC
    applies the cumulative adjustment at the end of the period."""
    with pytest.raises(CheckFailed) as e:
        reg.set_ndc("GHA", "averaging", 2026, 2028, ndc_type="multi_year", at=AT)
    assert e.value.code == "R1007"
    with pytest.raises(CheckFailed) as e:
        reg.set_ndc("GHA", "multi_year", 2026, 2028, ndc_type="single_year", at=AT)
    assert e.value.code == "R1007"
    reg.set_ndc("GHA", "trajectory", 2026, 2028, ndc_type="multi_year", at=AT)
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=AT)
    full_transfer(reg, world.seller, world.buyer, 100, AT)
    for y, em in {2026: 1000, 2027: 980, 2028: 960}.items():
        reg.report_emissions("GHA", y, em, at=AT)
    g = reg.corresponding_adjustments("GHA")
    assert g.ndc_type == "multi_year" and g.end_of_period_adjustment == 100
    assert g.adjusted_period_emissions == 2940 + 100
    assert "End of the period (para 7(b))" in reg.regular_information("GHA")


def test_ets_surrender_of_foreign_ndc_itmos_is_a_use(reg: Registry, world: World) -> None:
    """Defect 10 (decided): surrendering authorised NDC ITMOs first transferred by another
    Party for ETS compliance subtracts them (para 8(b)); unauthorised units do not."""
    reg.issue(world.seller, 100, unit_type="allowance", vintage=2026, authorisation="GHA-A1",
              at=AT)
    reg.issue(world.seller, 20, unit_type="allowance", vintage=2026, at=AT)
    full_transfer(reg, world.seller, world.buyer, 100, AT, authorisation="GHA-A1")
    full_transfer(reg, world.seller, world.buyer, 20, AT)
    reg.surrender(world.buyer, 120, year=2026, by="carol", at=AT)
    assert reg.ca_ledger("GHA") == ({2026: 100}, {})
    assert reg.ca_ledger("CHE") == ({}, {2026: 100})
    assert reg.verify() == []
