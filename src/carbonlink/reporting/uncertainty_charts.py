"""Charts of a Monte Carlo run (issue 12, point 6): price fan charts per design, the
transmission of one party's shock to the other's price, and the distribution of gains with its
split into effort sharing and risk sharing.

Two halves, as in :mod:`carbonlink.reporting.plots`:

* :func:`uncertainty_mapping` solves the samples (:func:`carbonlink.markets.uncertainty.run_samples`,
  common random numbers across designs) and keeps a JSON-able mapping of what the charts and
  tables show: per design, market and period the price quantiles 5/25/50/75/95 % (5, 50 and
  95 % are the numbers of :func:`~carbonlink.markets.uncertainty.summarise`, 25 and 75 % the same
  quantile method on the same samples), the gains with :func:`~carbonlink.markets.uncertainty.gain_split`'s
  split, and per pair of markets the least-squares slope of one market's price on the other's
  shock factor, linked and in autarky (the points of at most :data:`MAX_POINTS` samples are kept
  for the scatter; the slope uses every sample);
* the chart functions draw static SVG from that mapping only, with the report's helpers (same
  size, palette, fonts, title and source caption).

The assess report carries the mapping under ``rep["uncertainty"]`` only when the agreement has an
``uncertainty`` block (docs/assess.md, *Uncertainty*); without one nothing here runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from carbonlink.reporting.i18n import N_, Translator
from carbonlink.reporting.plots import (
    HEIGHT_IN,
    PALETTE,
    Chart,
    _compact,
    _fmt,
    _fonts,
    _legend_top,
    _new,
    _style,
    _svg,
    _xlabels,
)

#: quantiles of the fan chart (outer band, inner band, median)
BANDS = (0.05, 0.25, 0.5, 0.75, 0.95)
#: samples kept per design and pair for a scatter (the slope uses all of them)
MAX_POINTS = 400
#: the colour of the autarky design in every chart (grey: the reference)
AUTARKY = "#7f7f7f"


def _q(p: float) -> str:
    return f"q{int(round(p * 100)):02d}"


def uncertainty_mapping(designs: Sequence[tuple[str, str, Any]], n: int, *,
                        units: dict[str, str] | None = None,
                        progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Solve ``n`` samples of every design (``(id, title, scenario)``, each scenario carrying the
    same ``uncertainty``) and return the mapping the charts draw (see module docstring). The
    design with id ``autarky`` is the reference of the transmission chart."""
    import pandas as pd

    from carbonlink.markets.sweep import units_of
    from carbonlink.markets.uncertainty import draw_factors, gain_split, run_samples, summarise

    scenarios = [sc for _, _, sc in designs]
    unc = scenarios[0].uncertainty
    assert unc is not None
    frame = run_samples(scenarios, n, name="uncertainty", progress=progress)
    summary = gain_split(summarise(frame), scenarios)
    periods = list(scenarios[0].periods or [])
    qty, cur = scenarios[0].markets[0].unit, scenarios[0].markets[0].currency or "money"
    units = units or {"price": units_of("price", qty, cur), "money": units_of("gain", qty, cur)}
    markets = [m.id for m in scenarios[0].markets]
    ids = [d for d, _, _ in designs]

    def price_var(year: int | None) -> str:
        return "price" if year is None else f"price|{year}"

    prices = frame[frame["variable"].str.split("|").str[0] == "price"]
    grouped: Any = prices.groupby(["design", "market", "variable"])["value"]
    extra: Any = grouped.quantile([0.25, 0.75])
    stats: Any = summary.set_index(["design", "market", "variable"])
    bands: list[dict[str, Any]] = []
    for d, did in enumerate(ids):
        for m in markets:
            for year in (periods or [None]):
                key = (d, m, price_var(year))
                if key not in stats.index:
                    continue
                s: Any = stats.loc[key]
                bands.append({
                    "design": did, "market": m, "year": year,
                    "q05": float(s["q05"]), "q25": float(extra.loc[(*key, 0.25)]),
                    "q50": float(s["q50"]), "q75": float(extra.loc[(*key, 0.75)]),
                    "q95": float(s["q95"]), "mean": float(s["mean"]), "sd": float(s["sd"]),
                })
    gains: list[dict[str, Any]] = []
    for d, did in enumerate(ids):
        for m in markets:
            if (d, m, "gain") not in stats.index:
                continue
            g: Any = stats.loc[(d, m, "gain")]
            row = {"design": did, "market": m, "mean": float(g["mean"]), "sd": float(g["sd"]),
                   "q05": float(g["q05"]), "q50": float(g["q50"]), "q95": float(g["q95"])}
            for part in ("effort_sharing", "risk_sharing"):
                k = (d, m, f"gain|{part}")
                row[part] = float(stats.loc[k]["mean"]) if k in stats.index else math.nan
            gains.append(row)
    # transmission: each shocked market's factor (its first shock) against every other price
    factors = draw_factors(unc, n)
    first: dict[str, int] = {}
    for j, sh in enumerate(unc.shocks):
        first.setdefault(sh.market, j)
    year0 = periods[0] if periods else None
    transmission: list[dict[str, Any]] = []
    for a, j in first.items():
        sh = unc.shocks[j]
        x = factors[:, j]
        for b in markets:
            if b == a:
                continue
            for d, did in enumerate(ids):
                sel = prices[(prices["design"] == d) & (prices["market"] == b)
                             & (prices["variable"] == price_var(year0))]
                y = np.full(n, np.nan)
                y[sel["sample"].to_numpy(dtype=np.int64)] = sel["value"].to_numpy(dtype=np.float64)
                ok = np.isfinite(y)
                slope = intercept = math.nan
                if ok.sum() >= 2 and float(np.ptp(x[ok])) > 0:
                    slope, intercept = (float(v) for v in np.polyfit(x[ok], y[ok], 1))
                transmission.append({
                    "shock_market": a, "shock_variable": sh.variable, "market": b,
                    "design": did, "year": year0, "slope": slope, "intercept": intercept,
                    "x": [float(v) for v in x[:MAX_POINTS]],
                    "y": [None if not math.isfinite(v) else float(v) for v in y[:MAX_POINTS]],
                })
    keep = summary.copy()
    keep["design"] = [ids[int(i)] for i in keep["design"]]
    records = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in r.items()} for r in keep.to_dict("records")]
    return {
        "samples": int(n), "seed": int(unc.seed),
        "shocks": [sh.model_dump(mode="json", exclude_none=True) for sh in unc.shocks],
        "correlation": unc.correlation,
        "designs": [{"id": d, "title": t} for d, t, _ in designs],
        "periods": periods or None, "markets": markets, "units": units,
        "bands": bands, "gains": gains, "transmission": transmission,
        "summary": records,
        "failed": int(pd.isna(frame["value"]).sum()),
    }


