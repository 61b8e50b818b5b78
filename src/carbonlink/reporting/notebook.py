"""Notebook views of the results: ``_repr_html_`` of a simulation, a check report and a finding,
and ``SimulationResult.plot()`` (static SVG charts, as in the assessment report: no script).

HTML fragments only (no ``<html>``, no script), escaped; every number names its unit and currency
(a scenario that states no currency says so instead of inventing one).
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

from carbonlink.reporting.i18n import translator

if TYPE_CHECKING:
    from carbonlink.agreements.findings import CheckReport, Finding
    from carbonlink.markets.equilibrium import SimulationResult
    from carbonlink.reporting.plots import Chart

_STYLE = ("<style>.carbonlink-nb table{border-collapse:collapse;font-size:.85rem}"
          ".carbonlink-nb th,.carbonlink-nb td{border:1px solid #dde2e8;padding:3px 7px;"
          "text-align:left;vertical-align:top}.carbonlink-nb td.num{text-align:right;"
          "font-variant-numeric:tabular-nums}.carbonlink-nb .sev-error{color:#b00020;font-weight:600}"
          ".carbonlink-nb .sev-warning{color:#9a5b00;font-weight:600}"
          ".carbonlink-nb .sev-info{color:#41607a}</style>")


def _num(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return escape(str(v))
    if not math.isfinite(f):
        return "–"
    if f == 0:
        return "0"
    return f"{f:,.0f}" if abs(f) >= 1000 else f"{f:,.4g}"


def units(result: SimulationResult) -> dict[str, str]:
    """The quantity unit and the currency of a single-currency result ('' when none is stated:
    linked markets share one currency, validated by the scenario)."""
    markets = result.scenario.markets
    currencies = {m.currency.upper() for m in markets if m.currency}
    quantity = markets[0].unit if markets else "tCO2e"
    return {"quantity": quantity, "currency": currencies.pop() if len(currencies) == 1 else ""}


def _money(u: dict[str, str], _: Any) -> str:
    return u["currency"] or _("currency not stated")


def _price(u: dict[str, str], _: Any) -> str:
    return f"{u['currency']}/{u['quantity']}" if u["currency"] else \
        _("currency not stated") + f", /{u['quantity']}"


def simulation_html(result: SimulationResult, lang: str = "en") -> str:
    """Markets (price, autarky price, emissions, net imports, gain), links and totals."""
    _ = translator(lang)
    u = units(result)
    money = _money(u, _)
    price = _price(u, _)
    cols = [("price", _("price") + f" ({price})"), ("autarky_price", _("autarky price") + f" ({price})"),
            ("emissions", _("emissions") + f" ({u['quantity']})"),
            ("net_imports", _("net imports") + f" ({u['quantity']})"),
            ("compliance_cost", _("compliance cost") + f" ({money})"), ("gain", _("gain") + f" ({money})")]
    out = [f'<div class="carbonlink-nb carbonlink-simulation">{_STYLE}',
           f"<p><b>{escape(result.scenario.name)}</b> — {escape(_('status'))}: "
           f"{escape(result.status)}</p>",
           "<table><thead><tr><th>" + escape(_("market")) + "</th>"
           + "".join(f"<th>{escape(t)}</th>" for _c, t in cols) + "</tr></thead><tbody>"]
    for mid, row in result.markets.iterrows():
        out.append(f"<tr><td>{escape(str(mid))}</td>"
                   + "".join(f'<td class="num">{_num(row[c])}</td>' for c, _t in cols) + "</tr>")
    out.append("</tbody></table>")
    if len(result.links):
        heads = (_("from"), _("to"), _("flow") + f" ({u['quantity']})",
                 _("credited") + f" ({u['quantity']})", _("binding"))
        out.append("<table><thead><tr>" + "".join(f"<th>{escape(t)}</th>" for t in heads)
                   + "</tr></thead><tbody>")
        for _i, lk in result.links.iterrows():
            out.append(f"<tr><td>{escape(str(lk['from']))}</td><td>{escape(str(lk['to']))}</td>"
                       f'<td class="num">{_num(lk["flow"])}</td><td class="num">'
                       f'{_num(lk["credited"])}</td><td>{escape(str(bool(lk["binding"])))}</td></tr>')
        out.append("</tbody></table>")
    t = result.totals
    out.append(f"<p>{escape(_('total gain'))}: {_num(t['gain'])} {escape(money)} · "
               f"{escape(_('emissions change'))}: {_num(t['emissions_change'])} "
               f"{escape(u['quantity'])}</p>")
    out += [f"<p>{escape(_('warning'))}: {escape(w)}</p>" for w in result.warnings]
    out.append("</div>")
    return "".join(out)


def finding_row(f: Finding) -> str:
    return (f'<tr><td class="sev-{escape(f.severity)}">{escape(f.severity)}</td>'
            f"<td>{escape(f.rule)}</td><td>{escape(f.subject)}</td><td>{escape(f.message)}</td>"
            f"<td>{escape(f.source)}</td></tr>")


def _findings_table(findings: list[Finding], _: Any) -> str:
    head = "".join(f"<th>{escape(t)}</th>" for t in (_("severity"), _("rule"), _("subject"),
                                                     _("finding"), _("source")))
    return (f"<table><thead><tr>{head}</tr></thead><tbody>"
            + "".join(finding_row(f) for f in findings) + "</tbody></table>")


def finding_html(f: Finding, lang: str = "en") -> str:
    return f'<div class="carbonlink-nb carbonlink-finding">{_STYLE}{_findings_table([f], translator(lang))}</div>'


def check_html(report: CheckReport, lang: str = "en") -> str:
    """The summary line and every finding, errors first."""
    _ = translator(lang)
    s = report.summary
    title = report.document.get("title") or report.document.get("id") or ""
    head = (f"<p><b>{escape(str(title))}</b> — {escape(_('as of'))} "
            f"{escape(str(report.document.get('as_of', '')))}: {s['errors']} {escape(_('errors'))}, "
            f"{s['warnings']} {escape(_('warnings'))}, {s['info']} {escape(_('info'))}</p>")
    return (f'<div class="carbonlink-nb carbonlink-check">{_STYLE}{head}'
            f"{_findings_table(report.findings, _)}</div>")


def simulation_charts(result: SimulationResult, lang: str = "en") -> list[Chart]:
    """Prices (linked beside autarky), gains per market (each on its own axis, value on the
    bar: a small gain stays readable beside a large one) and link flows when there are any."""
    from carbonlink.reporting.plots import (
        Chart,
        _clean,
        _compact,
        _grouped_bars,
        _legend_top,
        _new,
        _style,
        _svg,
        _xlabels,
    )

    _ = translator(lang)
    u = units(result)
    money = _money(u, _)
    m = result.markets
    ids = [str(i) for i in m.index]
    source = _("Source: carbonlink equilibrium of the scenario") + f" '{result.scenario.name}'."
    charts: list[Chart] = []

    fig, (ax,) = _new()
    _grouped_bars(ax, [(_("linked"), _clean([float(v) for v in m["price"]])),
                       (_("autarky"), _clean([float(v) for v in m["autarky_price"]]))], len(ids))
    _xlabels(ax, ids)
    _style(ax, _price(u, _))
    _legend_top(fig, ax, 2)
    charts.append(Chart("prices", _("Allowance price, linked and autarky") + f" ({_price(u, _)})",
                        _svg(fig), source))

    gains = _clean([float(v) for v in m["gain"]])
    fig, axes = _new(1, len(ids))
    for ax, mid, g in zip(axes, ids, gains, strict=True):
        bar = ax.bar([0], [g], color="#2ca02c" if g >= 0 else "#d62728", width=0.6)
        ax.bar_label(bar, labels=[_compact(g)], fontsize=8.5)
        ax.set_xticks([0])
        ax.set_xticklabels([mid])
        _style(ax, money if ax is axes[0] else "")
    charts.append(Chart("gains", _("Gain from linking per market") + f" ({money})", _svg(fig), source))

    lk = result.links
    if len(lk) and any(abs(float(v)) > 0 for v in lk["flow"]):
        fig, (ax,) = _new()
        labels = [f"{a} → {b}" for a, b in zip(lk["from"], lk["to"], strict=True)]
        _grouped_bars(ax, [(_("flow"), _clean([float(v) for v in lk["flow"]]))], len(labels))
        _xlabels(ax, labels)
        _style(ax, u["quantity"])
        charts.append(Chart("flows", _("Units moved per link") + f" ({u['quantity']})", _svg(fig),
                            source))
    return charts


def pick(charts: list[Chart], chart: str | None) -> Chart | list[Chart]:
    """All ``charts``, or the one whose id is ``chart`` (``KeyError`` naming the ids)."""
    if chart is None:
        return charts
    for c in charts:
        if c.id == chart:
            return c
    raise KeyError(f"no chart {chart!r}; there are: {', '.join(c.id for c in charts)}")
