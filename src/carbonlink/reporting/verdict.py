"""The decision box at the top of an assessment report: a one-line recommendation, the status of
the law (separate from drafting completeness), a few key figures in plain money and tonnes, and
the recommended design among those compared.

Everything is read generically from the check report and the simulation results, so new rules
or new severities change the box without code here:

* a finding of severity ``error`` is a **blocking defect** when its rule belongs to the law
  proper (legal capacity, Article 6.2) — a breach of a binding norm — and a **required fix**
  otherwise (the agreement cannot operate as written: feasibility, compatibility, or a rule of a
  group this module does not know);
* a ``warning`` is a **recommendation**; ``info`` is context only;
* findings of the drafting-completeness group (missing clauses) are counted separately: an error
  there is a missing required element (a required fix), a warning a missing recommended one.

The recommendation: any blocking defect → *do not link yet*; otherwise any required fix or
missing required element → *link with the named changes*; otherwise *link as drafted*
(recommendations are listed but do not hold the link back).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

#: Rule groups whose errors breach a binding norm (the law proper).
LAW_GROUPS = frozenset({"LEG", "A62"})
#: Rule groups about the drafting completeness of the text (missing clauses).
DRAFTING_GROUPS = frozenset({"CMP"})

Translate = Callable[[str], str]


def N_(text: str) -> str:
    """Mark a message for the catalog where it is defined; it is translated where shown."""
    return text


#: Messages shown through a variable (the kind of a finding, a design's title).
CATALOG_ONLY = (
    N_("blocking defect"), N_("required fix"), N_("recommendation"),
    N_("missing required element"), N_("missing recommended element"), N_("note"),
    N_("Autarky"), N_("Agreement as drafted"), N_("Full link"), N_("Quota"), N_("Entity share"),
    N_("Border tax"), N_("Exchange rate"), N_("Discount"),
)

_CODE = re.compile(r"\b(?:S-\d+(?:\.\d+)*|EL-\d+(?:\.\.EL-\d+)?|(?:LEG|A62|CMP|CPT|FEA)-[A-Z0-9]+)\b")


def plain(text: str) -> str:
    """``text`` without internal codes (seed sections, checklist elements, rule ids): they live
    in the glossary, not in prose."""
    out = _CODE.sub("", text)
    out = re.sub(r"\(\s*[,;]?\s*\)", "", out)          # "( )" left by a removed code
    out = re.sub(r"（\s*[,;，；]?\s*）", "", out)       # the same in full-width parentheses
    out = re.sub(r"\(\s*[,;]\s*", "(", out)
    out = re.sub(r"\s+([,.;:)])", r"\1", out)
    out = re.sub(r"^[\s:;,.-]+", "", out)
    return re.sub(r"\s{2,}", " ", out).strip()


def group_of(rule_id: str) -> str:
    return rule_id.split("-")[0]


def _sig(x: float, digits: int = 2) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def _grouped(x: float) -> str:
    """A rounded number with thousands separators and no trailing zeros."""
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.{max(0, 2 - int(math.floor(math.log10(abs(x)))))}f}".rstrip("0").rstrip(".")


def money(value_in_millions: float, currency: str, *, millions: bool = True, lang: str = "en") -> str:
    """Plain money, two significant digits: ``EUR 0.52 M``, ``EUR 920``, ``EUR 1.3 bn``
    (Chinese: ``EUR 52 万``, ``EUR 13 亿``)."""
    x = value_in_millions * (1e6 if millions else 1.0)
    if abs(x) < 0.5:
        return f"{currency} 0"
    x = _sig(x)
    steps = ((1e8, "亿"), (1e4, "万")) if lang == "zh" else ((1e9, "bn"), (1e5, "M"))
    for div, word in steps:
        if abs(x) >= div:
            unit = 1e6 if word == "M" else div
            return f"{currency} {_grouped(_sig(x / unit))} {word}"
    return f"{currency} {_grouped(x)}"


def tonnes(value: float, unit: str, lang: str = "en") -> str:
    """Plain tonnes, two significant digits: ``240,000 t``, ``1.2 Mt`` (Chinese: ``24 万吨``)."""
    x = value * (1e6 if unit.startswith("Mt") else 1.0)
    t = "吨" if lang == "zh" else " t"
    if abs(x) < 0.5:
        return f"0{t}"
    x = _sig(x)
    if lang == "zh":
        for div, word in ((1e8, " 亿吨"), (1e4, " 万吨")):
            if abs(x) >= div:
                return f"{_grouped(_sig(x / div))}{word}"
        return f"{_grouped(x)} 吨"
    if abs(x) >= 1e6:
        return f"{_grouped(_sig(x / 1e6))} Mt"
    return f"{_grouped(x)} t"


def price(value: float, currency: str, lang: str = "en") -> str:
    """A price per tonne, three significant digits: ``EUR 6.92/t`` (Chinese: ``EUR 6.92/吨``)."""
    return f"{currency} {_grouped(_sig(value, 3))}/{'吨' if lang == 'zh' else 't'}"


#: Names of the shipped examples' parties, for the catalogs (others show as in the data).
PARTY_NAMES = (N_("European Union"), N_("Switzerland"), N_("California"), N_("Québec"),
               N_("Sweden"), N_("Ghana"), N_("Singapore"), N_("Papua New Guinea"), N_("Peru"),
               N_("United States of America"), N_("Republic of Korea"), N_("New Zealand"),
               N_("Washington"))


def _names(rep: dict[str, Any], _: Translate = str) -> dict[str, str]:
    """Market id → the party's plain name (``Switzerland``), from the reference data."""
    from carbonlink.data import get_jurisdiction

    out: dict[str, str] = {}
    for p in rep["framing"]["parties"]:
        if not p.get("ets"):
            continue
        try:
            out[p["ets"]] = _(get_jurisdiction(p["jurisdiction"]).name)
        except KeyError:
            out[p["ets"]] = p["jurisdiction"]
    return out


