"""The shipped example agreements: all load, the real ones give the findings a lawyer expects,
the defective draft gives an error for each defect."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonlink.agreements import check, load_agreement

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agreements"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_required_examples_exist() -> None:
    names = {p.name for p in FILES}
    for n in ("eu-switzerland.yaml", "california-quebec.yaml", "switzerland-peru.yaml",
              "sweden-ghana.yaml", "defective-draft.yaml", "california-quebec-ontario-2017.yaml",
              "eu-new-zealand-one-way.yaml", "switzerland-ghana-overselling.yaml"):
        assert n in names
    assert any(n.startswith("singapore-") for n in names)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_loads_and_checks(path: Path) -> None:
    a = load_agreement(path)
    report = check(path)
    d = report.to_dict()
    assert set(d) >= {"document", "findings", "summary"}
    assert d["document"]["id"] == a.id
    for f in d["findings"]:
        assert set(f) == {"rule", "severity", "message", "subject", "source", "data_gap"}


def test_eu_switzerland() -> None:
    a = load_agreement(EXAMPLES / "eu-switzerland.yaml")
    assert a.form == "treaty" and a.effective_link_type == "ets_two_way"
    assert {(lk.from_, lk.to) for lk in a.links} == {("EU_ETS", "CH_ETS"), ("CH_ETS", "EU_ETS")}
    r = check(a)
    rules = {f.rule for f in r.findings if f.severity != "info"}
    assert not any(x.startswith(("LEG", "A62", "CPT")) for x in rules)  # lawful, compatible
    dims = {row.dimension: row.rating for row in r.compatibility}
    assert dims["CMP-CAP"] == "aligned" and dims["CMP-REG"] == "compatible"
    assert "conflict" not in dims.values()


def test_california_quebec() -> None:
    r = check(EXAMPLES / "california-quebec.yaml")
    assert r.ok  # a non-binding agreement between sub-national parties is lawful as such
    assert not r.by_rule("LEG-01")  # LEG-01 only bites on binding forms
    assert not r.by_rule("LEG-07")  # sovereignty clause present
    dims = {row.dimension: row.rating for row in r.compatibility}
    assert dims["CMP-REG"] == "aligned"  # common CITSS registry


def test_defective_draft_errors_for_each_defect() -> None:
    # issue 9: a missing checklist element (CMP-R) and a design difference (CPT-PRICE, CPT-OFF)
    # are warnings; recognition with no registry link (CMP-OP) is the error that stops it working
    r = check(EXAMPLES / "defective-draft.yaml", as_of="2026-06-01")
    errors = {f.rule for f in r.errors}
    for rule_id in ("LEG-01", "LEG-03", "LEG-04", "LEG-05", "A62-4A", "A62-CA", "A62-CAM",
                    "A62-REP1", "A62-REP2", "A62-FT", "A62-AUTH", "A62-MET", "CMP-OP"):
        assert rule_id in errors, rule_id
    warnings = {f.rule for f in r.findings if f.severity == "warning"}
    assert {"CMP-R", "CPT-PRICE", "CPT-OFF"} <= warnings


@pytest.mark.parametrize(("name", "as_of", "errors", "warnings"), [
    # the counts docs/agreements.md explains, finding by finding
    ("eu-switzerland.yaml", "2024-06-01", 0, 3),
    # 2026: FEA-HOT reads the EU's 2024 cap and covered emissions (the latest year with both)
    ("eu-switzerland.yaml", "2026-06-01", 0, 3),
    ("california-quebec.yaml", "2026-06-01", 0, 4),
    ("california-quebec-ontario-2017.yaml", "2017-12-31", 0, 4),
    ("california-quebec-ontario-2017.yaml", "2026-06-01", 1, 4),
    # 2024: the observed prices recorded are from 2025 (EU annual average, NZ 2025-12-02),
    # not valid yet: FEA-GAP is an info data gap, no FEA-FLOW
    ("eu-new-zealand-one-way.yaml", "2024-06-01", 0, 5),
    # 2026: FEA-GAP and FEA-FLOW compare the EUR and NZD prices (converted at the NZD
    # price's date); NZ's dated floors end with 2025, so CPT-PRICE is an info data gap
    ("eu-new-zealand-one-way.yaml", "2026-06-01", 0, 6),
    ("switzerland-peru.yaml", "2026-06-01", 0, 7),
    ("switzerland-ghana-overselling.yaml", "2026-06-01", 0, 6),
])
def test_documented_counts(name: str, as_of: str, errors: int, warnings: int) -> None:
    s = check(EXAMPLES / name, as_of=as_of).summary
    assert (s["errors"], s["warnings"]) == (errors, warnings)


def test_eu_new_zealand_as_of_2024_quotes_no_2025_figure() -> None:
    """As of 2024-06-01 the EU's 2025 average price (75 EUR) and NZ's price of 2025-12-02
    (41.7 NZD) are not valid yet: no finding quotes them, FEA-GAP names the gap and both dates,
    and FEA-FLOW (which needs the prices) is silent."""
    r = check(EXAMPLES / "eu-new-zealand-one-way.yaml", as_of="2024-06-01")
    printed = [f.message for f in r.findings] + [row.reason for row in r.compatibility]
    for text in printed:
        assert "75 EUR" not in text and "41.7 NZD" not in text, text
    gap = [f for f in r.findings if f.rule == "FEA-GAP"]
    assert len(gap) == 1 and gap[0].severity == "info"
    assert "2024-06-01" in gap[0].message and "for 2025" in gap[0].message
    assert "dated 2025-12-02" in gap[0].message
    assert not [f for f in r.findings if f.rule == "FEA-FLOW"]
