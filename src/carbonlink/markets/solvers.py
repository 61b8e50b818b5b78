"""The network program and the HiGHS back end that solves it.

Competitive equilibrium of linked markets = the minimum of

    Σ abatement cost + Σ offset supply cost + Σ transfer tax · flow
    + Σ ceiling price · released − Σ floor price · withheld

subject to, for each market i (rows named as in the code):

* ``balance[i]``  emissions ≤ cap + released − withheld − exports + Σ factor·imports
  + Σ (1 − discount)·offsets used — its dual is the market's allowance **price**;
* ``exports[i]``  exports ≤ cap + released − withheld (units are surrendered where they
  arrive, never re-exported);
* ``entity[l]``   factor·flow ≤ entity_share · emissions of ``to`` (entity-level limit: with
  one representative entity per market, the aggregate limit is exact, and its dual makes the
  mac a blend of the domestic and the foreign price);
* ``share[k,i]``  offsets used ≤ limit_share · emissions;
* ``offsets[k]``  Σ offsets used ≤ offset supplied — its dual is the offset price;

and bounds: abatement ≤ BAU (and ≤ the options available), flow ≤ quota, released ≤
max_release, withheld ≤ max_withheld, offsets used ≤ limit.

Two formulations of each piecewise-linear (step) curve are offered:

* ``plain`` — every option is its own column (the reference formulation);
* ``fast`` — the merit-order curve is represented on a *subset* of its breakpoints (costs
  interpolated, an upper bound of the true convex cost that is exact at the subset), then
  refined around the solution until the solution sits where the representation is exact (inside
  an exact segment, or on a breakpoint whose two neighbouring segments are exact). There the
  windowed objective equals the true one in a neighbourhood, so the solution is a local — hence,
  by convexity, global — optimum of the true problem, and its duals are true prices.

Linear MAC and supply curves are quadratic costs (HiGHS QP); step curves are linear columns.
All quantities are scaled by the largest BAU and all prices by a typical price before solving.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from enum import StrEnum

import highspy
import numpy as np
import numpy.typing as npt
from scipy import sparse

from carbonlink.errors import SolverError
from carbonlink.markets.curves import Curve
from carbonlink.markets.network import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: breakpoints added per refinement of a coarse segment
REFINE_POINTS = 48
#: step curves with at most this many segments are represented exactly from the start
EXACT_BELOW = 256
MAX_REFINEMENTS = 60


class SolveStatus(StrEnum):
    optimal = "optimal"
    infeasible = "infeasible"
    error = "error"


class Engine(StrEnum):
    fast = "fast"
    plain = "plain"


@dataclass
class RawSolution:
    """Primal and dual values of one solve, in the document's units."""

    status: SolveStatus
    abatement: FloatArray
    released: FloatArray
    withheld: FloatArray
    flow: FloatArray
    offset_use: list[FloatArray]  # per offset, per acceptance
    offset_supplied: FloatArray
    price: FloatArray  # balance duals
    offset_price: FloatArray
    quota_rent_unit: FloatArray  # per link, value of one more unit of quota
    entity_dual: FloatArray  # per link, value of relaxing the entity limit (per credited unit)
    solves: int = 1
    columns: int = 0
    refinements: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


_banner_lock = threading.Lock()
_banner_done = False


def _new_highs() -> highspy.Highs:
    """A silent HiGHS instance (the first construction prints a banner on fd 1; mute it)."""
    global _banner_done
    if not _banner_done:
        with _banner_lock:
            if not _banner_done:
                saved = os.dup(1)
                devnull = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(devnull, 1)
                    h = highspy.Highs()
                finally:
                    os.dup2(saved, 1)
                    os.close(saved)
                    os.close(devnull)
                _banner_done = True
                h.setOptionValue("output_flag", False)
                return h
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


# ------------------------------------------------------------------------------------------
# curve representation
# ------------------------------------------------------------------------------------------
@dataclass
class _Block:
    """Columns representing one curve: bounds, unit costs, optional quadratic term."""

    upper: FloatArray
    cost: FloatArray
    hess: float | None = None  # linear curve: a single column with cost hess·x²/2
    cap: float | None = None  # extra row Σ columns ≤ cap (plain formulation)


