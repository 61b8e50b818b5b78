"""FEA rules: feasibility of the link (seed S-3.4, S-7.1) — price gap, direction of flows,
surplus allowances and, when the agreement carries MAC data, the simulated equilibrium."""

from __future__ import annotations

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import Finding
from carbonlink.agreements.rules import rule
from carbonlink.model.jurisdiction import ETS

#: price ratio above which the gap is flagged as politically hard (S-3.4)
GAP_RATIO = 2.0


def _prices(a: ETS, b: ETS) -> tuple[float, float] | str:
    pa, pb = a.price.value, b.price.value
    if pa is None or pb is None:
        return f"observed price of {a.id if pa is None else b.id} unknown"
    if a.price.currency != b.price.currency:
        return f"prices in different currencies ({a.price.currency}, {b.price.currency})"
    return pa, pb


@rule("FEA-GAP")
def check_price_gap(ctx: Context) -> list[Finding]:
    out = []
    for a, b in ctx.linked_pairs():
        subject = f"{a.id}|{b.id}"
        p = _prices(a, b)
        if isinstance(p, str):
            out.append(ctx.finding("FEA-GAP", f"price gap not computed: {p}", subject,
                                   severity="info"))
            continue
        lo, hi = sorted(p)
        cur = a.price.currency or ""
        if lo <= 0 or hi / lo >= GAP_RATIO:
            out.append(ctx.finding("FEA-GAP", f"large price gap {a.id} {p[0]:g} vs {b.id} "
                                   f"{p[1]:g} {cur}: large gains from trade, but the low-price "
                                   "side's price jumps and sellers in the high-price system are "
                                   "undercut (politically hard)", subject))
        else:
            out.append(ctx.finding("FEA-GAP", f"price gap {a.id} {p[0]:g} vs {b.id} {p[1]:g} "
                                   f"{cur} (ratio {hi / lo:.2f})", subject, severity="info"))
    return out


@rule("FEA-FLOW")
def check_flow_direction(ctx: Context) -> list[Finding]:
    out = []
    links = {(lk.from_, lk.to) for lk in ctx.agreement.links}
    for a, b in ctx.linked_pairs():
        p = _prices(a, b)
        if isinstance(p, str) or p[0] == p[1]:
            continue
        low, high = (a, b) if p[0] < p[1] else (b, a)
        subject = f"{low.id}->{high.id}"
        if links and (low.id, high.id) not in links:
            out.append(ctx.finding("FEA-FLOW", f"units would flow from {low.id} (lower price) to "
                                   f"{high.id}, but the links only let {low.id} entities use "
                                   f"{high.id} units: the link will not carry trade", subject))
        else:
            out.append(ctx.finding("FEA-FLOW", f"expected net flow of units from {low.id} to "
                                   f"{high.id} (buyers in {high.id} gain; sellers in {high.id} "
                                   f"and buyers in {low.id} face a price change)", subject,
                                   severity="info"))
    return out


@rule("FEA-HOT")
def check_surplus(ctx: Context) -> list[Finding]:
    out = []
    for p, e in ctx.party_systems():
        cap, em = e.cap.value, e.covered_emissions.value
        if cap is not None and em is not None and cap > em:
            out.append(ctx.finding("FEA-HOT", f"{e.id} cap {cap:,.0f} ({e.cap.year}) exceeds its "
                                   f"covered emissions {em:,.0f} ({e.covered_emissions.year}): the "
                                   "surplus (unless withdrawn, e.g. by a stability reserve) flows "
                                   "to the partner and raises total emissions"
                                   + ("" if e.cap.verified and e.covered_emissions.verified
                                      else " [figures partly unverified]"),
                                   f"parties.{p.jurisdiction}.ets"))
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
