"""`carbonlink simulate` on a multi-period scenario at 80 columns: one table per market with
variables down and periods across, no line longer than the terminal and no number wrapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonlink.markets.multiperiod import simulate_periods
from carbonlink.reporting.console import fmt_num
from tests.markets.test_cli import run

EXAMPLES = Path(__file__).parents[2] / "examples" / "scenarios"


@pytest.mark.parametrize("name", ["eu-msr.yaml", "rggi-reserves.yaml", "ca-qc-risk-sharing.yaml",
                                  "banking-three-periods.yaml"])
def test_the_periods_table_fits_80_columns_with_every_number_whole(
        name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(["simulate", str(EXAMPLES / name)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    res = simulate_periods(EXAMPLES / name)
    flat = res.markets.reset_index()
    for market in flat["market"].unique():
        part = flat[flat["market"] == market]
        # each price row carries the period's price written whole (not cut over two lines)
        prices = [fmt_num(v) for v in part["price"]]
        price_lines = [ln for ln in lines if ln.strip("│ ").startswith("price ")]
        for p in prices:
            assert any(p in ln for ln in price_lines), (market, p)
    # every period is a column heading of some table
    for year in res.scenario.periods or []:
        assert any(str(year) in ln for ln in lines)


def test_a_wide_terminal_keeps_all_periods_in_one_table_per_market(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(["simulate", str(EXAMPLES / "ca-qc-risk-sharing.yaml")], capsys)
    assert code == 0
    titles = [ln.strip() for ln in out.splitlines() if "2024–2030 (optimal)" in ln]
    assert titles == ["CA, 2024–2030 (optimal)", "QC, 2024–2030 (optimal)"]
    assert len(titles) == 2  # CA and QC, each with all seven periods


def test_reserve_and_msr_rows_appear_only_where_the_scenario_has_them(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = run(["simulate", str(EXAMPLES / "eu-msr.yaml")], capsys)
    assert "msr invalidated" in out and "reserve released" not in out
    _, out, _ = run(["simulate", str(EXAMPLES / "rggi-reserves.yaml")], capsys)
    assert "reserve withheld" in out and "msr" not in out
