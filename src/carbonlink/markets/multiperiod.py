"""Multi-period equilibrium: banking, borrowing and a discount rate, solved as one program.

A scenario with ``periods: [Y0, Y1, …]`` gives each market a BAU and a cap per period. Entities
may **bank** allowances of one period for a later one (up to ``banking.limit`` held at the end
of a period; unlimited when no limit is given) and, when the market allows it, **borrow** from
later periods (at most ``borrowing.limit`` outstanding; everything borrowed is repaid by the
last period). Costs of period ``t`` are discounted by ``(1 + r)^-(Y_t − Y_0)``.

The program (quantities scaled by the largest BAU or cap, prices by a typical price) minimises
the present value of

    Σ_t d_t · ( abatement cost + transfer tax · flow + ceiling price · released
                − floor price · withheld )

subject to, for each period ``t`` and market ``i``:

* ``balance[t,i]``  emissions + bank[t] − bank[t−1] ≤ cap + released − withheld − exports
  + Σ factor·imports (``bank`` < 0 is borrowing);
* ``exports[t,i]``  exports ≤ cap + released − withheld (a period's exports come from its own
  issuance; units are surrendered where they arrive, never re-exported);
* ``entity[t,l]``   factor·flow ≤ entity_share · emissions of ``to``;

and bounds: abatement ≤ BAU of the period, flow ≤ quota (per period), −borrowing limit ≤
bank ≤ banking limit, bank of the last period ≥ 0. The current-value **price** of period ``t``
is the sum of the duals of its balance and export rows divided by ``d_t``: while a market's
bank is positive its price rises at the discount rate (the Hotelling rule),
``p[t+1] = p[t] · (1 + r)^(Y[t+1] − Y[t])``.

Links may operate only from ``start`` to ``end`` (linking and delinking); flows of a link are
zero outside its years. The program is assembled from arrays (one entry per period × market,
period × link, period × merit-order segment) with numpy and scipy.sparse, and solved by HiGHS
(quadratic costs for linear MACs, linear columns for merit-order steps), like the
single-period engine. Offsets are not yet part of the multi-period program (refused).

**Stability mechanisms** (:mod:`carbonlink.markets.reserves`). A market's ``reserves`` tiers
add one column per period each: a release tier sells up to its quantity at its trigger price
(cost ``d_t · price``, into the balance and export rows like a ceiling), a withhold tier keeps
up to its quantity back at its trigger (value ``−d_t · price``, like a floor); so the price is
the trigger while a tier is partly used. A market's ``msr`` changes the next period's cap by
the MSR rule applied to this period's bank (TNAC); the program is solved again with those
caps until they no longer change (a fixed point: the banks the entities choose, knowing the
intakes they cause, produce those intakes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from carbonlink.errors import DocumentError, SolverError
from carbonlink.markets.curves import build_curve
from carbonlink.model.io import load_scenario
from carbonlink.model.scenario import Link, Market, Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PERIOD_MARKET_COLUMNS = [
    "price", "mac", "bau", "cap", "emissions", "abatement", "abatement_cost", "net_imports",
    "banked", "borrowed", "foreign_banked", "ceiling_released", "floor_withheld", "compliance_cost",
    "autarky_price", "reserve_released", "reserve_withheld", "msr_adjustment", "msr_holdings",
    "msr_invalidated",
]
PERIOD_LINK_COLUMNS = ["period", "from", "to", "flow", "credited", "tax_revenue", "binding"]
RESERVE_COLUMNS = ["period", "market", "tier", "kind", "quantity"]


@dataclass
class MultiPeriodResult:
    """What :func:`simulate_periods` returns.

    ``markets``: one row per (period, market) with the columns of
    :data:`PERIOD_MARKET_COLUMNS` (prices in current value of the period; ``banked`` and
    ``borrowed`` at the end of the period). ``links``: one row per (period, link) in operation.
    ``present_value``: per market, the present value (at the first period) of compliance costs,
    with and without links (``autarky``, banking kept), and the ``gain``.
    """

    status: str
    scenario: Scenario
    markets: pd.DataFrame
    links: pd.DataFrame
    present_value: pd.DataFrame
    totals: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    #: one row per (period, reserve tier): its market, name (``tier K``, K its index in the
    #: market's ``reserves``, when unnamed), kind (release or withhold) and the quantity it
    #: released or withheld; empty when no market has tiers
    reserves: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RESERVE_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        from carbonlink.markets.equilibrium import json_number as num

        return {
            "status": self.status,
            "periods": list(self.scenario.periods or []),
            "discount_rate": self.scenario.discount_rate,
            "markets": [{"period": int(p), "market": str(m),
                         **{c: num(v) for c, v in zip(PERIOD_MARKET_COLUMNS, row, strict=True)}}
                        for p, m, *row in self.markets.reset_index()[
                            ["period", "market", *PERIOD_MARKET_COLUMNS]].itertuples(index=False)],
            "links": [{c: (int(row[c]) if c == "period" else num(row[c])) for c in PERIOD_LINK_COLUMNS}
                      for _, row in self.links.iterrows()],
            "present_value": {str(m): {c: num(v) for c, v in row.items()}
                              for m, row in self.present_value.iterrows()},
            "totals": {k: num(v) for k, v in self.totals.items()},
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------------------------------
# the scenario as arrays
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeriodArrays:
    """A multi-period scenario's numbers: ``[period, market]`` and ``[period, link]`` arrays,
    and every step curve's merit-order segments (one entry per segment)."""

    years: IntArray
    discount: FloatArray  # d_t
    bau: FloatArray  # [T, M]
    cap: FloatArray  # [T, M]
    slope: FloatArray  # [M], nan for step curves
    seg_market: IntArray  # per segment of every step curve
    seg_left: FloatArray
    seg_right: FloatArray
    seg_cost: FloatArray
    bank_max: FloatArray  # [M], inf: unlimited
    initial_bank: FloatArray  # [M], carried into the first period
    borrow_max: FloatArray  # [M]
    ceiling_price: FloatArray  # [M], nan: none
    ceiling_max: FloatArray
    floor_price: FloatArray
    floor_max: FloatArray  # [T, M]
    src: IntArray  # [L]
    dst: IntArray
    factor: FloatArray
    quota: FloatArray
    entity_share: FloatArray  # nan: none
    tax: FloatArray
    active: npt.NDArray[np.bool_]  # [T, L]
    #: per link: whether its units banked in ``to`` are tracked (they lose value when it ends:
    #: cancelled or converted), and the value of one such unit after the link ends
    tracked: npt.NDArray[np.bool_]
    delink_value: FloatArray
    #: price-triggered reserve tiers (``Market.reserves``), one entry per tier: its market,
    #: whether it releases (else withholds), and its trigger price and quantity per period
    tier_market: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tier_release: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    tier_price: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # [T, K]
    tier_qty: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # [T, K], inf: none


