"""The assessment report as data: one JSON-able mapping that the HTML, Markdown and JSON
renderers all read, so the three carry the same numbers.

Every market, link and total figure is copied from ``SimulationResult.to_dict()`` (the JSON of
``carbonlink simulate --format json``); the verdict quotes those numbers, never recomputes them.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from carbonlink.reporting.console import fmt_num
from carbonlink.reporting.i18n import N_
from carbonlink.reporting.verdict import decision, glossary, plain

if TYPE_CHECKING:  # the chart processes import this module, not the simulator's
    from carbonlink.assess.pipeline import Assessment

REPORT_VERSION = 1

FORM_TEXT = {
    "treaty": N_("a legally binding treaty"),
    "implementing_agreement": N_("a binding implementing agreement (Article 6.2)"),
    "mou": N_("a non-binding memorandum of understanding"),
    "political_declaration": N_("a non-binding political declaration"),
    "unilateral_regulation": N_("a unilateral regulation (no international agreement)"),
}
GENERATION_TEXT = {
    "linking": N_("a first-generation linking agreement (S-2.1)"),
    "article_6_2": N_("a second-generation Article 6.2 agreement (S-2.2)"),
}


CALIBRATION_METHOD = N_("linear MAC through (abatement = share × BAU, observed price); "
                        "BAU = cap / (1 − share); slope = price / (BAU − cap)")


def units(a: Assessment) -> dict[str, str]:
    qty = a.unit or "tCO2e"
    cur = a.currency or "money"
    mega = qty.startswith("Mt")
    return {
        "quantity": qty,
        "price": f"{cur}/t{qty[2:]}" if mega else f"{cur}/{qty}",
        "money": f"million {cur}" if mega else cur,
        "currency": cur,
    }


def build_report(a: Assessment, *, tool_version: str | None = None,
                 lang: str = "en") -> dict[str, Any]:
    """The report mapping (see module docstring); ``lang`` is the language of the decision box
    and the report's headings (``en`` or ``zh``)."""
    from carbonlink.reporting.i18n import Translator

    tr = Translator(lang)
    check = a.check.to_dict() if a.check is not None else None
    designs = [
        {**d.to_dict(), "result": a.results[d.id].to_dict()} for d in a.designs
    ]
    calibration = None
    if a.calibration is not None:
        calibration = {"currency": a.calibration.currency, "unit": "MtCO2e",
                       "sources": a.calibration.sources, "gaps": a.calibration.gaps,
                       "method": CALIBRATION_METHOD}
    rep: dict[str, Any] = {
        "report": "carbonlink assess",
        "lang": lang,
        "version": REPORT_VERSION,
        "generated": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "tool_version": tool_version,
        "source": a.source,
        "framing": a.framing,
        "simulated": a.simulated,
        "no_simulation": a.no_simulation_reason,
        "units": units(a) if a.simulated else None,
        "notes": list(a.notes),
        "check": check,
        "assumptions": [x.to_dict() for x in a.assumptions],
        "calibration": calibration,
        "designs": designs,
        "sensitivity": [s.to_dict() for s in a.sweeps],
    }
    if a.uncertainty is not None:  # only then: a report without shocks stays as it was
        rep["uncertainty"] = a.uncertainty
    rep["verdict"] = verdict(rep)
    rep["decision"] = decision(rep, tr)
    rep["glossary"] = glossary(rep)
    return rep


def _design(rep: dict[str, Any], design_id: str) -> dict[str, Any] | None:
    for d in rep["designs"]:
        if d["id"] == design_id:
            return d
    return None


