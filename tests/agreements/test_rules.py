"""Every rule of the table has a case that breaks it and a case that meets it.

The test is parametrised over the rules table: a rule without a case in ``CASES`` fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from carbonlink.agreements import RULES, check, load_agreement
from carbonlink.agreements.findings import CheckReport
from tests.agreements.docs import (
    SRC,
    Doc,
    drop,
    edit,
    good_a6,
    good_ets,
    put,
    sys_put,
)

_RANK = {"error": 0, "warning": 1, "info": 2}


def hits(report: CheckReport, rule_id: str) -> list[Any]:
    """Findings of ``rule_id`` at its table severity or worse."""
    limit = _RANK[RULES[rule_id].severity]
    return [f for f in report.findings if f.rule == rule_id and _RANK[f.severity] <= limit]


def _subnational(form: str, nat_auth: dict[str, Any] | None) -> Doc:
    def f(d: Doc) -> None:
        d["form"] = form
        d["parties"][0] = {"jurisdiction": "US-CA", "ets": "X_ETS",
                           **({"national_authorisation": nat_auth} if nat_auth else {})}
    return edit(good_ets, f)


def _us_authorises(d: Doc) -> None:
    d["parties"][1] = {"jurisdiction": "US", "role": "transferring"}
    d["article6"]["authorisations"][0]["party"] = "US"
    d["article6"]["ca_method"] = {"CH": "multi_year_budget", "US": "averaging"}
    d["article6"]["first_transferring_party"] = "US"


def _add_state(nat_auth: dict[str, Any] | None) -> Any:
    def f(d: Doc) -> None:
        d["parties"].append({"jurisdiction": "US-CA",
                             **({"national_authorisation": nat_auth} if nat_auth else {})})
    return f


def _eu_with(partner_jur: str, partner_ets: str) -> Doc:
    return edit(good_ets, put("parties", [{"jurisdiction": "EU", "ets": "EU_ETS"},
                                          {"jurisdiction": partner_jur, "ets": partner_ets}]),
                put("systems", []), put("links", [{"between": ["EU_ETS", partner_ets]}]))


def _participation(attr: str) -> tuple[Doc, Doc]:
    return edit(good_a6, put(f"parties[1].participation.{attr}", False)), good_a6()


def _a6_with_ets(methods: dict[str, str]) -> Doc:
    a6 = good_a6()["article6"]
    a6["ca_method"] = methods
    a6["authorisations"][0]["party"] = "AT"
    a6["first_transferring_party"] = "AT"
    a6["authorised_entities"][0]["authorised_by"] = "DE"
    return edit(good_ets, put("article6", a6))


def _markets(cap_x: float) -> list[dict[str, Any]]:
    return [{"id": "X_ETS", "bau": 100, "cap": cap_x, "mac": {"linear": {"slope": 1.0}}},
            {"id": "Y_ETS", "bau": 100, "cap": 60, "mac": {"linear": {"slope": 1.0}}}]


CASES: dict[str, tuple[Doc, Doc]] = {
    "LEG-01": (_subnational("treaty", None), _subnational("treaty", {"granted": True})),
    "LEG-02": (_subnational("mou", None),
               _subnational("mou", {"granted": False, "instrument": "state statute"})),
    "LEG-03": (edit(good_a6, _us_authorises), good_a6()),
    "LEG-04": (edit(good_a6, _add_state(None)),
               edit(good_a6, _add_state({"granted": True, "authorised_entity": True}))),
    "LEG-05": (edit(good_a6, put("article6.authorised_entities[0].authorised_by", None)),
               good_a6()),
    "LEG-06": (edit(good_ets, put("form", "political_declaration")),
               edit(good_ets, put("form", "political_declaration"), put("links", []),
                    drop("recognition_of_units", "transfer_recognition", "authorisation"))),
    "LEG-07": (edit(good_ets, put("form", "mou"), drop("sovereignty")),
               edit(good_ets, put("form", "mou"))),
    "LEG-08": (_eu_with("CN", "CN_ETS"), _eu_with("CH", "CH_ETS")),
    "LEG-09": (edit(good_ets, sys_put(0, "status", "ended"), sys_put(0, "end", "2018-07-03")),
               good_ets()),
    "LEG-10": (edit(good_ets, put("signed", "2999-01")),
               edit(good_ets, put("signed", "2017-11-23"), put("in_force", "2020-01-01"))),
    "A62-4A": _participation("paris_party"),
    "A62-4B": _participation("ndc"),
    "A62-4C": _participation("authorisation_arrangements"),
    "A62-4D": _participation("tracking_arrangements"),
    "A62-4E": _participation("inventory_report"),
    "A62-4F": _participation("contributes_to_ndc"),
    "A62-CA": (edit(good_a6, drop("corresponding_adjustment")), good_a6()),
    "A62-CAM": (edit(good_a6, put("article6.ca_method", {"CH": "multi_year_budget"})), good_a6()),
    "A62-NDC": (edit(good_a6, put("article6.ca_method", {"CH": "averaging", "PE": "averaging"})),
                good_a6()),
    "A62-AVG": (edit(good_a6, put("article6.averaging_denominator",
                                  "implementation_period_years")), good_a6()),
    "A62-REP1": (edit(good_a6, put("article6.reporting.initial_report", "after_first_transfer")),
                 good_a6()),
    "A62-REP2": (edit(good_a6, put("article6.reporting.annual_deadline", "05-01")), good_a6()),
    "A62-REP3": (edit(good_a6, put("article6.reporting.regular_information", False)), good_a6()),
    "A62-FT": (edit(good_a6, put("article6.authorisations[0].purposes", ["OIMP"])), good_a6()),
    "A62-AUTH": (edit(good_a6, put("article6.authorisations[0].volume", None)), good_a6()),
    "A62-MET": (edit(good_a6, put("article6.gwp", None)), good_a6()),
    "A62-OVS": (edit(good_a6, put("article6.authorisations[0].volume", 20_000_000)), good_a6()),
    "CMP-R": (edit(good_ets, drop("registry")), good_ets()),
    "CMP-OP": (edit(good_ets, drop("registry"),
                    sys_put(0, "registry", {"value": "Alpha registry", **SRC})), good_ets()),
    "CMP-REC": (edit(good_ets, drop("environmental_integrity")), good_ets()),
    "CMP-G1": (edit(good_ets, drop("joint_body")), good_ets()),
    "CMP-G2": (edit(good_a6, put("form", "mou"), drop("oversight")),
               edit(good_a6, put("form", "mou"))),
    "CMP-G3": (edit(good_a6, drop("suspension")), good_a6()),
    "CMP-NOT": (edit(good_a6, drop("termination"),
                     lambda d: d["clauses"].append({"element": "termination"})), good_a6()),
    "CMP-SUS": (edit(good_a6, drop("suspension"),
                     lambda d: d["clauses"].append({"element": "EL-19"})), good_a6()),
    "CPT-CAP": (edit(good_ets, sys_put(1, "cap_type", "intensity")), good_ets()),
    "CPT-COV": (edit(good_ets, sys_put(1, "gases", ["SF6"])), good_ets()),
    "CPT-ALLOC": (edit(good_ets, put("systems[0].allocation.free_share.value", 0.95),
                       put("systems[1].allocation.free_share.value", 0.1)), good_ets()),
    "CPT-OFF": (edit(good_ets, put("systems[1].offsets.limit_share.value", 0.0)), good_ets()),
    "CPT-PRICE": (edit(good_ets, sys_put(0, "price_ceiling",
                                         {"value": 60, "currency": "EUR", **SRC})), good_ets()),
    "CPT-BANK": (edit(good_ets, sys_put(0, "borrowing", {"value": True, **SRC})), good_ets()),
    "CPT-TIME": (edit(good_ets, sys_put(0, "compliance_period_years", {"value": 3, **SRC})),
                 good_ets()),
    "CPT-MRV": (edit(good_ets, sys_put(0, "mrv", {"value": "self-declared", **SRC})), good_ets()),
    "CPT-ENF": (edit(good_ets, sys_put(0, "penalty", {"make_good": {"value": False, **SRC}})),
                good_ets()),
    "CPT-REG": (edit(good_ets, sys_put(0, "registry", {"value": "Alpha registry", **SRC}),
                     drop("registry")),
                edit(good_ets, sys_put(0, "registry", {"value": "Alpha registry", **SRC}))),
    "CPT-MKT": (edit(good_ets, drop("oversight")), good_ets()),
    "CPT-GOV": (edit(good_ets, drop("change_notification")), good_ets()),
    "CPT-A6": (_a6_with_ets({"DE": "averaging"}),
               _a6_with_ets({"DE": "averaging", "AT": "averaging"})),
    "FEA-GAP": (edit(good_ets, put("systems[0].price.value", 10.0)), good_ets()),
    "FEA-FLOW": (edit(good_ets, put("links", [{"from": "Y_ETS", "to": "X_ETS"}])),
                 edit(good_ets, put("links", [{"from": "X_ETS", "to": "Y_ETS"}]))),
    "FEA-HOT": (edit(good_ets, put("systems[0].cap.value", 300.0)), good_ets()),
    "FEA-SIM": (edit(good_ets, put("markets", _markets(120))),
                edit(good_ets, put("markets", _markets(80)))),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES), f"rules without a test case: {set(RULES) - set(CASES)}"


@pytest.mark.parametrize("rule_id", list(RULES))
def test_rule_breaks_and_holds(rule_id: str) -> None:
    assert RULES[rule_id].source, f"{rule_id} has no source"
    broken, met = CASES[rule_id]
    assert RULES[rule_id].applies(load_agreement(broken)), f"{rule_id} does not apply to its case"
    bad = check(broken)
    assert hits(bad, rule_id), f"{rule_id}: broken case produced no finding"
    for f in hits(bad, rule_id):
        assert f.source and f.subject and f.message
    good = check(met)
    assert not hits(good, rule_id), f"{rule_id}: met case still fails: {hits(good, rule_id)}"


def test_strict_makes_findings_errors() -> None:
    doc = edit(good_ets, drop("environmental_integrity"))
    assert check(doc).ok
    report = check(doc, strict=["CMP-REC"])
    assert not report.ok
    assert {f.rule for f in report.errors} == {"CMP-REC"}


def test_strict_leaves_data_gaps_info() -> None:
    # --strict turns a rule's findings into errors, never its data gaps: a gap says the rule
    # could not decide, not that the agreement breaches it
    from pathlib import Path

    doc = Path(__file__).parents[2] / "examples" / "agreements" / "eu-switzerland.yaml"
    base = check(doc, as_of="2026-06-01")
    gaps = [f for f in base.findings if f.data_gap]
    assert gaps, "EU-CH as of 2026 has data gaps to test with"
    assert all(f.severity == "info" and f.message.startswith("unknown: ") for f in gaps)
    rules = sorted({f.rule for f in gaps})
    strict = check(doc, strict=rules, as_of="2026-06-01")
    assert [f for f in strict.findings if f.data_gap] == gaps
    others = [f for f in base.findings if f.rule in rules and not f.data_gap]
    assert others, "a listed rule with a finding that is not a data gap"
    assert all(f.severity == "error" for f in strict.findings
               if f.rule in rules and not f.data_gap)


def test_non_binding_form_softens_article6_content() -> None:
    # softened only while the MoU announces cooperation without itself claiming ITMOs (issue 9:
    # no recorded authorisation, no authorisation, transfer-recognition or CA clause)
    doc = edit(good_a6, put("form", "mou"), put("article6.authorisations", []),
               drop("corresponding_adjustment", "authorisation", "transfer_recognition"))
    sev = {f.severity for f in check(doc).by_rule("A62-CA")}
    assert sev == {"warning"}
