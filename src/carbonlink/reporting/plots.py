"""Charts of an assessment report as static SVG (matplotlib, object API: no pyplot state, no
JavaScript), built only from the report mapping's numbers.

Readable and printable by construction: the legend sits above the plot (never over rotated
labels); each party's gain has its own panel and axis, with the value written on the bar, so a
small gain beside a large one stays readable; a panel whose values are all (numerically) zero is
not drawn but said in the caption; every chart carries its unit and currency on its axes and a
source caption under it (the HTML ``figcaption``).
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from carbonlink.reporting.chartpool import Chart, chart_kinds
from carbonlink.reporting.i18n import N_, Translator
from carbonlink.reporting.report import market_label
from carbonlink.reporting.sentences import translate_sentence

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
WIDTH_IN = 10.0
HEIGHT_IN = 3.8
FLAT = 1e-9  # |values| below this share of the largest reference are solver noise


#: A font with Chinese glyphs, after the default one, for a Chinese report's chart texts (the
#: SVG keeps text as text, so the browser draws it; matplotlib measures it for the layout).
CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC"]


def _tr(rep: dict[str, Any]) -> Translator:
    return Translator(rep.get("lang") or "en")


def _titles(rep: dict[str, Any], ds: list[dict[str, Any]]) -> list[str]:
    from carbonlink.reporting.render import design_title

    tr = _tr(rep)
    return [design_title(d, tr) for d in ds]


def _designs(rep: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in rep["designs"] if d["result"]["status"] == "optimal"]


def _markets(rep: dict[str, Any]) -> list[str]:
    ds = _designs(rep)
    return list(ds[0]["result"]["markets"]) if ds else []


def _flat(values: list[float], reference: float = 1.0) -> bool:
    return all(abs(v or 0.0) <= FLAT * max(1.0, abs(reference)) for v in values)


def _clean(values: list[float]) -> list[float]:
    """Solver noise (|v| ≤ 1e-9 of the largest) shown as zero: a −1e-12 bar would put its
    label below the axis, over the category labels."""
    top = max((abs(v or 0.0) for v in values), default=0.0)
    return [0.0 if abs(v or 0.0) <= FLAT * max(1.0, top) else float(v) for v in values]


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(a))))
    return f"{v:.{digits}f}"


def _compact(v: float) -> str:
    """A short label for a bar: ``915``, ``519k``, ``1.2M``, ``3.4bn`` (two or three digits)."""
    a = abs(v)
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return _fmt(v / div) + suffix
    return _fmt(v)


def _plain_money(rep: dict[str, Any]) -> tuple[float, str]:
    """Factor from report money to plain currency units, and the axis label."""
    mega = rep["units"]["quantity"].startswith("Mt")
    tr = _tr(rep)
    return (1e6 if mega else 1.0), tr("{unit} per year").format(unit=rep['units']['currency'])


def _svg(fig: Figure, lang: str = "en") -> str:
    _fit(fig)
    buf = io.StringIO()
    # text stays text (small, selectable, measurable in a browser); ids are reproducible
    rc: Any = {"svg.fonttype": "none", "svg.hashsalt": "carbonlink"}
    with warnings.catch_warnings():
        if lang != "en":
            # without a CJK font here the layout measures CJK text with a stand-in width; the
            # browser draws it with its own font
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        with rc_context(rc):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML
    # responsive: the viewBox keeps the aspect, the page sets the width
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart-svg"', text, count=1)
    return text


def _new(rows: int = 1, cols: int = 1, height: float = HEIGHT_IN) -> tuple[Figure, list[Axes]]:
    """A figure of ``rows`` × ``cols`` panels; its margins are fitted to its texts when it is
    written (:func:`_fit`), not by matplotlib's constrained layout (issue 13: the layout's
    repeated measuring of every tick label was half of drawing a report's charts)."""
    fig = Figure(figsize=(WIDTH_IN, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


PAD_PT = 4.0  # blank around the figure's edge and between a panel's texts and its neighbour's


def _text_size(renderer: Any, text: Any) -> tuple[float, float]:
    """Width and height (points) of a Text as drawn, before rotation."""
    s = text.get_text()
    if not s:
        return 0.0, 0.0
    w, h, _d = renderer.get_text_width_height_descent(s, text.get_fontproperties(), ismath=False)
    return float(w), float(h)


@dataclass
class _Needs:
    """Room (points) an axes' texts take outside its plot area."""

    left: float = 0.0
    right: float = 0.0
    top: float = 0.0
    bottom: float = 0.0


def _needs(ax: Axes, renderer: Any, width_pt: float) -> _Needs:
    """The room each side of ``ax`` needs: y tick labels and y label on the left, the (rotated)
    x tick labels and x label below, the title above, and any x label reaching past the left
    or right end of the axis (a rotated label hangs to the left of its tick)."""
    n = _Needs()
    ticks = PAD_PT + 3.5 + 3.5  # major tick length and its label's pad (rcParams defaults)
    lo, hi = ax.get_ylim()
    ylabels = [t for t in ax.yaxis.get_majorticklabels()
               if min(lo, hi) - 1e-9 * abs(hi - lo) <= t.get_position()[1] <= max(lo, hi)
               + 1e-9 * abs(hi - lo)]
    sizes = [_text_size(renderer, t) for t in ylabels]
    n.left = max((w for w, _h in sizes), default=0.0) + ticks
    n.top = max((h / 2 + PAD_PT for _w, h in sizes), default=0.0)  # a tick label at the top
    if ax.get_ylabel():
        n.left += ax.yaxis.labelpad + _text_size(renderer, ax.yaxis.label)[1]
    x0, x1 = ax.get_xlim()
    drop = 0.0
    for t in ax.xaxis.get_majorticklabels():
        w, h = _text_size(renderer, t)
        if not w:
            continue
        a = math.radians(t.get_rotation())
        drop = max(drop, w * math.sin(a) + h * math.cos(a))
        at = (t.get_position()[0] - x0) / (x1 - x0) * width_pt  # the tick, from the left end
        n.left = max(n.left, w * math.cos(a) - at + PAD_PT)
        n.right = max(n.right, h * math.sin(a) - (width_pt - at) + PAD_PT)
    n.bottom = ticks + drop
    if ax.get_xlabel():
        n.bottom += ax.xaxis.labelpad + _text_size(renderer, ax.xaxis.label)[1]
    if ax.get_title():
        n.top = max(n.top, 6.0 + _text_size(renderer, ax.title)[1] + PAD_PT)  # axes.titlepad 6
    return n


def _fit(fig: Figure) -> None:
    """Set the panels' margins and gaps so every text fits and nothing overlaps: measured once
    from the texts themselves (the legend above, then per row the titles, per column the y
    labels, the rotated x labels under each row), twice over because the y axis's ticks depend
    on the height it gets."""
    from matplotlib.backends.backend_svg import RendererSVG

    fig.set_dpi(72)  # measure in points, as the SVG is written
    w_pt, h_pt = fig.get_figwidth() * 72, fig.get_figheight() * 72
    renderer = RendererSVG(w_pt, h_pt, io.StringIO())
    spec = fig.axes[0].get_subplotspec()
    assert spec is not None
    rows, cols = spec.get_gridspec().get_geometry()
    grid: list[list[Axes | None]] = [[None] * cols for _ in range(rows)]
    for ax in fig.axes:
        ss = ax.get_subplotspec()
        if ax.get_visible() and ss is not None:
            grid[ss.rowspan.start][ss.colspan.start] = ax
    legend_h = 0.0
    for leg in fig.legends:
        legend_h = max(legend_h, leg.get_window_extent(renderer).height + PAD_PT)
    gap_w = gap_h = 0.0
    panel_w = (w_pt - 2 * PAD_PT) / cols
    for _ in range(2):
        needs = [[_needs(ax, renderer, panel_w) if ax is not None else _Needs() for ax in row]
                 for row in grid]
        left = max(PAD_PT, *(r[0].left for r in needs))
        right = max(PAD_PT, *(r[-1].right for r in needs))
        top = PAD_PT + legend_h + max(n.top for n in needs[0])
        bottom = PAD_PT + max(n.bottom for n in needs[-1])
        gap_w = max([needs[r][c].right + needs[r][c + 1].left for r in range(rows)
                     for c in range(cols - 1)], default=0.0)
        gap_h = max([max(n.bottom for n in needs[r]) + max(n.top for n in needs[r + 1])
                     for r in range(rows - 1)], default=0.0)
        panel_w = (w_pt - left - right - gap_w * (cols - 1)) / cols
        panel_h = (h_pt - top - bottom - gap_h * (rows - 1)) / rows
        fig.subplots_adjust(left=left / w_pt, right=1 - right / w_pt, bottom=bottom / h_pt,
                            top=1 - top / h_pt, wspace=gap_w / panel_w, hspace=gap_h / panel_h)


def _style(ax: Axes, ylabel: str) -> None:
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e3e7ec", linewidth=0.8)
    ax.set_axisbelow(True)


def _xlabels(ax: Axes, labels: list[str]) -> None:
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right", rotation_mode="anchor", fontsize=8.5)


def _legend_top(fig: Figure, ax: Axes, n: int) -> None:
    """Legend above the plot area, outside it: never over bars or rotated tick labels."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - PAD_PT / 72
                                                                        / fig.get_figheight()),
                   ncols=min(n, 4), frameon=False, fontsize=9, borderaxespad=0, borderpad=0)


def _grouped_bars(ax: Axes, series: list[tuple[str, list[float]]], n_x: int) -> None:
    k = max(1, len(series))
    width = 0.8 / k
    for i, (name, ys) in enumerate(series):
        xs = [x - 0.4 + width * (i + 0.5) for x in range(n_x)]
        ax.bar(xs, ys, width=width * 0.95, label=name, color=PALETTE[i % len(PALETTE)])


def _source(rep: dict[str, Any]) -> str:
    cal = rep.get("calibration") or {}
    years = sorted({str(s["price"].get("date") or s["price"].get("year"))
                    for s in cal.get("sources", {}).values()
                    if s.get("price") and (s["price"].get("date") or s["price"].get("year"))})
    tr = _tr(rep)
    base = tr("Source: carbonlink equilibrium of each design's scenario (the JSON report holds "
              "the scenarios);") + " "
    if cal:
        return base + tr("markets calibrated to observed prices ({years}) and the labelled "
                         "assumptions; see Assumptions.").format(years=", ".join(years))
    return base + tr("markets as written in the agreement document.")


def prices_chart(rep: dict[str, Any]) -> Chart:
    ds = _designs(rep)
    fig, (ax,) = _new()
    series = [(market_label(rep, m), [d["result"]["markets"][m]["price"] for d in ds])
              for m in _markets(rep)]
    _grouped_bars(ax, series, len(ds))
    _xlabels(ax, _titles(rep, ds))
    _style(ax, rep["units"]["price"])
    _legend_top(fig, ax, len(series))
    tr = _tr(rep)
    return Chart("prices", tr("Allowance price per design ({unit})").format(
        unit=rep['units']['price']), _svg(fig, tr.lang), _source(rep))


def gains_chart(rep: dict[str, Any]) -> Chart:
    """One panel per party, each with its own axis and values on the bars."""
    ds = _designs(rep)
    ms = _markets(rep)
    factor, money = _plain_money(rep)
    # side by side for one or two parties; one above the other for more, so each panel keeps
    # the full width for its design labels (three markets, 13 designs: they overlapped)
    stacked = len(ms) > 2
    fig, axes = (_new(len(ms), 1, height=HEIGHT_IN * 0.85 * len(ms)) if stacked
                 else _new(1, max(1, len(ms)), height=HEIGHT_IN * 1.1))
    flat: list[str] = []
    for i, (ax, m) in enumerate(zip(axes, ms, strict=False)):
        ys = _clean([(d["result"]["markets"][m]["gain"] or 0.0) * factor for d in ds])
        bars = ax.bar(range(len(ds)), ys, color=PALETTE[i % len(PALETTE)])
        ax.bar_label(bars, labels=[_compact(y) if y else "" for y in ys], fontsize=7.5, padding=2,
                     rotation=90)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _compact(v)))
        ax.set_title(market_label(rep, m), fontsize=10)
        _xlabels(ax, _titles(rep, ds))
        _style(ax, money if i == 0 or stacked else "")
        ax.margins(y=0.3)
        if _flat(ys):
            flat.append(market_label(rep, m))
    tr = _tr(rep)
    note = (" " + tr("{parties}: no gain in any design.").format(parties="; ".join(flat))
            if flat else "")
    return Chart("gains", tr("Gain against no link, per party ({unit}; each panel its own scale)"
                             ).format(unit=money), _svg(fig, tr.lang), _source(rep) + note)


def flows_chart(rep: dict[str, Any]) -> Chart | None:
    ds = _designs(rep)
    directions: list[tuple[str, str]] = []
    for d in ds:
        for lk in d["result"]["links"]:
            if (lk["from"], lk["to"]) not in directions:
                directions.append((lk["from"], lk["to"]))
    series = []
    idle = []
    for a, b in directions:
        ys = []
        for d in ds:
            match = [lk["flow"] for lk in d["result"]["links"] if (lk["from"], lk["to"]) == (a, b)]
            ys.append(match[0] if match else 0.0)
        if _flat(ys):
            idle.append(f"{a} → {b}")
        else:
            series.append((f"{a} → {b}", ys))
    if not series:
        return None
    fig, (ax,) = _new()
    _grouped_bars(ax, series, len(ds))
    _xlabels(ax, _titles(rep, ds))
    tr = _tr(rep)
    q = tr("{unit} per year").format(unit=rep['units']['quantity'])
    _style(ax, q)
    _legend_top(fig, ax, len(series))
    note = (" " + tr("No units move {links} in any design.").format(links=", ".join(idle))
            if idle else "")
    return Chart("flows", tr("Allowances moved per link ({unit}, in units of the exporting "
                             "market)").format(unit=q), _svg(fig, tr.lang), _source(rep) + note)


def _sum_links(d: dict[str, Any], key: str) -> float:
    return float(sum(lk[key] or 0.0 for lk in d["result"]["links"]))


def emissions_chart(rep: dict[str, Any]) -> Chart | None:
    ds = _designs(rep)
    ys = _clean([d["result"]["totals"]["emissions_change"] or 0.0 for d in ds])
    scale = max((abs(d["result"]["totals"].get("autarky_emissions") or 0.0) for d in ds), default=1.0)
    if _flat(ys, scale):
        return None
    fig, (ax,) = _new()
    bars = ax.bar(range(len(ds)), ys, color="#444")
    ax.bar_label(bars, labels=[_fmt(y) if y else "" for y in ys], fontsize=7.5, padding=2)
    _xlabels(ax, _titles(rep, ds))
    tr = _tr(rep)
    q = tr("{unit} per year").format(unit=rep['units']['quantity'])
    _style(ax, q)
    return Chart("emissions", tr("Total emissions change against no link ({unit})").format(unit=q),
                 _svg(fig, tr.lang), _source(rep))


def revenue_chart(rep: dict[str, Any]) -> Chart | None:
    ds = _designs(rep)
    tr = _tr(rep)
    series = [(tr(name), [_sum_links(d, key) for d in ds])
              for name, key in ((N_("transfer-tax revenue"), "tax_revenue"),
                                (N_("quota rent"), "quota_rent"))]
    series = [s for s in series if not _flat(s[1])]
    if not series:
        return None
    fig, (ax,) = _new()
    _grouped_bars(ax, series, len(ds))
    _xlabels(ax, _titles(rep, ds))
    money = tr("{unit} per year").format(unit=rep['units']['money'])
    _style(ax, money)
    _legend_top(fig, ax, len(series))
    return Chart("revenue", tr("Transfer-tax revenue and quota rent, summed over links ({unit})"
                               ).format(unit=money), _svg(fig, tr.lang), _source(rep))


def sweep_chart(rep: dict[str, Any], sweep: dict[str, Any]) -> Chart | None:
    """Price (all markets), each party's gain on its own axis, and the emissions change when it
    is not flat; flat panels are left out and named in the caption."""
    samples = list(sweep["samples"])
    if not samples:
        return None
    xs = list(range(len(sweep["labels"])))
    ms = list(samples[0]["result"]["markets"])
    u = rep["units"]
    tr = _tr(rep)
    yr, price_word, gain_word = tr("yr"), tr("price"), tr("gain")
    panels: list[tuple[str, list[tuple[str, str, list[float]]]]] = []
    left_out: list[str] = []
    panels.append((f"{price_word} ({u['price']})", [
        (market_label(rep, m), PALETTE[i % len(PALETTE)],
         [s["result"]["markets"][m]["price"] for s in samples]) for i, m in enumerate(ms)]))
    for i, m in enumerate(ms):
        ys = [s["result"]["markets"][m]["gain"] or 0.0 for s in samples]
        title = f"{gain_word}, {market_label(rep, m)} ({u['money']}/{yr})"
        if _flat(ys):
            left_out.append(title)
        else:
            panels.append((title, [(market_label(rep, m), PALETTE[i % len(PALETTE)], ys)]))
    em = [s["result"]["totals"]["emissions_change"] or 0.0 for s in samples]
    scale = max((abs(s["result"]["totals"].get("autarky_emissions") or 0.0) for s in samples),
                default=1.0)
    em_title = tr("total emissions change") + f" ({u['quantity']}/{yr})"
    if _flat(em, scale):
        left_out.append(em_title)
    else:
        panels.append((em_title, [(tr("total"), "#444", em)]))
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = _new(rows, cols, height=HEIGHT_IN * (0.85 if rows == 1 else 0.75 * rows))
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (title, lines) in zip(axes, panels, strict=False):
        for name, color, ys in lines:
            ax.plot(xs, ys, marker="o", markersize=3.5, color=color, label=name)
        ax.set_title(title, fontsize=9.5)
        _style(ax, "")
        ax.set_xticks(xs)
        ax.set_xticklabels([translate_sentence(x, tr) for x in sweep["labels"]], rotation=45,
                           ha="right", rotation_mode="anchor", fontsize=7.5)
        ax.set_xlabel(sweep.get("parameter", ""), fontsize=8.5)
    _legend_top(fig, axes[0], len(ms))
    note = (" " + tr("Not drawn (zero at every point): {panels}.").format(
        panels="; ".join(left_out)) if left_out else "")
    return Chart(f"sweep-{sweep['id']}", translate_sentence(sweep["title"], tr), _svg(fig, tr.lang),
                 _source(rep) + note)


@cache
def cjk_fonts() -> list[str]:
    """The CJK fonts of this machine matplotlib can measure with (system fonts added once)."""
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        if any(k in path.lower() for k in ("wqy", "notosanscjk", "notosanssc", "noto-cjk")):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
                continue
    have = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in CJK_FONTS if f in have]


def _fonts(lang: str) -> Any:
    """Fonts of a report's charts: the default, then (for Chinese) a CJK font found here, so
    matplotlib measures the text it lays out, then the generic family the browser falls back
    to."""
    if lang == "en":
        return rc_context({})
    return rc_context({"font.family": ["DejaVu Sans", *cjk_fonts(), "sans-serif"]})


def _chart_jobs(rep: dict[str, Any]) -> list[tuple[Any, int | None]]:
    """Each chart's function and sweep index, in the order of
    :func:`carbonlink.reporting.chartpool.chart_kinds`."""
    by_kind = {"prices": prices_chart, "flows": flows_chart, "gains": gains_chart,
               "emissions": emissions_chart, "revenue": revenue_chart}
    jobs: list[tuple[Any, int | None]] = []
    sweeps = 0
    for kind in chart_kinds(rep):
        if kind == "sweep":
            jobs.append((sweep_chart, sweeps))
            sweeps += 1
        else:
            jobs.append((by_kind[kind], None))
    return jobs


def _draw_job(rep: dict[str, Any], job: tuple[Any, int | None]) -> Chart | None:
    fn, sweep = job
    return fn(rep) if sweep is None else fn(rep, rep["sensitivity"][sweep])


def draw_chart(rep: dict[str, Any], index: int) -> Chart | None:
    """The ``index``-th chart of :func:`report_charts` (None when it has nothing to show), with
    the report's fonts: one job of :class:`carbonlink.reporting.chartpool.ChartPool`."""
    if not rep["simulated"] or not _designs(rep):
        return None
    with _fonts(rep.get("lang") or "en"):
        return _draw_job(rep, _chart_jobs(rep)[index])


def report_charts(rep: dict[str, Any]) -> list[Chart]:
    """The report's charts in report order; empty when nothing was simulated."""
    if not rep["simulated"] or not _designs(rep):
        return []
    with _fonts(rep.get("lang") or "en"):
        charts = [_draw_job(rep, job) for job in _chart_jobs(rep)]
    return [c for c in charts if c is not None]


def warm_up(lang: str = "en") -> str:
    """Draw and write a throwaway chart with the report's machinery (panels, bars, rotated tick
    labels, legend, margins fitted to the texts, SVG): what matplotlib loads and caches on its
    first chart — the fonts, their metrics, the SVG backend's state — is then in memory. The
    chart processes call it once before they fork the drawing processes, which inherit it
    instead of each paying for it on their first chart (issue 13). Returns the SVG (unused);
    charts drawn afterwards are the same, byte for byte (tested)."""
    with _fonts(lang):
        fig, (ax,) = _new()
        bars = ax.bar([0.0, 1.0], [1.0, 2.0], width=0.4, label="a", color=PALETTE[0])
        ax.bar_label(bars, labels=["1", "2"], fontsize=8)
        ax.plot([0.0, 1.0], [1.5, 0.5], marker="o", label="b", color=PALETTE[1])
        ax.axhline(0, color="#555", linewidth=0.8)
        _style(ax, "EUR/t")
        _xlabels(ax, ["autarky", "full link"])
        _legend_top(fig, ax, 2)
        ax.set_title("warm-up", loc="left", fontsize=10)
        return _svg(fig, lang)