def _same_links(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def key(d: dict[str, Any]) -> list[str]:
        return sorted(repr(sorted(lk.items())) for lk in d["scenario"].get("links", []))

    return key(a) == key(b)


def market_label(rep: dict[str, Any], market_id: str) -> str:
    for p in rep["framing"]["parties"]:
        if p.get("ets") == market_id:
            return f"{p['jurisdiction']} ({market_id})"
    return market_id


def verdict(rep: dict[str, Any]) -> str:
    """One paragraph a minister can read: legality/completeness, compatibility, economics."""
    fr = rep["framing"]
    parties = " and ".join(p["jurisdiction"] for p in fr["parties"])
    parts = [f"{fr['title']} ({parties}) is {FORM_TEXT.get(fr['form'], fr['form'])}, "
             f"{GENERATION_TEXT.get(fr['generation'], fr['generation'])}."]
    chk = rep.get("check")
    if chk is not None:
        s = chk["summary"]
        comp = s.get("compatibility", {})
        if s["errors"]:
            # an error is a breach of a binding norm or a gap that stops the agreement operating
            # as written; a missing recommended element is a warning, never "unlawful"
            first = next(f for f in chk["findings"] if f["severity"] == "error")
            parts.append(f"As written, the check finds {s['errors']} error(s) — a binding norm "
                         "breached or an element without which the agreement cannot operate — to "
                         f"resolve (first: {first['message']}) and {s['warnings']} warning(s) "
                         "(recommended elements and risks).")
        else:
            parts.append(f"The check finds no breach of a binding norm and nothing that stops "
                         f"the agreement operating as written ({s['warnings']} warning(s): "
                         "recommended elements and risks to weigh).")
        if comp.get("conflict"):
            parts.append(f"{comp['conflict']} design element(s) conflict between the systems "
                         "and must be harmonised before linking (S-7.3).")
        elif sum(comp.values()):
            parts.append("No design element conflicts between the systems (S-7.3).")
    if not rep["simulated"]:
        parts.append(rep.get("no_simulation") or "No market simulation was run.")
        return plain(" ".join(parts))
    u = rep["units"]
    agr = _design(rep, "agreement")
    full = _design(rep, "full")
    assert agr is not None and full is not None
    res = agr["result"]
    if res["status"] != "optimal":
        parts.append(f"The market model has no equilibrium for the agreement as drafted "
                     f"({res['status']}).")
        return plain(" ".join(parts))
    mk = res["markets"]
    prices = "; ".join(
        f"{market_label(rep, m)} {fmt_num(v['autarky_price'])} → {fmt_num(v['price'])}"
        for m, v in mk.items())
    moved = [lk for lk in res["links"] if (lk["flow"] or 0) > 0]
    flow_txt = ", ".join(f"{fmt_num(lk['flow'])} {u['quantity']} from {lk['from']} to {lk['to']}"
                         for lk in moved) or "no units"
    gains = "; ".join(f"{market_label(rep, m)} {fmt_num(v['gain'])}" for m, v in mk.items())
    t = res["totals"]
    parts.append(
        f"On the calibrated markets, the link as drafted moves {flow_txt} a year; prices "
        f"({u['price']}, autarky → linked): {prices}. Gains against autarky "
        f"({u['money']} a year): {gains}; in total {fmt_num(t['gain'])}, with a total emissions "
        f"change of {fmt_num(t['emissions_change'], scale=t.get('autarky_emissions'))} "
        f"{u['quantity']}.")
    if not moved:
        derived = [a["key"] for a in rep["assumptions"]
                   if a["key"].startswith("price.") and a["origin"] == "derived"]
        parts.append("The calibrated autarky prices are (nearly) equal, so at the calibration "
                     "point linking moves nothing; the sensitivity section shows what a price gap "
                     "would do" + (f" (rerun with --assume {derived[0]}=<autarky price estimate> "
                                   "to compare the designs at a gap)." if derived else "."))
    basis = next((a for a in rep["assumptions"] if a["key"] == "price_basis"), None)
    if basis is not None and basis["value"] == "pre_link":
        cal = rep.get("calibration") or {}
        when = sorted({str(s["price"].get("date") or s["price"].get("year"))
                       for s in cal.get("sources", {}).values() if s.get("price")})
        parts.append("The systems are already linked, so each market is calibrated to its "
                     "observed price before the link (" + ", ".join(when) + "; see "
                     "Assumptions): the autarky prices are pre-link prices, not today's.")
    if _same_links(agr, full):
        parts.append("The agreement as drafted is a full two-way link.")
    else:
        parts.append(f"A full link would gain {fmt_num(full['result']['totals']['gain'])} in "
                     "total.")
    instruments = [d for d in rep["designs"]
                   if d["id"] in ("quota", "entity_share", "border_tax", "exchange_rate", "discount")
                   and d["result"]["status"] == "optimal"]
    if instruments and moved:
        best = max(instruments, key=lambda d: d["result"]["totals"]["gain"] or 0.0)
        parts.append(f"Of the restricted designs at their representative levels, "
                     f"{best['title'].lower()} keeps the largest total gain "
                     f"({fmt_num(best['result']['totals']['gain'])}; gains are entities' "
                     "cost savings and leave out transfer-tax revenue, which goes to the "
                     "importing government).")
    parts.append("These figures rest on the labelled assumptions below (linear MACs calibrated "
                 "to observed prices); read them as orders of magnitude, not forecasts.")
    return plain(" ".join(parts))