def _years(sc: Scenario) -> list[int]:
    if sc.periods is None:
        raise DocumentError("periods", "a multi-period solve needs `periods` (years)")
    return list(sc.periods)


def period_arrays(sc: Scenario) -> PeriodArrays:
    """The scenario's numbers per period; refuses what the multi-period program lacks."""
    years = np.array(_years(sc), dtype=np.int64)
    nt = years.size
    if sc.offsets:
        raise DocumentError("offsets", "offsets are not yet supported in a multi-period scenario "
                            "(`periods`); solve each period with `simulate` instead")
    ms = sc.markets
    bau = np.array([[m.bau_in(t) for m in ms] for t in range(nt)], dtype=np.float64).reshape(nt, len(ms))
    cap = np.array([[m.cap_in(t) for m in ms] for t in range(nt)], dtype=np.float64).reshape(nt, len(ms))
    slope = np.full(len(ms), np.nan)
    segs: list[tuple[int, FloatArray, FloatArray]] = []
    for i, m in enumerate(ms):
        curve = build_curve(m.mac, f"markets[{i}].mac", capacity=float(bau[:, i].max()),
                            keep_options=False)
        if curve.kind == "linear":
            slope[i] = curve.slope
        else:
            assert curve.q is not None and curve.unit_cost is not None
            segs.append((i, curve.q, curve.unit_cost))
    seg_market = np.concatenate([np.full(c.size, i, dtype=np.int64) for i, _, c in segs]
                                + [np.zeros(0, dtype=np.int64)])
    seg_left = np.concatenate([q[:-1] for _, q, _ in segs] + [np.zeros(0)])
    seg_right = np.concatenate([q[1:] for _, q, _ in segs] + [np.zeros(0)])
    seg_cost = np.concatenate([c for _, _, c in segs] + [np.zeros(0)])

    def opt(values: list[float | None], default: float) -> FloatArray:
        return np.array([default if v is None else v for v in values], dtype=np.float64)

    ceiling_max = opt([m.price_ceiling.max_release if m.price_ceiling else None for m in ms], math.inf)
    floor_given = [m.price_floor.max_withheld if m.price_floor else None for m in ms]
    floor_max = np.where(np.isnan(opt(floor_given, math.nan))[None, :], cap,
                         opt(floor_given, 0.0)[None, :])
    ids = [m.id for m in ms]
    tiers = [(i, tier) for i, m in enumerate(ms) for tier in m.reserves]
    tier_price = np.array([[tier.price_in(t) for _, tier in tiers] for t in range(nt)],
                          dtype=np.float64).reshape(nt, len(tiers))
    tier_qty = np.array([[(q if (q := tier.quantity_in(t)) is not None
                           else (math.inf if tier.kind == "release" else float(cap[t, i])))
                          for i, tier in tiers] for t in range(nt)],
                        dtype=np.float64).reshape(nt, len(tiers))
    lks = sc.links
    active = np.ones((nt, len(lks)), dtype=bool)
    for li, lk in enumerate(lks):  # one mask per link from its two years (document order)
        if lk.start is not None:
            active[years < lk.start, li] = False
        if lk.end is not None:
            active[years > lk.end, li] = False
    return PeriodArrays(
        years=years, discount=(1.0 + sc.discount_rate) ** -(years - years[0]).astype(np.float64),
        bau=bau, cap=cap, slope=slope, seg_market=seg_market, seg_left=seg_left,
        seg_right=seg_right, seg_cost=seg_cost,
        bank_max=opt([(m.banking.limit if m.banking else None) for m in ms], math.inf),
        initial_bank=np.array([m.initial_bank for m in ms], dtype=np.float64),
        borrow_max=opt([(m.borrowing.limit if m.borrowing else None) for m in ms], 0.0),
        ceiling_price=opt([m.price_ceiling.price if m.price_ceiling else None for m in ms], math.nan),
        ceiling_max=ceiling_max,
        floor_price=opt([m.price_floor.price if m.price_floor else None for m in ms], math.nan),
        floor_max=floor_max,
        src=np.array([ids.index(lk.from_) for lk in lks], dtype=np.int64),
        dst=np.array([ids.index(lk.to) for lk in lks], dtype=np.int64),
        factor=np.array([lk.factor for lk in lks], dtype=np.float64),
        quota=opt([lk.quota for lk in lks], math.inf),
        entity_share=opt([lk.entity_share for lk in lks], math.nan),
        tax=np.array([lk.transfer_tax for lk in lks], dtype=np.float64),
        active=active,
        tracked=np.array([lk.end is not None and lk.end < years[-1] and lk.on_delink != "kept"
                          for lk in lks], dtype=bool),
        delink_value=np.array([{"kept": 1.0, "cancelled": 0.0}.get(lk.on_delink, lk.conversion_rate
                                                                    or 0.0) for lk in lks],
                              dtype=np.float64),
        tier_market=np.array([i for i, _ in tiers], dtype=np.int64),
        tier_release=np.array([tier.kind == "release" for _, tier in tiers], dtype=bool),
        tier_price=tier_price, tier_qty=tier_qty,
    )


