"""The network program and the HiGHS back end that solves it.

Competitive equilibrium of linked markets = the minimum of

    Σ abatement cost + Σ offset supply cost + Σ transfer tax · flow
    + Σ ceiling price · released − Σ floor price · withheld

subject to, for each market i (rows named as in the code):

* ``balance[i]``  emissions ≤ cap + released − withheld − exports + Σ factor·imports
  + Σ (1 − discount)·offsets used;
* ``exports[i]``  exports ≤ cap + released − withheld (units are surrendered where they
  arrive, never re-exported) — the market's allowance **price** is the value of one more
  allowance issued, i.e. the sum of the duals of these two rows (the export row binds only
  when a market sells every allowance it issued);
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
#: grid points per refinement of a linear curve, and the width (relative to its range) to reach
LINEAR_POINTS = 64
LINEAR_TOL = 1e-10
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
    """Columns representing one curve: bounds and unit costs (Σ columns = the quantity)."""

    upper: FloatArray
    cost: FloatArray
    cap: float | None = None  # extra row Σ columns ≤ cap (plain formulation of raw options)


class _Rep:
    """How one curve enters the program; :meth:`refine` says whether to solve again."""

    def block(self) -> _Block:
        raise NotImplementedError

    def refine(self, x: float) -> bool:
        return False


def _needs(points: FloatArray, x: float, tol: float) -> list[tuple[int, int]]:
    """Segments (index pairs into ``points``) around ``x`` that are wider than ``tol``.

    ``x`` inside a segment: that segment; ``x`` on a breakpoint: both neighbouring segments.
    """
    k = int(np.searchsorted(points, x, side="right")) - 1
    k = min(max(k, 0), len(points) - 2)
    near = 1e-9 * max(float(points[-1]), 1e-300)
    on_left = abs(x - float(points[k])) <= near
    on_right = abs(x - float(points[k + 1])) <= near
    if on_left or on_right:
        j = k if on_left else k + 1
        cands = [(j - 1, j), (j, j + 1)]
    else:
        cands = [(k, k + 1)]
    return [(a, b) for a, b in cands if a >= 0 and b < len(points) and points[b] - points[a] > tol]


class _StepsRep(_Rep):
    """A merit-order curve on a subset of its breakpoints (interpolated: an upper bound of the
    true cost, exact at the subset), refined around the solution until exact there."""

    def __init__(self, curve: Curve) -> None:
        self.curve = curve
        n = curve.n_segments
        self.subset: IntArray | None = None
        if n > EXACT_BELOW:
            self.subset = np.unique(np.linspace(0, n, REFINE_POINTS + 1).round().astype(np.int64))

    def block(self) -> _Block:
        c = self.curve
        assert c.q is not None and c.cum_cost is not None and c.unit_cost is not None
        if self.subset is None:
            return _Block(upper=np.diff(c.q), cost=c.unit_cost.copy())
        q = c.q[self.subset]
        width = np.diff(q)
        safe = np.where(width > 0, width, 1.0)
        slope = np.where(width > 0, np.diff(c.cum_cost[self.subset]) / safe, 0.0)
        return _Block(upper=width, cost=slope)

    def refine(self, x: float) -> bool:
        if self.subset is None:
            return False
        assert self.curve.q is not None
        qs = self.curve.q[self.subset]
        # a subset segment is exact when it spans one true segment (index gap 1)
        gaps = [(a, b) for a, b in _needs(qs, x, -1.0) if self.subset[b] - self.subset[a] > 1]
        if not gaps:
            return False
        extra = [np.linspace(self.subset[a], self.subset[b], REFINE_POINTS + 1).round().astype(np.int64)
                 for a, b in gaps]
        self.subset = np.unique(np.concatenate([self.subset, *extra]))
        return True


class _RawRep(_Rep):
    """Plain formulation: every raw option its own column."""

    def __init__(self, curve: Curve) -> None:
        self.curve = curve

    def block(self) -> _Block:
        c = self.curve
        if c.options is None:
            assert c.q is not None and c.unit_cost is not None
            return _Block(upper=np.diff(c.q), cost=c.unit_cost.copy())
        qty, cost = c.options
        cap = c.capacity if float(qty.sum()) > c.capacity * (1 + 1e-12) else None
        return _Block(upper=qty.astype(np.float64), cost=cost.astype(np.float64), cap=cap)


class _LinearRep(_Rep):
    """A linear MAC (quadratic cost) on a grid of breakpoints, refined geometrically around
    the solution until the segments there are narrower than ``LINEAR_TOL`` of the range: the
    price error is then at most slope · width (≈1e-10 relative)."""

    def __init__(self, curve: Curve, upper: float, price_scale: float) -> None:
        self.slope = curve.slope
        self.top = max(upper, 0.0)
        self.points = np.linspace(0.0, self.top, LINEAR_POINTS + 1)
        # a curve whose whole price range is below the program's price resolution (LINEAR_TOL
        # of its price scale) is flat there: its scaled costs vanish, any abatement on it is
        # optimal, and refining would chase a different vertex every round
        self.flat = self.slope * self.top <= LINEAR_TOL * price_scale

    def block(self) -> _Block:
        p = self.points
        return _Block(upper=np.diff(p), cost=0.5 * self.slope * (p[1:] + p[:-1]))

    def refine(self, x: float) -> bool:
        if self.top <= 0 or self.flat:
            return False
        wide = _needs(self.points, x, LINEAR_TOL * self.top)
        if not wide:
            return False
        extra = [np.linspace(self.points[a], self.points[b], LINEAR_POINTS + 1) for a, b in wide]
        points = np.unique(np.concatenate([self.points, *extra]))
        if points.size == self.points.size:  # at float resolution (e.g. a subnormal range):
            return False                     # no finer grid exists, so the solve has settled
        self.points = points
        return True


def _representations(net: Network, engine: Engine, price_scale: float) -> list[_Rep]:
    reps: list[_Rep] = []
    for m in net.markets:
        if m.curve.kind == "linear":
            reps.append(_LinearRep(m.curve, min(m.bau, m.curve.capacity), price_scale))
        else:
            reps.append(_RawRep(m.curve) if engine is Engine.plain else _StepsRep(m.curve))
    for off in net.offsets:
        if off.curve.kind == "linear":
            # never worth buying more offsets than every accepting market's emissions need
            need = sum(min(a.limit, net.markets[a.market].bau / max(a.factor, 1e-12))
                       for a in off.accepted)
            reps.append(_LinearRep(off.curve, min(need, off.curve.capacity), price_scale))
        else:
            reps.append(_RawRep(off.curve) if engine is Engine.plain else _StepsRep(off.curve))
    return reps


# ------------------------------------------------------------------------------------------
# program assembly
# ------------------------------------------------------------------------------------------
class _Program:
    """Sparse LP/QP in column-wise triplets, solved by HiGHS."""

    def __init__(self) -> None:
        self.lower: list[FloatArray] = []
        self.upper: list[FloatArray] = []
        self.cost: list[FloatArray] = []
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
        h = _new_highs()
        h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        if h.passModel(model) == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the network program")
        h.run()
        ms = h.getModelStatus()
        if ms == highspy.HighsModelStatus.kOptimal:
            sol = h.getSolution()
            return ("optimal", np.asarray(sol.col_value), np.asarray(sol.row_dual),
                    np.asarray(sol.col_dual))
        if ms == highspy.HighsModelStatus.kModelEmpty and self.ncol == 0:
            # no columns at all (every abatement option has zero quantity, no links, offsets
            # or price controls): the program is its row bounds alone, feasible when each row
            # admits 0, and nothing has a marginal value
            if np.all(lo <= 0.0) and np.all(hi >= 0.0):
                return "optimal", np.zeros(0), np.zeros(nrow), np.zeros(0)
            return "infeasible", np.zeros(0), np.zeros(nrow), np.zeros(0)
        if ms in (highspy.HighsModelStatus.kInfeasible,
                  highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return "infeasible", np.zeros(self.ncol), np.zeros(nrow), np.zeros(self.ncol)
        raise SolverError(f"HiGHS stopped with status {h.modelStatusToString(ms)}")


def _scales(net: Network) -> tuple[float, float]:
    """Quantity and price scales that make the scaled program O(1)."""
    sq = max([m.bau for m in net.markets] + [m.cap for m in net.markets] + [1e-9])
    prices: list[float] = []
    for m in net.markets:
        # the price at half of the curve: independent of how tight the cap is
        prices.append(m.curve.marginal(0.5 * min(m.bau, m.curve.capacity)))
        prices.extend(p for p in (m.ceiling_price, m.floor_price) if p)
    prices.extend(lk.tax for lk in net.links)
    sp = max([p for p in prices if math.isfinite(p)] + [0.0])
    return sq, (sp if sp > 0 else 1.0)


def solve_network(net: Network, engine: Engine | str = Engine.fast) -> RawSolution:
    """Solve the network program (``plain``: each raw option its own column)."""
    engine = Engine(engine)
    sq, sp = _scales(net)
    reps = _representations(net, engine, sp)
    refinements = 0
    solves = 0
    while True:
        sol, xs = _solve_once(net, reps, sq, sp)
        solves += 1
        if sol.status is not SolveStatus.optimal:
            break
        changed = [rep.refine(x) for rep, x in zip(reps, xs, strict=True)]
        if not any(changed):
            break
        refinements += 1
        if refinements > MAX_REFINEMENTS:
            raise SolverError("the refined solve did not settle; try engine='plain'")
    sol.solves = solves
    sol.refinements = refinements
    return sol


def _solve_once(net: Network, reps: list[_Rep], sq: float,
                sp: float) -> tuple[RawSolution, list[float]]:
    nm, nl = len(net.markets), len(net.links)
    prog = _Program()
    # --- columns -------------------------------------------------------------------------
    blocks = [rep.block() for rep in reps]
    block_cols = [prog.add_cols(b.upper / sq, b.cost / sp) for b in blocks]
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
    exp_rows: dict[int, int] = {}
    for i, m in enumerate(net.markets):
        out = [li for li, lk in enumerate(net.links) if lk.src == i]
        if not out:
            continue
        r = prog.add_row(-math.inf, m.cap / sq)
        exp_rows[i] = r
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
        # one more allowance issued relaxes the balance and the export row: both duals
        price=(np.maximum(-(row_dual[bal] + np.array([row_dual[exp_rows[i]] if i in exp_rows else 0.0
                                                       for i in range(nm)])) * sp, 0.0)
               if status == "optimal" else np.full(nm, np.nan)),
        # the offset price is the supply curve at the quantity supplied (the definition);
        # the row dual may sit anywhere up to the buyers' prices when every usage limit binds
        offset_price=np.array([off.curve.marginal(t) for off, t in zip(net.offsets, totals[nm:], strict=True)]),
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
