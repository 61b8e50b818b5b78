"""The assess report's Uncertainty section (issue 12, point 6): there with an `uncertainty`
block, absent without; the fan chart's 5/50/95 % equal the summary's; the transmission slope is
the least-squares slope of the samples; bad input exits 2 before any work."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from carbonlink.assess.pipeline import assess
from carbonlink.errors import DocumentError
from carbonlink.markets.uncertainty import draw_factors, gain_split, run_samples, summarise
from carbonlink.model.io import load_scenario
from carbonlink.reporting.render import render_html, render_json, render_markdown
from carbonlink.reporting.report import build_report
from carbonlink.reporting.uncertainty_charts import uncertainty_charts, uncertainty_mapping

REPO = Path(__file__).resolve().parents[2]
EU_CH = REPO / "examples" / "agreements" / "eu-switzerland.yaml"
UNC = {"seed": 7, "shocks": [
    {"market": "EU_ETS", "variable": "bau", "distribution": "lognormal", "sigma": 0.04},
    {"market": "CH_ETS", "variable": "bau", "distribution": "lognormal", "sigma": 0.08}],
    "correlation": [[1.0, 0.2], [0.2, 1.0]]}
N = 40


@pytest.fixture(scope="module")
def uncertain_assessment() -> Any:
    doc = yaml.safe_load(EU_CH.read_text(encoding="utf-8"))
    doc["uncertainty"] = UNC
    return assess(doc, source="eu-ch-uncertain", with_sensitivity=False, samples=N,
                  as_of="2025-06-01")


@pytest.fixture(scope="module")
def uncertain_report(uncertain_assessment: Any) -> dict[str, Any]:
    return build_report(uncertain_assessment)


def test_the_section_appears_with_an_uncertainty_block(uncertain_report: dict[str, Any]) -> None:
    rep = uncertain_report
    u = rep["uncertainty"]
    assert u["samples"] == N and [d["id"] for d in u["designs"]][0] == "autarky"
    html = render_html(rep)
    assert '<section id="uncertainty">' in html
    for cid in ("uncertainty-fan", "uncertainty-transmission", "uncertainty-gains"):
        m = re.search(rf'<figure class="chart" id="chart-{cid}"><h4>([^<]+)</h4><svg.*?'
                      r"<figcaption>([^<]+)</figcaption>", html, re.S)
        assert m is not None, cid
        assert m.group(1).strip() and m.group(2).startswith("Source: carbonlink Monte Carlo")
    assert "## Uncertainty" in render_markdown(rep)
    assert '"uncertainty"' in render_json(rep)


def test_no_section_and_no_key_without_a_block() -> None:
    a = assess(EU_CH, with_sensitivity=False, as_of="2025-06-01")
    rep = build_report(a)
    assert "uncertainty" not in rep
    assert 'id="uncertainty"' not in render_html(rep)
    assert "## Uncertainty" not in render_markdown(rep)
    assert uncertainty_charts(rep) == []


def test_samples_without_a_block_is_bad_input_naming_the_option() -> None:
    with pytest.raises(DocumentError) as exc:
        assess(EU_CH, with_sensitivity=False, samples=10, as_of="2025-06-01")
    assert "--samples" in str(exc.value) and "uncertainty" in str(exc.value)


def test_a_shock_on_an_unlinked_market_names_the_field() -> None:
    doc = yaml.safe_load(EU_CH.read_text(encoding="utf-8"))
    doc["uncertainty"] = {"shocks": [{"market": "KOR_ETS", "variable": "bau",
                                      "distribution": "lognormal", "sigma": 0.1}]}
    with pytest.raises(DocumentError) as exc:
        assess(doc, with_sensitivity=False, as_of="2025-06-01")
    assert "uncertainty.shocks[0].market" in str(exc.value)


def test_the_fan_quantiles_are_the_summary_numbers() -> None:
    """On the CA–QC example (seven periods): the bands the fan chart draws at 5, 50 and 95 %
    are summarise()'s q05, q50, q95 of the same samples; 25 and 75 % lie between them."""
    linked = load_scenario(REPO / "examples" / "scenarios" / "ca-qc-risk-sharing.yaml")
    designs = [("autarky", "Autarky (no link)", linked.model_copy(update={"links": []})),
               ("linked", "Full link", linked)]
    n = 60
    u = uncertainty_mapping(designs, n)
    frame = run_samples([sc for _, _, sc in designs], n, name="x")
    summary = summarise(frame).set_index(["design", "market", "variable"])
    assert len(u["bands"]) == 2 * 2 * 7
    for b in u["bands"]:
        s = summary.loc[({"autarky": 0, "linked": 1}[b["design"]], b["market"],
                         f"price|{b['year']}")]
        assert (b["q05"], b["q50"], b["q95"]) == (s["q05"], s["q50"], s["q95"])
        assert b["q05"] <= b["q25"] <= b["q50"] <= b["q75"] <= b["q95"]
    # the split is gain_split's
    split = gain_split(summarise(frame), [sc for _, _, sc in designs]).set_index(
        ["design", "market", "variable"])
    for g in u["gains"]:
        d = {"autarky": 0, "linked": 1}[g["design"]]
        assert g["effort_sharing"] == pytest.approx(
            split.loc[(d, g["market"], "gain|effort_sharing"), "mean"])
    # the transmission slope is the least-squares slope of all samples (QC's price on CA's shock)
    x = draw_factors(linked.uncertainty, n)[:, 0]  # type: ignore[arg-type]
    y = frame[(frame["design"] == 1) & (frame["market"] == "QC")
              & (frame["variable"] == "price|2024")].sort_values("sample")["value"].to_numpy()
    t = next(r for r in u["transmission"] if r["shock_market"] == "CA" and r["market"] == "QC"
             and r["design"] == "linked")
    assert t["slope"] == pytest.approx(float(np.polyfit(x, y, 1)[0]), rel=1e-9)
    # (autarky's slope is not zero here: QC's own shock is correlated with CA's, 0.3)
    # the charts draw from this mapping alone, with titles and source captions
    charts = uncertainty_charts({"lang": "en", "uncertainty": u})
    assert [c.id for c in charts] == ["uncertainty-fan", "uncertainty-transmission",
                                      "uncertainty-gains"]
    assert all(c.svg.startswith("<svg") and c.title and c.caption for c in charts)