def period_scenario(sc: Scenario, t: int) -> Scenario:
    """The single-period scenario of period number ``t`` (0-based): that period's BAU and cap,
    the links in operation then, no banking (what a period-by-period solve sees)."""
    years = _years(sc)
    year = years[t]
    for i, m in enumerate(sc.markets):
        if m.reserves or m.msr is not None:
            raise DocumentError(f"markets[{i}].{'reserves' if m.reserves else 'msr'}",
                                "stability mechanisms are solved by the multi-period program "
                                "only (simulate_periods), not period by period")
    markets: list[Market] = [
        m.model_copy(update={"bau": m.bau_in(t), "cap": m.cap_in(t), "bau_by_period": None,
                             "cap_by_period": None, "banking": None, "borrowing": None,
                             "cap_intensity": None, "initial_bank": 0.0})
        for m in sc.markets
    ]
    links: list[Link] = [
        lk.model_copy(update={"start": None, "end": None}) for lk in sc.links
        if (lk.start is None or lk.start <= year) and (lk.end is None or year <= lk.end)
    ]
    return sc.model_copy(update={"markets": markets, "links": links, "periods": None,
                                 "discount_rate": 0.0, "name": f"{sc.name} {year}",
                                 "uncertainty": None})


# ------------------------------------------------------------------------------------------
# the program
# ------------------------------------------------------------------------------------------
@dataclass
class _Solved:
    status: str
    abatement: FloatArray  # [T, M]
    seg_x: FloatArray  # [T, S]
    released: FloatArray  # [T, M]
    withheld: FloatArray
    bank: FloatArray  # [T, M]
    flow: FloatArray  # [T, L] (0 where not active)
    price: FloatArray  # [T, M], current value
    quota_rent: FloatArray  # [T, L], current value per unit
    foreign: FloatArray  # [T, M], tracked foreign units held in the bank at the end of t
    tier_x: FloatArray  # [T, K], released or withheld by each reserve tier


def _new_highs() -> highspy.Highs:
    """A silent HiGHS instance: the engine's (which mutes the first-construction banner) when
    it offers one, else a plain one with output off."""
    from carbonlink.markets import solvers

    make = getattr(solvers, "_new_highs", None)
    if make is not None:
        return make()
    h = highspy.Highs()  # pragma: no cover - only if the engine drops its helper
    h.setOptionValue("output_flag", False)
    return h


def _scales(pa: PeriodArrays) -> tuple[float, float]:
    sq = float(max(pa.bau.max(initial=0.0), pa.cap.max(initial=0.0),
                   pa.initial_bank.max(initial=0.0), 1e-9))
    prices = [float(v) for v in pa.slope * 0.5 * pa.bau.max(axis=0) if math.isfinite(v)]
    prices += [float(c) for c in pa.seg_cost]
    prices += [float(v) for v in np.concatenate([pa.ceiling_price, pa.floor_price, pa.tax,
                                                 pa.tier_price.ravel()])
               if math.isfinite(v)]
    sp = max([p for p in prices if p > 0] + [0.0])
    return sq, (sp if sp > 0 else 1.0)


class _SolveError(SolverError):
    """HiGHS stopped with "Solve error" (not infeasible, not optimal)."""


#: quantity scales tried in turn when HiGHS's QP solver stops with "Solve error": the same
#: program with its quantities measured in units 16 and 1,024 times smaller. HiGHS 1.15–1.16
#: reports optimality with a primal infeasibility of the size of a tiny column bound (1e-4 of
#: the largest quantity: a small ceiling release) and gives up; rescaled, it solves it.
RESCALE = (1.0, 16.0, 1024.0)
#: HiGHS's QP solver (1.16) can cycle for ever on a tiny program (found by the property test of
#: damaged stability documents: one market, four periods, a withholding reserve whose first
#: trigger price is 30,881 and the rest ~7): its iterations are capped at this plus 50 per row
#: and column, far above what a program that converges needs (tens to hundreds), and a capped
#: run is tried again at the next scale, like a "Solve error", then reported as an error
QP_ITERATIONS = 20_000


def solve_periods(pa: PeriodArrays, *, links: bool = True) -> _Solved:
    """Solve the multi-period program (``links=False``: autarky, banking kept); on HiGHS's
    "Solve error" the same program again at the next quantity scale of :data:`RESCALE`."""
    for k, factor in enumerate(RESCALE):
        try:
            return _solve_periods(pa, links=links, rescale=factor)
        except _SolveError:
            if k == len(RESCALE) - 1:
                raise
    raise AssertionError("unreachable")


