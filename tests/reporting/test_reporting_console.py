"""Console tables read a result's frames and print every market and link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.console import Console

from carbonlink.reporting.console import fmt_num, simulation_tables


@dataclass
class FakeResult:
    status: str = "optimal"
    markets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"price": [50.0, 50.0], "autarky_price": [80.0, 20.0], "emissions": [90.0, 40.0],
         "gain": [1.5, 2.25], "offsets_used": [0.0, 0.0]}, index=pd.Index(["A", "B"], name="id")))
    links: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        [{"from": "B", "to": "A", "flow": 3.0, "credited": 3.0, "tax_revenue": 0.0,
          "quota_rent": 0.0, "binding": False}]))
    offsets: pd.DataFrame = field(default_factory=pd.DataFrame)
    totals: dict[str, Any] = field(default_factory=lambda: {"emissions": 130.0, "gain": 3.75})


def test_tables_show_markets_links_totals() -> None:
    tables = simulation_tables(FakeResult())
    assert len(tables) == 4
    console = Console(record=True, width=200)
    for t in tables:
        console.print(t)
    text = console.export_text()
    assert "autarky price" in text and "flow" in text and "3.75" in text
    assert "offsets used" not in text  # all-zero optional columns are left out


def test_fmt_num() -> None:
    assert fmt_num(1234567.89) == "1,234,568"
    assert fmt_num(0.0) == "0"
    assert fmt_num(12.3456) == "12.35"
    assert fmt_num(float("nan")) == "–"
    assert fmt_num(None) == "–"