def _subset_block(curve: Curve, subset: IntArray) -> _Block:
    assert curve.q is not None and curve.cum_cost is not None
    q = curve.q[subset]
    cc = curve.cum_cost[subset]
    width = np.diff(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(width > 0, np.diff(cc) / np.where(width > 0, width, 1.0), 0.0)
    return _Block(upper=width, cost=slope)


def _plain_block(curve: Curve, options: tuple[FloatArray, FloatArray] | None) -> _Block:
    if curve.kind == "linear":
        return _Block(upper=np.array([curve.capacity]), cost=np.zeros(1), hess=curve.slope)
    if options is None:
        assert curve.q is not None and curve.unit_cost is not None
        return _Block(upper=np.diff(curve.q), cost=curve.unit_cost.copy())
    qty, cost = options
    total = float(qty.sum())
    cap = curve.capacity if total > curve.capacity * (1 + 1e-12) else None
    return _Block(upper=qty.astype(np.float64), cost=cost.astype(np.float64), cap=cap)


def _initial_subset(curve: Curve) -> IntArray | None:
    n = curve.n_segments
    if curve.kind == "linear" or n <= EXACT_BELOW:
        return None
    return np.unique(np.linspace(0, n, REFINE_POINTS + 1).round().astype(np.int64))


def _refine(curve: Curve, subset: IntArray, x: float) -> IntArray | None:
    """Refined subset if ``x`` is not where the subset represents the curve exactly."""
    assert curve.q is not None
    q = curve.q
    scale = max(float(q[-1]), 1e-300)
    tol = 1e-9 * scale
    qs = q[subset]
    k = int(np.searchsorted(qs, x, side="right")) - 1  # qs[k] <= x
    k = min(max(k, 0), len(subset) - 2)
    lo, hi = int(subset[k]), int(subset[k + 1])
    need: list[tuple[int, int]] = []
    on_left = abs(x - float(q[lo])) <= tol
    on_right = abs(x - float(q[hi])) <= tol
    if on_left or on_right:
        j = k if on_left else k + 1  # position in subset of the breakpoint x sits on
        if j > 0 and subset[j] - subset[j - 1] > 1:
            need.append((int(subset[j - 1]), int(subset[j])))
        if j < len(subset) - 1 and subset[j + 1] - subset[j] > 1:
            need.append((int(subset[j]), int(subset[j + 1])))
    elif hi - lo > 1:
        need.append((lo, hi))
    if not need:
        return None
    extra = [np.linspace(a, b, REFINE_POINTS + 1).round().astype(np.int64) for a, b in need]
    return np.unique(np.concatenate([subset, *extra]))


# ------------------------------------------------------------------------------------------
# program assembly
# ------------------------------------------------------------------------------------------
class _Program:
    """Sparse LP/QP in column-wise triplets, solved by HiGHS."""

    def __init__(self) -> None:
        self.lower: list[FloatArray] = []
        self.upper: list[FloatArray] = []
        self.cost: list[FloatArray] = []
        self.hess: dict[int, float] = {}
        self.rows: list[int] = []
        self.cols: list[FloatArray | IntArray] = []
        self.vals: list[FloatArray] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.ncol = 0

    def add_cols(self, upper: FloatArray, cost: FloatArray,
                 lower: FloatArray | None = None) -> IntArray:
        n = int(upper.size)
        idx = np.arange(self.ncol, self.ncol + n, dtype=np.int64)
        self.upper.append(upper.astype(np.float64))
        self.cost.append(cost.astype(np.float64))
        self.lower.append(np.zeros(n) if lower is None else lower)
        self.ncol += n
        return idx

    def add_row(self, lo: float, hi: float) -> int:
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return len(self.row_lo) - 1

    def coef(self, row: int, cols: IntArray, vals: FloatArray | float) -> None:
        v = np.broadcast_to(np.asarray(vals, dtype=np.float64), cols.shape)
        self.rows.append(row)
        self.cols.append(cols)
        self.vals.append(np.array(v, dtype=np.float64))

    def solve(self) -> tuple[str, FloatArray, FloatArray, FloatArray]:
        nrow = len(self.row_lo)
        counts = [c.size for c in self.cols]
        r = np.repeat(np.array(self.rows, dtype=np.int64), counts)
        c = np.concatenate(self.cols) if self.cols else np.zeros(0, dtype=np.int64)
        v = np.concatenate(self.vals) if self.vals else np.zeros(0)
        mat = sparse.csc_matrix((v, (r, c)), shape=(nrow, self.ncol))
        mat.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_ = self.ncol
        lp.num_row_ = nrow
        lp.col_cost_ = np.concatenate(self.cost)
        lp.col_lower_ = np.concatenate(self.lower)
        upper = np.concatenate(self.upper)
        upper[~np.isfinite(upper)] = highspy.kHighsInf
        lp.col_upper_ = upper
        lo = np.array(self.row_lo, dtype=np.float64)
        hi = np.array(self.row_hi, dtype=np.float64)
        lo[~np.isfinite(lo)] = -highspy.kHighsInf
        hi[~np.isfinite(hi)] = highspy.kHighsInf
        lp.row_lower_ = lo
        lp.row_upper_ = hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data
        model = highspy.HighsModel()
        model.lp_ = lp
        if self.hess:
            hc = np.array(sorted(self.hess), dtype=np.int64)
            start = np.searchsorted(hc, np.arange(self.ncol + 1)).astype(np.int32)
            hs = highspy.HighsHessian()
            hs.dim_ = self.ncol
            hs.format_ = highspy.HessianFormat.kTriangular
            hs.start_ = start
            hs.index_ = hc.astype(np.int32)
            hs.value_ = np.array([self.hess[int(i)] for i in hc], dtype=np.float64)
            model.hessian_ = hs
        h = _new_highs()
        h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        if self.hess:
            # the default 1e-7 regularisation shifts QP prices by ~1e-7 relative
            h.setOptionValue("qp_regularization_value", 1e-12)
        status = h.passModel(model)
        if status == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the network program")
        h.run()
        ms = h.getModelStatus()
        if ms == highspy.HighsModelStatus.kOptimal:
            sol = h.getSolution()
            return ("optimal", np.asarray(sol.col_value), np.asarray(sol.row_dual),
                    np.asarray(sol.col_dual))
        if ms in (highspy.HighsModelStatus.kInfeasible,
                  highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return "infeasible", np.zeros(self.ncol), np.zeros(nrow), np.zeros(self.ncol)
        raise SolverError(f"HiGHS stopped with status {h.modelStatusToString(ms)}")


def _scales(net: Network) -> tuple[float, float]:
    """Quantity and price scales that make the scaled program O(1)."""
    sq = max([m.bau for m in net.markets] + [m.cap for m in net.markets] + [1e-9])
    prices: list[float] = []
    for m in net.markets:
        prices.append(m.curve.marginal(max(m.bau - m.cap, 0.0)))
        prices.extend(p for p in (m.ceiling_price, m.floor_price) if p)
    prices.extend(lk.tax for lk in net.links)
    sp = max([p for p in prices if math.isfinite(p)] + [0.0])
    return sq, (sp if sp > 0 else 1.0)


def solve_network(net: Network, engine: Engine | str = Engine.fast) -> RawSolution:
    """Solve the network program (``plain``: each raw option its own column)."""
    engine = Engine(engine)
    sq, sp = _scales(net)
    curves = [m.curve for m in net.markets] + [o.curve for o in net.offsets]
    if engine is Engine.plain:
        raw = [c.options for c in curves]
        subsets: list[IntArray | None] = [None] * len(curves)
    else:
        raw = [None] * len(curves)
        subsets = [_initial_subset(c) for c in curves]
    refinements = 0
    solves = 0
    while True:
        sol, xs = _solve_once(net, engine, curves, subsets, raw, sq, sp)
        solves += 1
        if sol.status is not SolveStatus.optimal or engine is Engine.plain:
            break
        changed = False
        for j, (curve, subset) in enumerate(zip(curves, subsets, strict=True)):
            if subset is None:
                continue
            new = _refine(curve, subset, xs[j])
            if new is not None:
                subsets[j] = new
                changed = True
        if not changed:
            break
        refinements += 1
        if refinements > MAX_REFINEMENTS:
            raise SolverError("windowed solve did not settle; use engine='plain'")
    sol.solves = solves
    sol.refinements = refinements
    return sol


def _block_for(curve: Curve, subset: IntArray | None,
               raw: tuple[FloatArray, FloatArray] | None, engine: Engine) -> _Block:
    if curve.kind == "linear":
        return _Block(upper=np.array([curve.capacity]), cost=np.zeros(1), hess=curve.slope)
    if engine is Engine.plain:
        return _plain_block(curve, raw)
    if subset is None:
        assert curve.q is not None and curve.unit_cost is not None
        return _Block(upper=np.diff(curve.q), cost=curve.unit_cost.copy())
    return _subset_block(curve, subset)


def _solve_once(net: Network, engine: Engine, curves: list[Curve],
                subsets: list[IntArray | None],
                raw: list[tuple[FloatArray, FloatArray] | None],
                sq: float, sp: float) -> tuple[RawSolution, list[float]]:
    nm, nl, nk = len(net.markets), len(net.links), len(net.offsets)
    prog = _Program()
    # --- columns -------------------------------------------------------------------------
    blocks = [_block_for(c, s, r, engine) for c, s, r in zip(curves, subsets, raw, strict=True)]
    block_cols: list[IntArray] = []
    for b in blocks:
        cols = prog.add_cols(b.upper / sq, b.cost / sp)
        if b.hess is not None:
            prog.hess[int(cols[0])] = b.hess * sq / sp
        block_cols.append(cols)
    rel_cols: list[int | None] = []
    wh_cols: list[int | None] = []
    for m in net.markets:
        if m.ceiling_price is not None:
            c = prog.add_cols(np.array([m.ceiling_max / sq]), np.array([m.ceiling_price / sp]))
            rel_cols.append(int(c[0]))
        else:
            rel_cols.append(None)
        if m.floor_price is not None:
            c = prog.add_cols(np.array([m.floor_max / sq]), np.array([-m.floor_price / sp]))
            wh_cols.append(int(c[0]))
        else:
            wh_cols.append(None)
    flow_cols = prog.add_cols(np.array([lk.quota / sq for lk in net.links]),
                              np.array([lk.tax / sp for lk in net.links])) if nl else np.zeros(
        0, dtype=np.int64)
    use_cols: list[IntArray] = []
    for off in net.offsets:
        use_cols.append(prog.add_cols(np.array([a.limit / sq for a in off.accepted]),
                                      np.zeros(len(off.accepted))))
    # --- rows ----------------------------------------------------------------------------
    bal = []
    for i, m in enumerate(net.markets):
        r = prog.add_row(-math.inf, (m.cap - m.bau) / sq)
        bal.append(r)
        prog.coef(r, block_cols[i], -1.0)
        if rel_cols[i] is not None:
            prog.coef(r, np.array([rel_cols[i]]), -1.0)
        if wh_cols[i] is not None:
            prog.coef(r, np.array([wh_cols[i]]), 1.0)
        if blocks[i].cap is not None:
            cr = prog.add_row(-math.inf, float(blocks[i].cap) / sq)  # type: ignore[arg-type]
            prog.coef(cr, block_cols[i], 1.0)
    for li, lk in enumerate(net.links):
        prog.coef(bal[lk.src], flow_cols[li:li + 1], 1.0)
        prog.coef(bal[lk.dst], flow_cols[li:li + 1], -lk.factor)
    for i, m in enumerate(net.markets):
        out = [li for li, lk in enumerate(net.links) if lk.src == i]
        if not out:
            continue
        r = prog.add_row(-math.inf, m.cap / sq)
        prog.coef(r, flow_cols[out], 1.0)
        if rel_cols[i] is not None:
            prog.coef(r, np.array([rel_cols[i]]), -1.0)
        if wh_cols[i] is not None:
            prog.coef(r, np.array([wh_cols[i]]), 1.0)
    ent_rows: dict[int, int] = {}
    for li, lk in enumerate(net.links):
        if lk.entity_share is None:
            continue
        lam = lk.entity_share
        bau_t = net.markets[lk.dst].bau
        r = prog.add_row(-math.inf, lam * bau_t / sq)
        prog.coef(r, flow_cols[li:li + 1], lk.factor)
        prog.coef(r, block_cols[lk.dst], lam)
        ent_rows[li] = r
    off_rows = []
    for k, off in enumerate(net.offsets):
        for a_i, acc in enumerate(off.accepted):
            prog.coef(bal[acc.market], use_cols[k][a_i:a_i + 1], -acc.factor)
            if acc.limit_share is not None:
                s = acc.limit_share
                r = prog.add_row(-math.inf, s * net.markets[acc.market].bau / sq)
                prog.coef(r, use_cols[k][a_i:a_i + 1], 1.0)
                prog.coef(r, block_cols[acc.market], s)
        r = prog.add_row(-math.inf, 0.0)
        prog.coef(r, use_cols[k], 1.0)
        prog.coef(r, block_cols[nm + k], -1.0)
        off_rows.append(r)
    status, x, row_dual, col_dual = prog.solve()
    totals = [float(x[c].sum()) * sq for c in block_cols]
    sol = RawSolution(
        status=SolveStatus(status),
        abatement=np.array(totals[:nm]),
        released=np.array([0.0 if c is None else x[c] * sq for c in rel_cols]),
        withheld=np.array([0.0 if c is None else x[c] * sq for c in wh_cols]),
        flow=x[flow_cols] * sq if nl else np.zeros(0),
        offset_use=[x[c] * sq for c in use_cols],
        offset_supplied=np.array(totals[nm:]),
        price=np.maximum(-row_dual[bal] * sp, 0.0) if status == "optimal" else np.full(nm, np.nan),
        offset_price=(np.maximum(-row_dual[off_rows] * sp, 0.0) if nk else np.zeros(0)),
        quota_rent_unit=(np.maximum(-col_dual[flow_cols] * sp, 0.0) if nl else np.zeros(0)),
        entity_dual=np.array([
            max(-row_dual[ent_rows[li]] * sp, 0.0) if li in ent_rows else 0.0 for li in range(nl)
        ]),
        columns=prog.ncol,
    )
    for li, lk in enumerate(net.links):  # a bound dual is a quota rent only at the quota
        if not (math.isfinite(lk.quota) and sol.flow[li] >= lk.quota * (1 - 1e-9) - 1e-12):
            sol.quota_rent_unit[li] = 0.0
    return sol, totals