def _solve_periods(pa: PeriodArrays, *, links: bool, rescale: float) -> _Solved:
    nt, nm = pa.bau.shape
    nl = pa.src.size
    ns = pa.seg_cost.size
    sq, sp = _scales(pa)
    sq /= rescale
    d = pa.discount
    tt = np.repeat(np.arange(nt), nm)  # one entry per (t, i), row-major
    ii = np.tile(np.arange(nm), nt)
    bal = tt * nm + ii
    active = pa.active if links else np.zeros((nt, nl), dtype=bool)
    ft, fl = np.nonzero(active)  # flows: (t, l) in operation
    nf = ft.size
    fsrc, fdst = pa.src[fl], pa.dst[fl]
    # ---- rows: balance [T·M], exports [per (t, exporter)], entity limits [per flow with one]
    exp_key = np.unique(ft * nm + fsrc)
    exp_row = nt * nm + np.arange(exp_key.size)
    row_of_exp = np.full(nt * nm, -1, dtype=np.int64)
    row_of_exp[exp_key] = exp_row
    ent = np.flatnonzero(~np.isnan(pa.entity_share[fl]))
    ent_row = nt * nm + exp_key.size + np.arange(ent.size)
    # foreign units of links that lose value when they end (cancelled, converted): per tracked
    # flow (t, l) a stock row F[t] − F[t−1] − factor·x + S = 0, per importer and period a
    # surrender row Σ S + abatement ≤ bau (foreign units surrendered ≤ emissions) and a
    # composition row Σ F ≤ bank (the foreign units are part of the bank)
    trk = np.flatnonzero(pa.tracked[fl])
    k_dst = ft[trk] * nm + fdst[trk]
    sur_key = np.unique(k_dst)
    base = nt * nm + exp_key.size + ent.size
    stock_row = base + np.arange(trk.size)
    sur_row = base + trk.size + np.arange(sur_key.size)
    dom_row = sur_row + sur_key.size
    nrow = base + trk.size + 2 * sur_key.size
    bau_v, cap_v = pa.bau.ravel(), pa.cap.ravel()
    share = pa.entity_share[fl[ent]]
    opening = np.zeros(nt * nm)
    opening[:nm] = pa.initial_bank
    row_hi = np.concatenate([(cap_v + opening - bau_v) / sq, cap_v[exp_key] / sq,
                             share * bau_v[ft[ent] * nm + fdst[ent]] / sq, np.zeros(trk.size),
                             bau_v[sur_key] / sq, np.zeros(sur_key.size)])
    row_lo = np.full(nrow, -np.inf)
    row_lo[stock_row] = 0.0
    cols_c: list[IntArray] = []
    rows_c: list[IntArray] = []
    vals_c: list[FloatArray] = []
    cost: list[FloatArray] = []
    upper: list[FloatArray] = []
    lower: list[FloatArray] = []
    ncol = 0

    def new(n: int) -> IntArray:
        nonlocal ncol
        c = np.arange(ncol, ncol + n, dtype=np.int64)
        ncol += n
        return c

    def enter(c: IntArray, r: IntArray, v: FloatArray | float) -> None:
        cols_c.append(c)
        rows_c.append(r)
        vals_c.append(np.broadcast_to(np.asarray(v, dtype=np.float64), c.shape).copy())

    # abatement of linear markets: one QP column per (t, i)
    lin = ~np.isnan(pa.slope[ii])
    lin_k = np.flatnonzero(lin)
    lin_cols = new(lin_k.size)
    cost.append(np.zeros(lin_k.size))
    lower.append(np.zeros(lin_k.size))
    upper.append(bau_v[lin_k] / sq)
    enter(lin_cols, bal[lin_k], -1.0)
    hess_cols = lin_cols
    hess_vals = d[tt[lin_k]] * pa.slope[ii[lin_k]] * sq / sp
    # merit-order segments of step markets, per period, cut at that period's BAU
    st = np.repeat(np.arange(nt), ns)
    sm = np.tile(pa.seg_market, nt)
    b_of = pa.bau[st, sm]
    width = np.clip(np.tile(pa.seg_right, nt), 0.0, b_of) - np.clip(np.tile(pa.seg_left, nt), 0.0, b_of)
    seg_cols = new(st.size)
    cost.append(d[st] * np.tile(pa.seg_cost, nt) / sp)
    lower.append(np.zeros(st.size))
    upper.append(np.maximum(width, 0.0) / sq)
    enter(seg_cols, st * nm + sm, -1.0)
    lin_pos = np.full(nt * nm, -1, dtype=np.int64)
    lin_pos[lin_k] = lin_cols
    seg_key = st * nm + sm
    seg_order = np.argsort(seg_key, kind="stable")

    def enter_abatement(keys: IntArray, rows: IntArray, vals: FloatArray) -> None:
        """The abatement of (t, i) ``keys`` (its QP column or its segments) into ``rows``."""
        has_lin = lin_pos[keys] >= 0
        enter(lin_pos[keys][has_lin], rows[has_lin], vals[has_lin])
        lo = np.searchsorted(seg_key[seg_order], keys, side="left")
        counts = np.searchsorted(seg_key[seg_order], keys, side="right") - lo
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        idx = np.arange(int(counts.sum())) - starts + np.repeat(lo, counts)
        enter(seg_cols[seg_order[idx]], np.repeat(rows, counts), np.repeat(vals, counts))

    # entity limits: factor·flow + share·abatement(to) ≤ share·bau(to)
    enter_abatement(ft[ent] * nm + fdst[ent], ent_row, share)
    # ceiling releases and floor withholdings: balance and export rows of their market
    rel_k = np.flatnonzero(~np.isnan(pa.ceiling_price[ii]))
    rel_cols = new(rel_k.size)
    cost.append(d[tt[rel_k]] * pa.ceiling_price[ii[rel_k]] / sp)
    lower.append(np.zeros(rel_k.size))
    upper.append(pa.ceiling_max[ii[rel_k]] / sq)
    enter(rel_cols, bal[rel_k], -1.0)
    ex = row_of_exp[rel_k] >= 0
    enter(rel_cols[ex], row_of_exp[rel_k][ex], -1.0)
    wh_k = np.flatnonzero(~np.isnan(pa.floor_price[ii]))
    wh_cols = new(wh_k.size)
    cost.append(-d[tt[wh_k]] * pa.floor_price[ii[wh_k]] / sp)
    lower.append(np.zeros(wh_k.size))
    upper.append(pa.floor_max.ravel()[wh_k] / sq)
    enter(wh_cols, bal[wh_k], 1.0)
    ex = row_of_exp[wh_k] >= 0
    enter(wh_cols[ex], row_of_exp[wh_k][ex], 1.0)
    # reserve tiers: one column per (t, tier) — a release sells at the trigger price (like a
    # ceiling with a quantity), a withholding keeps allowances back below it (like a floor)
    nk = pa.tier_market.size
    kt = np.repeat(np.arange(nt), nk)
    kk = np.tile(np.arange(nk), nt)
    k_key = kt * nm + pa.tier_market[kk]
    sign = np.where(pa.tier_release[kk], 1.0, -1.0)
    tier_cols = new(kt.size)
    cost.append(sign * d[kt] * pa.tier_price[kt, kk] / sp)
    lower.append(np.zeros(kt.size))
    upper.append(pa.tier_qty[kt, kk] / sq)
    enter(tier_cols, bal[k_key], -sign)
    ex = row_of_exp[k_key] >= 0
    enter(tier_cols[ex], row_of_exp[k_key][ex], -sign[ex])
    # banks: end-of-period holdings (negative: borrowed), out of this balance, into the next
    bank_cols = new(nt * nm)
    cost.append(np.zeros(nt * nm))
    last = tt == nt - 1
    lower.append(np.where(last, 0.0, -pa.borrow_max[ii]) / sq)
    upper.append(pa.bank_max[ii] / sq)
    enter(bank_cols, bal, 1.0)
    nxt = ~last
    enter(bank_cols[nxt], bal[nxt] + nm, -1.0)
    # flows: out of the exporter's balance and export rows, credited into the importer's
    flow_cols = new(nf)
    cost.append(d[ft] * pa.tax[fl] / sp)
    lower.append(np.zeros(nf))
    upper.append(pa.quota[fl] / sq)
    enter(flow_cols, ft * nm + fsrc, 1.0)
    enter(flow_cols, ft * nm + fdst, -pa.factor[fl])
    enter(flow_cols, row_of_exp[ft * nm + fsrc], 1.0)
    enter(flow_cols[ent], ent_row, pa.factor[fl[ent]])
    # tracked foreign units: held (F) and surrendered (S)
    f_cols, s_cols = new(trk.size), new(trk.size)
    for _ in range(2):
        cost.append(np.zeros(trk.size))
        lower.append(np.zeros(trk.size))
        upper.append(np.full(trk.size, np.inf))
    enter(flow_cols[trk], stock_row, -pa.factor[fl[trk]])
    enter(f_cols, stock_row, 1.0)
    enter(s_cols, stock_row, 1.0)
    pair = ft[trk] * nl + fl[trk]  # sorted: np.nonzero is row-major
    nxt_pos = np.searchsorted(pair, pair + nl)
    has_next = (nxt_pos < pair.size) & (pair[np.minimum(nxt_pos, max(pair.size - 1, 0))] == pair + nl)
    enter(f_cols[has_next], stock_row[nxt_pos[has_next]], -1.0)
    pos = np.searchsorted(sur_key, k_dst)
    enter(s_cols, sur_row[pos], 1.0)
    enter_abatement(sur_key, sur_row, np.ones(sur_key.size))
    enter(f_cols, dom_row[pos], 1.0)
    enter(bank_cols[sur_key], dom_row, -1.0)
    # the link ends after this period: its units in the bank lose (1 − value) in the next one
    ends = ~has_next & (ft[trk] < nt - 1)
    enter(f_cols[ends], bal[k_dst[ends] + nm], 1.0 - pa.delink_value[fl[trk[ends]]])

    mat = sparse.csc_matrix((np.concatenate(vals_c), (np.concatenate(rows_c), np.concatenate(cols_c))),
                            shape=(nrow, ncol))
    mat.sum_duplicates()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, nrow
    lp.col_cost_ = np.concatenate(cost)
    lo_all, up_all = np.concatenate(lower), np.concatenate(upper)
    lp.col_lower_ = np.where(np.isfinite(lo_all), lo_all, -inf)
    lp.col_upper_ = np.where(np.isfinite(up_all), up_all, inf)
    lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
    lp.a_matrix_.index_ = mat.indices.astype(np.int32)
    lp.a_matrix_.value_ = mat.data
    model = highspy.HighsModel()
    model.lp_ = lp
    if hess_cols.size:
        hs = highspy.HighsHessian()
        hs.dim_ = ncol
        hs.format_ = highspy.HessianFormat.kTriangular
        hs.start_ = np.searchsorted(hess_cols, np.arange(ncol + 1)).astype(np.int32)
        hs.index_ = hess_cols.astype(np.int32)
        hs.value_ = hess_vals
        model.hessian_ = hs
    h = _new_highs()
    h.setOptionValue("primal_feasibility_tolerance", 1e-10)
    h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    if hess_cols.size:
        h.setOptionValue("qp_regularization_value", 0.0)
        h.setOptionValue("qp_iteration_limit", QP_ITERATIONS + 50 * (ncol + nrow))
    if h.passModel(model) == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the multi-period program")
    h.run()
    ms = h.getModelStatus()
    zt = np.zeros((nt, nm))
    if ms in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        nan = np.full((nt, nm), np.nan)
        return _Solved("infeasible", nan, np.zeros((nt, ns)), zt, zt, zt, np.zeros((nt, nl)), nan,
                       np.zeros((nt, nl)), zt, np.zeros((nt, nk)))
    if ms in (highspy.HighsModelStatus.kSolveError, highspy.HighsModelStatus.kIterationLimit):
        raise _SolveError(f"HiGHS stopped with status {h.modelStatusToString(ms)}")
    if ms != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"HiGHS stopped with status {h.modelStatusToString(ms)}")
    sol = h.getSolution()
    x = np.asarray(sol.col_value) * sq
    row_dual = np.asarray(sol.row_dual)
    col_dual = np.asarray(sol.col_dual)
    abatement = np.zeros(nt * nm)
    abatement[lin_k] = x[lin_cols]
    seg_x = x[seg_cols]
    np.add.at(abatement, st * nm + sm, seg_x)
    released = np.zeros(nt * nm)
    released[rel_k] = x[rel_cols]
    withheld = np.zeros(nt * nm)
    withheld[wh_k] = x[wh_cols]
    flow = np.zeros((nt, nl))
    flow[ft, fl] = x[flow_cols]
    exp_dual = np.where(row_of_exp >= 0, row_dual[np.maximum(row_of_exp, 0)], 0.0)
    price = np.maximum(-(row_dual[bal] + exp_dual) * sp / d[tt], 0.0)
    rent = np.zeros((nt, nl))
    at_quota = np.isfinite(pa.quota[fl]) & (x[flow_cols] >= pa.quota[fl] * (1 - 1e-9) - 1e-12)
    rent[ft, fl] = np.where(at_quota, np.maximum(-col_dual[flow_cols] * sp / d[ft], 0.0), 0.0)
    foreign = np.zeros(nt * nm)
    np.add.at(foreign, k_dst, x[f_cols])
    return _Solved("optimal", abatement.reshape(nt, nm), seg_x.reshape(nt, ns),
                   released.reshape(nt, nm), withheld.reshape(nt, nm),
                   x[bank_cols].reshape(nt, nm), flow, price.reshape(nt, nm), rent,
                   foreign.reshape(nt, nm), x[tier_cols].reshape(nt, nk))


