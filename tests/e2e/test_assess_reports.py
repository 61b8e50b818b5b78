"""``carbonlink assess`` end to end: every shipped example gets a report; every number in the
report equals what ``carbonlink simulate --format json`` gives for the same design."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from carbonlink.reporting.console import fmt_num
from tests.e2e.conftest import Assessed, run_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "agreements").glob("*.yaml"))


@pytest.fixture(scope="module")
def euch_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("euch") / "report.json"
    code, stdout = run_cli("assess", str(REPO / "examples/agreements/eu-switzerland.yaml"),
                           "--out", str(out), "--assume", "mac_scale.CH_ETS=1.5", "--no-fail")
    assert code == 0
    assert stdout.strip().splitlines()[-1] == f"report written to {out}"
    return dict(json.loads(out.read_text()))


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {a} != {b}"
    else:
        assert a == b, where


def test_every_design_number_equals_simulate_json(euch_json: dict[str, Any],
                                                  tmp_path: Path) -> None:
    designs = euch_json["designs"]
    assert len(designs) == 10
    assert any(lk["flow"] > 0 for d in designs for lk in d["result"]["links"])
    for d in designs:
        scenario = tmp_path / f"{d['id'].replace(':', '_').replace('>', '-')}.json"
        scenario.write_text(json.dumps(d["scenario"]))
        code, stdout = run_cli("simulate", str(scenario), "--format", "json")
        assert code == 0, d["id"]
        _same(d["result"], json.loads(stdout), d["id"])


def test_sensitivity_numbers_equal_simulate_json(euch_json: dict[str, Any],
                                                 tmp_path: Path) -> None:
    for sw in euch_json["sensitivity"]:
        sample = sw["samples"][len(sw["samples"]) // 2]
        scenario = tmp_path / f"{sw['id']}.json"
        scenario.write_text(json.dumps(sample["scenario"]))
        code, stdout = run_cli("simulate", str(scenario), "--format", "json")
        assert code == 0
        _same(sample["result"], json.loads(stdout), sw["id"])


def test_json_report_carries_findings_assumptions_and_scenarios(euch_json: dict[str, Any]) -> None:
    assert euch_json["check"]["findings"]
    assert all(f["source"] for f in euch_json["check"]["findings"])
    assert euch_json["check"]["compatibility"]
    keys = {a["key"]: a for a in euch_json["assumptions"]}
    assert keys["mac_scale.CH_ETS"]["value"] == 1.5
    assert keys["mac_scale.CH_ETS"]["origin"] == "command line"
    assert "abatement_share.EU_ETS" in keys
    assert euch_json["framing"]["form"] == "treaty"
    assert euch_json["verdict"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_report_for_every_shipped_example(example: Path,
                                         assess_once: Callable[..., Assessed]) -> None:
    runs = [assess_once(example, ext) for ext in ("html", "md", "json")]
    codes = set()
    for run in runs:
        codes.add(run.code)
        assert run.stdout.strip().splitlines()[-1] == f"report written to {run.out}"
        # leaves no temporary files behind (atomic write): the report alone in its folder
        assert [p.name for p in run.out.parent.iterdir()] == [run.out.name]
    html, md, js = (run.out for run in runs)
    rep = json.loads(js.read_text())
    # the report is written either way; the exit code is check's (1 with error findings)
    assert codes == {0 if rep["check"]["summary"]["ok"] else 1}
    page = html.read_text()
    text = md.read_text()
    assert "<script src=" not in page and "<link " not in page  # self-contained
    assert rep["verdict"] in text
    for f in rep["check"]["findings"]:
        assert f["rule"] in page and f["rule"] in text
    if rep["simulated"]:
        assert page.count('class="chart"') >= 3
        assert all(u in page for u in rep["units"].values())
        agr = next(d for d in rep["designs"] if d["id"] == "agreement")
        for mid, row in agr["result"]["markets"].items():
            assert fmt_num(row["price"]) in page and fmt_num(row["price"]) in text, mid
    else:
        assert rep["no_simulation"] and str(escape(rep["no_simulation"])) in page
        assert "No market simulation" in rep["verdict"] or "No market simulation" in page


def test_article_6_example_says_no_simulation(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    code, _ = run_cli("assess", str(REPO / "examples/agreements/sweden-ghana.yaml"),
                      "--out", str(out), "-q", "--no-fail")
    assert code == 0
    text = out.read_text()
    assert "No market simulation applies" in text and "Article 6.2" in text


@pytest.mark.parametrize("args", [
    ["assess", "no-such-file.yaml"],
    ["assess", "{bad}"],
    ["assess", str(REPO / "examples/agreements/eu-switzerland.yaml"), "--assume", "oops"],
    ["assess", str(REPO / "examples/agreements/eu-switzerland.yaml"), "--assume",
     "abatement_share=2"],
])
def test_bad_input_exits_2_and_writes_nothing(args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    if args[1] == "{bad}":
        bad = tmp_path / "bad.yaml"
        bad.write_text("id: x\ntitle: [unclosed\n")
        args = ["assess", str(bad)]
    code, _ = run_cli(*args, "--out", str(out))
    assert code == 2
    assert not out.exists()


def test_invalid_agreement_field_exits_2(tmp_path: Path) -> None:
    doc = tmp_path / "a.yaml"
    doc.write_text("id: x\ntitle: t\nform: pact\ngeneration: linking\n"
                   "parties: [{jurisdiction: EU}]\n")
    out = tmp_path / "r.html"
    code, _ = run_cli("assess", str(doc), "--out", str(out))
    assert code == 2 and not out.exists()


def test_sweep_cli_writes_long_format(tmp_path: Path) -> None:
    scen = tmp_path / "s.yaml"
    scen.write_text("markets:\n  - {id: A, bau: 100, cap: 80, mac: {linear: {slope: 2}}}\n"
                    "  - {id: B, bau: 50, cap: 45, mac: {linear: {slope: 1}}}\n"
                    "links:\n  - between: [A, B]\n")
    out = tmp_path / "sweep.csv"
    code, stdout = run_cli("sweep", str(scen), "--set", "links[*].quota=0,5,none",
                           "--out", str(out), "--currency", "EUR")
    assert code == 0 and stdout.strip().endswith(str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "scenario,sample,market,variable,unit,value,links[*].quota"
    units = {line.split(",")[4] for line in lines[1:]}
    assert "EUR/tCO2e" in units and "EUR" in units and not any("money" in u for u in units)


def test_plain_eu_ch_demo_shows_a_pre_link_gap_trade_and_distinct_designs(
        tmp_path: Path) -> None:
    """Without any --assume, the demo calibrates to the pre-link (autarky) prices, so the
    link moves units, both parties gain and the restricted designs differ."""
    out = tmp_path / "report.json"
    code, stdout = run_cli("assess", str(REPO / "examples/agreements/eu-switzerland.yaml"),
                           "--out", str(out), "--no-sensitivity", "--no-fail")
    assert code == 0 and stdout.strip().splitlines()[-1] == f"report written to {out}"
    rep = json.loads(out.read_text())
    basis = next(a for a in rep["assumptions"] if a["key"] == "price_basis")
    assert basis["value"] == "pre_link" and basis.get("source")
    designs = {d["id"]: d["result"] for d in rep["designs"]}
    full = designs["full"]
    eu, ch = full["markets"]["EU_ETS"], full["markets"]["CH_ETS"]
    assert abs(eu["autarky_price"] - ch["autarky_price"]) > 1.0
    assert sum(lk["flow"] for lk in full["links"]) > 0
    assert eu["gain"] > 0 and ch["gain"] > 0
    gains = {d: round(designs[d]["totals"]["gain"], 6)
             for d in ("full", "quota", "border_tax", "exchange_rate")}
    assert len(set(gains.values())) == len(gains)
    assert "moves nothing" not in rep["verdict"]