def test_the_chinese_report_translates_the_section(uncertain_report: dict[str, Any]) -> None:
    rep = {**uncertain_report, "lang": "zh"}
    html = render_html(rep)
    assert "Uncertainty</h2>" not in html and 'id="uncertainty"' in html


def test_a_shock_on_one_market_moves_the_partner_price_only_when_linked() -> None:
    """California's BAU alone is shocked: in autarky Québec's price does not move at all (slope
    0); linked it moves with California's shock (the transmission the seed warns of)."""
    linked = load_scenario(REPO / "examples" / "scenarios" / "ca-qc-risk-sharing.yaml")
    unc = linked.uncertainty.model_copy(update={  # type: ignore[union-attr]
        "shocks": linked.uncertainty.shocks[:1], "correlation": None})  # type: ignore[union-attr]
    linked = linked.model_copy(update={"uncertainty": unc})
    designs = [("autarky", "Autarky (no link)", linked.model_copy(update={"links": []})),
               ("linked", "Full link", linked)]
    u = uncertainty_mapping(designs, 30)
    slopes = {r["design"]: r["slope"] for r in u["transmission"]
              if (r["shock_market"], r["market"]) == ("CA", "QC")}
    assert abs(slopes["autarky"]) < 1e-6
    assert slopes["linked"] > 10.0  # USD/t per unit of the factor (0.1 per +1 %)
    assert [r for r in u["transmission"] if r["shock_market"] == "QC"] == []


def test_the_cli_writes_the_section_and_refuses_samples_without_a_block(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.markets.test_cli import run

    doc = yaml.safe_load(EU_CH.read_text(encoding="utf-8"))
    doc["uncertainty"] = UNC
    agreement = tmp_path / "eu-ch-uncertain.yaml"
    agreement.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "report.md"
    code, _, _ = run(["assess", str(agreement), "--samples", "12", "--no-sensitivity", "-q",
                      "--as-of", "2025-06-01", "-o", str(out)], capsys)
    assert code == 0
    text = out.read_text(encoding="utf-8")
    assert "## Uncertainty" in text and "12 samples per design" in text
    bad = tmp_path / "bad.md"
    code, _, err = run(["assess", str(EU_CH), "--samples", "12", "--no-sensitivity", "-q",
                        "-o", str(bad)], capsys)
    assert code == 2 and "--samples" in err and not bad.exists()


def test_the_notebook_plot_names_the_uncertainty_charts(uncertain_assessment: Any) -> None:
    ids = [c.id for c in uncertain_assessment.plot()]
    assert ids[-3:] == ["uncertainty-fan", "uncertainty-transmission", "uncertainty-gains"]
    assert uncertain_assessment.plot("uncertainty-gains").svg.startswith("<svg")


def test_the_workbook_has_an_uncertainty_sheet_with_the_fan_numbers(
        uncertain_report: dict[str, Any]) -> None:
    import io

    from openpyxl import load_workbook

    from carbonlink.reporting.export import SHEETS, render_xlsx

    wb = load_workbook(io.BytesIO(render_xlsx(uncertain_report)))
    assert wb.sheetnames == [*SHEETS, "Uncertainty"]
    rows = list(wb["Uncertainty"].iter_rows(values_only=True))
    first = uncertain_report["uncertainty"]["bands"][0]
    assert rows[1][:3] == (first["design"], first["market"], None)
    # numbers as cells (the workbook keeps 15 significant digits)
    assert list(rows[1][3:8]) == pytest.approx(
        [first["q05"], first["q25"], first["q50"], first["q75"], first["q95"]], rel=1e-13)