def _clean(a: FloatArray, scale: float) -> FloatArray:
    out = np.array(a, dtype=np.float64)
    out[np.abs(out) < 1e-9 * scale] = 0.0
    return out


def _costs(pa: PeriodArrays, s: _Solved) -> dict[str, FloatArray]:
    """Per (period, market): abatement cost, mac, net imports, compliance cost (current value)."""
    nt, nm = pa.bau.shape
    lin = ~np.isnan(pa.slope)
    abatement_cost = np.where(lin[None, :], 0.5 * np.nan_to_num(pa.slope)[None, :] * s.abatement ** 2, 0.0)
    mac = np.where(lin[None, :], np.nan_to_num(pa.slope)[None, :] * s.abatement, 0.0)
    if pa.seg_cost.size:
        st = np.repeat(np.arange(nt), pa.seg_cost.size)
        sm = np.tile(pa.seg_market, nt)
        np.add.at(abatement_cost, (st, sm), (np.tile(pa.seg_cost, nt) * s.seg_x.ravel()))
        # marginal: the cost of the last segment used (0 when none)
        used = s.seg_x.ravel() > 1e-9 * max(1.0, float(pa.bau.max()))
        np.maximum.at(mac, (st[used], sm[used]), np.tile(pa.seg_cost, nt)[used])
    ft, fl = np.nonzero(s.flow)
    x = s.flow[ft, fl]
    unit = s.price[ft, pa.src[fl]]
    payments = np.zeros((nt, nm))
    net_imports = np.zeros((nt, nm))
    np.add.at(payments, (ft, pa.dst[fl]), x * (unit + pa.tax[fl]))
    np.add.at(payments, (ft, pa.src[fl]), -x * unit)
    np.add.at(net_imports, (ft, pa.dst[fl]), pa.factor[fl] * x)
    np.add.at(net_imports, (ft, pa.src[fl]), -x)
    ceiling = np.nan_to_num(pa.ceiling_price)[None, :] * s.released
    # allowances bought from release tiers are paid at their trigger price
    tiers = np.zeros((nt, nm))
    rel = pa.tier_release
    for k in np.flatnonzero(rel):
        tiers[:, pa.tier_market[k]] += pa.tier_price[:, k] * s.tier_x[:, k]
    return {"abatement_cost": abatement_cost, "mac": mac, "net_imports": net_imports,
            "compliance_cost": abatement_cost + payments + ceiling + tiers}


