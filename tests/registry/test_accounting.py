"""Worked example: two Parties, three years, each corresponding-adjustment method.

Ghana (GHA) authorises ITMOs and first transfers 100, 150 and 250 of vintages 2026–2028 to
Switzerland (CHE), which uses 60, 120 and 300 of them towards its NDC in 2026–2028. The numbers
are explained in docs/registry.md.
"""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction

import pytest

from carbonlink.registry import CheckFailed, Registry
from carbonlink.registry.accounting import corresponding_adjustments
from tests.registry.conftest import World, full_transfer

FT = {2026: 100, 2027: 150, 2028: 250}
USED = {2026: 60, 2027: 120, 2028: 300}
E_GHA = {2026: 1000, 2027: 980, 2028: 960}
E_CHE = {2026: 4000, 2027: 3900, 2028: 3800}


def test_trajectory_method() -> None:
    g = corresponding_adjustments("GHA", "trajectory", 2026, 2028, FT, {}, E_GHA)
    assert [y.adjustment for y in g.years] == [100, 150, 250]
    assert [y.adjusted_balance for y in g.years] == [1100, 1130, 1210]
    c = corresponding_adjustments("CHE", "trajectory", 2026, 2028, {}, USED, E_CHE)
    assert [y.adjusted_balance for y in c.years] == [3940, 3780, 3500]
    assert c.cumulative_adjustment == -480 and g.cumulative_adjustment == 500


def test_averaging_method() -> None:
    g = corresponding_adjustments("GHA", "averaging", 2026, 2028, FT, {}, E_GHA)
    assert [y.average_to_date for y in g.years] == [100, 125, Fraction(500, 3)]
    assert [y.adjustment for y in g.years] == [0, 0, Fraction(500, 3)]
    assert g.ndc_year.adjusted_balance == 960 + Fraction(500, 3)   # 1126.67
    c = corresponding_adjustments("CHE", "averaging", 2026, 2028, {}, USED, E_CHE)
    assert [y.average_to_date for y in c.years] == [-60, -90, -160]
    assert c.ndc_year.adjusted_balance == 3640


def test_multi_year_method() -> None:
    g = corresponding_adjustments("GHA", "multi_year", 2026, 2028, FT, {}, E_GHA)
    c = corresponding_adjustments("CHE", "multi_year", 2026, 2028, {}, USED, E_CHE)
    assert [y.adjustment for y in g.years] == [100, 150, 250]
    assert sum(E_GHA.values()) + g.cumulative_adjustment == 3440
    assert sum(E_CHE.values()) + c.cumulative_adjustment == 11220
    assert (g.adjusted_period_emissions, c.adjusted_period_emissions) == (3440, 11220)
    assert (g.end_of_period_adjustment, c.end_of_period_adjustment) == (500, -480)


def test_unknown_method() -> None:
    with pytest.raises(ValueError):
        corresponding_adjustments("GHA", "guess", 2026, 2028, {}, {})


@pytest.mark.parametrize("method", ["trajectory", "averaging", "multi_year"])
def test_worked_example_through_the_registry(reg: Registry, world: World, method: str) -> None:
    at = {y: datetime(y, 6, 1) for y in FT}
    for y, q in FT.items():
        reg.issue(world.seller, q, unit_type="itmo", vintage=y, authorisation="GHA-A1",
                  at=at[y])
        full_transfer(reg, world.seller, world.buyer, q, at[y], vintage=y)
    for y, q in USED.items():
        reg.use(world.buyer, q, year=y, by="carol", at=datetime(y, 12, 1))
    for party, em in (("GHA", E_GHA), ("CHE", E_CHE)):
        reg.set_ndc(party, method, 2026, 2028, at=at[2026])
        for y, e in em.items():
            reg.report_emissions(party, y, e, at=at[2028])
    g, c = reg.corresponding_adjustments("GHA"), reg.corresponding_adjustments("CHE")
    assert g == corresponding_adjustments("GHA", method, 2026, 2028, FT, {}, E_GHA)
    assert c == corresponding_adjustments("CHE", method, 2026, 2028, {}, USED, E_CHE)
    # the method is kept for the whole implementation period (para 7)
    other = "averaging" if method != "averaging" else "trajectory"
    with pytest.raises(CheckFailed):
        reg.set_ndc("GHA", other, 2026, 2028)
    reg.finalise("CHE", 2026, 2028, at=datetime(2030, 1, 1))
    with pytest.raises(CheckFailed) as e:
        reg.report_emissions("CHE", 2027, 1, at=datetime(2030, 2, 1))
    assert e.value.code == "D6004"
    assert reg.verify() == []


def test_authorisation_versions(reg: Registry, world: World) -> None:
    reg.authorise("GHA-A1", cooperative_approach="CA0002", registry="GHA01", quantity=20_000,
                  vintage_from=2025, vintage_to=2030, valid_from=date(2026, 1, 1),
                  effective_from=date(2026, 7, 1), at=datetime(2026, 6, 1))
    assert reg.authorisation("GHA-A1", date(2026, 6, 30)).quantity == 10_000
    assert reg.authorisation("GHA-A1", date(2026, 7, 1)).quantity == 20_000
    assert reg.authorisation("GHA-A1").version == 2
