"""Stability mechanisms in the multi-period program, against hand computations on linear
markets (MAC = c·a, required abatement R = bau − cap, autarky price c·R).

Without banking (``banking: {limit: 0}``) every period clears on its own, so each period's
price follows from that period's tiers:

* a ``release`` tier at trigger P with quantity Q: price c·(R − Q) if that is ≥ P (the tier is
  sold out), else P with R − P/c released; none if c·R ≤ P;
* a ``withhold`` tier at trigger T with quantity Q: price c·R if ≥ T, else
  min(T, c·(R + Q)) with min(Q, T/c − R) withheld.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonlink.errors import DocumentError, SolverError
from carbonlink.markets.multiperiod import simulate_periods
from carbonlink.markets.reserves import rggi_ccr_trigger, rggi_ecr_trigger
from carbonlink.model.io import load_scenario
from tests.markets.test_fuzz_documents import JUNK, damaged, paths
from tests.markets.test_fuzz_documents import run as fuzz_run

NO_BANK = {"limit": 0.0}


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-7, abs=1e-6)


def one(market: dict[str, Any], periods: list[int], **extra: Any) -> Any:
    res = simulate_periods({"name": "t", "periods": periods, "markets": [market], **extra})
    assert res.status == "optimal"
    return res.markets.xs(market["id"], level="market")


def test_rggi_cost_containment_reserve_rising_trigger() -> None:
    years = [2021, 2022, 2023]
    ccr = [rggi_ccr_trigger(y) for y in years]  # 13.00, 13.91, 14.88
    # R = 20, 14, 15 with c = 1: autarky prices 20, 14, 15; CCR of 10 % of the cap
    caps = [80.0, 86.0, 85.0]
    m = one({"id": "RGGI", "bau": [100.0] * 3, "cap": caps, "mac": {"linear": {"slope": 1.0}},
             "banking": NO_BANK,
             "reserves": [{"name": "CCR", "kind": "release", "price": ccr,
                           "quantity": [0.1 * k for k in caps],
                           "source": "RGGI 2017 Model Rule (N.H. Env-A 4602.37)"}]}, years)
    # 2021: c(R − Q) = 20 − 8 = 12 < 13: price at the trigger, 20 − 13 = 7 released
    assert m.loc[2021, "price"] == approx(13.00)
    assert m.loc[2021, "reserve_released"] == approx(7.0)
    # 2022: autarky 14 ≥ 13.91, c(R − Q) = 14 − 8.6 < 13.91: price 13.91, 0.09 released
    assert m.loc[2022, "price"] == approx(13.91)
    assert m.loc[2022, "reserve_released"] == approx(14.0 - 13.91)
    # 2023: autarky 15 ≥ 14.88: price 14.88, 0.12 released
    assert m.loc[2023, "price"] == approx(14.88)
    # the allowances bought from the reserve are paid at the trigger
    assert m.loc[2021, "compliance_cost"] == approx(13.0 ** 2 / 2 + 13.0 * 7.0)
    assert m.loc[2021, "emissions"] == approx(80.0 + 7.0)


def test_rggi_emissions_containment_reserve_withholds_below_the_trigger() -> None:
    years = [2021, 2022]
    ecr = [rggi_ecr_trigger(y) for y in years]  # 6.00, 6.42
    m = one({"id": "RGGI", "bau": [100.0, 100.0], "cap": [95.0, 97.0],
             "mac": {"linear": {"slope": 1.0}}, "banking": NO_BANK,
             "reserves": [{"name": "ECR", "kind": "withhold", "price": ecr,
                           "quantity": [0.1 * 95.0, 1.0]}]}, years)
    # 2021: autarky price 5 < 6: 1 withheld (of 9.5), price at the trigger 6
    assert m.loc[2021, "price"] == approx(6.0)
    assert m.loc[2021, "reserve_withheld"] == approx(1.0)
    # 2022: autarky price 3 < 6.42, but only 1 may be withheld: price c(R + Q) = 4
    assert m.loc[2022, "price"] == approx(4.0)
    assert m.loc[2022, "reserve_withheld"] == approx(1.0)
    assert m.loc[2022, "emissions"] == approx(96.0)


def test_california_quebec_reserve_tiers_and_price_ceiling() -> None:
    # autarky price 80 (R = 80, c = 1); tiers 40 (5 units) and 50 (5 units), then the ceiling
    # at 65 without a limit: c(R − 10) = 70 > 65, so the ceiling sells 80 − 10 − 65 = 5
    tiers = [{"name": "tier 1", "kind": "release", "price": 40.0, "quantity": 5.0},
             {"name": "tier 2", "kind": "release", "price": 50.0, "quantity": 5.0},
             {"name": "price ceiling", "kind": "release", "price": 65.0,
              "source": "17 CCR § 95915(f)(1): $65 in 2021"}]
    m = one({"id": "CA", "bau": 100.0, "cap": 20.0, "mac": {"linear": {"slope": 1.0}},
             "banking": NO_BANK, "reserves": tiers}, [2021])
    assert m.loc[2021, "price"] == approx(65.0)
    assert m.loc[2021, "reserve_released"] == approx(15.0)
    assert m.loc[2021, "compliance_cost"] == approx(65.0 ** 2 / 2 + 40 * 5 + 50 * 5 + 65 * 5)
    # a lower demand stops in the second tier: R = 58, c(R − 5) = 53 > 50 ≥ c(R − 10) = 48
    m = one({"id": "CA", "bau": 100.0, "cap": 42.0, "mac": {"linear": {"slope": 1.0}},
             "banking": NO_BANK, "reserves": tiers}, [2021])
    assert m.loc[2021, "price"] == approx(50.0)
    assert m.loc[2021, "reserve_released"] == approx(5.0 + 3.0)


def test_a_ceiling_in_one_linked_market_caps_the_common_price() -> None:
    # CA (c = 1, R = 80) linked with QC (c = 2, R = 20): common price without the ceiling
    # p = (80 + 20) / (1 + 1/2) = 66.7 > 65 → the ceiling in CA caps both at 65, releasing
    # 100 − 65·1.5 = 2.5
    res = simulate_periods({"name": "t", "periods": [2021], "markets": [
        {"id": "CA", "bau": 100.0, "cap": 20.0, "mac": {"linear": {"slope": 1.0}},
         "reserves": [{"kind": "release", "price": 65.0}]},
        {"id": "QC", "bau": 50.0, "cap": 30.0, "mac": {"linear": {"slope": 2.0}}}],
        "links": [{"between": ["CA", "QC"]}]})
    m = res.markets.xs(2021, level="period")
    assert m.loc["CA", "price"] == approx(65.0) and m.loc["QC", "price"] == approx(65.0)
    assert m.loc["CA", "reserve_released"] == approx(2.5)


def test_floor_and_ceiling_changing_by_period() -> None:
    # a floor rising 10 → 30 and a ceiling 60 → 40 over three periods, R = 20, 40, 70 (c = 1)
    m = one({"id": "X", "bau": [100.0] * 3, "cap": [80.0, 60.0, 30.0],
             "mac": {"linear": {"slope": 1.0}}, "banking": NO_BANK,
             "reserves": [{"name": "floor", "kind": "withhold", "price": [10.0, 20.0, 30.0]},
                          {"name": "ceiling", "kind": "release", "price": [60.0, 50.0, 40.0]}]},
            [2030, 2031, 2032])
    assert [m.loc[y, "price"] for y in (2030, 2031, 2032)] == [approx(20.0), approx(40.0),
                                                                approx(40.0)]
    assert m.loc[2032, "reserve_released"] == approx(30.0)
    # a floor above the autarky price withholds up to the cap
    m = one({"id": "X", "bau": [100.0], "cap": [95.0], "mac": {"linear": {"slope": 1.0}},
             "banking": NO_BANK,
             "reserves": [{"kind": "withhold", "price": [30.0]}]}, [2030])
    assert m.loc[2030, "price"] == approx(30.0)
    assert m.loc[2030, "reserve_withheld"] == approx(25.0)


def test_reserve_tiers_need_periods_and_one_value_per_period() -> None:
    with pytest.raises(DocumentError, match=r"reserves"):
        load_scenario({"markets": [{"id": "A", "bau": 1.0, "cap": 1.0,
                                    "mac": {"linear": {"slope": 1.0}},
                                    "reserves": [{"kind": "release", "price": 1.0}]}]})
    with pytest.raises(DocumentError, match=r"reserves\[0\]\.price.*2 values for 3 periods"):
        load_scenario({"periods": [1, 2, 3], "markets": [{
            "id": "A", "bau": 1.0, "cap": 1.0, "mac": {"linear": {"slope": 1.0}},
            "reserves": [{"kind": "release", "price": [1.0, 2.0]}]}]})
    with pytest.raises(DocumentError, match=r"quantity"):
        load_scenario({"periods": [1], "markets": [{
            "id": "A", "bau": 1.0, "cap": 1.0, "mac": {"linear": {"slope": 1.0}},
            "reserves": [{"kind": "release", "price": 1.0, "quantity": -1.0}]}]})


# ------------------------------------------------------------------------------------------
# the MSR as a fixed point of the multi-period program
# ------------------------------------------------------------------------------------------
def test_msr_fixed_point_against_the_hand_solution() -> None:
    # one market, c = 1, bau 100 a year, caps 150, 80, 40, no discounting, unlimited banking:
    # the price is the same in every period while the bank is positive, a = p / c a period.
    # The MSR (24 % of the TNAC above 10, no band, no release, no holding limit; model units)
    # takes I1 = 0.24·bank0 from period 2's cap and I2 = 0.24·bank1 from period 3's:
    #   bank0 = 50 + a, I1 = 12 + 0.24a, bank1 = bank0 + 80 − I1 − 100 + a = 18 + 1.76a,
    #   I2 = 4.32 + 0.4224a, and the cumulative balance 3a = 30 + I1 + I2 gives
    #   a = 46.32 / 2.3376.
    a = 46.32 / 2.3376
    msr = {"rate": 0.24, "upper": 10.0, "lower": 0.0, "release": 0.0, "band_upper": None,
           "holding_limit": None}
    res = simulate_periods({"name": "msr", "periods": [2024, 2025, 2026], "markets": [
        {"id": "EU", "bau": [100.0] * 3, "cap": [150.0, 80.0, 40.0],
         "mac": {"linear": {"slope": 1.0}}, "msr": msr}]})
    assert res.status == "optimal" and not res.warnings
    m = res.markets.xs("EU", level="market")
    i1, i2 = 12 + 0.24 * a, 4.32 + 0.4224 * a
    assert [m.loc[y, "price"] for y in (2024, 2025, 2026)] == [approx(a)] * 3
    assert m.loc[2024, "banked"] == approx(50 + a)
    assert m.loc[2025, "banked"] == approx(18 + 1.76 * a)
    assert [m.loc[y, "msr_adjustment"] for y in (2024, 2025, 2026)] == [
        approx(0.0), approx(-i1), approx(-i2)]
    assert m.loc[2026, "msr_holdings"] == approx(i1 + i2)
    assert res.totals["msr_intake"] == approx(i1 + i2)
    assert res.totals["emissions"] == approx(270.0 - i1 - i2)
    # without the MSR the price is 10: the intake raises it to 19.8
    base = simulate_periods({"name": "no msr", "periods": [2024, 2025, 2026], "markets": [
        {"id": "EU", "bau": [100.0] * 3, "cap": [150.0, 80.0, 40.0],
         "mac": {"linear": {"slope": 1.0}}}]})
    assert base.markets["price"].tolist() == [approx(10.0)] * 3


def test_msr_release_and_invalidation_in_the_program() -> None:
    # without banking the TNAC is 0 (< `lower`): the MSR releases 5 of its 20 into the next
    # period's auctions; of the 15 left, the 7 above the holding limit of 8 are invalidated
    msr = {"rate": 0.24, "upper": 1000.0, "lower": 50.0, "release": 5.0, "band_upper": None,
           "holding_limit": 8.0, "initial_holdings": 20.0}
    res = simulate_periods({"name": "msr", "periods": [2024, 2025], "markets": [
        {"id": "EU", "bau": [100.0, 100.0], "cap": [90.0, 90.0],
         "mac": {"linear": {"slope": 1.0}}, "banking": NO_BANK, "msr": msr}]})
    m = res.markets.xs("EU", level="market")
    # no bank (TNAC 0 < 50): 5 released into 2025 from the 20 held; 15 left, 7 above 8 invalid
    assert m.loc[2025, "msr_adjustment"] == approx(5.0)
    assert m.loc[2025, "msr_invalidated"] == approx(7.0)
    assert m.loc[2025, "msr_holdings"] == approx(8.0)
    assert m.loc[2025, "price"] == approx(5.0)  # R = 10 − 5 released
    assert m.loc[2024, "price"] == approx(10.0)


def test_msr_first_period_from_the_published_tnac_in_mt() -> None:
    # a scenario in Mt (scale 1e6) starting in 2026 from the published TNAC of 2025
    # (1,023,494,202, in the 833–1,096 M band: intake TNAC − 833 M = 190,494,202) and the 400 M
    # held on 1 Jan 2026; no banking, so the later TNACs are 0 and release 100 M a year
    msr = {"scale": 1e6, "initial_tnac": 1_023_494_202, "initial_holdings": 400e6}
    res = simulate_periods({"name": "eu", "periods": [2026, 2027], "markets": [
        {"id": "EU", "bau": [1000.0, 1000.0], "cap": [900.0, 900.0],
         "mac": {"linear": {"slope": 0.5}}, "banking": NO_BANK, "msr": msr}]})
    m = res.markets.xs("EU", level="market")
    assert m.loc[2026, "msr_adjustment"] == approx(-190.494202)
    # 400 + 190.49 held, the 190.49 above 400 M invalidated
    assert m.loc[2026, "msr_invalidated"] == approx(190.494202)
    assert m.loc[2026, "msr_holdings"] == approx(400.0)
    assert m.loc[2026, "price"] == approx(0.5 * (100 + 190.494202))
    assert m.loc[2027, "msr_adjustment"] == approx(100.0)  # TNAC 0 < 400 M: 100 M released
    assert m.loc[2027, "price"] == approx(0.0)
    assert m.loc[2026, "cap"] == 900.0  # the cap as issued; the MSR's change is its own column


def test_msr_without_a_fixed_point_in_the_rounds_is_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import carbonlink.markets.multiperiod as mp

    monkeypatch.setattr(mp, "MSR_MAX_ROUNDS", 1)  # one round cannot confirm a fixed point
    res = simulate_periods({"name": "msr", "periods": [2024, 2025, 2026], "markets": [
        {"id": "EU", "bau": [100.0] * 3, "cap": [150.0, 80.0, 40.0],
         "mac": {"linear": {"slope": 1.0}},
         "msr": {"upper": 10.0, "lower": 0.0, "band_upper": None, "holding_limit": None}}]})
    assert any("no fixed point" in w for w in res.warnings)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def test_shipped_rggi_example_numbers() -> None:
    m = simulate_periods(EXAMPLES / "rggi-reserves.yaml").markets.xs("RGGI", level="market")
    # 2021: R = 80 − 75.15 = 4.85 < ECR trigger 6: 1.15 withheld; 2022: R = 13.13 between 6.42
    # and 13.91; 2023: R = 15.40 ≥ 14.88, R − 10 % cap < 14.88: released 15.40 − 14.88
    assert [m.loc[y, "price"] for y in (2021, 2022, 2023, 2024)] == [
        approx(6.00), approx(13.13), approx(14.88), approx(15.92)]
    assert m.loc[2021, "reserve_withheld"] == approx(1.15)
    assert m.loc[2023, "reserve_released"] == approx(86 - 70.60 - 14.88)
    assert m.loc[2024, "reserve_released"] == approx(86 - 68.32 - 15.92)


def test_shipped_eu_msr_example_fixed_point_by_hand() -> None:
    res = simulate_periods(EXAMPLES / "eu-msr.yaml")
    assert res.status == "optimal" and not res.warnings
    m = res.markets.xs("EU", level="market")
    intake = 1_023_494_202 / 1e6 - 833.0
    supply = 1_023.494202 + 5_650.0 - intake + 100.0  # the 2030 release
    abated = 5 * 1_350.0 - supply
    p0 = 2.0 * abated / sum(1.05 ** t for t in range(5))
    assert m.loc[2026, "price"] == approx(p0)
    assert m.loc[2030, "price"] == approx(p0 * 1.05 ** 4)
    assert [m.loc[y, "msr_adjustment"] for y in range(2026, 2031)] == [
        approx(-intake), approx(0.0), approx(0.0), approx(0.0), approx(100.0)]
    # the regime is consistent: banks below 833 M after 2026, below 400 M at the end of 2029
    assert max(m.loc[y, "banked"] for y in range(2026, 2030)) < 833.0
    assert m.loc[2029, "banked"] < 400.0 < m.loc[2028, "banked"]


# ------------------------------------------------------------------------------------------
# cross-check: a tier is the same column as the program's price_ceiling / price_floor
# ------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slopes=st.lists(st.floats(0.5, 5.0), min_size=1, max_size=2),
    rate=st.floats(0.0, 0.08),
    ceiling=st.floats(5.0, 80.0), release=st.one_of(st.none(), st.floats(0.0, 20.0)),
    floor_share=st.floats(0.0, 0.9), withheld=st.one_of(st.none(), st.floats(0.0, 20.0)),
    data=st.data(),
)
def test_tiers_equal_the_programs_ceiling_and_floor(
        slopes: list[float], rate: float, ceiling: float, release: float | None,
        floor_share: float, withheld: float | None, data: st.DataObject) -> None:
    """A release tier at a fixed price is the program's ``price_ceiling`` and a withhold tier its
    ``price_floor`` (the plain formulation): same abatement in every period and market, same
    present value of compliance costs, with banking, discounting and a link."""
    years = [2030, 2031, 2032]
    floor = floor_share * ceiling
    markets_plain, markets_tier = [], []
    for k, s in enumerate(slopes):
        bau = data.draw(st.lists(st.floats(20.0, 100.0), min_size=3, max_size=3))
        cap = [b * data.draw(st.floats(0.3, 1.1)) for b in bau]
        base = {"id": f"M{k}", "bau": bau, "cap": cap, "mac": {"linear": {"slope": s}}}
        markets_plain.append({**base, "price_ceiling": {"price": ceiling, "max_release": release},
                              "price_floor": {"price": floor, "max_withheld": withheld}})
        markets_tier.append({**base, "reserves": [
            {"kind": "release", "price": ceiling, "quantity": release},
            {"kind": "withhold", "price": floor, "quantity": withheld}]})
    links = [{"between": ["M0", "M1"]}] if len(slopes) == 2 else []
    plain = simulate_periods({"name": "p", "periods": years, "discount_rate": rate,
                              "markets": markets_plain, "links": links})
    tier = simulate_periods({"name": "t", "periods": years, "discount_rate": rate,
                             "markets": markets_tier, "links": links})
    assert plain.status == tier.status == "optimal"
    scale = max(1.0, float(plain.markets["bau"].max()))
    for a, b in zip(plain.markets["abatement"], tier.markets["abatement"], strict=True):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-6 * scale)
    assert tier.totals["compliance_cost_pv"] == pytest.approx(
        plain.totals["compliance_cost_pv"], rel=1e-6, abs=1e-6 * scale * ceiling)
    released = plain.markets["ceiling_released"].sum()
    assert tier.markets["reserve_released"].sum() == pytest.approx(released, rel=1e-6,
                                                                    abs=1e-6 * scale)


def test_simulate_cli_shows_the_reserve_and_msr_columns(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.markets.test_cli import run

    monkeypatch.setenv("COLUMNS", "220")  # a wide terminal: the headers are not cut

    code, out, _ = run(["simulate", str(EXAMPLES / "rggi-reserves.yaml")], capsys)
    assert code == 0 and "reserve" in out and "withheld" in out and "msr" not in out
    code, out, _ = run(["simulate", str(EXAMPLES / "eu-msr.yaml")], capsys)
    assert code == 0 and "msr" in out and "holdings" in out
    code, out, _ = run(["simulate", str(EXAMPLES / "banking-three-periods.yaml")], capsys)
    assert code == 0 and "reserve" not in out and "msr" not in out


def test_an_unforeseen_delinking_keeps_the_later_periods_tiers_and_the_msr_state() -> None:
    from carbonlink.markets.multiperiod import unexpected_delinking

    doc = {"name": "d", "periods": [2030, 2031, 2032], "markets": [
        {"id": "A", "bau": [100.0] * 3, "cap": [70.0, 70.0, 70.0],
         "mac": {"linear": {"slope": 1.0}}, "banking": NO_BANK,
         "reserves": [{"kind": "release", "price": [10.0, 20.0, 25.0], "quantity": [1.0, 2.0, 3.0]}],
         "msr": {"scale": 1.0, "upper": 1e9, "lower": 5.0, "release": 4.0, "band_upper": None,
                 "holding_limit": None, "initial_holdings": 50.0}},
        {"id": "B", "bau": [50.0] * 3, "cap": [45.0] * 3, "mac": {"linear": {"slope": 2.0}},
         "banking": NO_BANK}],
        "links": [{"between": ["A", "B"]}]}
    d = unexpected_delinking(doc, 2030)
    m = d.after.markets.xs("A", level="market")
    # after 2030 A is alone (R = 30): the MSR (no bank, TNAC 0 < 5) releases 4 a year from the
    # 50 it held at the delinking (no adjustment in 2030: no TNAC before the first period), and
    # the tiers of 2031 (20, 2 units: 30 − 4 − 2 = 24 ≥ 20, sold out) and 2032 (25, 3 units:
    # 30 − 4 − 3 = 23 < 25, price 25 with 1 released) apply
    assert d.planned.markets.loc[(2030, "A"), "msr_holdings"] == approx(50.0)
    assert m.loc[2031, "msr_adjustment"] == approx(4.0)
    assert m.loc[2031, "price"] == approx(24.0)
    assert m.loc[2031, "reserve_released"] == approx(2.0)
    assert m.loc[2032, "price"] == approx(25.0)
    assert m.loc[2032, "reserve_released"] == approx(1.0)
    assert m.loc[2032, "msr_holdings"] == approx(42.0)


@given(data=st.data())
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_damaged_stability_documents_never_raise(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 data: st.DataObject) -> None:
    """Random damage to the shipped reserve and MSR examples: exit 0, 1 or 2 with a message,
    never a traceback."""
    doc = yaml.safe_load((EXAMPLES / data.draw(st.sampled_from(
        ["rggi-reserves.yaml", "eu-msr.yaml"]))).read_text())
    where = data.draw(st.sampled_from(paths(doc)))
    fuzz_run(tmp_path, "simulate", damaged(doc, where, data.draw(JUNK),
                                           data.draw(st.booleans()) and bool(where)), capsys)


@pytest.mark.parametrize("example", ["banking-three-periods.yaml", "eu-msr.yaml",
                                     "rggi-reserves.yaml"])
def test_a_rescaled_program_has_the_same_solution(example: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry after HiGHS's "Solve error" (multiperiod.RESCALE) solves the same program in
    smaller quantity units: every price and abatement equal at each scale."""
    import numpy as np

    from carbonlink.markets import multiperiod as mp

    path = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / example
    results = []
    for scale in mp.RESCALE:
        monkeypatch.setattr(mp, "RESCALE", (scale,))
        results.append(simulate_periods(path))
    for r in results[1:]:
        for col in ("price", "abatement"):
            a, b = results[0].markets[col].to_numpy(), r.markets[col].to_numpy()
            assert np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(a).max())))