def simulate_periods(scenario: Scenario | str | Path | dict[str, Any]) -> MultiPeriodResult:
    """Solve a multi-period scenario (one program over all periods) and its autarky."""
    sc = load_scenario(scenario)
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return _simulate(sc)
    except FloatingPointError as exc:
        raise DocumentError("<document>", f"numbers out of range: the arithmetic of the solve is "
                            f"not finite ({exc}); state quantities and costs in larger units") from None


@dataclass
class _MSRState:
    """The MSR's path at the fixed point: supply adjustment (release − intake, added to the
    period's cap), holdings at the end of each period, invalidated allowances (model units)."""

    adjust: FloatArray  # [T, M]
    holdings: FloatArray
    invalidated: FloatArray
    converged: bool = True
    rounds: int = 0


MSR_MAX_ROUNDS = 200


def _solve_with_msr(sc: Scenario, pa: PeriodArrays, *, links: bool = True
                    ) -> tuple[_Solved, PeriodArrays, _MSRState]:
    """Solve the program with each market's MSR as a fixed point: the supply adjustments of
    the MSR rule applied to the banks (TNAC) of the last solve, until they no longer change
    (relative 1e-9 of the largest quantity). After 20 rounds the new adjustments are averaged
    with the previous ones (the same fixed point, damped). A rule with a jump (the 2019–2023 rule
    at 833 million) may have no fixed point: then the last round is kept and ``converged`` is
    false. The auction volume an intake may reduce is taken as the period's whole cap (an
    assumption: free allocation is not separated)."""
    from carbonlink.markets.reserves import MSRRule, msr_path

    nt, nm = pa.bau.shape
    specs = [(i, m.msr) for i, m in enumerate(sc.markets) if m.msr is not None]
    zero = np.zeros((nt, nm))
    if not specs:
        return solve_periods(pa, links=links), pa, _MSRState(zero, zero.copy(), zero.copy())
    rules = [(i, spec, MSRRule(rate=spec.rate, upper=spec.upper, lower=spec.lower,
                               release=spec.release, band_upper=spec.band_upper,
                               holding_limit=spec.holding_limit)) for i, spec in specs]
    tol = 1e-9 * float(max(pa.bau.max(), pa.cap.max(), 1.0))
    adjust = zero.copy()
    state = _MSRState(zero, zero.copy(), zero.copy(), converged=False)
    for k in range(1, MSR_MAX_ROUNDS + 1):
        cur = replace(pa, cap=pa.cap + adjust)
        s = solve_periods(cur, links=links)
        if s.status != "optimal":
            return s, cur, state
        new = zero.copy()
        held, invalid = zero.copy(), zero.copy()
        for i, spec, rule in rules:
            new[:, i], held[:, i], invalid[:, i] = msr_path(
                s.bank[:, i], spec.initial_holdings, rule, scale=spec.scale, auction=pa.cap[:, i],
                tnac0=spec.initial_tnac)
        state = _MSRState(adjust, held, invalid, converged=False, rounds=k)
        if float(np.abs(new - adjust).max()) <= tol:
            state.converged = True
            return s, cur, state
        adjust = new if k < 20 else 0.5 * (adjust + new)
    return s, cur, state