# ------------------------------------------------------------------------------------ charts
def _tr(rep: dict[str, Any]) -> Translator:
    return Translator(rep.get("lang") or "en")


def _label(rep: dict[str, Any], market: str) -> str:
    for p in (rep.get("framing") or {}).get("parties", []):
        if p.get("ets") == market:
            return f"{p['jurisdiction']} ({market})"
    return market


def _design_titles(rep: dict[str, Any]) -> dict[str, str]:
    from carbonlink.reporting.sentences import translate_sentence

    tr = _tr(rep)
    return {d["id"]: translate_sentence(d["title"], tr) for d in rep["uncertainty"]["designs"]}


def _colours(u: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    k = 0
    for d in u["designs"]:
        if d["id"] == "autarky":
            out[d["id"]] = AUTARKY
        else:
            out[d["id"]] = PALETTE[k % len(PALETTE)]
            k += 1
    return out


def source(rep: dict[str, Any]) -> str:
    """The caption's source line: the samples, the seed and the shocks as the document states."""
    u = rep["uncertainty"]
    tr = _tr(rep)
    shocks = "; ".join(
        f"{sh['market']} {tr(sh['variable'])} {sh['distribution']}"
        + "".join(f" {k}={sh[k]:g}" for k in ("mean", "sd", "sigma", "low", "high") if k in sh
                  and sh[k] is not None and not (k == "mean" and sh[k] == 0))
        for sh in u["shocks"])
    return tr("Source: carbonlink Monte Carlo, {n} samples per design (seed {seed}, the same "
              "draws for every design) of the shocks in the document's uncertainty block: "
              "{shocks}.").format(n=u["samples"], seed=u["seed"], shocks=shocks)


def fan_chart(rep: dict[str, Any]) -> Chart:
    """Per market a panel: the median price with its 25–75 % and 5–95 % bands per design, over
    the periods (multi-period), or one range per design (one period)."""
    u = rep["uncertainty"]
    tr = _tr(rep)
    titles = _design_titles(rep)
    colour = _colours(u)
    ms = u["markets"]
    fig, axes = _new(1, max(1, len(ms)), height=HEIGHT_IN * 1.05)
    by = {(b["design"], b["market"], b["year"]): b for b in u["bands"]}
    ids = [d["id"] for d in u["designs"]]
    for i, (ax, m) in enumerate(zip(axes, ms, strict=False)):
        if u["periods"]:
            years = u["periods"]
            for did in ids:
                rows = [by.get((did, m, y)) for y in years]
                if any(r is None for r in rows):
                    continue
                c = colour[did]
                ax.fill_between(years, [r["q05"] for r in rows], [r["q95"] for r in rows],  # type: ignore[index]
                                color=c, alpha=0.15, lw=0)
                ax.fill_between(years, [r["q25"] for r in rows], [r["q75"] for r in rows],  # type: ignore[index]
                                color=c, alpha=0.35, lw=0)
                ax.plot(years, [r["q50"] for r in rows], color=c, lw=2,  # type: ignore[index]
                        label=tr("{design} (median)").format(design=titles[did]))
            ax.set_xticks(years)
            ax.set_xticklabels([str(y) for y in years], fontsize=8)
        else:
            for k, did in enumerate(ids):
                r = by.get((did, m, None))
                if r is None:
                    continue
                c = colour[did]
                ax.vlines(k, r["q05"], r["q95"], color=c, lw=3, alpha=0.45)
                ax.vlines(k, r["q25"], r["q75"], color=c, lw=10, alpha=0.8)
                ax.plot([k - 0.22, k + 0.22], [r["q50"], r["q50"]], color="#111", lw=1.6,
                        label=tr("median") if k == 0 else None)
            _xlabels(ax, [titles[d] for d in ids])
            ax.set_xlim(-0.6, len(ids) - 0.4)
        ax.set_title(_label(rep, m), fontsize=10)
        _style(ax, u["units"]["price"] if i == 0 else "")
    _legend_top(fig, axes[0], len(ids))
    note = " " + tr("Bands: 5–95 % (light) and 25–75 % (dark) of the samples; the line or tick "
                    "is the median. The 5, 50 and 95 % values are those of the summary table.")
    return Chart("uncertainty-fan", tr("Price fan per design ({unit})").format(
        unit=u["units"]["price"]), _svg(fig, tr.lang), source(rep) + note)


def transmission_chart(rep: dict[str, Any]) -> Chart | None:
    """Per pair (shocked market → other market) a scatter of the other market's price against
    the shock factor, linked designs beside autarky, each with its least-squares line and slope
    (price change per +1 % of the factor) in the legend."""
    u = rep["uncertainty"]
    tr = _tr(rep)
    rows = u["transmission"]
    pairs = list(dict.fromkeys((r["shock_market"], r["market"]) for r in rows))[:4]
    if not pairs:
        return None
    titles = _design_titles(rep)
    colour = _colours(u)
    fig, axes = _new(1, len(pairs), height=HEIGHT_IN * 1.1)
    slopes: list[str] = []
    for i, (ax, (a, b)) in enumerate(zip(axes, pairs, strict=False)):
        variable = ""
        for r in rows:
            if (r["shock_market"], r["market"]) != (a, b):
                continue
            variable = r["shock_variable"]
            c = colour[r["design"]]
            pts = [(x, y) for x, y in zip(r["x"], r["y"], strict=True) if y is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, color=c, alpha=0.35,
                           lw=0)
            s = r["slope"]
            per_pct = (s / 100.0) if s is not None and math.isfinite(s) else math.nan
            label = tr("{design}: slope {slope} per +1 %").format(
                design=titles[r["design"]], slope=_fmt(per_pct) if math.isfinite(per_pct) else "–")
            if math.isfinite(per_pct) and pts:
                xs = np.linspace(min(p[0] for p in pts), max(p[0] for p in pts), 2)
                ax.plot(xs, r["intercept"] + s * xs, color=c, lw=1.8, label=label)
            slopes.append(tr("{a} → {b}, {design}: {slope} {unit} per +1 % of {a}'s {variable}"
                             ).format(a=a, b=b, design=titles[r["design"]],
                                      slope=_fmt(per_pct) if math.isfinite(per_pct) else "–",
                                      unit=u["units"]["price"], variable=tr(variable)))
        year = rows[0]["year"]
        ax.set_title(tr("{b}'s price against {a}'s {variable} shock").format(
            a=_label(rep, a), b=_label(rep, b), variable=tr(variable))
            + (f" ({year})" if year is not None else ""), fontsize=9)
        ax.set_xlabel(tr("{variable} factor of {market} (1 = expected)").format(
            variable=tr(variable), market=a), fontsize=8.5)
        _style(ax, u["units"]["price"] if i == 0 else "")
        ax.legend(fontsize=7.5, frameon=False, loc="best")
    note = " " + tr("Slopes (least squares over all samples): {slopes}.").format(
        slopes="; ".join(slopes))
    if u.get("correlation"):
        note += " " + tr("The shocks are correlated: part of a slope, autarky's included, is the "
                         "market's own shock moving with the other's.")
    return Chart("uncertainty-transmission",
                 tr("Volatility transmission: one party's shock, the other's price ({unit})"
                    ).format(unit=u["units"]["price"]), _svg(fig, tr.lang), source(rep) + note)


def gains_chart(rep: dict[str, Any]) -> Chart | None:
    """Per market a panel: per linked design, the expected gain split into effort sharing and
    risk sharing (stacked), with the 5–95 % range of the gain over the samples."""
    u = rep["uncertainty"]
    tr = _tr(rep)
    titles = _design_titles(rep)
    rows = [g for g in u["gains"] if g["design"] != "autarky"]
    if not rows:
        return None
    ms = [m for m in u["markets"] if any(g["market"] == m for g in rows)]
    ids = [d["id"] for d in u["designs"] if any(g["design"] == d["id"] for g in rows)]
    fig, axes = _new(1, max(1, len(ms)), height=HEIGHT_IN * 1.1)
    by = {(g["design"], g["market"]): g for g in rows}
    for i, (ax, m) in enumerate(zip(axes, ms, strict=False)):
        xs = list(range(len(ids)))
        eff = [by[(d, m)]["effort_sharing"] if (d, m) in by else 0.0 for d in ids]
        risk = [by[(d, m)]["risk_sharing"] if (d, m) in by else 0.0 for d in ids]
        eff = [0.0 if not math.isfinite(v) else v for v in eff]
        risk = [0.0 if not math.isfinite(v) else v for v in risk]
        ax.bar(xs, eff, color=PALETTE[0], width=0.6, label=tr("effort sharing"))
        # risk sharing stacked on the effort-sharing bar (below it when negative)
        ax.bar(xs, risk, bottom=[e if r >= 0 else min(e, 0.0) for e, r in zip(eff, risk, strict=True)],
               color=PALETTE[2], width=0.6, label=tr("risk sharing"))
        lo = [by[(d, m)]["q05"] for d in ids]
        hi = [by[(d, m)]["q95"] for d in ids]
        mean = [by[(d, m)]["mean"] for d in ids]
        ax.errorbar(xs, mean, yerr=[[mu - a for mu, a in zip(mean, lo, strict=True)],
                                    [b - mu for mu, b in zip(mean, hi, strict=True)]],
                    fmt="o", color="#111", ms=4, capsize=4, lw=1.2,
                    label=tr("expected gain, 5–95 % of samples"))
        for x, mu in zip(xs, mean, strict=True):
            ax.annotate(_compact(mu), (x, mu), textcoords="offset points", xytext=(8, 0),
                        fontsize=7.5, va="center")
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_xlim(-0.5 - 0.5 / len(ids), len(ids) - 0.5 + 0.5 / len(ids))
        ax.set_title(_label(rep, m), fontsize=10)
        _xlabels(ax, [titles[d] for d in ids])
        _style(ax, u["units"]["money"] if i == 0 else "")
    _legend_top(fig, axes[0], 3)
    note = " " + tr("Effort sharing: the gain at the expected shocks; risk sharing: the rest of "
                    "the expected gain (Doda, Quemin & Taschini, JEEM 98 (2019) 102259).")
    return Chart("uncertainty-gains", tr("Distribution of gains against no link, split into "
                                         "effort sharing and risk sharing ({unit})").format(
                                             unit=u["units"]["money"]),
                 _svg(fig, tr.lang), source(rep) + note)


def uncertainty_charts(rep: dict[str, Any]) -> list[Chart]:
    """The charts of the uncertainty section; empty when the report has none."""
    if not rep.get("uncertainty"):
        return []
    with _fonts(rep.get("lang") or "en"):
        charts = [fan_chart(rep), transmission_chart(rep), gains_chart(rep)]
    return [c for c in charts if c is not None]


#: the shocked variables as the captions name them
SHOCK_WORDS = (N_("bau"), N_("output"), N_("slope"))