def test_solve_error_is_retried_at_the_next_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS's "Solve error" at one quantity scale: the next scale's solution is returned; at
    every scale: the error reaches the caller (never a silent result)."""
    from carbonlink.markets import multiperiod as mp

    real = mp._solve_periods
    tried: list[float] = []

    def flaky(pa: Any, *, links: bool, rescale: float) -> Any:
        tried.append(rescale)
        if rescale == mp.RESCALE[0]:
            raise mp._SolveError("HiGHS stopped with status Solve error")
        return real(pa, links=links, rescale=rescale)

    monkeypatch.setattr(mp, "_solve_periods", flaky)
    path = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "eu-msr.yaml"
    assert simulate_periods(path).status == "optimal"
    assert tried[:2] == [mp.RESCALE[0], mp.RESCALE[1]]

    def broken(pa: Any, *, links: bool, rescale: float) -> Any:
        raise mp._SolveError("HiGHS stopped with status Solve error")

    monkeypatch.setattr(mp, "_solve_periods", broken)
    with pytest.raises(SolverError, match="Solve error"):
        simulate_periods(path)


def test_a_cycling_qp_ends_in_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged RGGI document (found by the property test above: the emissions containment
    reserve's first trigger price 30,881, the rest ~7) makes HiGHS 1.16's QP solver cycle at
    every quantity scale. The solver's iterations are capped (``multiperiod.QP_ITERATIONS``), so
    the run ends: solved, or a SolverError naming the limit — and the CLI exits 1 with that
    message, no traceback. Before the cap ``simulate`` ran for ever."""
    from carbonlink.markets import multiperiod as mp

    doc = yaml.safe_load((EXAMPLES / "rggi-reserves.yaml").read_text())
    (ecr,) = [r for r in doc["markets"][0]["reserves"] if r["kind"] == "withhold"]
    ecr["price"] = [30881, 6.42, 6.87, 7.35]
    limits: list[int] = []
    make = mp._new_highs

    def capped() -> Any:
        h = make()
        set_option = h.setOptionValue

        def spy(name: str, value: Any) -> Any:
            if name == "qp_iteration_limit":
                limits.append(int(value))
            return set_option(name, value)
        h.setOptionValue = spy
        return h
    monkeypatch.setattr(mp, "_new_highs", capped)
    try:
        result = simulate_periods(doc)
        assert result.markets["price"].notna().all()
    except SolverError as exc:
        assert "Iteration limit" in str(exc)
    assert limits and all(0 < n < 2**31 - 1 for n in limits)
    monkeypatch.undo()
    fuzz_run(tmp_path, "simulate", doc, capsys)      # exit 0, 1 or 2 with a message