def _simulate(sc: Scenario) -> MultiPeriodResult:
    pa = period_arrays(sc)
    nt, nm = pa.bau.shape
    s, pa_s, msr = _solve_with_msr(sc, pa)
    aut = _solve_with_msr(sc, pa, links=False)[0] if pa.src.size else s
    pa = pa_s  # the caps after the MSR's adjustments (costs, exports)
    ids = [m.id for m in sc.markets]
    index = pd.MultiIndex.from_product([pa.years.tolist(), ids], names=["period", "market"])
    qscale = float(max(pa.bau.max(), pa.cap.max(), 1.0))
    if s.status != "optimal":
        nan = np.full(nt * nm, np.nan)
        markets = pd.DataFrame({c: nan for c in PERIOD_MARKET_COLUMNS}, index=index)
        return MultiPeriodResult(
            status=s.status, scenario=sc, markets=markets,
            links=pd.DataFrame(columns=PERIOD_LINK_COLUMNS),
            present_value=pd.DataFrame(index=pd.Index(ids, name="market")),
            totals={}, warnings=["infeasible: the caps cannot be met over the periods with the "
                                 "abatement options, banking, borrowing and links available"])
    pscale = float(max(1.0, np.nanmax(s.price)))
    tier_rel, tier_wh = np.zeros((nt, nm)), np.zeros((nt, nm))
    for k in range(pa.tier_market.size):
        (tier_rel if pa.tier_release[k] else tier_wh)[:, pa.tier_market[k]] += s.tier_x[:, k]
    cur = _costs(pa, s)
    base = _costs(pa, aut) if aut.status == "optimal" else None
    bank = _clean(s.bank, qscale)
    markets = pd.DataFrame({
        "price": _clean(s.price, pscale).ravel(),
        "mac": _clean(cur["mac"], pscale).ravel(),
        "bau": pa.bau.ravel(), "cap": pa.cap.ravel(),
        "emissions": _clean(pa.bau - s.abatement, qscale).ravel(),
        "abatement": _clean(s.abatement, qscale).ravel(),
        "abatement_cost": cur["abatement_cost"].ravel(),
        "net_imports": _clean(cur["net_imports"], qscale).ravel(),
        "banked": np.maximum(bank, 0.0).ravel(),
        "borrowed": np.maximum(-bank, 0.0).ravel(),
        "foreign_banked": _clean(s.foreign, qscale).ravel(),
        "ceiling_released": _clean(s.released, qscale).ravel(),
        "floor_withheld": _clean(s.withheld, qscale).ravel(),
        "compliance_cost": cur["compliance_cost"].ravel(),
        "autarky_price": (_clean(aut.price, pscale).ravel() if base is not None
                          else np.full(nt * nm, np.nan)),
        "reserve_released": _clean(tier_rel, qscale).ravel(),
        "reserve_withheld": _clean(tier_wh, qscale).ravel(),
        "msr_adjustment": _clean(msr.adjust, qscale).ravel(),
        "msr_holdings": _clean(msr.holdings, qscale).ravel(),
        "msr_invalidated": _clean(msr.invalidated, qscale).ravel(),
    }, index=index)
    markets["cap"] = pa.cap.ravel() - msr.adjust.ravel()  # the cap as issued, before the MSR
    ft, fl = np.nonzero(pa.active)
    flows = _clean(s.flow[ft, fl], qscale)
    at_quota = np.isfinite(pa.quota[fl]) & (flows >= pa.quota[fl] * (1 - 1e-7))
    links = pd.DataFrame({
        "period": pa.years[ft], "from": [ids[i] for i in pa.src[fl]],
        "to": [ids[i] for i in pa.dst[fl]], "flow": flows, "credited": pa.factor[fl] * flows,
        "tax_revenue": pa.tax[fl] * flows, "binding": at_quota,
    }, columns=PERIOD_LINK_COLUMNS)
    pv = (pa.discount[:, None] * cur["compliance_cost"]).sum(axis=0)
    pv_aut = ((pa.discount[:, None] * base["compliance_cost"]).sum(axis=0) if base is not None
              else np.full(nm, np.nan))
    present_value = pd.DataFrame({"compliance_cost": pv, "autarky_compliance_cost": pv_aut,
                                  "gain": pv_aut - pv}, index=pd.Index(ids, name="market"))
    emissions = float(markets["emissions"].sum())
    totals = {"emissions": emissions, "cap": float(pa.cap.sum()),
              "compliance_cost_pv": float(pv.sum()), "gain_pv": float(np.sum(pv_aut - pv))}
    warnings = [] if base is not None else ["autarky is infeasible over the periods"]
    if not msr.converged:
        warnings.append(f"the market stability reserve has no fixed point found in {msr.rounds} "
                        "rounds (a rule with a jump at a threshold may have none): the last "
                        "round is reported")
    totals["msr_intake"] = float(-np.minimum(msr.adjust, 0.0).sum())
    totals["msr_invalidated"] = float(msr.invalidated.sum())
    tier_rows = []
    names = [tier.name or f"tier {j}" for m in sc.markets for j, tier in enumerate(m.reserves)]
    tier_x = _clean(s.tier_x, qscale) if pa.tier_market.size else s.tier_x
    for k in range(pa.tier_market.size):
        for t in range(nt):
            tier_rows.append((int(pa.years[t]), ids[pa.tier_market[k]], names[k],
                              "release" if pa.tier_release[k] else "withhold",
                              float(tier_x[t, k])))
    return MultiPeriodResult(status="optimal", scenario=sc, markets=markets, links=links,
                             present_value=present_value, totals=totals, warnings=warnings,
                             reserves=pd.DataFrame(tier_rows, columns=RESERVE_COLUMNS))


