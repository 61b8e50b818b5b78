"""Render the assessment report mapping as self-contained HTML, Markdown or JSON, and write it
atomically (a temporary file in the target folder, then a rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from carbonlink.reporting.console import fmt_num
from carbonlink.reporting.i18n import N_, Translator
from carbonlink.reporting.report import FORM_TEXT, GENERATION_TEXT
from carbonlink.reporting.sentences import translate_sentence
from carbonlink.reporting.verdict import plain

if TYPE_CHECKING:
    from carbonlink.reporting.chartpool import ChartPool

TEMPLATES = Path(__file__).parent / "templates"

_MARKET_COLS = ["price", "mac", "autarky_price", "emissions", "abatement", "net_imports",
                "offsets_used", "ceiling_released", "floor_withheld", "abatement_cost",
                "compliance_cost", "autarky_compliance_cost", "gain", "tax_revenue"]


#: The columns' names, for the catalog.
_COL_NAMES = {"price": N_("price"), "mac": N_("mac"), "autarky_price": N_("autarky price"),
              "emissions": N_("emissions"), "abatement": N_("abatement"),
              "net_imports": N_("net imports"), "offsets_used": N_("offsets used"),
              "ceiling_released": N_("ceiling released"), "floor_withheld": N_("floor withheld"),
              "abatement_cost": N_("abatement cost"), "compliance_cost": N_("compliance cost"),
              "autarky_compliance_cost": N_("autarky compliance cost"), "gain": N_("gain"),
              "tax_revenue": N_("tax revenue")}


#: What each design means and why its level, in the catalog (keyed by design id): the English
#: texts come with the design (carbonlink.assess.designs); another language reads these, the
#: level's number stands in the level column.
DESIGN_TEXT: dict[str, tuple[str, str | None]] = {
    "autarky": (N_("No link: each market clears on its own."), None),
    "agreement": (N_("The link terms in the agreement document."), None),
    "full": (N_("Two-way link with no conditions between every pair the agreement links."), None),
    "quota": (N_("Jurisdiction-level cap on units moved on each link."),
              N_("a share of the largest full-link flow, so that the quota binds")),
    "entity_share": (N_("Each entity may cover at most this share of its emissions with foreign "
                        "units."),
                     N_("a share of the largest full-link import share of the importer's "
                        "emissions")),
    "border_tax": (N_("Per-unit tax on cross-border transfers, paid by the buyer, kept by the "
                      "importing jurisdiction."), N_("a share of the largest autarky price gap")),
    "exchange_rate": (N_("Units of the lower-priced market count less in the higher-priced one, "
                         "the reciprocal the other way."),
                      N_("a rating-based conversion between the lower- and the higher-priced "
                         "market")),
    "discount": (N_("Each side counts imported units at a discount."),
                 N_("the seed's own example: a 20 % discount")),
}
ONE_WAY_TITLE = N_("One-way {src} → {dst}")
ONE_WAY_TEXT = N_("Entities in {dst} may use {src} units, not the other way round (unilateral "
                  "link).")
#: The level keys of the restricted designs.
LEVEL_NAMES = (N_("quota"), N_("entity share"), N_("transfer tax"), N_("exchange rate"),
               N_("discount"))

#: What each assumption means, in the catalog (keyed by the assumption's key without its market
#: id, which fills ``{market}``); the English texts come with the assumption.
ASSUMPTION_TEXT = {
    "price_basis": N_("which observed prices calibrate the markets: before the link (pre_link) "
                      "or today's (current)"),
    "currency": N_("reporting currency of all money figures"),
    "fx": N_("US$ per unit of this currency, used for every conversion of it"),
    "cap": N_("annual cap of {market}, MtCO2e (overrides the reference data)"),
    "cap:carried forward": N_("annual cap of {market}, MtCO2e: the reference data has no cap for "
                              "the reference date, so the latest recorded cap is carried forward "
                              "(an assumption)"),
    "price": N_("observed price of {market} per tCO2e"),
    "abatement_share": N_("abatement in {market} at its observed price, as a share of "
                          "business-as-usual emissions (emissions at that price assumed equal "
                          "to the cap)"),
    "mac_scale": N_("multiplier on the calibrated MAC slope of {market} (its autarky price scales "
                    "by the same factor)"),
    "mac_form": N_("marginal abatement cost rises linearly from zero at BAU; one compliance "
                   "year; no banking"),
    "markets": N_("market curves (BAU, cap, MAC) are those written in the agreement's markets "
                  "section, not calibrated from reference data"),
}


def design_title(d: dict[str, Any], tr: Callable[[str], str] = str) -> str:
    if d["id"].startswith("one-way:") and getattr(tr, "lang", "en") != "en":
        src, dst = d["id"].removeprefix("one-way:").split(">", 1)
        return tr(ONE_WAY_TITLE).format(src=src, dst=dst)
    return tr(d["title"])


def _design_text(d: dict[str, Any], tr: Callable[[str], str]) -> tuple[str, str | None]:
    """The design's meaning and the reason of its level in the language of ``tr``."""
    if getattr(tr, "lang", "en") == "en":
        return d["description"], None
    if d["id"].startswith("one-way:"):
        src, dst = d["id"].removeprefix("one-way:").split(">", 1)
        return tr(ONE_WAY_TEXT).format(src=src, dst=dst), None
    text, why = DESIGN_TEXT.get(d["id"], (d["description"], None))
    return tr(text), tr(why) if why else None


