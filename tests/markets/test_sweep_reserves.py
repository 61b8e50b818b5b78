"""Sweeps of multi-period scenarios with stability mechanisms export them (issue 12): EU MSR
intake, release, invalidation and holdings; RGGI CCR/ECR per tier; a price ceiling's units — in
the long format (``VARIABLE|YEAR``), in the Monte Carlo rows and in the IAMC shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pytest import approx

from carbonlink.markets.sweep import sweep, to_iamc
from carbonlink.markets.uncertainty import run_samples
from carbonlink.model.io import load_scenario
from carbonlink.model.scenario import Scenario
from tests.markets.test_cli import run

EXAMPLES = Path(__file__).parents[2] / "examples" / "scenarios"


def value(frame: pd.DataFrame, market: str, variable: str, sample: int = 0) -> float:
    hit = frame[(frame["market"] == market) & (frame["variable"] == variable)
                & (frame["sample"] == sample)]
    assert len(hit) == 1, (market, variable, len(hit))
    return float(hit["value"].iloc[0])


def test_an_msr_grid_sweep_exports_intake_release_invalidation_and_holdings() -> None:
    base = load_scenario(EXAMPLES / "eu-msr.yaml")
    frame, samples = sweep(base, {"discount_rate": [0.05, 0.03]})
    # the example's fixed point (its header): 190.49 Mt in 2026, invalidated (400 M held
    # already); 100 M released into 2030
    assert value(frame, "EU", "msr_intake|2026") == approx(190.494202, rel=1e-6)
    assert value(frame, "EU", "msr_invalidated|2026") == approx(190.494202, rel=1e-6)
    assert value(frame, "EU", "msr_release|2030") == approx(100.0, rel=1e-6)
    assert value(frame, "EU", "msr_holdings|2029") == approx(400.0, rel=1e-6)
    assert value(frame, "EU", "msr_intake|2027") == 0.0
    assert value(frame, "EU", "price|2026") == approx(60.45, abs=0.01)
    rows = frame[frame["variable"].str.startswith("msr_")]
    assert set(rows["unit"]) == {"MtCO2e"}
    assert sorted(rows["sample"].unique()) == [0, 1]
    # no reserve rows where the market has none
    assert not frame["variable"].str.startswith(("reserve_", "ceiling_", "floor_")).any()
    # IAMC: the year moves to its column, the variable keeps its name
    iamc = to_iamc(frame, samples, year=2026, periods=base.periods)
    intake = iamc[(iamc["variable"] == "msr_intake") & (iamc["region"] == "EU")]
    assert sorted(intake["year"].unique()) == [2026, 2027, 2028, 2029, 2030]
    first = intake[intake["year"] == 2026]["value"]
    assert list(first) == approx([190.494202] * 2, rel=1e-6)
    assert set(iamc[iamc["variable"] == "gain"]["year"]) == {2026}


def test_rggi_exports_each_reserve_tier_and_the_totals() -> None:
    base = load_scenario(EXAMPLES / "rggi-reserves.yaml")
    frame, samples = sweep(base, {"markets[RGGI].mac.linear.slope": [1.0]})
    # the example's header: 2021 at the ECR trigger with 1.15 withheld; 2023 and 2024 at the
    # CCR trigger with 0.52 and 1.76 released
    assert value(frame, "RGGI", "reserve_withheld|2021") == approx(1.15, abs=0.01)
    assert value(frame, "RGGI", "reserve_withheld|emissions containment reserve|2021") == \
        approx(1.15, abs=0.01)
    assert value(frame, "RGGI", "reserve_released|cost containment reserve|2023") == \
        approx(0.52, abs=0.01)
    assert value(frame, "RGGI", "reserve_released|2024") == approx(1.76, abs=0.01)
    assert value(frame, "RGGI", "reserve_released|2022") == 0.0
    assert not frame["variable"].str.startswith("msr_").any()
    iamc = to_iamc(frame, samples, year=2021, periods=base.periods)
    ccr = iamc[iamc["variable"] == "reserve_released|cost containment reserve"]
    assert sorted(ccr["year"]) == [2021, 2022, 2023, 2024]


def test_a_price_ceiling_exports_its_units() -> None:
    doc = {"name": "ceiling", "periods": [2030, 2031], "markets": [
        {"id": "CA", "currency": "USD", "unit": "MtCO2e", "bau": 100.0, "cap": [80.0, 70.0],
         "mac": {"linear": {"slope": 1.0}}, "banking": {"limit": 0},
         "price_ceiling": {"price": 25.0}}]}
    frame, _ = sweep(load_scenario(doc), {"markets[CA].bau": [100.0]})
    # 2030: R = 20 < 25, nothing released; 2031: R = 30 > 25, 5 units at the ceiling
    assert value(frame, "CA", "ceiling_released|2030") == approx(0.0, abs=1e-6)
    assert value(frame, "CA", "ceiling_released|2031") == approx(5.0, rel=1e-6)
    assert value(frame, "CA", "price|2031") == approx(25.0, rel=1e-6)


def test_monte_carlo_rows_carry_the_reserve_variables() -> None:
    base = load_scenario(EXAMPLES / "rggi-reserves.yaml")
    doc = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["uncertainty"] = {"seed": 3, "shocks": [{"market": "RGGI", "variable": "bau",
                                                  "distribution": "lognormal", "sigma": 0.05}]}
    frame = run_samples([Scenario.model_validate(doc)], 6)
    per = frame[frame["variable"] == "reserve_released|cost containment reserve|2024"]
    assert sorted(per["sample"]) == list(range(6))
    total = frame[frame["variable"] == "reserve_released|2024"].set_index("sample")["value"]
    assert list(per.set_index("sample")["value"]) == approx(list(total), abs=1e-9)


def test_the_cli_writes_msr_columns_in_long_and_iamc_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "msr.csv"
    code, _, _ = run(["sweep", str(EXAMPLES / "eu-msr.yaml"), "--set", "discount_rate=0.05",
                      "-o", str(out)], capsys)
    assert code == 0
    frame = pd.read_csv(out)
    assert "msr_intake|2026" in set(frame["variable"])
    out2 = tmp_path / "msr-iamc.csv"
    code, _, _ = run(["sweep", str(EXAMPLES / "eu-msr.yaml"), "--set", "discount_rate=0.05",
                      "--iamc-year", "2026", "-o", str(out2)], capsys)
    assert code == 0
    iamc = pd.read_csv(out2)
    assert list(iamc.columns) == ["model", "scenario", "region", "variable", "unit", "year",
                                  "value"]
    row = iamc[(iamc["variable"] == "msr_intake") & (iamc["year"] == 2026)]
    assert float(row["value"].iloc[0]) == approx(190.494202, rel=1e-6)