# ------------------------------------------------------------------------------------------
# an unforeseen delinking
# ------------------------------------------------------------------------------------------
@dataclass
class Delinking:
    """What :func:`unexpected_delinking` returns: the plan as the document states it, the
    continuation after the delinking, and per market the foreign units held in the bank at the
    delinking (surrendered first, so the fewest the bank can hold) and those stranded
    (cancelled, or lost in the conversion)."""

    planned: MultiPeriodResult
    after: MultiPeriodResult
    foreign_banked: pd.Series
    stranded: pd.Series


def unexpected_delinking(scenario: Scenario | str | Path | dict[str, Any], year: int, *,
                         links: list[int] | None = None,
                         on_delink: str = "cancelled", conversion_rate: float = 0.0,
                         ) -> Delinking:
    """The links (indices; default all) end after ``year`` although the plan said otherwise:
    entities hold the banks of the plan at the end of ``year``; the units of those links in a
    bank are ``cancelled``, ``converted`` at ``conversion_rate``, or ``kept``; the periods
    after ``year`` are solved again from the remaining banks, without those links."""
    sc = load_scenario(scenario)
    years = _years(sc)
    if year not in years or year == years[-1]:
        raise DocumentError("year", f"must be one of the periods before the last, got {year}")
    if on_delink not in ("kept", "cancelled", "converted"):
        raise DocumentError("on_delink", f"must be kept, cancelled or converted, got {on_delink!r}")
    value = {"kept": 1.0, "cancelled": 0.0}.get(on_delink, conversion_rate)
    t_end = years.index(year)
    planned = simulate_periods(sc)
    if planned.status != "optimal":
        raise DocumentError("<document>", "the planned scenario is infeasible")
    chosen = list(range(len(sc.links))) if links is None else links
    for k in chosen:
        if not 0 <= k < len(sc.links):
            raise DocumentError("links", f"no link {k} (the scenario has {len(sc.links)})")
    pa = period_arrays(sc)
    nt, nm = pa.bau.shape
    ids = [m.id for m in sc.markets]
    flow = np.zeros((nt, len(sc.links)))
    lk_rows = planned.links
    if len(lk_rows):
        pos = {(f, t): k for k, (f, t) in enumerate(zip(pa.src.tolist(), pa.dst.tolist(), strict=True))}
        li = np.array([pos[(ids.index(f), ids.index(t))] for f, t in zip(lk_rows["from"], lk_rows["to"],
                                                                          strict=True)], dtype=np.int64)
        ti = np.searchsorted(pa.years, lk_rows["period"].to_numpy())
        flow[ti, li] = lk_rows["flow"].to_numpy()
    mask = np.zeros(len(sc.links), dtype=bool)
    mask[chosen] = True
    into = np.zeros((int(mask.sum()), nm))
    into[np.arange(into.shape[0]), pa.dst[mask]] = 1.0
    credited = (flow[:, mask] * pa.factor[mask]) @ into  # [T, M] units credited by those links
    emissions = planned.markets["emissions"].to_numpy().reshape(nt, nm)
    bank = (planned.markets["banked"] - planned.markets["borrowed"]).to_numpy().reshape(nt, nm)
    foreign = np.zeros(nm)
    for t in range(t_end + 1):  # periods, not links: foreign units surrendered first
        foreign = np.minimum(np.maximum(foreign + credited[t] - emissions[t], 0.0),
                             np.maximum(bank[t], 0.0))
    stranded = (1.0 - value) * foreign
    carry = bank[t_end] - stranded
    rest = years[t_end + 1:]
    k0 = t_end + 1
    held = planned.markets["msr_holdings"].to_numpy(dtype=np.float64).reshape(nt, nm)[t_end]
    markets = []
    for i, m in enumerate(sc.markets):
        caps = [m.cap_in(k) for k in range(k0, nt)]
        caps[0] += min(float(carry[i]), 0.0)  # borrowing outstanding is repaid first
        # reserve tiers keep their values of the remaining periods; an MSR continues from the
        # bank (TNAC) and holdings of the plan at the delinking (the bank after the stranding)
        tiers = [tier.model_copy(update={
            "price": [tier.price_in(k) for k in range(k0, nt)],
            "quantity": (None if tier.quantity is None
                         else [tier.quantity_in(k) for k in range(k0, nt)])})
            for tier in m.reserves]
        msr = None if m.msr is None else m.msr.model_copy(update={
            "initial_tnac": max(float(carry[i]), 0.0) * m.msr.scale,
            "initial_holdings": float(held[i]) * m.msr.scale})
        markets.append(m.model_copy(update={
            "bau_by_period": [m.bau_in(k) for k in range(k0, nt)], "cap_by_period": caps,
            "bau": m.bau_in(k0), "cap": caps[0], "cap_intensity": None,
            "initial_bank": max(float(carry[i]), 0.0), "reserves": tiers, "msr": msr}))
    kept_links = [lk.model_copy(update={"start": None if lk.start is None or lk.start <= rest[0]
                                        else lk.start})
                  for k, lk in enumerate(sc.links)
                  if k not in chosen and (lk.end is None or lk.end >= rest[0])]
    after_sc = sc.model_copy(update={"periods": rest, "markets": markets, "links": kept_links,
                                     "uncertainty": None, "name": f"{sc.name}, delinked after {year}"})
    after = simulate_periods(after_sc)
    return Delinking(planned=planned, after=after,
                     foreign_banked=pd.Series(foreign, index=pd.Index(ids, name="market")),
                     stranded=pd.Series(stranded, index=pd.Index(ids, name="market")))