def assumption_text(a: dict[str, Any], tr: Callable[[str], str] = str) -> str:
    """An assumption's meaning in the language of ``tr`` (English: as it came)."""
    if getattr(tr, "lang", "en") == "en":
        return str(a["description"])
    head, _dot, market = str(a["key"]).partition(".")
    text = ASSUMPTION_TEXT.get(f"{head}:{a.get('origin')}") or ASSUMPTION_TEXT.get(head)
    return tr(text).format(market=market) if text else str(a["description"])


def _fmt(value: Any) -> str:
    return fmt_num(value)


def _directions(rep: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for d in rep["designs"]:
        for lk in d["result"]["links"]:
            key = (lk["from"], lk["to"])
            if key not in out:
                out.append(key)
    return out


def design_level(d: dict[str, Any], tr: Callable[[str], str] = str) -> tuple[str, str]:
    lv = {k: v for k, v in d.get("level", {}).items() if k != "why"}
    text = ", ".join(f"{tr(k.replace('_', ' '))} {fmt_num(v)}" for k, v in lv.items())
    why = _design_text(d, tr)[1] or str(d.get("level", {}).get("why", "–"))
    return text or "–", why


def design_rows(rep: dict[str, Any], tr: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """One row per design, every cell formatted from the design's SimulationResult dict."""
    markets = _markets(rep)
    directions = _directions(rep)
    rows = []
    for d in rep["designs"]:
        r = d["result"]
        level, why = design_level(d, tr)
        ok = r["status"] == "optimal"

        scale = r["totals"].get("autarky_emissions") or r["totals"].get("emissions")

        def cell(v: Any, ok: bool = ok, status: str = r["status"],
                 scale: float | None = None) -> str:
            return fmt_num(v, scale=scale) if ok else status

        flows = []
        for a, b in directions:
            match = [lk["flow"] for lk in r["links"] if (lk["from"], lk["to"]) == (a, b)]
            flows.append(cell(match[0], scale=scale) if match else "–")
        rows.append({
            "id": d["id"], "title": design_title(d, tr), "description": _design_text(d, tr)[0],
            "level": level, "why": why,
            "prices": [cell(r["markets"][m]["price"]) for m in markets],
            "gains": [cell(r["markets"][m]["gain"]) for m in markets],
            "flows": flows,
            "emissions_change": cell(r["totals"]["emissions_change"], scale=scale),
            "tax_revenue": cell(sum(lk["tax_revenue"] for lk in r["links"])) if r["links"] else "0",
            "quota_rent": cell(sum(lk["quota_rent"] for lk in r["links"])) if r["links"] else "0",
            "total_gain": cell(r["totals"]["gain"]),
        })
    return rows


def _markets(rep: dict[str, Any]) -> list[str]:
    return list(rep["designs"][0]["result"]["markets"]) if rep["designs"] else []


def _full_tables(rep: dict[str, Any], tr: Callable[[str], str] = str) -> list[dict[str, Any]]:
    u = rep["units"]
    unit_of = {"price": u["price"], "mac": u["price"], "autarky_price": u["price"]}
    unit_of.update({c: u["quantity"] for c in ("emissions", "abatement", "net_imports",
                                               "offsets_used", "ceiling_released",
                                               "floor_withheld")})
    unit_of.update({c: f"{u['money']}/{tr('yr')}" for c in ("abatement_cost", "compliance_cost",
                                                    "autarky_compliance_cost", "gain",
                                                    "tax_revenue")})
    headers = [f"{tr(_COL_NAMES[c])} ({unit_of[c]})" if c in unit_of else tr(_COL_NAMES[c])
               for c in _MARKET_COLS]
    out = []
    for d in rep["designs"]:
        r = d["result"]
        out.append({
            "title": design_title(d, tr), "status": r["status"], "columns": headers,
            "rows": [(m, [fmt_num(v.get(c)) for c in _MARKET_COLS]) for m, v in r["markets"].items()],
            "links": [[lk["from"], lk["to"], fmt_num(lk["flow"]), fmt_num(lk["credited"]),
                       fmt_num(lk["tax_revenue"]), fmt_num(lk["quota_rent"]),
                       fmt_num(lk["binding"])] for lk in r["links"]],
            "warnings": r.get("warnings", []),
        })
    return out


def _compat(rep: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[dict[str, Any] | None]]]]:
    rows = (rep.get("check") or {}).get("compatibility", [])
    subjects: list[str] = []
    dims: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["subject"] not in subjects:
            subjects.append(row["subject"])
        if row["dimension"] not in dims:
            dims.append(row["dimension"])
        cells[(row["dimension"], row["subject"])] = row
    return subjects, [(dim, [cells.get((dim, s)) for s in subjects]) for dim in dims]


