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

The fast engine needs no program where a closed form holds, each result checked against the
optimality conditions it replaces: markets without links or offsets (autarky) one by one
(:func:`_separate`), and linear markets that all link to each other without conditions as one
market (:func:`_one_market`). A large all-linear network is solved over a guessed active set
(:func:`_solve_active_set`, certified by the full program's KKT check).
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
    #: breakpoints (left, right) of each column, for blocks that are refined: a refinement keeps
    #: the columns whose segment is unchanged and replaces the others (the program is modified,
    #: not rebuilt, so HiGHS starts from the previous basis)
    keys: tuple[FloatArray, FloatArray] | None = None
    #: quadratic cost ``hess · q² / 2`` of the block's single column (a linear curve solved as a QP)
    hess: float = 0.0
    #: the plain engine's raw options, one column each (never presolved: PRESOLVE_ABOVE)
    raw: bool = False


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
        keys = self.subset.astype(np.float64)
        return _Block(upper=width, cost=slope, keys=(keys[:-1], keys[1:]))

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
        return _Block(upper=qty.astype(np.float64), cost=cost.astype(np.float64), cap=cap,
                      raw=True)


class _LinearRep(_Rep):
    """A linear MAC (quadratic cost) on a grid of breakpoints, refined geometrically around
    the solution until the segments there are narrower than ``LINEAR_TOL`` of the range: the
    price error is then at most slope · width (≈1e-10 relative).

    The width reached is never below the program's quantity resolution, ``POSITION_TOL`` of
    its quantity scale (the scaled program's values are O(1); HiGHS places a vertex to about
    1e-17 of them, and ``POSITION_TOL`` is already the distance at which the program calls two
    positions equal). A curve whose range is tiny beside the program's quantities (an offset
    usable up to 1.2e-7 t in a program of 743 t: ``LINEAR_TOL`` of its range is 1.6e-20 of the
    scale) would otherwise be refined around a solution that moves by the solver's round-off
    (~1e-17 of the scale) every round, each round adding segments around the new position,
    and never settle. At the floor the price error is at most slope · ``POSITION_TOL`` · scale,
    and the solution is exact to the program's resolution."""

    def __init__(self, curve: Curve, upper: float, price_scale: float,
                 quantity_scale: float) -> None:
        self.slope = curve.slope
        self.top = max(upper, 0.0)
        self.points = np.linspace(0.0, self.top, LINEAR_POINTS + 1)
        # a curve whose whole price range is below the program's price resolution (LINEAR_TOL
        # of its price scale) is flat there: its scaled costs vanish, any abatement on it is
        # optimal, and refining would chase a different vertex every round
        self.flat = self.slope * self.top <= LINEAR_TOL * price_scale
        #: the segment width to reach around the solution (class docstring)
        self.width = max(LINEAR_TOL * self.top, POSITION_TOL * quantity_scale)

    def block(self) -> _Block:
        p = self.points
        return _Block(upper=np.diff(p), cost=0.5 * self.slope * (p[1:] + p[:-1]), keys=(p[:-1], p[1:]))

    def refine(self, x: float) -> bool:
        if self.top <= 0 or self.flat:
            return False
        wide = _needs(self.points, x, self.width)
        if not wide:
            return False
        extra = [np.linspace(self.points[a], self.points[b], LINEAR_POINTS + 1) for a, b in wide]
        points = np.unique(np.concatenate([self.points, *extra]))
        if points.size == self.points.size:  # at float resolution (e.g. a subnormal range):
            return False                     # no finer grid exists, so the solve has settled
        self.points = points
        return True


class _QuadRep(_Rep):
    """A linear MAC or supply exactly: one column with the quadratic cost ``slope · q² / 2``
    (the program is then a convex QP, solved once)."""

    def __init__(self, curve: Curve, upper: float) -> None:
        self.slope = curve.slope
        self.top = max(upper, 0.0)

    def block(self) -> _Block:
        return _Block(upper=np.array([self.top]), cost=np.zeros(1), hess=self.slope)


def _representations(net: Network, engine: Engine, price_scale: float,
                     quadratic: bool = False, *, quantity_scale: float | None = None) -> list[_Rep]:
    """One representation per curve (markets, then offsets). ``quadratic``: linear curves as
    one QP column each; otherwise as refined piecewise-linear grids (an LP) down to the
    resolution of a program of ``quantity_scale`` (default: the network's, :func:`_scales`)."""
    sq = _scales(net)[0] if quantity_scale is None else quantity_scale

    def linear(curve: Curve, upper: float) -> _Rep:
        return _QuadRep(curve, upper) if quadratic else _LinearRep(curve, upper, price_scale, sq)

    reps: list[_Rep] = []
    for m in net.markets:
        if m.curve.kind == "linear":
            reps.append(linear(m.curve, min(m.bau, m.curve.capacity)))
        else:
            reps.append(_RawRep(m.curve) if engine is Engine.plain else _StepsRep(m.curve))
    for off in net.offsets:
        if off.curve.kind == "linear":
            # never worth buying more offsets than every accepting market's emissions need
            need = sum(min(a.limit, net.markets[a.market].bau / max(a.factor, 1e-12))
                       for a in off.accepted)
            reps.append(linear(off.curve, min(need, off.curve.capacity)))
        else:
            reps.append(_RawRep(off.curve) if engine is Engine.plain else _StepsRep(off.curve))
    return reps


# ------------------------------------------------------------------------------------------
# program assembly
# ------------------------------------------------------------------------------------------
#: programs with more columns than this are presolved on their first solve (below it, HiGHS's
#: presolve costs more than it saves; a re-solve after a refinement starts from the last basis).
#: Never the plain engine's raw options: each is its own column with the same rows as every
#: other option of its curve, and HiGHS's presolve spends most of the solve on them (5 markets
#: × 20,000 options, restricted tree: 125 s with presolve, 14 s without, same prices to 3e-12)
PRESOLVE_ABOVE = 50_000
#: KKT tolerance (scaled program) under which a QP solution is accepted as the equilibrium
KKT_TOL = 1e-9
#: a value within this (scaled) distance of a bound is at the bound
POSITION_TOL = 1e-13


def _by_left(left: FloatArray, right: FloatArray,
             cols: IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
    order = np.argsort(left, kind="stable")
    return left[order], right[order], cols[order]


def _expand(cols: IntArray, rows: IntArray, vals: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    """Triplets of columns that all share one pattern of (row, value) entries."""
    return (np.repeat(cols, rows.size), np.tile(rows, cols.size), np.tile(vals, cols.size))


class NetworkProgram:
    """The network program (module docstring) of one solve, assembled from the network's arrays
    with numpy and kept in one HiGHS instance: a refinement changes the columns of the curves it
    refines (old segments fixed at 0, new ones added) and HiGHS re-solves from its last basis.

    Columns: each curve's block (Σ block columns = its quantity), then ceiling releases, floor
    withholdings, link flows and offset uses. A block with ``hess`` > 0 is one QP column.
    """

    def __init__(self, net: Network, blocks: list[_Block], sq: float, sp: float,
                 solver: bool = True) -> None:
        a = net.arrays
        nm, nl, na, no = len(net.markets), len(net.links), a.acc_offset.size, len(net.offsets)
        self.net, self.sq, self.sp = net, sq, sp
        self.nm = nm
        self.raw_options = any(b.raw for b in blocks)
        # ---- rows: balance, curve caps, exports, entity limits, offset shares, offset supply
        cap_blocks = np.array([k for k, b in enumerate(blocks) if b.cap is not None], dtype=np.int64)
        exporters = np.unique(a.src)
        ent_links = np.flatnonzero(~np.isnan(a.entity_share))
        share_accs = np.flatnonzero(~np.isnan(a.acc_share))
        sizes = [nm, cap_blocks.size, exporters.size, ent_links.size, share_accs.size, no]
        starts = np.cumsum([0, *sizes])
        self.bal = np.arange(nm, dtype=np.int64)
        cap_row = starts[1] + np.arange(cap_blocks.size)
        self.exp_row = np.full(nm, -1, dtype=np.int64)
        self.exp_row[exporters] = starts[2] + np.arange(exporters.size)
        self.ent_links = ent_links
        self.ent_row = starts[3] + np.arange(ent_links.size)
        share_row = starts[4] + np.arange(share_accs.size)
        off_row = starts[5] + np.arange(no)
        self.nrow = int(starts[-1])
        dst_bau = a.bau[a.dst[ent_links]]
        self.row_hi = np.concatenate([
            (a.cap - a.bau) / sq,
            np.array([blocks[k].cap for k in cap_blocks], dtype=np.float64) / sq,
            a.cap[exporters] / sq,
            a.entity_share[ent_links] * dst_bau / sq,
            a.acc_share[share_accs] * a.bau[a.acc_market[share_accs]] / sq,
            np.zeros(no),
        ])
        # ---- each block's column pattern: the rows its quantity enters, with coefficients
        pb = np.concatenate([np.arange(nm), cap_blocks, a.dst[ent_links], a.acc_market[share_accs],
                             nm + np.arange(no)])
        pr = np.concatenate([self.bal, cap_row, self.ent_row, share_row, off_row])
        pv = np.concatenate([np.full(nm, -1.0), np.ones(cap_blocks.size), a.entity_share[ent_links],
                             a.acc_share[share_accs], np.full(no, -1.0)])
        order = np.argsort(pb, kind="stable")
        bounds = np.searchsorted(pb[order], np.arange(len(blocks) + 1))
        self.pattern = [(pr[order][bounds[k]:bounds[k + 1]].astype(np.int64),
                         pv[order][bounds[k]:bounds[k + 1]]) for k in range(len(blocks))]
        # ---- columns
        self.ncol = 0
        upper: list[FloatArray] = []
        cost: list[FloatArray] = []
        tr: list[IntArray] = []
        tc: list[IntArray] = []
        tv: list[FloatArray] = []
        self.block_cols: list[list[IntArray]] = []
        #: per refined block, its live segments: (left keys, right keys, columns), by left key
        self.keyed: list[tuple[FloatArray, FloatArray, IntArray] | None] = []
        hess_cols: list[int] = []
        hess_vals: list[float] = []
        for k, b in enumerate(blocks):
            cols = self._new_cols(b.upper.size)
            self.block_cols.append([cols])
            self.keyed.append(None if b.keys is None else _by_left(b.keys[0], b.keys[1], cols))
            upper.append(b.upper / sq)
            cost.append(b.cost / sp)
            c, r, v = _expand(cols, *self.pattern[k])
            tc.append(c)
            tr.append(r)
            tv.append(v)
            if b.hess > 0:
                hess_cols.append(int(cols[0]))
                hess_vals.append(b.hess)
        # numpy arithmetic: an overflow raises under the caller's errstate (Python floats would
        # silently become inf and reach HiGHS)
        self.hess = (np.array(hess_cols, dtype=np.int64), np.array(hess_vals, dtype=np.float64) * sq / sp)
        # releases (ceiling) and withholdings (floor): balance and export rows of their market
        has_exp = self.exp_row >= 0
        for price, most, sign in ((a.ceiling_price, a.ceiling_max, -1.0), (a.floor_price, a.floor_max, 1.0)):
            mk = np.flatnonzero(~np.isnan(price))
            cols = self._new_cols(mk.size)
            upper.append(most[mk] / sq)
            cost.append(-sign * price[mk] / sp)
            ex = has_exp[mk]
            tc += [cols, cols[ex]]
            tr += [self.bal[mk], self.exp_row[mk[ex]]]
            tv += [np.full(mk.size, sign), np.full(int(ex.sum()), sign)]
            if sign < 0:
                self.rel_markets, self.rel_cols = mk, cols
            else:
                self.wh_markets, self.wh_cols = mk, cols
        # flows: out of the exporter's balance and export rows, credited into the importer's
        self.flow_cols = self._new_cols(nl)
        upper.append(a.quota / sq)
        cost.append(a.tax / sp)
        ent_cols = self.flow_cols[ent_links]
        tc += [self.flow_cols, self.flow_cols, self.flow_cols, ent_cols]
        tr += [self.bal[a.src], self.bal[a.dst], self.exp_row[a.src], self.ent_row]
        tv += [np.ones(nl), -a.factor, np.ones(nl), a.factor[ent_links]]
        # offset uses: credited in the market's balance, within its share, out of the supply
        self.use_cols = self._new_cols(na)
        upper.append(a.acc_limit / sq)
        cost.append(np.zeros(na))
        tc += [self.use_cols, self.use_cols[share_accs], self.use_cols]
        tr += [self.bal[a.acc_market], share_row, off_row[a.acc_offset]]
        tv += [-a.acc_factor, np.ones(share_accs.size), np.ones(na)]
        self.use_split = np.searchsorted(a.acc_offset, np.arange(1, no))
        # ---- the matrix, column-wise
        self.tc, self.tr, self.tv = [np.concatenate(tc)], [np.concatenate(tr)], [np.concatenate(tv)]
        self.col_upper = np.concatenate(upper)
        self.col_cost = np.concatenate(cost)
        if solver:  # else only :meth:`run_restricted` solves (a HiGHS instance per call)
            self.h = _new_highs()
            self._pass_model()

    # ---- assembly ----------------------------------------------------------------------------
    def _new_cols(self, n: int) -> IntArray:
        cols = np.arange(self.ncol, self.ncol + n, dtype=np.int64)
        self.ncol += n
        return cols

    def triplets(self) -> tuple[IntArray, IntArray, FloatArray]:
        """The matrix as (row, column, value) triplets."""
        return np.concatenate(self.tr), np.concatenate(self.tc), np.concatenate(self.tv)

    def csc(self) -> tuple[IntArray, IntArray, FloatArray]:
        """The matrix column-wise (start, index, value), duplicates summed (numpy only: for a
        small program scipy's sparse constructors cost more than the solve)."""
        r, c, v = self.triplets()
        order = np.lexsort((r, c))
        r, c, v = r[order], c[order], v[order]
        if r.size > 1:
            new = np.empty(r.size, dtype=bool)
            new[0] = True
            np.not_equal(r[1:], r[:-1], out=new[1:])
            new[1:] |= c[1:] != c[:-1]
            if not new.all():
                first = np.flatnonzero(new)
                r, c, v = r[first], c[first], np.add.reduceat(v, first)
        start = np.searchsorted(c, np.arange(self.ncol + 1))
        return start, r, v

    def _pass_model(self) -> None:
        self.h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        self.h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        self._pass(self.h, *self.csc(), self.col_cost, self.col_upper, self.row_hi, self.hess)
        self.h.setOptionValue("presolve", "on" if self.ncol > PRESOLVE_ABOVE
                              and not self.raw_options else "off")

    def _pass(self, h: highspy.Highs, start: IntArray, index: IntArray, value: FloatArray,
              cost: FloatArray, upper: FloatArray, row_hi: FloatArray,
              hess: tuple[IntArray, FloatArray]) -> None:
        inf = highspy.kHighsInf
        ncol = cost.size
        lp = highspy.HighsLp()
        lp.num_col_ = ncol
        lp.num_row_ = self.nrow
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(ncol)
        lp.col_upper_ = np.where(np.isfinite(upper), upper, inf)
        lp.row_lower_ = np.full(self.nrow, -inf)
        lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = index.astype(np.int32)
        lp.a_matrix_.value_ = value
        model = highspy.HighsModel()
        model.lp_ = lp
        if hess[0].size:
            model.hessian_ = self._hessian(ncol, hess)
        if h.passModel(model) == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the network program")

    def run_restricted(self, free: npt.NDArray[np.bool_],
                       fixed: FloatArray) -> tuple[str, FloatArray, FloatArray]:
        """Solve the program with the columns outside ``free`` fixed at ``fixed`` (moved to the
        right-hand side; QP columns must be free), in a fresh HiGHS instance: the full primal
        vector and the row duals."""
        start, index, value = self.csc()
        counts = np.diff(start)
        keep = np.repeat(free, counts)
        fixed = np.where(free, 0.0, fixed)
        used = np.bincount(index, weights=value * np.repeat(fixed, counts), minlength=self.nrow)
        sub = np.flatnonzero(free)
        new_index = np.cumsum(free) - 1
        hc, hv = self.hess
        h = _new_highs()
        for key, val in (("primal_feasibility_tolerance", 1e-10),
                         ("dual_feasibility_tolerance", 1e-10), ("presolve", "off")):
            h.setOptionValue(key, val)
        self._pass(h, np.concatenate([[0], np.cumsum(counts[sub])]), index[keep], value[keep],
                   self.col_cost[sub], self.col_upper[sub], self.row_hi - used,
                   (new_index[hc], hv))
        status, xs, row_dual, _ = self._run(h, sub.size)
        x = fixed.copy()
        x[sub] = xs
        return status, x, row_dual

    @staticmethod
    def _hessian(ncol: int, hess: tuple[IntArray, FloatArray]) -> highspy.HighsHessian:
        cols, vals = hess
        order = np.argsort(cols)
        hs = highspy.HighsHessian()
        hs.dim_ = ncol
        hs.format_ = highspy.HessianFormat.kTriangular
        hs.start_ = np.searchsorted(cols[order], np.arange(ncol + 1)).astype(np.int32)
        hs.index_ = cols[order].astype(np.int32)
        hs.value_ = vals[order]
        return hs

    def reset(self) -> None:
        """Hand HiGHS the program afresh (no basis: the next solve starts cold)."""
        self.h.clearSolver()
        self._pass_model()

    @property
    def quadratic(self) -> bool:
        return bool(self.hess[0].size)

    def update_block(self, k: int, block: _Block) -> None:
        """Refine block ``k`` in place: columns of segments no longer in ``block`` are fixed at
        0, columns of new segments are added (HiGHS keeps its basis)."""
        keyed = self.keyed[k]
        assert keyed is not None and block.keys is not None
        left, right, live = keyed
        nl, nr = block.keys
        # a segment is kept when the same (left, right) pair is live (segments of one block
        # have distinct left ends): match the new pairs against the live ones by left end
        j = np.minimum(np.searchsorted(left, nl), max(left.size - 1, 0))
        same = (left[j] == nl) & (right[j] == nr) if left.size else np.zeros(nl.size, dtype=bool)
        kept = np.zeros(left.size, dtype=bool)
        kept[j[same]] = True
        gone = live[~kept]
        if gone.size:
            self.col_upper[gone] = 0.0
            self.h.changeColsBounds(gone.size, gone.astype(np.int32), np.zeros(gone.size),
                                    np.zeros(gone.size))
        idx = np.flatnonzero(~same)
        cols = self._new_cols(idx.size)
        self.keyed[k] = _by_left(np.concatenate([left[kept], nl[idx]]),
                                 np.concatenate([right[kept], nr[idx]]),
                                 np.concatenate([live[kept], cols]))
        if not idx.size:
            return
        self.block_cols[k].append(cols)
        up, co = block.upper[idx] / self.sq, block.cost[idx] / self.sp
        prow, pval = self.pattern[k]
        c, r, v = _expand(cols, prow, pval)
        self.tc.append(c)
        self.tr.append(r)
        self.tv.append(v)
        self.col_upper = np.concatenate([self.col_upper, up])
        self.col_cost = np.concatenate([self.col_cost, co])
        starts = (np.arange(idx.size) * prow.size).astype(np.int32)
        self.h.addCols(idx.size, co, np.zeros(idx.size), up, r.size, starts,
                       np.tile(prow, idx.size).astype(np.int32), np.tile(pval, idx.size))
        if self.quadratic:  # the Hessian's dimension follows the columns
            self.h.passHessian(self._hessian(self.ncol, self.hess))

    # ---- solving -----------------------------------------------------------------------------
    def run(self) -> tuple[str, FloatArray, FloatArray, FloatArray]:
        status, x, row_dual, col_dual = self._run(self.h, self.ncol)
        self.h.setOptionValue("presolve", "off")  # re-solves start from the basis
        return status, x, row_dual, col_dual

    def _run(self, h: highspy.Highs, ncol: int) -> tuple[str, FloatArray, FloatArray, FloatArray]:
        if self.quadratic:
            # no regularisation (it moves prices by ~1e-7); an iteration limit instead of a
            # hang on a degenerate program — the caller falls back to the LP then
            h.setOptionValue("qp_regularization_value", 0.0)
            h.setOptionValue("qp_iteration_limit", 20 * (ncol + self.nrow) + 1000)
        h.run()
        ms = h.getModelStatus()
        if ms == highspy.HighsModelStatus.kOptimal:
            sol = h.getSolution()
            return ("optimal", np.asarray(sol.col_value), np.asarray(sol.row_dual),
                    np.asarray(sol.col_dual))
        zeros = np.zeros(ncol), np.zeros(self.nrow), np.zeros(ncol)
        if ms == highspy.HighsModelStatus.kModelEmpty and ncol == 0:
            # no columns at all (every abatement option has zero quantity, no links, offsets
            # or price controls): the program is its row bounds alone, feasible when each row
            # admits 0, and nothing has a marginal value
            return ("optimal" if np.all(self.row_hi >= 0.0) else "infeasible"), *zeros
        if ms in (highspy.HighsModelStatus.kInfeasible,
                  highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return "infeasible", *zeros
        if self.quadratic:
            return "error", *zeros
        raise SolverError(f"HiGHS stopped with status {h.modelStatusToString(ms)}")

    def kkt_ok(self, x: FloatArray, row_dual: FloatArray, col_dual: FloatArray,
               tol: float = KKT_TOL) -> bool:
        """Whether ``(x, duals)`` satisfy the optimality conditions of the program (scaled) to
        ``tol``: feasible, duals of the right sign, complementary, stationary. A QP solution is
        accepted only then (the certificate the refined LP gets from its exact segments)."""
        r, c, v = self.triplets()
        ub = self.col_upper
        ax = np.bincount(r, weights=v * x[c], minlength=self.nrow)
        slack = self.row_hi - ax
        fin = np.isfinite(ub)
        if x.min(initial=0.0) < -tol or np.any(x[fin] > ub[fin] + tol * np.maximum(1.0, ub[fin])):
            return False
        if np.any(slack < -tol * np.maximum(1.0, np.abs(self.row_hi))):
            return False
        grad = self.col_cost.copy()
        hc, hv = self.hess
        grad[hc] += hv * x[hc]
        aty = np.bincount(c, weights=v * row_dual[r], minlength=self.ncol)
        if np.any(np.abs(grad - aty - col_dual) > tol * np.maximum(1.0, np.abs(grad))):
            return False
        # rows Ax ≤ hi: dual ≤ 0, and 0 unless the row binds
        if np.any(row_dual > tol):
            return False
        slack_tol = POSITION_TOL * np.maximum(1.0, np.abs(self.row_hi))
        if np.any(np.abs(row_dual[slack > slack_tol]) > tol):
            return False
        # columns 0 ≤ x ≤ ub: a column above 0 has reduced cost ≤ 0 (else less of it is
        # cheaper), one below ub has reduced cost ≥ 0 — signs, not products with the room,
        # so a narrow segment cannot hide a wrong reduced cost
        above = x > POSITION_TOL
        below = ~fin | (ub - x > POSITION_TOL * np.maximum(1.0, np.where(fin, ub, 1.0)))
        return not (np.any(col_dual[above] > tol) or np.any(col_dual[below] < -tol))

    def solution(self, status: str, x: FloatArray, row_dual: FloatArray,
                 col_dual: FloatArray) -> tuple[RawSolution, list[float]]:
        net, sq, sp, nm = self.net, self.sq, self.sp, self.nm
        a = net.arrays
        totals = [float(sum(x[c].sum() for c in cols)) * sq for cols in self.block_cols]
        ok = status == "optimal"
        released = np.zeros(nm)
        released[self.rel_markets] = x[self.rel_cols] * sq
        withheld = np.zeros(nm)
        withheld[self.wh_markets] = x[self.wh_cols] * sq
        flow = x[self.flow_cols] * sq
        exp_dual = np.where(self.exp_row >= 0, row_dual[np.maximum(self.exp_row, 0)], 0.0)
        # a bound dual is a quota rent only at the quota
        at_quota = np.isfinite(a.quota) & (flow >= a.quota * (1 - 1e-9) - 1e-12)
        entity = np.zeros(len(net.links))
        entity[self.ent_links] = np.maximum(-row_dual[self.ent_row] * sp, 0.0)
        sol = RawSolution(
            status=SolveStatus(status),
            abatement=np.array(totals[:nm]),
            released=released,
            withheld=withheld,
            flow=flow,
            offset_use=np.split(x[self.use_cols] * sq, self.use_split),
            offset_supplied=np.array(totals[nm:]),
            # one more allowance issued relaxes the balance and the export row: both duals
            price=(np.maximum(-(row_dual[self.bal] + exp_dual) * sp, 0.0) if ok
                   else np.full(nm, np.nan)),
            # the offset price is the supply curve at the quantity supplied (the issue's
            # definition); the row dual may sit anywhere up to the buyers' prices when every
            # usage limit binds
            offset_price=np.array([off.curve.marginal(t)
                                   for off, t in zip(net.offsets, totals[nm:], strict=True)]),
            quota_rent_unit=np.where(at_quota, np.maximum(-col_dual[self.flow_cols] * sp, 0.0), 0.0),
            entity_dual=entity,
            columns=self.ncol,
        )
        return sol, totals


def _scales(net: Network) -> tuple[float, float]:
    """Quantity and price scales that make the scaled program O(1)."""
    sq = max([m.bau for m in net.markets] + [m.cap for m in net.markets] + [1e-9])
    prices: list[float] = []
    for m in net.markets:
        # the price at half of the curve: independent of how tight the cap is
        prices.append(m.curve.marginal(0.5 * min(m.bau, m.curve.capacity)))
        prices.extend(p for p in (m.ceiling_price, m.floor_price) if p)
    a = net.arrays
    sp = max([p for p in prices if math.isfinite(p)] + [float(a.tax.max(initial=0.0)), 0.0])
    return sq, (sp if sp > 0 else 1.0)


def solve_network(net: Network, engine: Engine | str = Engine.fast) -> RawSolution:
    """Solve the network program.

    ``fast``: linear curves are one QP column each, solved once, and the solution is accepted
    when it passes the KKT check (:meth:`NetworkProgram.kkt_ok`); otherwise (HiGHS stops
    without an optimum, or the check fails) linear curves fall back to refined piecewise-linear
    grids. Step curves are windowed merit orders refined in place. ``plain``: each raw option its
    own column and linear curves on refined grids (the reference formulation).
    """
    engine = Engine(engine)
    if engine is Engine.fast and not net.offsets:
        closed = _one_market(net) if net.links else _separate(net)
        if closed is not None:
            return closed
    sq, sp = _scales(net)
    curves = [m.curve for m in net.markets] + [o.curve for o in net.offsets]
    if engine is Engine.fast and any(c.kind == "linear" for c in curves):
        if all(c.kind == "linear" for c in curves):
            sol = _solve_active_set(net, sq, sp)
            if sol is not None:
                return sol
        sol = _solve_refined(net, _representations(net, engine, sp, quadratic=True, quantity_scale=sq),
                             sq, sp)
        if sol is not None:
            return sol
    sol = _solve_refined(net, _representations(net, engine, sp, quantity_scale=sq), sq, sp)
    assert sol is not None
    return sol


def _separate(net: Network) -> RawSolution | None:
    """Markets with neither links nor offsets (autarky): each market alone, in closed form.

    With a MAC whose supply at price ``p`` is ``q(p)`` (linear: ``min(p / slope, top)``; merit
    order: every option costing at most ``p``), a ceiling ``C`` releasing up to ``R`` and a
    floor ``F`` withholding up to ``W``, a price calls forth ``q(p)``, ``R`` released above
    ``C`` (any part at ``C``) and ``W`` withheld below ``F`` (any part at ``F``). The price is
    the lowest ``p ≥ 0`` at which the most that can be supplied, ``q + released − withheld``,
    reaches ``bau − cap``: the candidates are 0, ``C``, ``F`` and the MAC at
    ``bau − cap − R·[p≥C] + W·[p<F]``, and the lowest that clears is taken. For a linear MAC
    that is the clearing price the QP finds (when every higher price also clears, abatement at
    its top, the lowest). For a merit order it is taken only where the price is unique: the
    quantity strictly inside a step, the price on no ceiling or floor, and no option free at a
    zero price. The result is checked against the market's optimality conditions (balance met,
    binding at a positive price, each quantity at the value the price calls forth).
    ``None`` (solve the program instead) when any market is outside these cases, a check
    fails, or no price clears (infeasible: the program reports it)."""
    nm = len(net.markets)
    price = np.zeros(nm)
    abatement = np.zeros(nm)
    released = np.zeros(nm)
    withheld = np.zeros(nm)
    for i, m in enumerate(net.markets):
        cv = m.curve
        linear = cv.kind == "linear"
        need = m.bau - m.cap
        c = m.ceiling_price
        f = m.floor_price
        rmax = m.ceiling_max if c is not None else 0.0
        wmax = m.floor_max if f is not None else 0.0
        tol = 1e-12 * max(1.0, abs(m.bau), abs(m.cap))
        if linear:
            s = cv.slope
            top = max(min(m.bau, cv.capacity), 0.0)
            if not (s > 0 and math.isfinite(s) and math.isfinite(top)):
                return None
        else:
            qs, uc = cv.q, cv.unit_cost
            if qs is None or uc is None or uc.size == 0:
                return None
            top = float(qs[-1])
        if (not math.isfinite(need) or not math.isfinite(wmax) or (c is not None and c < 0)
                or (f is not None and f < 0) or (c is not None and c == f)):
            return None

        def most(p: float, cv: Curve = cv, top: float = top, c: float | None = c,
                 f: float | None = f, rmax: float = rmax, wmax: float = wmax) -> float:
            """The most supplied at price ``p``: abatement, releases, less withholdings."""
            if cv.kind == "linear":
                q = min(p / cv.slope, top)
            else:
                assert cv.q is not None and cv.unit_cost is not None
                q = float(cv.q[int(np.searchsorted(cv.unit_cost, p, side="right"))])
            r = rmax if c is not None and p >= c else 0.0
            w = wmax if f is not None and p < f else 0.0
            return q + r - w

        cands = {0.0}
        cands.update(v for v in (c, f) if v is not None)
        for r in {0.0, rmax}:
            for w in {0.0, wmax}:
                target = need - r + w
                if not math.isfinite(target) or target > top:
                    continue
                if target <= 0:
                    cands.add(0.0)
                elif linear:
                    cands.add(cv.slope * target)
                else:
                    assert qs is not None and uc is not None
                    cands.add(float(uc[int(np.searchsorted(qs, target, side="left")) - 1]))
        clearing = [p for p in sorted(cands) if math.isfinite(p) and most(p) >= need - tol]
        if not clearing:
            return None
        p = clearing[0]
        w = wmax if f is not None and p < f else 0.0
        if linear:
            q = min(p / cv.slope, top)
            if c is not None and p == c:  # released: what the balance still needs, within R
                r = min(max(need - q + w, 0.0), rmax)
            else:
                r = rmax if c is not None and p > c else 0.0
            if f is not None and p == f:  # withheld: what the balance can spare, within W
                w = min(max(q + r - need, 0.0), wmax)
        else:
            assert qs is not None and uc is not None
            if p in (c, f) or (p == 0 and uc[0] == 0):
                return None  # the price or the quantities are not unique there
            r = rmax if c is not None and p > c else 0.0
            q = max(need - r + w, 0.0)
            if p > 0:  # q strictly inside the step priced p
                j = int(np.searchsorted(qs, q, side="left"))
                if not (0 < j < qs.size and qs[j - 1] + tol < q < qs[j] - tol and uc[j - 1] == p):
                    return None
        if not (math.isfinite(r) and math.isfinite(w)):
            return None
        # the certificate: balance met, and binding wherever the price is positive
        supplied = q + r - w
        if supplied < need - tol or (p > 0 and supplied > need + tol):
            return None
        price[i], abatement[i], released[i], withheld[i] = p, q, r, w
    empty = np.zeros(0)
    return RawSolution(status=SolveStatus.optimal, abatement=abatement, released=released,
                       withheld=withheld, flow=empty, offset_use=[], offset_supplied=empty,
                       price=price, offset_price=empty, quota_rent_unit=empty,
                       entity_dual=empty, solves=0)


def _one_market(net: Network) -> RawSolution | None:
    """Linear markets that every other market links to without conditions (no quota, entity
    share, tax, discount or exchange rate), no price controls, no offsets: one market, in closed
    form. The price ``p`` is the lowest at which ``Σ min(p / slopeᵢ, bauᵢ)`` reaches
    ``Σ (bauᵢ − capᵢ)`` (a piecewise-linear equation, solved between the breakpoints
    ``slopeᵢ · bauᵢ``); each market abates ``min(p / slopeᵢ, bauᵢ)``, and the sellers' surplus
    goes to the buyers' shortfall along the links (in market order: any split is an
    equilibrium). The result is checked against the program's optimality conditions: every
    balance met (binding at a positive price), no market exporting more than it issued, flows
    ≥ 0 on links between equal prices. ``None`` (solve the program) outside these cases."""
    ms = net.markets
    n = len(ms)
    if n < 2 or len(net.links) != n * (n - 1):
        return None
    pairs = set()
    for lk in net.links:
        if (lk.factor != 1.0 or lk.tax != 0.0 or math.isfinite(lk.quota)
                or lk.entity_share is not None):
            return None
        pairs.add((lk.src, lk.dst))
    if len(pairs) != n * (n - 1):
        return None
    slopes, tops, needs = [], [], []
    for m in ms:
        cv = m.curve
        if (cv.kind != "linear" or m.ceiling_price is not None or m.floor_price is not None
                or not (cv.slope > 0 and math.isfinite(cv.slope))):
            return None
        slopes.append(cv.slope)
        tops.append(max(min(m.bau, cv.capacity), 0.0))
        needs.append(m.bau - m.cap)
    total = math.fsum(needs)
    if not all(math.isfinite(v) for v in [*tops, total]) or total > math.fsum(tops):
        return None
    p = 0.0
    if total > 0:
        # Σ min(p/sᵢ, topᵢ) between consecutive breakpoints: saturated tops + p · Σ 1/sᵢ (rest)
        order = sorted(range(n), key=lambda i: slopes[i] * tops[i])
        saturated = 0.0
        inverse = math.fsum(1.0 / slopes[i] for i in order)
        p = math.nan
        for i in order:
            kink = slopes[i] * tops[i]
            if saturated + kink * inverse >= total:
                p = (total - saturated) / inverse
                break
            saturated += tops[i]
            inverse -= 1.0 / slopes[i]
        if math.isnan(p):  # every market at its top: the lowest price that clears is the last kink
            p = slopes[order[-1]] * tops[order[-1]]
    abatement = [min(p / slopes[i], tops[i]) for i in range(n)]
    surplus = [abatement[i] - needs[i] for i in range(n)]  # > 0: sells, < 0: buys
    # sellers to buyers, in market order (north-west corner)
    flow_of: dict[tuple[int, int], float] = {}
    sellers = [[i, surplus[i]] for i in range(n) if surplus[i] > 0]
    k = 0
    for b in range(n):
        short = -surplus[b]
        while short > 0 and k < len(sellers):
            seller = sellers[k]
            x = min(short, float(seller[1]))
            flow_of[(int(seller[0]), b)] = x
            short -= x
            seller[1] = float(seller[1]) - x
            if seller[1] <= 0:
                k += 1
    flow = np.array([flow_of.get((lk.src, lk.dst), 0.0) for lk in net.links])
    exports = np.bincount(net.arrays.src, weights=flow, minlength=n)
    imports = np.bincount(net.arrays.dst, weights=flow, minlength=n)
    # the certificate (the program's optimality conditions at one price for all)
    for i, m in enumerate(ms):
        tol = 1e-12 * max(1.0, abs(m.bau), abs(m.cap), abs(total))
        room = m.cap - exports[i] + imports[i] - (m.bau - abatement[i])  # balance slack
        if room < -tol * n or (p > 0 and room > tol * n) or exports[i] > m.cap + tol:
            return None
    if (flow < 0).any():
        return None
    empty = np.zeros(0)
    zeros = np.zeros(n)
    return RawSolution(status=SolveStatus.optimal, abatement=np.array(abatement),
                       released=zeros, withheld=zeros.copy(), flow=flow, offset_use=[],
                       offset_supplied=empty, price=np.full(n, p), offset_price=empty,
                       quota_rent_unit=np.zeros(len(net.links)),
                       entity_dual=np.zeros(len(net.links)), solves=0)


#: an all-linear program with more linear (non-QP) columns than this is solved by the active
#: set of a piecewise-linear LP first (HiGHS's QP solver moves one column per iteration from 0)
ACTIVE_SET_ABOVE = 500
#: rounds of freeing wrongly fixed columns before the active-set solve gives up
ACTIVE_SET_ROUNDS = 30


def _solve_active_set(net: Network, sq: float, sp: float) -> RawSolution | None:
    """The QP of an all-linear network with many links, from a guessed active set.

    HiGHS's QP solver starts from 0 and moves one column to a bound per iteration (50 markets
    with 2,450 links: ~1,900 iterations of a 2,500-column program), and it takes no starting
    basis. So the linear columns (flows, releases, withholdings, offset uses) are first
    classified by one LP on coarse grids of the linear curves (not refined): at 0, at their
    upper bound, or between. Those at a bound are fixed there and moved to the right-hand side;
    the QP over the rest is small. A fixed column whose reduced cost (``cost − Aᵀy``) says it
    should move is freed and the small QP solved again. The result is accepted only when it
    passes the KKT check of the *full* program (:meth:`NetworkProgram.kkt_ok`, original
    bounds, every column): then it is the equilibrium. ``None`` otherwise (the caller solves
    the full QP)."""
    a = net.arrays
    linear_cols = (a.src.size + a.acc_offset.size + int(np.count_nonzero(~np.isnan(a.ceiling_price)))
                   + int(np.count_nonzero(~np.isnan(a.floor_price))))
    if linear_cols <= ACTIVE_SET_ABOVE:
        return None
    reps = _representations(net, Engine.fast, sp, quadratic=True, quantity_scale=sq)
    prog = NetworkProgram(net, [rep.block() for rep in reps], sq, sp, solver=False)
    first = len(reps)  # each linear curve is one QP column; the linear columns follow
    grid = NetworkProgram(net, [rep.block() for rep in
                                 _representations(net, Engine.fast, sp, quantity_scale=sq)],
                          sq, sp)
    try:
        status, xg, _, _ = grid.run()
    except SolverError:  # the guess failed; the full QP decides
        return None
    if status != "optimal":
        return None
    offset = grid.ncol - prog.ncol  # the same linear columns, after the grid's wider blocks
    ub = prog.col_upper
    fin = np.isfinite(ub)
    xl = np.concatenate([np.zeros(first), xg[first + offset:]])
    at_lo = xl <= POSITION_TOL
    at_ub = ~at_lo & fin & (xl >= ub - 1e-9 * np.maximum(1.0, np.where(fin, ub, 1.0)))
    at_lo[:first] = at_ub[:first] = False  # the QP columns are always free
    r, c, v = prog.triplets()
    hc, hv = prog.hess
    solves = 1
    for _ in range(ACTIVE_SET_ROUNDS):
        status, x, row_dual = prog.run_restricted(~(at_lo | at_ub), np.where(at_ub, ub, 0.0))
        solves += 1
        if status != "optimal":
            return None
        grad = prog.col_cost.copy()
        grad[hc] += hv * x[hc]
        col_dual = grad - np.bincount(c, weights=v * row_dual[r], minlength=prog.ncol)
        wrong = (at_lo & (col_dual < -KKT_TOL)) | (at_ub & (col_dual > KKT_TOL))
        if not wrong.any():
            if not prog.kkt_ok(x, row_dual, col_dual):
                return None
            sol, _ = prog.solution(status, x, row_dual, col_dual)
            sol.solves = solves
            return sol
        at_lo &= ~wrong
        at_ub &= ~wrong
    return None


def _solve_refined(net: Network, reps: list[_Rep], sq: float, sp: float) -> RawSolution | None:
    """One program, solved and refined in place until every representation is exact at the
    solution. ``None`` when a QP program gives no certified optimum (the caller falls back)."""
    prog = NetworkProgram(net, [rep.block() for rep in reps], sq, sp)
    refinements = 0
    solves = 0
    while True:
        status, x, row_dual, col_dual = prog.run()
        solves += 1
        if prog.quadratic and (status == "error" or (status == "optimal"
                                                     and not prog.kkt_ok(x, row_dual, col_dual))):
            return None
        if refinements and status == "optimal" and not prog.kkt_ok(x, row_dual, col_dual):
            # HiGHS's hot start after a modification can stop at a basis that is not optimal
            # for the modified program (seen: 0 iterations, new columns of negative reduced
            # cost left at 0); solve that round again from scratch
            prog.reset()
            status, x, row_dual, col_dual = prog.run()
            solves += 1
        sol, totals = prog.solution(status, x, row_dual, col_dual)
        if sol.status is not SolveStatus.optimal:
            break
        changed = [k for k, (rep, t) in enumerate(zip(reps, totals, strict=True)) if rep.refine(t)]
        if not changed:
            break
        for k in changed:
            prog.update_block(k, reps[k].block())
        refinements += 1
        if refinements > MAX_REFINEMENTS:
            raise SolverError("the refined solve did not settle; try engine='plain'")
    sol.solves = solves
    sol.refinements = refinements
    return sol
