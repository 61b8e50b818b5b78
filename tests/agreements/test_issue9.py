"""Issue 9: findings a lawyer would sign — severity by rule class, a reference date, unknown is
unknown, direction-aware compatibility, Article 6 logic, clause parameters, citations."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbonlink.agreements import RULES, check
from carbonlink.agreements.findings import CheckReport
from carbonlink.agreements.rules import Rule
from carbonlink.cli import main
from carbonlink.data import DATA_DIR
from tests.agreements.docs import SRC, edit, good_a6, good_ets, put, sys_put

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agreements"


def rows(report: CheckReport, dimension: str) -> dict[str, str]:
    return {r.subject: r.rating for r in report.compatibility if r.dimension == dimension}


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------------------ 1. severity rule
@pytest.mark.parametrize("name", ["eu-switzerland.yaml", "california-quebec.yaml",
                                  "switzerland-peru.yaml"])
@pytest.mark.parametrize("as_of", ["2021-06-01", "2026-06-01"])
def test_shipped_real_agreements_have_no_error(name: str, as_of: str) -> None:
    r = check(EXAMPLES / name, as_of=as_of)
    assert r.errors == [], [(f.rule, f.message) for f in r.errors]


def test_eu_switzerland_definitions_is_a_warning_not_an_error() -> None:
    r = check(EXAMPLES / "eu-switzerland.yaml")
    assert {f.severity for f in r.by_rule("CMP-R")} == {"warning"}
    assert "clauses.definitions" in {f.subject for f in r.by_rule("CMP-R")}


def test_every_rule_states_its_class_and_the_class_fixes_the_severity() -> None:
    expected = {"binding_norm": "error", "cannot_operate": "error", "recommended": "warning",
                "risk": "warning", "context": "info"}
    for r in RULES.values():
        assert r.why.strip(), r.id
        assert r.severity == expected[r.rule_class], r.id


def test_a_row_whose_severity_does_not_fit_its_class_is_refused() -> None:
    row = RULES["CMP-REC"].model_dump(by_alias=True)
    row["severity"] = "error"  # a recommended element as an error: the issue's EU-CH mistake
    with pytest.raises(ValueError, match="does not fit class 'recommended'"):
        Rule.model_validate(row)


INTERNAL = re.compile(r"\.md\b|maintainer|memory|\bseed\b|\bS-\d|\[[MSV]\]|economics|"
                      r"checklist form-level|carbonlink\.", re.IGNORECASE)


def test_no_rule_source_names_an_internal_note() -> None:
    raw = yaml.safe_load((DATA_DIR / "rules.yaml").read_text(encoding="utf-8"))
    bad = {r["id"]: r["source"] for r in raw["rules"] if INTERNAL.search(r["source"])}
    assert not bad, bad


def test_sources_name_an_article_and_an_identifier() -> None:
    for r in RULES.values():
        assert re.search(r"Art\.|Arts |para|section|§|annex|Annex", r.source), r.id
        assert re.search(r"https?://|FCCC/|CELEX|SR 0\.|UNTS|XXVII-7-d|doi:|S\.O\.|F\. Supp",
                         r.source), r.id


def test_corrected_citations() -> None:
    assert "Art. 25(1a)" in RULES["LEG-08"].source
    assert "Art. 25(1)" not in RULES["LEG-08"].source.replace("25(1a)", "")
    avg = RULES["A62-AVG"].source
    assert "SR 0.814.012.136.3" in avg and "SR 0.814.012.164.1" in avg and "Art. 10(2)" in avg
    leg02 = RULES["LEG-02"].source
    assert "444 F. Supp. 3d 1181 (E.D. Cal. 2020)" in leg02
    assert "independent" in leg02 and "compact" in leg02 and "sovereignty" in leg02


# ------------------------------------------------------------------ 2. a reference date
def test_ca_qc_on_judged_in_2017_and_in_2026_differs_where_the_law_changed() -> None:
    path = EXAMPLES / "california-quebec-ontario-2017.yaml"
    before, after = check(path, as_of="2017-12-31"), check(path, as_of="2026-06-01")
    assert before.document["as_of"] == "2017-12-31" and after.document["as_of"] == "2026-06-01"
    # Ontario ended on 2018-07-03: no finding in 2017, an error in 2026 that says why
    assert not before.by_rule("LEG-09")
    [ended] = after.by_rule("LEG-09")
    assert ended.severity == "error" and "ON_CAT" in ended.message and "2018-07-03" in ended.message
    # the US left the Paris Agreement (effective 2026-01-27): context in 2026 only
    us_2017 = [f for f in before.by_rule("CPT-A6") if "not a Party" in f.message]
    us_2026 = [f for f in after.by_rule("CPT-A6") if "not a Party" in f.message]
    assert not us_2017 and us_2026
    assert "United States" in us_2026[0].message and "2026-06-01" in us_2026[0].message
    assert before.ok and not after.ok
    # an ended system is LEG-09's finding; no compatibility row rates it any more
    assert not [r for r in after.compatibility if "ON_CAT" in r.subject]
    assert [r for r in before.compatibility if "ON_CAT" in r.subject]
    # the figure used is the one valid on the date, and the report says which
    off_2017 = [r.reason for r in before.compatibility
                if r.dimension == "CMP-OFF" and r.subject == "CA_CAT->QC_CAT"]
    off_2026 = [r.reason for r in after.compatibility
                if r.dimension == "CMP-OFF" and r.subject == "CA_CAT->QC_CAT"]
    assert "8%" in off_2017[0] and "2013-01-01 to 2020-12-31" in off_2017[0]
    assert "6%" in off_2026[0] and "from 2026-01-01" in off_2026[0]


def test_a_party_that_is_not_a_paris_party_on_the_date_cannot_authorise() -> None:
    def us(d: dict[str, Any]) -> None:
        d["parties"][1] = {"jurisdiction": "US", "role": "transferring"}
        d["article6"]["authorisations"][0]["party"] = "US"
        d["article6"]["ca_method"] = {"CH": "multi_year_budget", "US": "multi_year_budget"}
        d["article6"]["first_transferring_party"] = "US"
    doc = edit(good_a6, us)
    assert not check(doc, as_of="2024-06-01").by_rule("LEG-03")
    [f] = check(doc, as_of="2026-06-01").by_rule("LEG-03")
    assert f.severity == "error" and "not a Party" in f.message and "2026-01-27" in f.message


def test_subnational_authoriser_is_told_when_its_parent_is_not_a_party() -> None:
    def state(d: dict[str, Any]) -> None:
        d["parties"][1] = {"jurisdiction": "US-CA", "role": "transferring"}
        d["article6"]["authorisations"][0]["party"] = "US-CA"
        d["article6"]["ca_method"] = {"CH": "multi_year_budget", "US": "multi_year_budget"}
        d["article6"]["first_transferring_party"] = "US-CA"
    doc = edit(good_a6, state)
    [in_2024] = check(doc, as_of="2024-06-01").by_rule("LEG-03")
    assert "must come from United States of America" in in_2024.message
    [in_2026] = check(doc, as_of="2026-06-01").by_rule("LEG-03")
    assert "must come from" not in in_2026.message
    assert "United States of America is not a Party" in in_2026.message


def test_cli_as_of(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "california-quebec-ontario-2017.yaml")
    for args, code in (([path, "--as-of", "2017-12-31"], 0), ([path, "--as-of", "2026-06-01"], 1)):
        with pytest.raises(SystemExit) as exc:
            main(["check", *args, "-f", "json"])
        assert exc.value.code == code
        assert json.loads(capsys.readouterr().out)["document"]["as_of"] == args[-1]
    with pytest.raises(SystemExit) as exc:
        main(["check", path, "--as-of", "31/12/2017"])
    out = capsys.readouterr()
    assert exc.value.code == 2 and "--as-of" in out.err and "YYYY-MM-DD" in out.err


# ------------------------------------------------------------------ 3. unknown is unknown
def test_missing_and_null_data_are_unknown_never_aligned_nor_conflict() -> None:
    def gaps(d: dict[str, Any]) -> None:
        y = d["systems"][1]
        del y["banking"]                                        # key missing
        y["offsets"]["limit_share"] = {"value": None, "note": "not retrieved"}  # explicit null
        y["mrv"] = {"value": None, "note": "not retrieved"}
        y["gases"] = []
    r = check(edit(good_ets, gaps))
    assert rows(r, "CMP-BANK") == {"X_ETS->Y_ETS": "unknown", "Y_ETS->X_ETS": "unknown"}
    assert set(rows(r, "CMP-OFF").values()) == {"unknown"}
    assert rows(r, "CMP-MRV") == {"X_ETS|Y_ETS": "unknown"}
    assert rows(r, "CMP-COV") == {"X_ETS|Y_ETS": "unknown"}
    for rule_id, gap in (("CPT-BANK", "banking rule of Y_ETS not recorded"),
                         ("CPT-OFF", "offset usage limit of Y_ETS unknown (not retrieved)"),
                         ("CPT-MRV", "MRV regime of Y_ETS unknown"),
                         ("CPT-COV", "gases of Y_ETS not recorded")):
        found = r.by_rule(rule_id)
        assert found and all(f.severity == "info" for f in found), rule_id
        assert any(gap in f.message for f in found), (rule_id, [f.message for f in found])


def test_a_null_ceiling_is_unknown_not_a_ceiling() -> None:
    doc = edit(good_ets, sys_put(0, "price_ceiling",
                                 {"value": None, "currency": "EUR", "note": "level not retrieved"}))
    r = check(doc)
    assert "conflict" not in rows(r, "CMP-PRICE").values()
    assert rows(r, "CMP-PRICE")["X_ETS->Y_ETS"] == "unknown"
    assert all(f.severity == "info" for f in r.by_rule("CPT-PRICE"))


def test_a_control_recorded_as_absent_is_neither_unknown_nor_a_conflict() -> None:
    none = {"value": None, "absent": True, "currency": "EUR", **SRC}
    doc = edit(good_ets, sys_put(0, "price_ceiling", none), sys_put(1, "price_floor", none),
               sys_put(0, "price_floor", none), sys_put(1, "price_ceiling", none))
    r = check(doc)
    assert rows(r, "CMP-PRICE") == {"X_ETS->Y_ETS": "aligned", "Y_ETS->X_ETS": "aligned"}
    assert r.by_rule("CPT-PRICE") == []   # no conflict, and no data-gap info either
    row = next(x for x in r.compatibility
               if x.dimension == "CMP-PRICE" and x.subject == "X_ETS->Y_ETS")
    assert "X_ETS has no price ceiling (2024)" in row.reason
    # the same controls left out are unknown: absent is not the same as not recorded
    assert set(rows(check(good_ets()), "CMP-PRICE").values()) == {"unknown"}


def test_an_absent_floor_in_the_exporter_is_the_reason_the_importer_floor_is_undercut() -> None:
    none = {"value": None, "absent": True, "currency": "EUR", **SRC}
    floor = {"value": 30.0, "currency": "EUR", **SRC}
    doc = edit(good_ets, put("links", [{"from": "X_ETS", "to": "Y_ETS"}]),
               sys_put(0, "price_floor", none), sys_put(0, "price_ceiling", none),
               sys_put(1, "price_floor", floor))
    [f] = check(doc).by_rule("CPT-PRICE")
    assert f.severity == "warning" and f.subject == "X_ETS->Y_ETS"
    assert "Y_ETS's price floor 30 EUR (2024) can be undercut" in f.message
    assert "(X_ETS has no price floor (2024))" in f.message
    assert "not recorded" not in f.message and "unknown" not in f.message


# ------------------------------------------------------------------ 4. direction
def test_one_way_link_judged_in_each_direction() -> None:
    eu_to_nz = load("eu-new-zealand-one-way.yaml")
    nz_to_eu = edit(lambda: eu_to_nz, put("links", [{"from": "NZ_ETS", "to": "EU_ETS"}]))
    # dates for which the reference data holds the figures each direction needs: the NZ floor
    # (2024) and the EU cap (to 2024); the NZ reserve trigger (December 2023)
    out = check(eu_to_nz, as_of="2024-06-01")
    back = check(nz_to_eu, as_of="2023-12-15")
    [floor] = out.by_rule("CPT-PRICE")   # one finding: the warning, no data-gap note
    assert floor.severity == "warning"
    assert floor.subject == "EU_ETS->NZ_ETS" and "price floor 64 NZD" in floor.message
    assert "undercut" in floor.message and "caps" not in floor.message
    # the EU's price controls are recorded as absent (Directive 2003/87/EC): no data gap
    assert "EU_ETS has no price floor" in floor.message
    assert "not recorded" not in floor.message and "unknown" not in floor.message
    [ceiling] = [f for f in back.by_rule("CPT-PRICE") if f.severity == "warning"]
    assert ceiling.subject == "NZ_ETS->EU_ETS"
    assert "NZ_ETS's price ceiling 173 NZD" in ceiling.message and "caps EU_ETS's price" in ceiling.message
    # surplus flows from the exporter only
    assert any(f.severity == "warning" and "flows into NZ_ETS" in f.message
               for f in out.by_rule("FEA-HOT"))
    assert not [f for f in back.by_rule("FEA-HOT") if f.severity == "warning"]


def test_surplus_uses_the_latest_year_with_both_figures_and_says_which() -> None:
    # no EU cap is recorded after 2024: on 2026-06-01 FEA-HOT reads 2024's cap and covered
    # emissions instead of switching off, and names the year
    r = check(EXAMPLES / "eu-switzerland.yaml", as_of="2026-06-01")
    [eu] = [f for f in r.by_rule("FEA-HOT") if f.subject == "parties.EU.ets"]
    assert eu.severity == "warning" and "flows into CH_ETS" in eu.message
    assert "1,386,051,745" in eu.message and "1,100,000,000" in eu.message
    assert "in 2024, the latest year with both figures recorded" in eu.message
    assert "2026-06-01" in eu.message
    # on a date with both figures recorded the finding names no fallback year
    [same] = [f for f in check(EXAMPLES / "eu-switzerland.yaml", as_of="2024-06-01")
              .by_rule("FEA-HOT") if f.subject == "parties.EU.ets"]
    assert "latest year" not in same.message
    # the Swiss covered emissions are recorded for no year: still a data gap, said plainly
    [ch] = [f for f in r.by_rule("FEA-HOT") if f.subject == "parties.CH.ets"]
    assert ch.severity == "info" and "no year up to the reference date has both" in ch.message


def test_surplus_fallback_never_reads_a_year_after_the_reference_date() -> None:
    later = {"value": 300.0, **SRC, "year": 2030}
    cap = [{"value": 100.0, **SRC, "year": 2020, "valid_from": "2020-01-01",
            "valid_to": "2020-12-31"},
           {"value": 300.0, **SRC, "year": 2030, "valid_from": "2030-01-01",
            "valid_to": "2030-12-31"}]
    doc = edit(good_ets, sys_put(0, "series", {"cap": cap}), sys_put(0, "cap", later),
               sys_put(0, "covered_emissions", {"value": 200.0, **SRC, "year": 2020}))
    r = check(doc, as_of="2025-06-01")   # cap unknown in 2025; 2020 cap 100 < emissions 200
    assert not [f for f in r.by_rule("FEA-HOT") if f.subject.endswith("DE.ets")]
    doc = edit(lambda: doc, put("systems[0].covered_emissions", {"value": 50.0, **SRC, "year": 2020}))
    [f] = [f for f in check(doc, as_of="2025-06-01").by_rule("FEA-HOT")
           if f.subject.endswith("DE.ets")]
    assert "in 2020, the latest year" in f.message and "300" not in f.message


def test_offset_spill_over_follows_the_units() -> None:
    def one_way(frm: str, to: str) -> dict[str, Any]:
        return edit(good_ets, put("systems[1].offsets.limit_share.value", 0.0),
                    put("links", [{"from": frm, "to": to}]))
    into_closed = check(one_way("X_ETS", "Y_ETS"))   # X accepts offsets, exports to Y (none)
    out_of_closed = check(one_way("Y_ETS", "X_ETS"))
    assert rows(into_closed, "CMP-OFF") == {"X_ETS->Y_ETS": "conflict"}
    assert rows(out_of_closed, "CMP-OFF") == {"Y_ETS->X_ETS": "aligned"}


def test_borrowing_spills_from_the_exporter() -> None:
    def one_way(frm: str, to: str) -> dict[str, Any]:
        return edit(good_ets, sys_put(0, "borrowing", {"value": True, **SRC}),
                    put("links", [{"from": frm, "to": to}]))
    assert rows(check(one_way("X_ETS", "Y_ETS")), "CMP-BANK") == {"X_ETS->Y_ETS": "conflict"}
    assert rows(check(one_way("Y_ETS", "X_ETS")), "CMP-BANK") == {"Y_ETS->X_ETS": "aligned"}


# ------------------------------------------------------------------ 5. Article 6
def test_averaging_for_a_multi_year_ndc_is_an_error_citing_7a_ii_and_7b() -> None:
    doc = edit(good_a6, put("article6.ca_method", {"CH": "averaging", "PE": "averaging"}))
    [f] = check(doc).by_rule("A62-NDC")
    assert f.severity == "error" and f.subject == "article6.ca_method.CH"
    assert "7(a)(ii)" in f.message and "7(b)" in f.message
    assert "7(a)(ii)" in f.source and "7(b)" in f.source


def test_ca_method_keyed_by_the_national_party_of_a_subnational_participant() -> None:
    def state(d: dict[str, Any]) -> None:
        d["parties"].append({"jurisdiction": "US-CA", "national_authorisation": {
            "granted": True, "authorised_entity": True}})
        d["article6"]["ca_method"] = {"CH": "multi_year_budget", "PE": "averaging",
                                      "US": "multi_year_budget"}
    r = check(edit(good_a6, state), as_of="2024-06-01")
    assert not r.by_rule("A62-CAM")
    missing = check(edit(good_a6, state, put("article6.ca_method",
                                             {"CH": "multi_year_budget", "PE": "averaging"})),
                    as_of="2024-06-01")
    [f] = missing.by_rule("A62-CAM")
    assert f.subject == "article6.ca_method.US" and "the Party for US-CA" in f.message


def test_divisor_written_only_in_a_clause_parameter_names_the_clause_article() -> None:
    for name in ("switzerland-peru.yaml", "switzerland-ghana-overselling.yaml"):
        doc = load(name)
        assert "averaging_denominator" not in doc["article6"]
        [f] = check(doc).by_rule("A62-AVG")
        assert f.message.startswith("Art. 10(2) of the agreement")
        assert "7(a)(ii)" in f.message and f.severity == "warning"


def test_first_transfer_definition_read_from_a_clause() -> None:
    def clause_ft(d: dict[str, Any]) -> None:
        a6 = d["article6"]
        a6.pop("first_transfer")
        a6["authorisations"][0].pop("first_transfer")
        a6["authorisations"][0]["purposes"] = ["OIMP"]
        for c in d["clauses"]:
            if c["element"] == "definitions":
                c["article"] = "Art. 1(f)"
                c["parameters"] = {"first_transfer": "international_transfer"}
    [f] = check(edit(good_a6, clause_ft)).by_rule("A62-FT")
    assert f.severity == "error" and "Art. 1(f) of the agreement" in f.message


def test_political_declaration_claiming_itmos_gets_the_a62_errors() -> None:
    def declaration(d: dict[str, Any]) -> None:
        d["form"] = "political_declaration"
        d["clauses"] = [c for c in d["clauses"] if c["element"] != "corresponding_adjustment"]
        d["article6"]["reporting"]["initial_report"] = "after_first_transfer"
    r = check(edit(good_a6, declaration))
    assert {f.severity for f in r.by_rule("A62-CA")} == {"error"}
    assert {f.severity for f in r.by_rule("A62-REP1")} == {"error"}


def test_overselling_example() -> None:
    r = check(EXAMPLES / "switzerland-ghana-overselling.yaml", as_of="2026-06-01")
    assert r.ok
    [f] = r.by_rule("A62-OVS")
    assert f.severity == "warning" and "3,000,000" in f.message and "1,000,000" in f.message


# ------------------------------------------------------------------ assess verdict
def test_assess_verdict_on_eu_ch_does_not_call_the_treaty_unlawful(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), \
            pytest.raises(SystemExit) as exc:
        main(["assess", str(EXAMPLES / "eu-switzerland.yaml"), "--out", str(out),
              "--no-sensitivity", "--quiet", "--as-of", "2026-06-01"])
    assert exc.value.code == 0
    verdict = json.loads(out.read_text(encoding="utf-8"))["verdict"]
    assert "lawful" not in verdict and "no breach of a binding norm" in verdict


def test_docs_rule_table_matches_the_rules_table() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "agreements.md").read_text(
        encoding="utf-8")
    classes = {"binding_norm": "binding norm", "cannot_operate": "cannot operate",
               "recommended": "recommended element", "risk": "risk", "context": "context"}
    for r in RULES.values():
        assert f"| {r.id} | {r.severity} | {classes[r.rule_class]} |" in doc, r.id


def test_surplus_never_compares_a_cap_with_emissions_of_another_year() -> None:
    # both figures recorded on the reference date, but for different years (cap 2024, emissions
    # 2021): no common year, so no surplus is claimed — an info data gap instead of a comparison
    doc = edit(good_ets, sys_put(0, "cap", {"value": 300.0, **SRC, "year": 2024}),
               sys_put(0, "covered_emissions", {"value": 200.0, **SRC, "year": 2021}))
    hits = [f for f in check(doc, as_of="2025-06-01").by_rule("FEA-HOT")
            if f.subject.endswith("DE.ets")]
    assert not [f for f in hits if f.severity == "warning"], [f.message for f in hits]
    # the same figures for one year are compared, and the surplus found
    doc = edit(lambda: doc, put("systems[0].covered_emissions", {"value": 200.0, **SRC,
                                                                 "year": 2024}))
    [f] = [f for f in check(doc, as_of="2025-06-01").by_rule("FEA-HOT")
           if f.subject.endswith("DE.ets")]
    assert f.severity == "warning" and "300" in f.message
