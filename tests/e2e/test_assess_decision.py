"""``assess`` as a decision: the verdict box, one set of figures with units, a light report,
XLSX and PDF exports, the suffix and exit-code policy, and currencies never silently mixed."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from carbonlink.reporting.verdict import classify, decision, money, plain, tonnes
from tests.e2e.conftest import Assessed
from tests.e2e.test_assess_reports import REPO, run_cli

EUCH = REPO / "examples/agreements/eu-switzerland.yaml"
GHANA = REPO / "examples/agreements/sweden-ghana.yaml"
DEFECTIVE = REPO / "examples/agreements/defective-draft.yaml"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def euch(assess_once: Callable[..., Assessed]) -> dict[str, Any]:
    out = {}
    for ext in ("json", "html"):
        run = assess_once(EUCH, ext)      # the session's EU–CH reports (read only)
        assert run.code == 0
        out[ext] = run.out
    return {"json": json.loads(out["json"].read_text()), "html": out["html"].read_text(),
            "html_path": out["html"]}


def test_verdict_box_on_eu_ch(euch: dict[str, Any]) -> None:
    rep, page = euch["json"], euch["html"]
    d = rep["decision"]
    assert d["action"] in ("link_as_drafted", "link_with_changes", "do_not_link_yet")
    assert d["line"].startswith(d["headline"] + ":")
    # the box comes before every other section and carries its headline
    box = page.index('id="decision"')
    assert box < page.index('id="framing"') and d["line"].split(":")[0] in page[box:box + 600]
    # key figures: 3-5, each naming its unit; money and tonnes in plain rounding
    assert 3 <= len(d["figures"]) <= 5
    assert all(f["unit"] for f in d["figures"])
    gains = next(f for f in d["figures"] if f["id"] == "gains")
    assert re.search(r"Switzerland saves EUR \d+(\.\d+)? M a year", gains["text"]), gains["text"]
    assert re.search(r"European Union EUR [\d,]+$", gains["text"]), gains["text"]
    # the rounded figures agree with the simulation of the agreement as drafted
    agr = next(x for x in rep["designs"] if x["id"] == "agreement")["result"]
    assert gains["values"]["CH_ETS"] == pytest.approx(agr["markets"]["CH_ETS"]["gain"] * 1e6)
    assert money(agr["markets"]["CH_ETS"]["gain"], "EUR") in gains["text"]
    flows = next(f for f in d["figures"] if f["id"] == "flows")
    assert re.search(r"[\d,]+ t a year from European Union to Switzerland", flows["text"])
    assert d["design"] and d["design"]["title"] and "EUR" in d["design"]["reason"]
    # law status and drafting completeness are separate
    assert {"blocking", "required_fixes", "recommendations"} <= set(d["law"])
    assert {"missing_required", "missing_recommended"} <= set(d["drafting"])
    # no internal codes in the box's prose; the glossary maps every rule id shown
    prose = " ".join([d["line"], *(f["text"] for f in d["figures"]), d["design"]["reason"],
                      *(c["text"] for c in d["changes"])])
    assert not re.search(r"\b(S-\d|EL-\d|LEG-|A62-|CMP-|CPT-|FEA-)", prose), prose
    assert {g["id"] for g in rep["glossary"]} == {f["rule"] for f in rep["check"]["findings"]}


def test_classification_reads_severities_generically() -> None:
    """Error in the law → blocking; error elsewhere → required fix; warning → recommendation;
    the drafting group apart. New rule ids and groups need no code change."""
    f = [{"rule": "LEG-99", "severity": "error", "message": "x", "subject": "s", "source": "y"},
         {"rule": "NEW-1", "severity": "error", "message": "x", "subject": "s", "source": "y"},
         {"rule": "FEA-9", "severity": "warning", "message": "x", "subject": "s", "source": "y"},
         {"rule": "CMP-Z", "severity": "error", "message": "EL-01 title: missing", "subject": "s",
          "source": "y"},
         {"rule": "CMP-Z", "severity": "warning", "message": "z", "subject": "s", "source": "y"}]
    b = classify(f)
    assert [len(b[k]) for k in ("blocking", "required", "recommended", "drafting_required",
                                "drafting_recommended")] == [1, 1, 1, 1, 1]
    base = {"framing": {"parties": []}, "simulated": False, "designs": []}
    assert decision({**base, "check": {"findings": f}})["action"] == "do_not_link_yet"
    assert decision({**base, "check": {"findings": f[1:]}})["action"] == "link_with_changes"
    assert decision({**base, "check": {"findings": f[3:4]}})["action"] == "link_with_changes"
    assert decision({**base, "check": {"findings": f[2:3]}})["action"] == "link_as_drafted"
    assert decision({**base, "check": {"findings": []}})["action"] == "link_as_drafted"
    assert plain("EL-03 definitions (S-2.1): required") == "definitions: required"


def test_plain_rounding() -> None:
    assert money(0.82, "EUR") == "EUR 0.82 M"
    assert money(0.001275, "EUR") == "EUR 1,300"
    assert money(1234.0, "CHF") == "CHF 1.2 bn"
    assert tonnes(0.2405, "MtCO2e") == "240,000 t" and tonnes(12.34, "MtCO2e") == "12 Mt"


def test_eu_ch_report_is_light_and_one_without_charts_has_no_charting_library(
        euch: dict[str, Any], assess_once: Callable[..., Assessed]) -> None:
    size = euch["html_path"].stat().st_size
    assert size <= 1.5 * MB, f"EU–CH report is {size / MB:.2f} MB"
    assert "<script" not in euch["html"] and euch["html"].count("<svg") >= 3
    page = assess_once(GHANA, "html").out.read_text()
    assert "<script" not in page and "<svg" not in page and "plotly" not in page.lower()


def test_every_table_and_chart_names_unit_and_currency(euch: dict[str, Any]) -> None:
    page = euch["html"]
    for fid in ("prices", "gains", "flows"):
        fig = page[page.index(f'id="chart-{fid}"'):]
        fig = fig[:fig.index("</figure>")]
        head = fig[:fig.index("<svg")]
        assert re.search(r"EUR|tCO2e", head), fid
        assert "<figcaption>Source:" in fig, fid


def test_xlsx_sheets_read_back(tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    code, _ = run_cli("assess", str(EUCH), "--out", str(out), "-q", "--no-sensitivity")
    assert code == 0  # EU–CH has no error finding (issue 9: a missing checklist element is a warning)
    wb = load_workbook(io.BytesIO(out.read_bytes()))
    assert wb.sheetnames == ["Decision", "Designs", "Findings", "Compatibility", "Assumptions",
                             "Reference data"]
    designs = list(wb["Designs"].iter_rows(values_only=True))
    header = designs[0]
    assert any("EUR/tCO2e" in str(h) for h in header) and any("million EUR" in str(h) for h in header)
    titles = [r[0] for r in designs[1:]]
    assert "Agreement as drafted" in titles
    row = designs[1 + titles.index("Agreement as drafted")]
    assert isinstance(row[header.index("price EU_ETS (EUR/tCO2e)")], float)
    findings = list(wb["Findings"].iter_rows(values_only=True))
    assert findings[0][:3] == ("severity", "meaning", "rule") and len(findings) > 1
    assert len(list(wb["Compatibility"].iter_rows())) > 1
    assert len(list(wb["Assumptions"].iter_rows())) > 1
    decision_rows = dict(r[:2] for r in wb["Decision"].iter_rows(values_only=True))
    assert str(decision_rows["recommendation"]).split(":")[0] in (
        "Link as drafted", "Link with the named changes", "Do not link yet")


@pytest.mark.browser
def test_pdf_is_printed(chromium: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    code, stdout = run_cli("assess", str(EUCH), "--out", str(out), "-q", "--no-fail")
    assert code == 0 and stdout.strip().endswith(str(out))
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", data)) >= 3


@pytest.mark.parametrize(("name", "fmt"), [("r.pdf", "html"), ("r.html", "xlsx"), ("r.txt", None),
                                           ("r", None), ("r.xlsx", "json")])
def test_suffix_that_does_not_match_the_format_exits_2(tmp_path: Path, name: str,
                                                       fmt: str | None) -> None:
    out = tmp_path / name
    code, _ = run_cli("assess", str(EUCH), "--out", str(out), "-q",
                      *(("--format", fmt) if fmt else ()))
    assert code == 2 and not out.exists()


def test_exit_code_follows_check_unless_no_fail(tmp_path: Path) -> None:
    for example in (EUCH, GHANA, DEFECTIVE):
        checked, _ = run_cli("check", str(example))
        code, _ = run_cli("assess", str(example), "--out", str(tmp_path / "r.json"), "-q",
                          "--no-sensitivity")
        assert code == checked
        assert (tmp_path / "r.json").exists()
        code, _ = run_cli("assess", str(example), "--out", str(tmp_path / "r.json"), "-q",
                          "--no-sensitivity", "--no-fail")
        assert code == 0
    assert run_cli("check", str(DEFECTIVE))[0] == 1  # the case that used to exit 0 in assess


def _scenario(tmp_path: Path, a: str | None, b: str | None) -> Path:
    doc = {"markets": [{"id": "EU", "bau": 100, "cap": 80, "mac": {"linear": {"slope": 2}},
                        **({"currency": a} if a else {})},
                       {"id": "CH", "bau": 50, "cap": 45, "mac": {"linear": {"slope": 1}},
                        **({"currency": b} if b else {})}],
           "links": [{"between": ["EU", "CH"]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(("a", "b", "field"), [("EUR", "CHF", "links[0]"),
                                               ("EUR", None, "markets[1].currency")])
def test_linking_markets_of_different_currencies_is_a_document_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], a: str, b: str | None,
        field: str) -> None:
    path = _scenario(tmp_path, a, b)
    for cmd in (["simulate", str(path)],
                ["sweep", str(path), "--set", "links[*].quota=0,5", "--out", str(tmp_path / "x.csv")]):
        code, _ = run_cli(*cmd)
        err = capsys.readouterr().err
        assert code == 2 and field in err, err
    assert not (tmp_path / "x.csv").exists()


def test_sweep_needs_a_currency_and_writes_real_xlsx(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _scenario(tmp_path, None, None)
    out = tmp_path / "x.xlsx"
    code, _ = run_cli("sweep", str(path), "--set", "links[*].quota=0,5", "--out", str(out))
    assert code == 2 and "markets[0].currency" in capsys.readouterr().err and not out.exists()
    code, _ = run_cli("sweep", str(path), "--set", "links[*].quota=0,5", "--out", str(out),
                      "--currency", "CHF")
    assert code == 0
    assert out.read_bytes()[:2] == b"PK"  # a zip container, not CSV text
    wb = load_workbook(io.BytesIO(out.read_bytes()))
    rows = list(wb["sweep"].iter_rows(values_only=True))
    assert rows[0][:6] == ("scenario", "sample", "market", "variable", "unit", "value")
    units = {r[4] for r in rows[1:]}
    assert "CHF/tCO2e" in units and not any("money" in str(u) for u in units)
    code, _ = run_cli("sweep", str(path), "--set", "links[*].quota=0,5", "--out",
                      str(tmp_path / "x.txt"), "--currency", "CHF")
    assert code == 2 and not (tmp_path / "x.txt").exists()


def test_sweep_iamc_export_reads_as_pyam_long_format(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "EUR", "EUR")
    out = tmp_path / "iamc.csv"
    code, _ = run_cli("sweep", str(path), "--set", "links[*].quota=0,5,none", "--out", str(out),
                      "--iamc-year", "2030")
    assert code == 0
    import pandas as pd

    df = pd.read_csv(out)
    assert list(df.columns) == ["model", "scenario", "region", "variable", "unit", "year", "value"]
    assert set(df["year"]) == {2030} and set(df["model"]) == {"carbonlink"}
    assert {"EU", "CH", "World"} <= set(df["region"])
    assert "flow|to EU" in set(df["variable"]) and "EUR/tCO2e" in set(df["unit"])
    # one scenario per sample, named by its parameter value
    assert {s.split("|", 1)[1] for s in df["scenario"]} == {
        "links[*].quota=0.0", "links[*].quota=5.0", "links[*].quota=unrestricted"}
    # no duplicate key: pyam needs (model, scenario, region, variable, year) unique
    assert not df.duplicated(["model", "scenario", "region", "variable", "year"]).any()


def test_markdown_report_opens_with_the_decision(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    code, _ = run_cli("assess", str(EUCH), "--out", str(out), "-q", "--no-fail", "--no-sensitivity")
    assert code == 0
    text = out.read_text()
    assert text.index("## Decision") < text.index("## Verdict")
    assert "Switzerland saves EUR" in text and "(EUR/yr)" in text