#: the options of the report's template environment (a compiled template depends on them)
_ENV_OPTIONS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True}
_AUTOESCAPE = ("html", "j2")
#: where compiled templates are kept: ``$CARBONLINK_CACHE_DIR``, else the user's cache folder
CACHE_DIR_VAR = "CARBONLINK_CACHE_DIR"


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's compiled templates kept between runs (compiling the report's template was a
    third of a second of every ``carbonlink assess``; issue 13). A file is used only when its
    header matches this Jinja2 and Python and its checksum matches the template's current
    source (Jinja2 checks both); the file name carries a fingerprint of Jinja2's version, the
    Python version and the environment's options, which the checksum does not cover. A missing,
    stale, truncated or unreadable file is a miss (the template is compiled), and a folder that
    cannot be written is no cache; files are written atomically (a temporary file, then a rename)
    and not at all under ``PYTHONDONTWRITEBYTECODE``, like Python's own bytecode."""

    def __init__(self, directory: str | Path) -> None:
        import hashlib
        import sys

        key = repr((jinja2.__version__, sys.version, sorted(_ENV_OPTIONS.items()), _AUTOESCAPE,
                    str(TEMPLATES)))
        fingerprint = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        super().__init__(str(directory), f"carbonlink-{fingerprint}-%s.cache")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        import pickle

        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            bucket.reset()  # compiled again

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        import sys

        if sys.dont_write_bytecode:
            return
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:  # a read-only or full disk: compiled again next time
            pass


def template_cache_dir() -> Path:
    """``$CARBONLINK_CACHE_DIR/templates``, else ``$XDG_CACHE_HOME/carbonlink/templates``, else
    ``~/.cache/carbonlink/templates``."""
    if os.environ.get(CACHE_DIR_VAR):
        return Path(os.environ[CACHE_DIR_VAR]) / "templates"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "carbonlink" / "templates"


def _env(lang: str = "en") -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(list(_AUTOESCAPE)),
                             bytecode_cache=TemplateCache(template_cache_dir()), **_ENV_OPTIONS)
    env.globals["_"] = Translator(lang)
    return env


def render_decision_html(rep: dict[str, Any]) -> str:
    """The decision box alone, with its styles (a notebook cell, a web page fragment)."""
    return _env(rep.get("lang", "en")).from_string(
        '<div class="carbonlink-decision"><style>{% include "_decision.css.j2" %}</style>'
        '{% include "_decision.html.j2" %}</div>').render(rep=rep)


