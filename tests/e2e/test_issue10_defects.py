"""One test per defect listed under "Why" in issue 10 that had none yet (the others:
test_assess_decision.py — currencies, suffixes, exit code, sweep units, IAMC; tests/assess/
test_one_price.py — the contradictory price; tests/assess/test_fx.py — the FX date;
test_report_browser.py — overlapping labels, the printed PDF)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from carbonlink.reporting.plots import _compact, emissions_chart, flows_chart, gains_chart
from carbonlink.reporting.render import render_html
from tests.e2e.test_assess_reports import REPO, run_cli

EUCH = REPO / "examples/agreements/eu-switzerland.yaml"


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("defects") / "r.json"
    code, _ = run_cli("assess", str(EUCH), "--out", str(out), "-q", "--no-fail", "--no-sensitivity")
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_small_gain_stays_readable_beside_a_large_one(rep: dict[str, Any]) -> None:
    """Was: EU's gain (~0.001 M EUR) invisible beside Switzerland's (~0.8 M) on one axis. Now one
    panel per party, each its own scale, the value written on every non-zero bar."""
    chart = gains_chart(rep)
    markets = list(rep["designs"][0]["result"]["markets"])
    assert chart.svg.count('id="axes_') == len(markets) == 2
    agreement = next(d for d in rep["designs"] if d["id"] == "agreement")["result"]["markets"]
    gains = {m: agreement[m]["gain"] * 1e6 for m in markets}  # million EUR → EUR
    small, large = sorted(gains.values())
    assert 0 < small < large / 100  # the case of the issue: two orders of magnitude apart
    for g in gains.values():
        assert f">{_compact(g)}<" in chart.svg, _compact(g)


def test_flat_zero_series_are_not_drawn_but_said(rep: dict[str, Any]) -> None:
    """Was: flat-zero panels drawn. A direction with no flow in any design is left out of the
    flows chart and named in its caption; an all-zero emissions change draws no chart."""
    r = copy.deepcopy(rep)
    for d in r["designs"]:
        for lk in d["result"]["links"]:
            if (lk["from"], lk["to"]) == ("CH_ETS", "EU_ETS"):
                lk["flow"] = 0.0
        d["result"]["totals"]["emissions_change"] = 0.0
    flows = flows_chart(r)
    assert flows is not None
    # the legend names the drawn directions only (design titles also say "One-way …")
    assert ">CH_ETS → EU_ETS<" not in flows.svg and ">EU_ETS → CH_ETS<" in flows.svg
    assert "No units move CH_ETS → EU_ETS in any design." in flows.caption
    assert emissions_chart(r) is None
    for d in r["designs"]:
        for lk in d["result"]["links"]:
            lk["flow"] = 0.0
    assert flows_chart(r) is None


def test_every_number_table_names_its_units(rep: dict[str, Any]) -> None:
    """Was: tables without units or currencies. The designs table is introduced by the units of
    its columns, the link tables name them in each header, the reference data per cell."""
    page = render_html(rep)
    units = rep["units"]
    assert units["currency"] == "EUR" and units["price"] == "EUR/tCO2e"
    intro = page[:page.index('<table class="designs">')].rsplit("<p>", 1)[1]
    assert all(u in intro for u in (units["price"], units["quantity"], units["money"]))
    for head in re.findall(r"<table><thead><tr><th>from</th>.*?</tr>", page):
        assert f"flow ({units['quantity']}/yr)" in head and f"({units['money']}/yr)" in head
    ref = page[page.index("Reference data used"):]
    ref = ref[:ref.index("</table>")]
    assert "MtCO2e" in ref and re.search(r"\d (EUR|CHF)/t", ref)


def test_sweep_keeps_each_market_in_its_own_currency(tmp_path: Path) -> None:
    """Was: `sweep` labelled the CHF market in EUR. --currency only fills markets that state
    none; markets in CHF stay CHF."""
    doc = {"markets": [{"id": "A", "bau": 100, "cap": 80, "currency": "CHF",
                        "mac": {"linear": {"slope": 2}}},
                       {"id": "B", "bau": 50, "cap": 45, "currency": "CHF",
                        "mac": {"linear": {"slope": 1}}}],
           "links": [{"between": ["A", "B"]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = tmp_path / "s.csv"
    code, _ = run_cli("sweep", str(path), "--set", "links[*].quota=0,5", "--out", str(out),
                      "--currency", "EUR")
    assert code == 0
    units = set(pd.read_csv(out)["unit"])
    assert {"CHF/tCO2e", "CHF"} <= units and not any("EUR" in u for u in units)
