"""Charts of an assessment report (plotly), built only from the report mapping's numbers."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from carbonlink.reporting.report import market_label

HEIGHT = 380
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white", "height": HEIGHT, "margin": {"l": 60, "r": 20, "t": 50, "b": 90},
    "legend": {"orientation": "h", "y": -0.25}, "barmode": "group",
}


def _designs(rep: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in rep["designs"] if d["result"]["status"] == "optimal"]


def _markets(rep: dict[str, Any]) -> list[str]:
    ds = _designs(rep)
    return list(ds[0]["result"]["markets"]) if ds else []


def _finish(fig: go.Figure) -> go.Figure:
    """Axes from zero with plain tick labels, so solver noise (1e-12) never fills a chart."""
    fig.update_yaxes(rangemode="tozero", tickformat="~g")
    return fig


def _per_market_bars(rep: dict[str, Any], column: str, title: str, ytitle: str) -> go.Figure:
    ds = _designs(rep)
    fig = go.Figure()
    for m in _markets(rep):
        fig.add_trace(go.Bar(name=market_label(rep, m), x=[d["title"] for d in ds],
                             y=[d["result"]["markets"][m][column] for d in ds]))
    fig.update_layout(title=title, yaxis_title=ytitle, **_LAYOUT)
    return _finish(fig)


def prices_figure(rep: dict[str, Any]) -> go.Figure:
    return _per_market_bars(rep, "price", "Allowance price per design",
                            rep["units"]["price"])


def gains_figure(rep: dict[str, Any]) -> go.Figure:
    return _per_market_bars(rep, "gain", "Gain against autarky, per party",
                            f"{rep['units']['money']} per year")


def flows_figure(rep: dict[str, Any]) -> go.Figure:
    ds = _designs(rep)
    directions: list[tuple[str, str]] = []
    for d in ds:
        for lk in d["result"]["links"]:
            key = (lk["from"], lk["to"])
            if key not in directions:
                directions.append(key)
    fig = go.Figure()
    for a, b in directions:
        ys = []
        for d in ds:
            match = [lk["flow"] for lk in d["result"]["links"] if (lk["from"], lk["to"]) == (a, b)]
            ys.append(match[0] if match else 0.0)
        fig.add_trace(go.Bar(name=f"{a} → {b}", x=[d["title"] for d in ds], y=ys))
    fig.update_layout(title="Units moved per link (from-units)",
                      yaxis_title=f"{rep['units']['quantity']} per year", **_LAYOUT)
    return _finish(fig)


def emissions_figure(rep: dict[str, Any]) -> go.Figure:
    ds = _designs(rep)
    fig = go.Figure(go.Bar(x=[d["title"] for d in ds],
                           y=[d["result"]["totals"]["emissions_change"] for d in ds],
                           name="total emissions change"))
    fig.update_layout(title="Total emissions change against autarky",
                      yaxis_title=rep["units"]["quantity"], **_LAYOUT)
    return _finish(fig)


def revenue_figure(rep: dict[str, Any]) -> go.Figure:
    ds = _designs(rep)
    fig = go.Figure()
    fig.add_trace(go.Bar(name="transfer-tax revenue", x=[d["title"] for d in ds],
                         y=[sum(lk["tax_revenue"] for lk in d["result"]["links"]) for d in ds]))
    fig.add_trace(go.Bar(name="quota rent", x=[d["title"] for d in ds],
                         y=[sum(lk["quota_rent"] for lk in d["result"]["links"]) for d in ds]))
    fig.update_layout(title="Tax revenue and quota rent (sum over links)",
                      yaxis_title=f"{rep['units']['money']} per year", **_LAYOUT)
    return _finish(fig)


def sweep_figure(rep: dict[str, Any], sweep: dict[str, Any]) -> go.Figure:
    fig = make_subplots(rows=1, cols=3, subplot_titles=(
        f"price ({rep['units']['price']})", f"gain ({rep['units']['money']})",
        f"total emissions change ({rep['units']['quantity']})"))
    xs = sweep["labels"]
    samples = [s for s in sweep["samples"]]
    markets = list(samples[0]["result"]["markets"]) if samples else []
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for i, m in enumerate(markets):
        color = palette[i % len(palette)]
        name = market_label(rep, m)
        for col, var in ((1, "price"), (2, "gain")):
            fig.add_trace(go.Scatter(
                x=xs, y=[s["result"]["markets"][m][var] for s in samples], mode="lines+markers",
                name=name, legendgroup=name, showlegend=col == 1, line={"color": color}),
                row=1, col=col)
    fig.add_trace(go.Scatter(x=xs, y=[s["result"]["totals"]["emissions_change"] for s in samples],
                             mode="lines+markers", name="total", line={"color": "#444"}),
                  row=1, col=3)
    layout = dict(_LAYOUT)
    layout.pop("barmode")
    fig.update_layout(title=sweep["title"], **layout)
    fig.update_xaxes(type="category")
    fig.update_yaxes(rangemode="tozero", tickformat="~g")
    return fig


def report_figures(rep: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    """(id, figure) pairs in report order; empty when nothing was simulated."""
    if not rep["simulated"] or not _designs(rep):
        return []
    figs = [("prices", prices_figure(rep)), ("flows", flows_figure(rep)),
            ("gains", gains_figure(rep)), ("emissions", emissions_figure(rep)),
            ("revenue", revenue_figure(rep))]
    for sw in rep["sensitivity"]:
        if sw.get("samples"):
            figs.append((f"sweep-{sw['id']}", sweep_figure(rep, sw)))
    return figs
