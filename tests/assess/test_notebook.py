"""Notebook use: ``carbonlink.assess(...)`` at the top level, the decision box as
``_repr_html_``, charts from ``.plot()``, ``.save()`` in any report format."""

from __future__ import annotations

from pathlib import Path

import pytest

import carbonlink
from tests.assess.conftest import EXAMPLES


def test_top_level_assess_repr_plot_and_save(tmp_path: Path) -> None:
    a = carbonlink.assess(EXAMPLES / "eu-switzerland.yaml", with_sensitivity=False)
    assert type(a).__name__ == "Assessment"
    html = a._repr_html_()
    assert 'id="decision"' in html and a.decision["line"].split(":")[0] in html
    assert "<script" not in html and "<html" not in html  # a fragment for a notebook cell
    charts = a.plot()
    assert {"prices", "gains"} <= {c.id for c in charts}
    assert a.plot("gains")._repr_svg_().startswith("<svg")
    with pytest.raises(KeyError):
        a.plot("nope")
    out = a.save(tmp_path / "r.xlsx")
    assert out.read_bytes()[:2] == b"PK"
    # the subpackage stays importable next to the callable
    from carbonlink.assess.pipeline import Assessment

    assert isinstance(a, Assessment) and callable(carbonlink.assess)


SCENARIO = {"name": "EU–CH <toy>",
            "markets": [{"id": "EU", "bau": 100, "cap": 80, "currency": "EUR",
                         "mac": {"linear": {"slope": 2}}},
                        {"id": "CH", "bau": 5, "cap": 4.5, "currency": "EUR",
                         "mac": {"linear": {"slope": 40}}}],
            "links": [{"between": ["EU", "CH"]}]}


def test_top_level_check_and_simulate_are_the_library_functions() -> None:
    from carbonlink.agreements.engine import check
    from carbonlink.markets.equilibrium import simulate

    assert carbonlink.check is check and carbonlink.simulate is simulate


def test_simulation_result_repr_html_names_units_and_every_market() -> None:
    import re

    r = carbonlink.simulate(SCENARIO)
    html = r._repr_html_()
    assert "<script" not in html and "<html" not in html
    assert "EU–CH &lt;toy&gt;" in html  # escaped
    assert "price (EUR/tCO2e)" in html and "gain (EUR)" in html and "flow (tCO2e)" in html
    rows = re.findall(r"<tr><td>(EU|CH)</td><td class=\"num\">([^<]+)</td>", html)
    assert [m for m, _ in rows] == ["EU", "CH"]
    # the shown price is the result's price (both markets clear at one price)
    price = float(r.markets.loc["EU", "price"])
    assert [float(p.replace(",", "")) for _, p in rows] == pytest.approx([price, price], rel=1e-3)
    no_currency = carbonlink.simulate({**SCENARIO, "markets": [
        {k: v for k, v in m.items() if k != "currency"} for m in SCENARIO["markets"]]})
    assert "currency not stated" in no_currency._repr_html_()


def test_simulation_result_plot_draws_prices_gains_and_flows() -> None:
    r = carbonlink.simulate(SCENARIO)
    charts = r.plot()
    assert [c.id for c in charts] == ["prices", "gains", "flows"]
    for c in charts:
        assert c._repr_svg_().startswith("<svg") and "<script" not in c.svg
    gains = r.plot("gains")
    # one panel (own axis) per market, each gain written on its bar: the small one readable too
    assert gains.svg.count('id="axes_') == 2
    small = min(float(g) for g in r.markets["gain"])
    from carbonlink.reporting.plots import _compact

    assert small > 0 and f">{_compact(small)}<" in gains.svg
    assert "EUR/tCO2e" in r.plot("prices").svg
    with pytest.raises(KeyError):
        r.plot("nope")
    unlinked = carbonlink.simulate({**SCENARIO, "links": []})
    assert [c.id for c in unlinked.plot()] == ["prices", "gains"]  # no flat flow chart


def test_check_report_and_finding_repr_html() -> None:
    import re

    rep = carbonlink.check(EXAMPLES / "defective-draft.yaml", as_of="2026-01-01")
    html = rep._repr_html_()
    assert "<script" not in html
    assert len(re.findall(r"<tr><td class=\"sev-", html)) == len(rep.findings)
    s = rep.summary
    assert f"{s['errors']} errors, {s['warnings']} warnings, {s['info']} info" in html
    first = rep.findings[0]
    assert first.severity == "error"  # errors first
    one = first._repr_html_()
    assert one.count("<tr><td") == 1 and f"<td>{first.rule}</td>" in one


def test_sweep_to_iamc_has_the_pyam_columns_and_one_row_per_value() -> None:
    from carbonlink.markets.sweep import IAMC_COLUMNS, sweep, to_iamc

    frame, samples = sweep(carbonlink.load_scenario(SCENARIO), {"links[*].quota": [0, 1, None]})
    iamc = to_iamc(frame, samples, year=2030)
    assert list(iamc.columns) == IAMC_COLUMNS == ["model", "scenario", "region", "variable", "unit",
                                                  "year", "value"]
    assert iamc.shape == (len(frame), 7)
    assert iamc["year"].dtype.kind == "i" and iamc["value"].dtype.kind == "f"
    assert iamc["scenario"].nunique() == 3
    assert not iamc.duplicated(["model", "scenario", "region", "variable", "year"]).any()
