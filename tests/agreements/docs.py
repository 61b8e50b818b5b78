"""Agreement documents for the rule tests: a complete Article 6.2 treaty and a complete ETS
linking treaty between two fully described systems, plus mutation helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from carbonlink.model.agreement import ELEMENTS

Doc = dict[str, Any]
SRC = {"source": "test fixture", "year": 2024}


def all_clauses() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for el in ELEMENTS:
        c: dict[str, Any] = {"element": el, "summary": f"{el} clause"}
        if el == "termination":
            c["parameters"] = {"notice_months": 12}
        if el == "suspension":
            c["parameters"] = {"grounds": ["breach"], "notice_days": 30}
        if el == "change_notification":
            c["parameters"] = {"notice_months": 3}
        out.append(c)
    return out


def participation() -> dict[str, Any]:
    return {"paris_party": True, "ndc": True, "authorisation_arrangements": True,
            "tracking_arrangements": True, "inventory_report": True, "contributes_to_ndc": True}


def good_a6() -> Doc:
    """A complete Article 6.2 implementing agreement (crediting, no ETS link)."""
    return {
        "id": "good-a6", "title": "Complete Article 6.2 agreement", "form": "implementing_agreement",
        "generation": "article_6_2",
        "parties": [
            {"jurisdiction": "CH", "role": "acquiring", "participation": participation(),
             "ndc": {"type": "multi_year", "headroom": 0}},
            {"jurisdiction": "PE", "role": "transferring", "participation": participation(),
             "ndc": {"type": "single_year", "headroom": 10_000_000}},
        ],
        "article6": {
            "cooperative_approach_id": "CA0001", "first_transferring_party": "PE",
            "ca_method": {"CH": "multi_year_budget", "PE": "averaging"},
            "averaging_denominator": "elapsed_years",
            "metric": "GHG", "gwp": "IPCC AR5 100-year",
            "first_transfer": "international_transfer",
            "authorisations": [{"party": "PE", "purposes": ["NDC"], "volume": 1_000_000,
                                "ndc_period": "2021-2030", "activity": "cookstoves",
                                "first_transfer": "international_transfer"}],
            "reporting": {"initial_report": "before_first_transfer", "annual_information": True,
                          "annual_deadline": "04-15", "annual_format": "AEF",
                          "regular_information": True},
            "authorised_entities": [{"name": "Buyer AG", "kind": "private", "authorised_by": "CH",
                                     "authorisation_ref": "CH-2024-1"}],
        },
        "clauses": all_clauses(),
    }


def system(ets_id: str, jurisdiction: str, price: float) -> dict[str, Any]:
    return {
        "id": ets_id, "name": f"{ets_id} system", "jurisdiction": jurisdiction,
        "mandatory": {"value": True, **SRC},
        "sectors": ["power"], "gases": ["CO2"], "cap_type": "absolute",
        "cap": {"value": 100.0, **SRC}, "covered_emissions": {"value": 200.0, **SRC},
        "allocation": {"free_share": {"value": 0.5, **SRC}, "method": "benchmarks"},
        "offsets": {"limit_share": {"value": 0.05, **SRC}},
        "price": {"value": price, "currency": "EUR", **SRC},
        "banking": {"value": True, **SRC}, "borrowing": {"value": False, **SRC},
        "compliance_period_years": {"value": 1, **SRC},
        "mrv": {"value": "verified emissions reports", **SRC},
        "penalty": {"make_good": {"value": True, **SRC}},
        "registry": {"value": "Common registry", **SRC},
        "market_oversight": {"value": "market abuse rules", **SRC},
    }


def good_ets() -> Doc:
    """A complete binding two-way ETS link between two fully described systems X and Y."""
    return {
        "id": "good-ets", "title": "Complete linking treaty", "form": "treaty",
        "generation": "linking",
        "parties": [{"jurisdiction": "DE", "ets": "X_ETS"}, {"jurisdiction": "AT", "ets": "Y_ETS"}],
        "mode": {"direction": "bilateral", "directness": "direct", "breadth": "full",
                 "structure": "parallel"},
        "systems": [system("X_ETS", "DE", 40.0), system("Y_ETS", "AT", 50.0)],
        "links": [{"between": ["X_ETS", "Y_ETS"]}],
        "clauses": all_clauses(),
    }


def edit(base: Callable[[], Doc], *changes: Callable[[Doc], None]) -> Doc:
    d = copy.deepcopy(base())
    for ch in changes:
        ch(d)
    return d


def drop(*elements: str) -> Callable[[Doc], None]:
    def f(d: Doc) -> None:
        d["clauses"] = [c for c in d["clauses"] if c["element"] not in elements]
    return f


def put(path: str, value: Any) -> Callable[[Doc], None]:
    """Set ``a.b[0].c`` in the document."""
    def f(d: Doc) -> None:
        node: Any = d
        parts = path.replace("]", "").replace("[", ".").split(".")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return f


def sys_put(index: int, key: str, value: Any) -> Callable[[Doc], None]:
    return put(f"systems[{index}].{key}", value)