def _rule_titles() -> dict[str, dict[str, str]]:
    try:
        from carbonlink.agreements.rules import RULES
    except Exception:  # pragma: no cover - the rules table ships with the package
        return {}
    return {rid: {"title": r.title, "source": r.source, "group": r.group} for rid, r in RULES.items()}


def _item(f: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"rule": f["rule"], "severity": f["severity"], "kind": kind, "subject": f["subject"],
            "text": plain(f["message"]), "source": f.get("source")}


def classify(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Findings sorted into the box's buckets (see the module docstring)."""
    out: dict[str, list[dict[str, Any]]] = {
        "blocking": [], "required": [], "recommended": [],
        "drafting_required": [], "drafting_recommended": [], "context": []}
    for f in findings:
        g = group_of(f["rule"])
        sev = f["severity"]
        if g in DRAFTING_GROUPS:
            if sev == "error":
                out["drafting_required"].append(_item(f, "missing required element"))
            elif sev == "warning":
                out["drafting_recommended"].append(_item(f, "missing recommended element"))
            else:
                out["context"].append(_item(f, "note"))
        elif sev == "error":
            if g in LAW_GROUPS:
                out["blocking"].append(_item(f, "blocking defect"))
            else:
                out["required"].append(_item(f, "required fix"))
        elif sev == "warning":
            out["recommended"].append(_item(f, "recommendation"))
        else:
            out["context"].append(_item(f, "note"))
    return out


def _short(item: dict[str, Any], _: Translate = str) -> str:
    """A name for the change: the part of the finding before its first colon (``definitions``),
    as "add a clause on …" for a missing element."""
    head = item["text"].split(":", 1)[0].strip()
    if getattr(_, "lang", "en") != "en":  # the element's name, else the rule's title, translated
        if item["kind"] == "missing required element":
            return _("add a clause on {element}").format(element=_(head))
        from carbonlink.reporting.i18n import Translator

        return Translator(_.lang).rule_title(item["rule"]) if isinstance(_, Translator) else head
    if not head or len(head) > 60:  # a long head: the rule's title names it plainly
        title = plain(_rule_titles().get(item["rule"], {}).get("title", ""))
        head = title if 0 < len(title) <= 90 else item["text"][:60].rsplit(" ", 1)[0] + " …"
    if item["kind"] == "missing required element":
        return _("add a clause on {element}").format(element=head)
    return head


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _agreement_result(rep: dict[str, Any]) -> dict[str, Any] | None:
    for d in rep.get("designs", []):
        if d["id"] == "agreement" and d["result"]["status"] == "optimal":
            return dict(d["result"])
    return None


def _welfare(result: dict[str, Any]) -> float:
    """Entities' cost savings plus the transfer-tax revenue the importing governments keep."""
    tax = sum(lk.get("tax_revenue") or 0.0 for lk in result["links"])
    return float(result["totals"]["gain"] or 0.0) + float(tax)


def recommended_design(rep: dict[str, Any], _: Translate = str) -> dict[str, Any] | None:
    """The compared design with the largest combined gain (entities' savings plus tax revenue);
    the agreement as drafted when it is within 1 % of the best (no change is worth less)."""
    lang = getattr(_, "lang", "en")
    ds = [d for d in rep.get("designs", []) if d["result"]["status"] == "optimal"
          and d["id"] != "autarky"]
    if not ds:
        return None
    cur = rep["units"]["currency"]
    mega = rep["units"]["quantity"].startswith("Mt")
    best = max(ds, key=lambda d: _welfare(d["result"]))
    top = _welfare(best["result"])
    agr = next((d for d in ds if d["id"] == "agreement"), None)
    if agr is not None and _welfare(agr["result"]) >= top - 0.01 * abs(top):
        best = agr
    w = _welfare(best["result"])
    if w <= 0:
        reason = _("no design compared gains anything at the calibrated prices, so the choice "
                   "rests on the law and the drafting, not on the money")
    elif best["id"] == "agreement":
        reason = _("the link as drafted already gives the largest combined gain of the designs "
                   "compared ({amount} a year: entities' cost savings plus transfer-tax revenue)"
                   ).format(amount=money(w, cur, millions=mega, lang=lang))
    else:
        reason = _("it gives the largest combined gain of the designs compared ({amount} a year: "
                   "entities' cost savings plus transfer-tax revenue)").format(
                       amount=money(w, cur, millions=mega, lang=lang))
    return {"id": best["id"], "title": _(best["title"]), "reason": reason,
            "combined_gain": w}


def key_figures(rep: dict[str, Any], _: Translate = str) -> list[dict[str, Any]]:
    """3–5 figures of the agreement as drafted, in plain money and tonnes, each with its unit."""
    lang = getattr(_, "lang", "en")
    res = _agreement_result(rep)
    if res is None or not rep.get("units"):
        return []
    u = rep["units"]
    cur, qty = u["currency"], u["quantity"]
    mega = qty.startswith("Mt")
    names = _names(rep, _)
    mk = res["markets"]
    out: list[dict[str, Any]] = []
    gains = sorted(mk.items(), key=lambda kv: -(kv[1]["gain"] or 0.0))
    first_m, first_v = gains[0]
    text = _("{party} saves {amount} a year").format(
        party=names.get(first_m, first_m), amount=money(first_v["gain"] or 0.0, cur, millions=mega, lang=lang))
    if len(gains) > 1:
        text += "; " + "; ".join(f"{names.get(m, m)} {money(v['gain'] or 0.0, cur, millions=mega, lang=lang)}"
                                 for m, v in gains[1:])
    out.append({"id": "gains", "label": _("Cost savings against no link, per year"), "text": text,
                "unit": f"{cur}/{_('yr')}",
                "values": {m: (v["gain"] or 0.0) * (1e6 if mega else 1.0) for m, v in mk.items()}})
    moved = [lk for lk in res["links"] if (lk["flow"] or 0.0) > 1e-9]
    if moved:
        flows = "; ".join(_("{amount} a year from {a} to {b}").format(
            amount=tonnes(lk["flow"], qty, lang=lang), a=names.get(lk["from"], lk["from"]),
            b=names.get(lk["to"], lk["to"])) for lk in moved)
    else:
        flows = _("no allowances move at the calibrated prices")
    out.append({"id": "flows", "label": _("Allowances moved across the link"), "text": flows,
                "unit": f"tCO2e/{_('yr')}",
                "values": {f"{lk['from']}>{lk['to']}": (lk["flow"] or 0.0) * (1e6 if mega else 1.0)
                           for lk in res["links"]}})
    before = "; ".join(f"{names.get(m, m)} {price(v['autarky_price'], cur, lang=lang)}" for m, v in mk.items())
    after = sorted({round(v["price"], 2) for v in mk.values()})
    after_txt = (price(after[0], cur, lang=lang) if len(after) == 1 else
                 "; ".join(f"{names.get(m, m)} {price(v['price'], cur, lang=lang)}" for m, v in mk.items()))
    pre_link = any(a["key"] == "price_basis" and a["value"] == "pre_link"
                   for a in rep.get("assumptions", []))
    label = (_("Allowance price before the link (observed) → linked") if pre_link else
             _("Allowance price without the link → with it"))
    out.append({"id": "prices", "label": label,
                "text": f"{before} → {after_txt}", "unit": f"{cur}/tCO2e",
                "values": {m: v["price"] for m, v in mk.items()}})
    change = res["totals"]["emissions_change"] or 0.0
    scale = abs(res["totals"].get("autarky_emissions") or 0.0)
    if abs(change) <= 1e-9 * max(1.0, scale):
        em = _("unchanged: the caps bind, emissions move between the systems, not up or down")
    else:
        em = (_("up {amount} a year") if change > 0 else _("down {amount} a year")).format(
            amount=tonnes(abs(change), qty, lang=lang))
    out.append({"id": "emissions", "label": _("Total emissions of the linked systems"), "text": em,
                "unit": f"tCO2e/{_('yr')}", "values": {"total": change * (1e6 if mega else 1.0)}})
    return out


def decision(rep: dict[str, Any], _: Translate = str) -> dict[str, Any]:
    """The verdict box as data (see the module docstring)."""
    lang = getattr(_, "lang", "en")
    chk = rep.get("check") or {"findings": []}
    b = classify(chk["findings"])
    n_block, n_req, n_rec = len(b["blocking"]), len(b["required"]), len(b["recommended"])
    n_dreq, n_drec = len(b["drafting_required"]), len(b["drafting_recommended"])
    design = recommended_design(rep, _) if rep.get("simulated") else None
    figures = key_figures(rep, _) if rep.get("simulated") else []
    res = _agreement_result(rep) if rep.get("simulated") else None

    if n_block:
        action = "do_not_link_yet"
        names = "; ".join(list(dict.fromkeys(_short(i, _) for i in b["blocking"]))[:2])
        why = _("{n} blocking legal defect(s) must be cured first ({names})").format(
            n=n_block, names=names + ("; …" if n_block > 2 else ""))
    elif n_req or n_dreq:
        action = "link_with_changes"
        todo = b["required"] + b["drafting_required"]
        names = "; ".join(list(dict.fromkeys(_short(i, _) for i in todo))[:3])
        why = _("first {names}").format(names=names + (_("; and {n} more").format(n=len(todo) - 3)
                                                      if len(todo) > 3 else ""))
    else:
        action = "link_as_drafted"
        why = (_("no legal defect or missing required element; {n} recommendation(s) would "
                 "strengthen it").format(n=n_rec + n_drec) if n_rec + n_drec else
               _("no legal defect, no missing element"))
    headline = {"do_not_link_yet": _("Do not link yet"),
                "link_with_changes": _("Link with the named changes"),
                "link_as_drafted": _("Link as drafted")}[action]
    money_why = ""
    if res is not None:
        total = float(res["totals"]["gain"] or 0.0)
        cur = rep["units"]["currency"]
        mega = rep["units"]["quantity"].startswith("Mt")
        if total > 0:
            money_why = _("the link saves {amount} a year in total").format(
                amount=money(total, cur, millions=mega, lang=lang))
        else:
            money_why = _("at the calibrated prices the link saves nothing")
    line = (_("{headline}: {why} — {money}.").format(headline=headline, why=why, money=money_why)
            if money_why else _("{headline}: {why}.").format(headline=headline, why=why))

    if n_block:
        law_status = _("blocking defects")
    elif n_req:
        law_status = _("required fixes")
    elif n_rec:
        law_status = _("recommendations only")
    else:
        law_status = _("no findings")
    if n_dreq:
        drafting_status = _("incomplete: required elements missing")
    else:  # the counts say whether recommended elements are missing
        drafting_status = _("complete")
    for item in b["blocking"] + b["required"] + b["recommended"] + b["drafting_required"] + \
            b["drafting_recommended"]:
        item["kind_text"] = _(item["kind"])
    law_text = _("{status}: {blocking} blocking defect(s), {required} required fix(es), "
                 "{recommended} recommendation(s)").format(
        status=law_status, blocking=n_block, required=n_req, recommended=n_rec)
    drafting_text = _("{status} ({required} required and {recommended} recommended element(s) "
                      "missing)").format(status=drafting_status, required=n_dreq, recommended=n_drec)
    return {
        "action": action, "headline": headline, "why": why, "money": money_why, "line": line,
        "lang": lang,
        "law": {"status": law_status, "text": law_text, "blocking": n_block, "required_fixes": n_req,
                "recommendations": n_rec,
                "findings": b["blocking"] + b["required"] + b["recommended"]},
        "drafting": {"status": drafting_status, "text": drafting_text, "missing_required": n_dreq,
                     "missing_recommended": n_drec,
                     "findings": b["drafting_required"] + b["drafting_recommended"]},
        "changes": b["blocking"] + b["required"] + b["drafting_required"],
        "figures": figures,
        "no_figures": None if res is not None else _("no market figures: nothing was simulated"),
        "design": design,
    }


def glossary(rep: dict[str, Any]) -> list[dict[str, str]]:
    """Every rule id the report shows, with its plain title and its source."""
    titles = _rule_titles()
    seen: list[str] = []
    for f in (rep.get("check") or {}).get("findings", []):
        if f["rule"] not in seen:
            seen.append(f["rule"])
    return [{"id": rid, "title": titles.get(rid, {}).get("title", rid),
             "source": titles.get(rid, {}).get("source", "")} for rid in seen]
