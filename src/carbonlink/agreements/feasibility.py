"""FEA rules: feasibility of the link (seed S-3.4, S-7.1) — price gap, direction of flows,
surplus allowances and, when the agreement carries MAC data, the simulated equilibrium."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import Finding
from carbonlink.agreements.presence import datum, gaps
from carbonlink.agreements.rules import rule
from carbonlink.data.prices import convert_price, price_date, reference_prices
from carbonlink.model.jurisdiction import ETS, Figure, PriceFigure

#: price ratio above which the gap is flagged as politically hard (S-3.4)
GAP_RATIO = 2.0


@dataclass(frozen=True)
class _Compared:
    """Two prices in one currency, each with the figure, date and rate it was read from."""

    value: dict[str, float]  # ETS id -> price in ``currency``
    currency: str
    quoted: dict[str, str]  # ETS id -> the figure, its date and the rate, for people
    basis: str  # why these figures (pre-link or the reference date)


def _currency(e: ETS, fig: PriceFigure) -> str:
    cur = fig.currency or e.price.currency
    return str(cur).upper() if cur else "USD"


def _in_link_order(ctx: Context, a: ETS, b: ETS) -> tuple[ETS, ETS]:
    """The pair in the order the agreement names them (its links, else its parties), so the
    common currency is the first system's — the calibration's reporting currency."""
    ids = [x for lk in ctx.agreement.links for x in (lk.from_, lk.to)]
    ids += [p.ets for p in ctx.agreement.parties if p.ets]
    rank = {eid: i for i, eid in reversed(list(enumerate(ids)))}
    return (a, b) if rank.get(a.id, len(ids)) <= rank.get(b.id, len(ids)) else (b, a)


def _prices(ctx: Context, a: ETS, b: ETS) -> _Compared | str:
    """The prices of ``a`` and ``b`` the calibration of ``carbonlink assess`` reads (one choice,
    :func:`carbonlink.data.prices.reference_prices`): pre-link prices for systems already linked
    to each other, else the prices valid on the reference date; converted to the first system's
    currency at the rate of each price's own date. A gap text when a figure or a rate is
    missing."""
    first, second = _in_link_order(ctx, a, b)
    link_date = ctx.agreement.in_force
    choice = reference_prices([first.id, second.id], {first.id: first, second.id: second},
                              link_date)
    figs = choice.figures
    known = [datum(figs[e.id], f"observed price of {e.id}") for e in (a, b)]
    if not all(k.known for k in known):
        return "; ".join(gaps(*known))
    to = _currency(first, figs[first.id])
    value: dict[str, float] = {}
    quoted: dict[str, str] = {}
    for e in (a, b):
        fig = figs[e.id]
        cur = _currency(e, fig)
        when = price_date(fig, ctx.on.isoformat()) or ctx.on.isoformat()
        try:
            rate, how = convert_price(fig, cur, to, when)
        except KeyError:
            return (f"prices in different currencies ({cur}, {to}) and no {cur}/{to} exchange "
                    "rate in the reference data (src/carbonlink/data/fx.yaml)")
        value[e.id] = float(fig.value) * rate
        kind = f", {fig.kind}" if fig.kind else ""
        text = f"{e.id} {fig.text} ({when}{kind})"
        if how:
            text += f" = {value[e.id]:,.2f} {to}, {how}"
        quoted[e.id] = text
    if choice.pre is not None:
        basis = ("pre-link prices (the systems are already linked"
                 + (f", link in force {link_date}" if link_date else "")
                 + "; the prices the assessment calibrates to)")
    elif choice.linked:
        basis = (f"observed prices read for {ctx.on.isoformat()} (the systems are already "
                 "linked and not every one has a pre-link price recorded: these are linked "
                 "prices)")
    else:
        basis = f"observed prices read for {ctx.on.isoformat()}"
    return _Compared(value, to, quoted, basis)


@rule("FEA-GAP")
def check_price_gap(ctx: Context) -> list[Finding]:
    out = []
    for a, b in ctx.linked_pairs():
        subject = f"{a.id}|{b.id}"
        p = _prices(ctx, a, b)
        if isinstance(p, str):
            out.append(ctx.gap("FEA-GAP", f"price gap not computed: {p}", subject))
            continue
        lo, hi = sorted((p.value[a.id], p.value[b.id]))
        quoted = f"{p.basis}: {p.quoted[a.id]} vs {p.quoted[b.id]}"
        if lo <= 0 or hi / lo >= GAP_RATIO:
            out.append(ctx.finding("FEA-GAP", f"large price gap, {quoted}: large gains from "
                                   "trade, but the low-price side's price jumps and sellers in "
                                   "the high-price system are undercut (politically hard)",
                                   subject))
        else:
            out.append(ctx.finding("FEA-GAP", f"price gap, {quoted} (ratio {hi / lo:.2f})",
                                   subject, severity="info"))
    return out


@rule("FEA-FLOW")
def check_flow_direction(ctx: Context) -> list[Finding]:
    out = []
    links = {(lk.from_, lk.to) for lk in ctx.agreement.links}
    for a, b in ctx.linked_pairs():
        p = _prices(ctx, a, b)
        if isinstance(p, str) or p.value[a.id] == p.value[b.id]:
            continue
        low, high = (a, b) if p.value[a.id] < p.value[b.id] else (b, a)
        subject = f"{low.id}->{high.id}"
        on = (f" (on the {p.basis.split(' (')[0]}: {low.id} {p.value[low.id]:,.2f} {p.currency} "
              f"< {high.id} {p.value[high.id]:,.2f} {p.currency}, as in FEA-GAP)")
        if links and (low.id, high.id) not in links:
            out.append(ctx.finding("FEA-FLOW", f"units would flow from {low.id} (lower price) to "
                                   f"{high.id}{on}, but the links only let {low.id} entities use "
                                   f"{high.id} units: the link will not carry trade", subject))
        else:
            out.append(ctx.finding("FEA-FLOW", f"expected net flow of units from {low.id} to "
                                   f"{high.id}{on} (buyers in {high.id} gain; sellers in "
                                   f"{high.id} and buyers in {low.id} face a price change)",
                                   subject, severity="info"))
    return out


def _years(series: list[Figure], plain: Figure | None, on: dt.date) -> dict[int, Figure]:
    """The known figure for each year up to ``on``'s year: a series entry for every year its
    period touches, else the single figure for its own year."""
    out: dict[int, Figure] = {}
    for f in series:
        if not f.known:
            continue
        first = f.valid_from.year if f.valid_from else (f.year or on.year)
        last = f.valid_to.year if f.valid_to else on.year
        for y in range(first, min(last, on.year) + 1):
            out[y] = f
    if not series and plain is not None and plain.known and plain.year is not None \
            and plain.year <= on.year:
        out[plain.year] = plain
    return out


def _latest_year(e: ETS, on: dt.date) -> tuple[int, Figure, Figure] | None:
    """The latest year up to the reference date for which both the cap and the covered
    emissions of ``e`` are recorded (``None`` when there is none)."""
    caps = _years(e.series.cap, e.cap, on)
    ems = _years(e.series.covered_emissions, e.covered_emissions, on)
    common = sorted(set(caps) & set(ems))
    if not common:
        return None
    return common[-1], caps[common[-1]], ems[common[-1]]


@rule("FEA-HOT")
def check_surplus(ctx: Context) -> list[Finding]:
    """Surplus flows from the exporter: a system whose cap exceeds its covered emissions matters
    only where its units can be surrendered in a partner. When the figures for the reference
    date are not both recorded (or are recorded for different years), the latest year up to that
    date for which both are is used, and the finding names that year."""
    out = []
    importers: dict[str, list[str]] = {}
    for exp, imp in ctx.directed_pairs():
        importers.setdefault(exp.id, []).append(imp.id)
    for p, e in ctx.operating_systems():
        subject = f"parties.{p.jurisdiction}.ets"
        cap = datum(e.cap, f"cap of {e.id}")
        em = datum(e.covered_emissions, f"covered emissions of {e.id}")
        when = ""
        verified = e.cap.verified and e.covered_emissions.verified
        differ = (e.cap.year is not None and e.covered_emissions.year is not None
                  and e.cap.year != e.covered_emissions.year)
        if not (cap.known and em.known) or differ:  # a cap is compared with its own year only
            latest = _latest_year(e, ctx.on)
            if latest is None:
                if e.id in importers:
                    out.append(ctx.gap("FEA-HOT", "; ".join(gaps(cap, em)) + " (surplus not "
                                       "assessed: no year up to the reference date has both "
                                       "recorded)", subject))
                continue
            year, cap_fig, em_fig = latest
            cap, em = datum(cap_fig, f"cap of {e.id}"), datum(em_fig, f"covered emissions of {e.id}")
            when = (f" in {year}, the latest year with both figures recorded (not both "
                    f"recorded for {ctx.on.isoformat()})")
            verified = cap_fig.verified and em_fig.verified
        if cap.value <= em.value:
            continue
        to = importers.get(e.id)
        if not to:
            out.append(ctx.finding("FEA-HOT", f"{e.id} cap {cap.text} exceeds its covered "
                                   f"emissions {em.text}{when}, but no link exports {e.id} "
                                   "units: the surplus stays in its own market", subject,
                                   severity="info"))
            continue
        out.append(ctx.finding(
            "FEA-HOT", f"{e.id} cap {cap.text} exceeds its covered emissions {em.text}{when}: "
            f"the surplus (unless withdrawn, e.g. by a stability reserve) flows into "
            f"{', '.join(to)} and raises total emissions"
            + ("" if verified else " [figures partly unverified]"), subject))
    for m in ctx.agreement.markets or []:
        if m.cap > m.bau:
            out.append(ctx.finding("FEA-HOT", f"market {m.id}: cap {m.cap:,.0f} above BAU "
                                   f"{m.bau:,.0f} (hot air)", f"markets.{m.id}"))
    return out


@rule("FEA-SIM")
def check_simulation(ctx: Context) -> list[Finding]:
    res = ctx.simulate()
    if res is None:
        return []
    out = []
    markets = res.get("markets", {})
    gains = {mid: float(m.get("gain", 0.0) or 0.0) for mid, m in markets.items()}
    total = sum(gains.values())
    split = ", ".join(f"{mid} {g:,.0f}" + (f" ({g / total:.0%})" if total > 0 else "")
                      for mid, g in gains.items())
    prices = ", ".join(f"{mid} {float(m.get('price', 0.0)):,.2f}" for mid, m in markets.items())
    out.append(ctx.finding("FEA-SIM", f"simulated link ({res.get('status')}): prices {prices}; "
                           f"gains {split}", "simulation", severity="info"))
    for mid, g in gains.items():
        if g < -1e-6:
            out.append(ctx.finding("FEA-SIM", f"{mid} loses {-g:,.0f} from the link", f"markets.{mid}"))
    change = float(res.get("totals", {}).get("emissions_change", 0.0) or 0.0)
    if change > 1e-6:
        out.append(ctx.finding("FEA-SIM", f"total emissions rise by {change:,.0f} tCO2e "
                               "relative to autarky", "totals.emissions_change"))
    return out
