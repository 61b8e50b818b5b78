"""`carbonlink simulate`: output formats, and exit code 2 with a field path on bad documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from carbonlink.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "scenarios" / "two-markets-discount.yaml"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_json_output_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["simulate", str(EXAMPLE), "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "optimal"
    assert set(doc["markets"]["J1"]) == {
        "price", "mac", "emissions", "abatement", "abatement_cost", "net_imports", "offsets_used",
        "ceiling_released", "floor_withheld", "compliance_cost", "tax_revenue", "autarky_price",
        "autarky_compliance_cost", "gain"}
    assert set(doc["links"][0]) == {"from", "to", "flow", "credited", "tax_revenue", "quota_rent", "binding"}
    assert set(doc["offsets"]["CER"]) == {"price", "used"}
    assert set(doc["totals"]) == {"emissions", "autarky_emissions", "emissions_change", "abatement_cost", "gain"}
    # the J2 -> J1 link with a 20% discount: credited = 0.8 flow
    link = next(lk for lk in doc["links"] if lk["from"] == "J2")
    assert link["credited"] == pytest.approx(0.8 * link["flow"])


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["simulate", str(EXAMPLE)], capsys)
    assert code == 0
    assert "J1" in out and "CER" in out


BASE = {"markets": [{"id": "J1", "bau": 100, "cap": 40, "mac": {"linear": {"slope": 1.0}}},
                    {"id": "J2", "bau": 50, "cap": 35, "mac": {"steps": [[10, 5], [20, 12]]}}],
        "links": [{"from": "J2", "to": "J1"}]}


@pytest.mark.parametrize(("patch", "where", "why"), [
    (lambda d: d["links"].append({"from": "J2", "to": "J9"}), "links[1].to", "unknown market 'J9'"),
    (lambda d: d["markets"][0].update(cap=-40), "markets[0].cap", "greater than or equal to 0"),
    (lambda d: d["markets"][0].update(mac={"linear": {"slope": 0}}), "markets[0].mac.linear.slope",
     "greater than 0"),
    (lambda d: d["links"].append({"from": "J1", "to": "J1"}), "links[1]", "from a market to itself"),
    (lambda d: d["markets"][1].update(mac={"firms": "missing.csv"}), "markets[1].mac.firms",
     "not found"),
    (lambda d: d["links"][0].update(discount=1.5), "links[0].discount", "less than 1"),
    (lambda d: d["markets"][0].update(bau="lots"), "markets[0].bau", "valid number"),
    (lambda d: d["markets"][0].update(mac={"cubic": 1}), "markets[0].mac", "exactly one of the keys"),
])
def test_bad_documents_exit_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               patch: object, where: str, why: str) -> None:
    doc = json.loads(json.dumps(BASE))
    patch(doc)  # type: ignore[operator]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run(["simulate", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert where in err and why in err
    assert "Traceback" not in err


def test_malformed_yaml_and_unreadable_firms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("markets: [ {id: J1, bau: 1\n")
    code, _, err = run(["simulate", str(bad)], capsys)
    assert code == 2 and "malformed YAML" in err and "line" in err
    firms = tmp_path / "firms.csv"
    firms.write_text("firm,quantity,unit_cost\na,1,cheap\n")
    doc = json.loads(json.dumps(BASE))
    doc["markets"][1]["mac"] = {"firms": "firms.csv"}  # relative to the document
    good = tmp_path / "s.yaml"
    good.write_text(yaml.safe_dump(doc))
    code, _, err = run(["simulate", str(good)], capsys)
    assert code == 2 and "markets[1].mac.firms" in err and "row 2: unit_cost" in err


def test_infeasible_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # steps offer 5 t of abatement, the cap needs 10 t, and there is no ceiling or link
    path = tmp_path / "inf.yaml"
    path.write_text(yaml.safe_dump({"markets": [{"id": "J", "bau": 20, "cap": 10, "mac": {"steps": [[5, 1]]}}]}))
    code, out, _ = run(["simulate", str(path), "--format", "json"], capsys)
    assert code == 1
    assert json.loads(out)["status"] == "infeasible"


@pytest.mark.parametrize("path", sorted((EXAMPLE.parent).glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_runs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["simulate", str(path), "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "optimal"
    assert doc["warnings"] == []


def test_documented_example_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """The numbers quoted in the comments of examples/scenarios/*.yaml."""
    _, out, _ = run(["simulate", str(EXAMPLE.parent / "full-link.yaml"), "-f", "json"], capsys)
    m = json.loads(out)["markets"]
    assert (m["J1"]["price"], m["J1"]["gain"], m["J2"]["gain"]) == pytest.approx((50, 50, 100), rel=1e-7)
    _, out, _ = run(["simulate", str(EXAMPLE.parent / "third-party-joins.yaml"), "-f", "json"], capsys)
    m = json.loads(out)["markets"]
    assert (m["J1"]["price"], m["J1"]["gain"]) == pytest.approx((70 / 3, (70 / 3 - 10) ** 2 / 2), rel=1e-7)


def test_non_finite_numbers_are_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(json.dumps(BASE))
    doc["links"][0]["exchange_rate"] = float("inf")
    path = tmp_path / "inf.json"
    path.write_text(json.dumps(doc))
    code, _, err = run(["simulate", str(path)], capsys)
    assert code == 2 and "links[0].exchange_rate" in err and "finite" in err


@pytest.mark.parametrize("engine", ["fast", "plain"])
def test_magnitudes_whose_products_overflow_exit_2(tmp_path: Path, engine: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """1e307 per tonne times 5e69 tonnes is not a float: the engine refuses the document as out
    of range (exit 2) instead of handing HiGHS infinite costs (it used to warn, then report
    'HiGHS stopped with status Unknown')."""
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"markets": [{"id": "A", "bau": 5.27e69, "cap": 0,
                                             "mac": {"linear": {"slope": 1.54e307}}}]}))
    code, out, err = run(["simulate", str(path), "--engine", engine], capsys)
    assert code == 2 and out == ""
    assert "numbers out of range" in err and "Traceback" not in err