def page_units(rep: dict[str, Any]) -> dict[str, Any]:
    """``rep`` with its units as the page and its charts show them ("million EUR" in the
    report's language)."""
    tr = Translator(rep.get("lang", "en"))
    if tr.lang != "en" and rep.get("units"):
        u = rep["units"]
        money = (tr("million {currency}").format(currency=u["currency"])
                 if u["money"].startswith("million ") else u["money"])
        rep = {**rep, "units": {**u, "money": money}}
    return rep


def render_html(rep: dict[str, Any], charts: ChartPool | None = None) -> str:
    """One self-contained HTML page: charts as inline SVG, no script, no network. The charts
    are drawn here (matplotlib imported now), or by ``charts``' processes (the same page)."""
    env = _env(rep.get("lang", "en"))
    tr = Translator(rep.get("lang", "en"))
    rep = page_units(rep)
    # the workers draw the charts while this process compiles the template (a third of a
    # second) and builds the tables
    pending = charts.start(rep) if charts is not None else None
    template = env.get_template("report.html.j2")
    subjects, compat_rows = _compat(rep)
    fr = rep["framing"]
    if pending is not None:
        drawn = pending.result()
    elif charts is not None:  # nothing simulated: no charts
        drawn = []
    else:
        from carbonlink.reporting.plots import report_charts

        drawn = report_charts(rep)
    if rep.get("uncertainty"):  # the Monte Carlo section's charts, drawn here (only then)
        from carbonlink.reporting.uncertainty_charts import uncertainty_charts

        drawn = [*drawn, *uncertainty_charts(rep)]
    figures = [(c.id, c.title, jinja2.utils.markupsafe.Markup(c.svg), c.caption)
               for c in drawn]
    return template.render(
        rep=rep, fmt=_fmt, figures=figures, plain=plain,
        glossary_titles={g["id"]: tr.rule_title(g["id"], g["title"])
                         for g in rep.get("glossary", [])},
        form_text=FORM_TEXT.get(fr["form"], fr["form"]),
        generation_text=GENERATION_TEXT.get(fr["generation"], fr["generation"]),
        compat_subjects=subjects, compat_rows=compat_rows,
        markets=_markets(rep) if rep["simulated"] else [],
        directions=_directions(rep) if rep["simulated"] else [],
        design_rows=design_rows(rep, tr) if rep["simulated"] else [],
        assumption_text=lambda a: assumption_text(a, tr),
        sentence=lambda text: translate_sentence(str(text), tr),
        full_tables=_full_tables(rep, tr) if rep["simulated"] else [],
        uncertainty=uncertainty_tables(rep, tr) if rep.get("uncertainty") else None,
    )


def uncertainty_tables(rep: dict[str, Any], tr: Callable[[str], str] = str) -> dict[str, Any]:
    """The numbers of the uncertainty section as table rows (HTML and Markdown): the price
    quantiles per design, market and period, the gains and their split, the transmission
    slopes (per +1 % of the shock factor)."""
    u = rep["uncertainty"]
    titles = {d["id"]: translate_sentence(d["title"], tr) for d in u["designs"]}
    bands = [[titles[b["design"]], b["market"], "" if b["year"] is None else str(b["year"]),
              *(fmt_num(b[k]) for k in ("q05", "q25", "q50", "q75", "q95", "mean", "sd"))]
             for b in u["bands"]]
    gains = [[titles[g["design"]], g["market"],
              *(fmt_num(g[k]) for k in ("mean", "sd", "q05", "q95", "effort_sharing",
                                        "risk_sharing"))]
             for g in u["gains"] if g["design"] != "autarky"]
    slopes = [[f"{t['shock_market']} ({tr(t['shock_variable'])})", t["market"],
               titles[t["design"]],
               fmt_num(t["slope"] / 100.0 if t["slope"] is not None else None)]
              for t in u["transmission"]]
    return {"samples": u["samples"], "seed": u["seed"], "bands": bands, "gains": gains,
            "slopes": slopes}


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(rep: dict[str, Any]) -> str:
    """The same report as Markdown, in the report's language: the same sections and numbers,
    tables instead of charts."""
    tr = Translator(rep.get("lang", "en"))

    def sentence(text: Any) -> str:
        return translate_sentence(str(text), tr)

    fr = rep["framing"]
    d = rep["decision"]
    box = [f"**{d['line']}**", "", f"- **{tr('The law')}**: {d['law']['text']}",
           f"- **{tr('Drafting')}**: {d['drafting']['text']}"]
    if d.get("design"):
        box.append(f"- **{tr('Recommended design')}**: {d['design']['title']}: "
                   f"{d['design']['reason']}")
    box += [f"- {f['label']}: {f['text']} ({f['unit']})" for f in d["figures"]]
    if d["changes"]:
        box += ["", tr("Changes named:"), ""] + [
            f"{i}. " + (f"{c['text']} ({c['kind_text']})" if tr.lang == "en"
                        else f"{c['kind_text']}：{c['subject']}")
            for i, c in enumerate(d["changes"], start=1)]
    out = [f"# {fr['title']}", "",
           f"{tr('carbonlink assessment of')} `{rep['source']}` · {tr('generated')} "
           f"{tr.date(rep['generated'])}", "",
           "## " + tr("Decision"), "", *box, "",
           "## " + tr("Verdict"), "",
           rep["verdict"] if tr.lang == "en" else d["line"], "",
           "## " + tr("The agreement in the seed's terms"), ""]
    items = [(tr("Form"), plain(tr(FORM_TEXT.get(fr["form"], fr["form"])))),
             (tr("Generation"), plain(tr(GENERATION_TEXT.get(fr["generation"],
                                                               fr["generation"])))),
             (tr("Link type"), tr(fr["link_type"]))]
    if fr.get("mode"):
        m = fr["mode"]
        items += [(tr("Direction"), tr(m["direction"])),
                  (tr("Direct / indirect"), tr(m["directness"])),
                  (tr("Full / restricted"), tr(m["breadth"]) + (
                      " — " + ", ".join(tr(r) for r in m["restrictions"])
                      if m.get("restrictions") else "")),
                  (tr("Umbrella / parallel"), tr(m["structure"]))]
    items.append((tr("Parties"), "; ".join(
        p["jurisdiction"] + (f" ({tr('ETS')} {p['ets']})" if p.get("ets") else "")
        for p in fr["parties"])))
    out += [f"- **{k}**: {v}" for k, v in items] + [""]
    out += [f"> {sentence(n)}" for n in rep["notes"]] + ([""] if rep["notes"] else [])
    chk = rep.get("check")
    if chk:
        s = chk["summary"]
        out += [f"## {tr('Findings: legality, completeness, feasibility')}", "",
                tr("{errors} error(s), {warnings} warning(s), {info} note(s) from {rules} "
                   "rule(s).").format(errors=s["errors"], warnings=s["warnings"],
                                      info=s["info"], rules=s["rules_run"]), ""]
        if chk["findings"]:
            out += [_md_table([tr("severity"), tr("rule"), tr("subject"), tr("finding"),
                               tr("source")],
                              [[tr(f["severity"]), f["rule"], tr.subject(f["subject"]),
                                tr.finding(f), tr.source(f["source"])]
                               for f in chk["findings"]]), ""]
        else:
            out += [tr("No findings."), ""]
        out += [f"## {tr('Compatibility of design elements')}", ""]
        if chk["compatibility"]:
            out += [_md_table([tr("dimension"), tr("subject"), tr("rating"), tr("level")]
                              + ([tr("why this level")] if tr.lang == "en" else []),
                              [[tr.dimension(r["dimension"]), r["subject"], tr(r["rating"]),
                                tr(r["severity"])] + ([r["reason"]] if tr.lang == "en" else [])
                               for r in chk["compatibility"]]), ""]
        else:
            out += [tr("No compatibility rows: the agreement links no pair of systems whose "
                       "design can be compared."), ""]
    if rep["simulated"]:
        u = rep["units"]
        markets = _markets(rep)
        directions = _directions(rep)
        rows_ = design_rows(rep, tr)
        out += [f"## {tr('Link designs compared')}", "",
                tr("Prices in {price}, quantities in {quantity} per year, money in {money} per "
                   "year. Gains are compliance-cost savings against autarky. Every figure is the "
                   "equilibrium that carbonlink simulate gives for the design's scenario (in the "
                   "JSON report).").format(price=u["price"], quantity=u["quantity"],
                                          money=u["money"]), ""]
        headers = ([tr("design")] + [f"{tr('price')} {m}" for m in markets]
                   + [f"{tr('gain')} {m}" for m in markets]
                   + [f"{tr('flow')} {a}→{b}" for a, b in directions]
                   + [tr("emissions change"), tr("tax revenue"), tr("quota rent"),
                      tr("total gain")])
        rows = [[r["title"], *r["prices"], *r["gains"], *r["flows"], r["emissions_change"],
                 r["tax_revenue"], r["quota_rent"], r["total_gain"]] for r in rows_]
        out += [_md_table(headers, rows), ""]
        out += [_md_table([tr("design"), tr("level"), tr("why this level")],
                          [[r["title"], r["level"], r["why"]] for r in rows_]), ""]
        out += [f"## {tr('Sensitivity')}", ""]
        for sw in rep["sensitivity"]:
            out += [f"### {sentence(sw['title'])}", ""]
            if sw.get("note"):
                out += [sentence(sw["note"]), ""]
            samples = sw.get("samples", [])
            if samples:
                ms = list(samples[0]["result"]["markets"])
                hdr = ([sw["parameter"] if tr.lang == "en" else tr("value")]
                       + [f"{tr('price')} {m}" for m in ms]
                       + [f"{tr('gain')} {m}" for m in ms] + [tr("emissions change")])
                rws = [[sentence(s["label"])]
                       + [tr.number(s["result"]["markets"][m]["price"]) for m in ms]
                       + [tr.number(s["result"]["markets"][m]["gain"]) for m in ms]
                       + [tr.number(s["result"]["totals"]["emissions_change"])]
                       for s in samples]
                out += [_md_table(hdr, rws), ""]
    if rep.get("uncertainty"):
        ut = uncertainty_tables(rep, tr)
        u = rep["units"] or rep["uncertainty"]["units"]
        out += ["## " + tr("Uncertainty"), "",
                tr("{n} samples per design of the shocks in the agreement's uncertainty block "
                   "(seed {seed}; every design sees the same draws). Prices in {price}, gains in "
                   "{money} per year.").format(n=ut["samples"], seed=ut["seed"],
                                               price=u["price"], money=u["money"]), ""]
        out += [_md_table([tr("design"), tr("market"), tr("period"), "5 %", "25 %", tr("median"),
                           "75 %", "95 %", tr("mean"), tr("sd")], ut["bands"]), ""]
        if ut["gains"]:
            out += [_md_table([tr("design"), tr("market"), tr("expected gain"), tr("sd"), "5 %",
                               "95 %", tr("effort sharing"), tr("risk sharing")],
                              ut["gains"]), ""]
        if ut["slopes"]:
            out += [_md_table([tr("shock"), tr("price of"), tr("design"),
                               tr("slope per +1 % of the shock") + f" ({u['price']})"],
                              ut["slopes"]), ""]
    out += ["## " + tr("Assumptions"), ""]
    if rep["assumptions"]:
        out += [_md_table([tr("assumption"), tr("value"), tr("meaning"), tr("set by")],
                          [[a["key"], tr.number(a["value"]),
                            assumption_text(a, tr) + (f" {tr('Source:')} {a['source']}"
                                                      if a.get("source") else ""),
                            tr(a["origin"])]
                           for a in rep["assumptions"]]), ""]
    else:
        out += [tr("No market assumptions: nothing was simulated."), ""]
    if rep.get("calibration"):
        out += [f"{tr('Reference data used')}:", ""]
        out += [_md_table([tr("ETS"), f"{tr('cap')} (MtCO2e)", tr("cap source"), tr("price"),
                           tr("price source")],
                          [[eid, tr.number(s["cap"]["value_mt"]), s["cap"].get("source"),
                            f"{tr.number(s['price']['value'])} {s['price']['currency']}/t"
                            + (f" ({s['price'].get('date') or s['price'].get('year')}"
                               + (f", {tr('pre-link')}" if s["price"].get("basis") == "pre_link"
                                  else "")
                               + ")" if s["price"].get("year") else ""),
                            s["price"].get("source")]
                           for eid, s in rep["calibration"]["sources"].items()]), ""]
    return "\n".join(out).rstrip() + "\n"


def render_json(rep: dict[str, Any]) -> str:
    return json.dumps(rep, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8, or bytes) to ``path`` through a temporary file in the
    same folder and a rename, so a reader never sees a half-written report."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
