"""Monte Carlo samples of a multi-period scenario solved in batches, vectorised with numpy.

For linear MACs, links with quotas (restricted links), banking and borrowing limits and a
discount rate, each sample's program (:mod:`carbonlink.markets.multiperiod`) is a small convex
QP whose solution is piecewise linear in the shocks: once it is known which constraints bind
(the **active set**: which balances are slack, which abatements reach the BAU, which banks sit
at a limit, which flows at zero or at their quota), the KKT conditions are one linear system.
:func:`solve_batch` runs a primal-dual active-set iteration on a whole batch at once: every
sample starts from the active set of its nearest :class:`Reference` sample (or of the
unshocked design); samples that share an active set (and MAC slopes) share one inverse
(computed once per process and design, cached), applied to all their right-hand sides in one
call; each solution is checked for primal and dual feasibility, and a
sample whose active set is wrong moves to the one its violations point to. A checked solution
satisfies the KKT conditions of a convex program, so it is the optimum the one-by-one program
finds (tested against :func:`~carbonlink.markets.multiperiod.simulate_periods` to 1e-7).

**Degenerate samples.** The abatement of a sample is unique (the cost is strictly convex in
it), hence so is every price where abatement is below the BAU (``λ = slope·d_t·a``), and the
present-value gains (moving a free bank or flow changes a market's costs by its price times the
change in its net position, zero in present value). Banks and flows need not be unique: a
bank or flow at a bound it could leave at no cost (dual degenerate), or an active set whose
matrix is singular (banks and flows that can trade places around a cycle of links or between
periods). A KKT point is an optimum all the same, so such samples stay in the batch and are
flagged ``degenerate``: a singular active set is solved by its pseudo-inverse (the least-norm
point of its free banks and flows, after checking that the system is consistent), so the
reported banks, flows, net imports, per-period costs and binding flags are one optimum among
several, chosen the same way on every executor. Tests compare the unique rows with the
one-by-one program to 1e-7 and check that the batch's banks and flows are feasible and as
cheap as the one-by-one optimum.

Samples the iteration does not settle within :data:`MAX_ITERATIONS` (or whose active set stops
moving while infeasible, or that break an exporter's issuance limit) fall back to the
one-by-one program (:func:`solve_direct`) and are counted. Designs the batch path does not
cover — merit-order (step) or firm-level curves, price floors and ceilings, entity limits, tracked delinking of
banked foreign units, single-period scenarios — are refused by :func:`unsupported` and solved
one by one by the caller.

Unknowns of sample ``b`` (scaled as in the multi-period program: quantities by the largest BAU
or cap, prices by a typical price): ``λ[t,i]`` the present-value price (the balance dual),
``bank[t,i]``, ``flow[f]`` for every link ``l`` in operation in period ``t``. Equations:

* balance ``(t,i)``: ``−a(λ) + bank[t] − bank[t−1] + exports − factor·imports = cap + opening − bau``
  with ``a = λ/(d_t·slope)`` (or ``a = bau`` when abatement is at its top), or ``λ = 0`` when
  the balance is slack;
* bank ``(t,i)``: ``λ[t] = λ[t+1]`` (``λ[T] = 0``) while the bank is inside its limits, else
  ``bank = limit``;
* flow ``f``: ``factor·λ[dst] − λ[src] = d_t·tax`` while inside ``[0, quota]``, else at the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from carbonlink.errors import SolverError
from carbonlink.markets.multiperiod import PeriodArrays, _scales, period_arrays, solve_periods
from carbonlink.model.scenario import Scenario, Uncertainty

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: active-set iterations before a sample falls back to the one-by-one program
MAX_ITERATIONS = 25
#: active-set iterations of the second try on a sample HiGHS gave up on (from a plain start)
RETRY_ITERATIONS = 100
#: feasibility tolerance of the checks, in the program's scaled units (quantities / largest
#: BAU or cap, prices / typical price)
TOL = 1e-9
#: the variables of a multi-period sample, in the order of the long rows
PERIOD_VARIABLES = ("price", "emissions", "abatement", "net_imports", "banked", "compliance_cost")

_INTERIOR, _LOW, _HIGH = 0, 1, 2


def unsupported(sc: Scenario) -> str | None:
    """Why the batch path cannot solve samples of ``sc`` (``None``: it can)."""
    if sc.periods is None:
        return "single-period scenario (solved one by one through simulate)"
    if sc.offsets:
        return "offsets"
    for m in sc.markets:
        kind = next(iter(m.mac.model_dump(exclude_none=True)), "")
        if kind != "linear":
            return f"market {m.id}: a non-linear MAC ({kind or type(m.mac).__name__})"
        if m.price_ceiling is not None or m.price_floor is not None:
            return f"market {m.id}: a price floor or ceiling"
        if m.reserves:
            return f"market {m.id}: price-triggered reserve tiers"
        if m.msr is not None:
            return f"market {m.id}: a market stability reserve"
    for k, lk in enumerate(sc.links):
        if lk.entity_share is not None:
            return f"links[{k}]: an entity limit"
    pa = period_arrays(sc)
    if pa.tracked.any():
        return "a link ending with its banked units cancelled or converted"
    if np.isnan(pa.slope).any():
        return "a non-linear MAC"
    return None


# ------------------------------------------------------------------------------------------
# shocks on arrays (the same arithmetic as carbonlink.markets.shocks on documents)
# ------------------------------------------------------------------------------------------
def shocked_arrays(sc: Scenario, pa: PeriodArrays, unc: Uncertainty, factors: FloatArray
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per sample ``bau[B,T,M]``, ``cap[B,T,M]`` and ``slope[B,M]`` after the shocks: ``output``
    moves BAU (and the allowances of an intensity cap), ``bau`` moves BAU, ``slope`` the MAC
    slope; a shock with a ``period`` moves that period only; factors of one market multiply."""
    nb = factors.shape[0]
    years = list(pa.years)
    ids = [m.id for m in sc.markets]
    bau = np.broadcast_to(pa.bau, (nb, *pa.bau.shape)).copy()
    cap = np.broadcast_to(pa.cap, (nb, *pa.cap.shape)).copy()
    slope = np.broadcast_to(pa.slope, (nb, pa.slope.size)).copy()
    for j, sh in enumerate(unc.shocks):
        i = ids.index(sh.market)
        f = np.maximum(factors[:, j], 0.0)
        rows = slice(None) if sh.period is None else years.index(sh.period)
        if sh.variable in ("output", "bau"):
            if sh.period is None:
                bau[:, :, i] *= f[:, None]
            else:
                bau[:, rows, i] *= f
        if sh.variable == "output" and sc.markets[i].cap_intensity is not None:
            if sh.period is None:
                cap[:, :, i] *= f[:, None]
            else:
                cap[:, rows, i] *= f
        if sh.variable == "slope":
            slope[:, i] = np.maximum(slope[:, i] * f, 1e-300)
    return bau, cap, slope


# ------------------------------------------------------------------------------------------
# the structure of a design's KKT system
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Structure:
    nt: int
    nm: int
    ft: IntArray  # flows in operation: period and link
    fl: IntArray
    fsrc: IntArray  # (t, i) index of the exporter's balance
    fdst: IntArray
    factor: FloatArray
    ftax: FloatArray  # scaled d_t·tax
    fhi: FloatArray  # scaled quota (inf: none)
    blo: FloatArray  # [TM] scaled bank bounds
    bhi: FloatArray
    opening: FloatArray  # [TM] scaled initial bank (first period)
    d: FloatArray  # [TM] discount factor of the period
    g_bal: FloatArray  # [TM, N] bank and flow coefficients of the balance rows
    r_bank: FloatArray  # [TM, N] interior bank rows
    r_flow: FloatArray  # [F, N] interior flow rows
    exp_key: IntArray  # exporters' (t, i) with their flows
    exp_of_flow: IntArray
    sq: float
    sp: float

    @property
    def tm(self) -> int:
        return self.nt * self.nm

    @property
    def n(self) -> int:
        return 2 * self.tm + self.ft.size


def _structure(pa: PeriodArrays, links: bool) -> _Structure:
    nt, nm = pa.bau.shape
    tm = nt * nm
    sq, sp = _scales(pa)
    active = pa.active if links else np.zeros_like(pa.active)
    ft, fl = np.nonzero(active)
    nf = ft.size
    n = 2 * tm + nf
    tt = np.repeat(np.arange(nt), nm)
    ii = np.tile(np.arange(nm), nt)
    d = pa.discount[tt]
    fsrc, fdst = ft * nm + pa.src[fl], ft * nm + pa.dst[fl]
    g = np.zeros((tm, n))
    k = np.arange(tm)
    g[k, tm + k] = 1.0
    later = k >= nm
    g[k[later], tm + k[later] - nm] = -1.0
    f = np.arange(nf)
    np.add.at(g, (fsrc, 2 * tm + f), 1.0)
    np.add.at(g, (fdst, 2 * tm + f), -pa.factor[fl])
    r_bank = np.zeros((tm, n))
    r_bank[k, k] = 1.0
    before = k < tm - nm
    r_bank[k[before], k[before] + nm] = -1.0
    r_flow = np.zeros((nf, n))
    r_flow[f, fdst] = pa.factor[fl]
    r_flow[f, fsrc] -= 1.0
    last = tt == nt - 1
    blo = np.where(last, 0.0, -pa.borrow_max[ii]) / sq
    bhi = pa.bank_max[ii] / sq
    opening = np.zeros(tm)
    opening[:nm] = pa.initial_bank / sq
    exp_key, exp_of_flow = np.unique(fsrc, return_inverse=True)
    return _Structure(nt=nt, nm=nm, ft=ft, fl=fl, fsrc=fsrc, fdst=fdst, factor=pa.factor[fl],
                      ftax=pa.discount[ft] * pa.tax[fl] / sp, fhi=pa.quota[fl] / sq, blo=blo,
                      bhi=bhi, opening=opening, d=d, g_bal=g, r_bank=r_bank, r_flow=r_flow,
                      exp_key=exp_key, exp_of_flow=exp_of_flow.astype(np.int64), sq=sq, sp=sp)


@dataclass
class _States:
    slack: BoolArray  # [B, TM] balance slack (λ = 0)
    top: BoolArray  # [B, TM] abatement at BAU
    bank: npt.NDArray[np.int8]  # [B, TM] interior / low / high
    flow: npt.NDArray[np.int8]  # [B, F]

    def take(self, rows: IntArray) -> _States:
        return _States(self.slack[rows], self.top[rows], self.bank[rows], self.flow[rows])


def _initial_states(st: _Structure, pa: PeriodArrays, nb: int, links: bool) -> _States:
    """The active set of the unshocked design (from its one-by-one solve), for every sample."""
    tm, nf = st.tm, st.ft.size
    slack = np.zeros(tm, dtype=bool)
    top = np.zeros(tm, dtype=bool)
    bank = np.zeros(tm, dtype=np.int8)
    flow = np.full(nf, _LOW, dtype=np.int8)
    try:
        s = solve_periods(pa, links=links)
    except SolverError:  # HiGHS gave up on the unshocked design: start from a plain guess
        s = None
    if s is not None and s.status == "optimal":
        price = s.price.ravel()
        slack = price <= TOL * st.sp
        top = s.abatement.ravel() >= pa.bau.ravel() * (1 - 1e-9) - 1e-12
        b = s.bank.ravel() / st.sq
        bank = np.where(b <= st.blo + 1e-9, _LOW, np.where(b >= st.bhi - 1e-9, _HIGH, _INTERIOR))
        x = s.flow[st.ft, st.fl] / st.sq
        flow = np.where(x <= 1e-9, _LOW, np.where(x >= st.fhi - 1e-9, _HIGH, _INTERIOR))
    fixed = st.blo >= st.bhi
    bank = np.where(fixed, _LOW, bank).astype(np.int8)
    rep = lambda a: np.repeat(a[None, :], nb, axis=0)  # noqa: E731
    return _States(rep(slack), rep(top), rep(bank), rep(flow.astype(np.int8)))


def _plain_states(st: _Structure, nb: int) -> _States:
    """A plain starting guess: every balance binding, abatement below the BAU, banks and
    flows at zero (their lower bound when zero is outside their range)."""
    tm, nf = st.tm, st.ft.size
    bank = np.where((st.blo >= st.bhi) | (st.blo >= 0.0), _LOW, _INTERIOR).astype(np.int8)
    return _States(np.zeros((nb, tm), dtype=bool), np.zeros((nb, tm), dtype=bool),
                   np.repeat(bank[None, :], nb, axis=0), np.full((nb, nf), _LOW, dtype=np.int8))


def _matrices(st: _Structure, s: _States, c: FloatArray) -> FloatArray:
    """The KKT matrices ``[U, N, N]`` of ``U`` active sets with coefficients ``c = a/λ``."""
    tm, n = st.tm, st.n
    u = s.slack.shape[0]
    k = np.zeros((u, n, n))
    eye = np.eye(n)
    bal = np.where(s.slack[:, :, None], eye[None, :tm], st.g_bal[None])
    idx = np.arange(tm)
    bal[:, idx, idx] = np.where(s.slack, 1.0, np.where(s.top, 0.0, -c))
    k[:, :tm] = bal
    k[:, tm:2 * tm] = np.where((s.bank == _INTERIOR)[:, :, None], st.r_bank[None],
                               eye[None, tm:2 * tm])
    k[:, 2 * tm:] = np.where((s.flow == _INTERIOR)[:, :, None], st.r_flow[None], eye[None, 2 * tm:])
    return k


def _rhs(st: _Structure, s: _States, bau: FloatArray, cap: FloatArray) -> FloatArray:
    bal = np.where(s.slack, 0.0, cap + st.opening - bau + np.where(s.top, bau, 0.0))
    bank = np.where(s.bank == _LOW, st.blo, np.where(s.bank == _HIGH, st.bhi, 0.0))
    flow = np.where(s.flow == _LOW, 0.0, np.where(s.flow == _HIGH, st.fhi, st.ftax))
    return np.concatenate([bal, bank, flow], axis=1)


def _group(key: npt.NDArray[np.int8]) -> tuple[IntArray, IntArray, npt.NDArray[np.uint64]]:
    """Rows of ``key`` grouped: the first row of each group, each row's group, each group's
    hash (a random linear hash of the row; rows are compared again, so a collision only costs
    the slower exact grouping)."""
    w = np.random.default_rng(12345).integers(1, 2 ** 62, size=key.shape[1], dtype=np.int64)
    with np.errstate(over="ignore"):
        h = key.astype(np.uint64) @ w.astype(np.uint64)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not np.array_equal(key, key[first][inverse]):  # pragma: no cover - a hash collision
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        h = np.arange(first.size, dtype=np.uint64) + np.uint64(2 ** 63)
        return first, inverse, h
    return first, inverse, h[first]


_stacked_inv: Any
try:  # numpy's gufunc behind ``np.linalg.inv`` (numpy < 2.5 is pinned)
    from numpy.linalg._umath_linalg import inv as _stacked_inv
except ImportError:  # pragma: no cover - depends on numpy's layout
    _stacked_inv = None


def _inverses(mats: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Inverses of stacked matrices and which are singular (a zero pivot, or a 1-norm
    condition number above 1e12). A singular matrix gets its Moore–Penrose pseudo-inverse
    instead: its active set leaves some banks or flows free to trade places at no cost (the
    optimum is not unique), and the pseudo-inverse picks the least-norm point among them —
    the caller checks that the system is consistent (``K·x = rhs``) before using it."""
    inv = np.empty_like(mats)
    singular = np.zeros(mats.shape[0], dtype=bool)
    if not mats.shape[0]:
        return inv, singular
    if _stacked_inv is not None:
        # numpy's own inverse loop, which fills a matrix with an exact zero pivot with NaN
        # instead of raising for the whole stack: one pass, the same bits as
        # ``np.linalg.inv`` for every other matrix (tested). The raising path costs an LU
        # and a second inversion of the stack whenever one matrix in it is singular — 15 of
        # 43 stacks over 30,000 samples of the five-market example: 0.51 s against 0.21 s.
        with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
            inv[:] = _stacked_inv(mats, signature="d->d")
        singular = np.asarray(~np.isfinite(inv).all(axis=(1, 2)), dtype=bool)
    else:  # pragma: no cover - a numpy without the private module
        try:
            inv[:] = np.linalg.inv(mats)
        except np.linalg.LinAlgError:  # an exact zero pivot somewhere in the stack
            singular = np.asarray(np.linalg.slogdet(mats)[0] == 0, dtype=bool)
            ok = np.flatnonzero(~singular)
            inv[ok] = np.linalg.inv(mats[ok])
    with np.errstate(invalid="ignore", over="ignore"):  # inf or NaN: singular below
        cond = np.abs(mats).sum(axis=1).max(axis=1) * np.abs(inv).sum(axis=1).max(axis=1)
    singular |= ~(cond < 1e12)
    for k in np.flatnonzero(singular).tolist():
        inv[k] = np.linalg.pinv(mats[k], rtol=1e-10)
    return inv, singular


#: a cached active set: its (pseudo-)inverse, whether it is singular, and for a singular one
#: its matrix (to check that a right-hand side lies in its range)
_Known = tuple[FloatArray, bool, FloatArray | None]


def _solve_linear(st: _Structure, s: _States, c: FloatArray, rhs: FloatArray,
                  known: dict[int, _Known]) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Solve every sample's KKT system. Samples sharing an active set share one matrix when the
    MAC slopes are not shocked (inverted once per process and design, applied to all their
    right-hand sides), else each has its own (one stacked inversion). Returns the solutions,
    which samples' matrices are singular (solved by the pseudo-inverse: banks and flows that can
    trade places at no cost, the least-norm choice among them) and which of those have no
    solution at all (the system is inconsistent: the active set is wrong)."""
    nb = rhs.shape[0]
    singular = np.zeros(nb, dtype=bool)
    inconsistent = np.zeros(nb, dtype=bool)
    if nb > 1 and np.ptp(c, axis=0).max() > 0:  # shocked slopes: one matrix per sample
        mats = _matrices(st, s, c)
        inv, singular = _inverses(mats)
        x = np.einsum("bij,bj->bi", inv, rhs)
        rows = np.flatnonzero(singular)
        if rows.size:
            res = np.einsum("bij,bj->bi", mats[rows], x[rows]) - rhs[rows]
            inconsistent[rows] = ~_consistent(res, rhs[rows])
        return x, singular, inconsistent
    key = np.concatenate([s.slack, s.top, s.bank, s.flow], axis=1).astype(np.int8)
    first, inverse, hashes = _group(key)
    new = np.array([int(h) not in known for h in hashes.tolist()], dtype=bool)
    if new.any():
        rows = first[new]
        mats = _matrices(st, s.take(rows), c[rows])
        inv_new, sing_new = _inverses(mats)
        for h, m, k, sg in zip(hashes[new].tolist(), inv_new, mats, sing_new.tolist(), strict=True):
            known[int(h)] = (m, bool(sg), k if sg else None)
    x = np.empty_like(rhs)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(first.size + 1))
    for u, h in enumerate(hashes.tolist()):
        members = order[bounds[u]:bounds[u + 1]]
        inv, sg, mat = known[int(h)]
        # einsum's own loops, not BLAS: a row's result must not depend on how many rows
        # share the call (batch size, worker count), so every executor gives equal bits
        xm = np.einsum("ij,bj->bi", inv, rhs[members])
        x[members] = xm
        if sg:
            assert mat is not None
            singular[members] = True
            res = np.einsum("ij,bj->bi", mat, xm) - rhs[members]
            inconsistent[members] = ~_consistent(res, rhs[members])
    return x, singular, inconsistent


def _consistent(res: FloatArray, rhs: FloatArray) -> BoolArray:
    """Whether residuals of a pseudo-inverse solution are round-off (the right-hand side lies
    in the matrix's range)."""
    scale = 1.0 + np.abs(rhs).max(axis=1)
    return np.asarray(np.abs(res).max(axis=1) <= 1e-9 * scale, dtype=bool)


def _check(st: _Structure, s: _States, x: FloatArray, bau: FloatArray, cap: FloatArray,
           c: FloatArray) -> tuple[BoolArray, BoolArray, BoolArray, _States]:
    """Per sample: whether the solution is a KKT point, whether an exporter's issuance limit
    is broken (not covered: falls back), whether it is dual degenerate (a bank or flow at a
    bound it could leave at no cost, a binding balance at a zero price: the optimum is a KKT
    point all the same, but banks and flows may not be unique) and the next active set."""
    tm, nm = st.tm, st.nm
    lam, bank, flow = x[:, :tm], x[:, tm:2 * tm], x[:, 2 * tm:]
    a = np.where(s.slack, 0.0, np.where(s.top, bau, c * lam))
    g = bau - a - cap - st.opening + np.einsum("bj,kj->bk", x, st.g_bal)
    lam_next = np.concatenate([lam[:, nm:], np.zeros((lam.shape[0], nm))], axis=1)
    r = st.factor * lam[:, st.fdst] - lam[:, st.fsrc] - st.ftax
    # violations
    neg_price = ~s.slack & (lam < -TOL)
    over_cap = s.slack & (g > TOL)
    above_bau = ~s.slack & ~s.top & (c * lam > bau + TOL)
    below_top = s.top & (c * lam < bau - TOL)
    b_in = s.bank == _INTERIOR
    b_low = b_in & (bank < st.blo - TOL)
    b_high = b_in & (bank > st.bhi + TOL)
    b_leave_high = (s.bank == _HIGH) & (lam - lam_next > TOL) & (st.blo < st.bhi)
    b_leave_low = (s.bank == _LOW) & (lam_next - lam > TOL) & (st.blo < st.bhi)
    f_in = s.flow == _INTERIOR
    f_low = f_in & (flow < -TOL)
    f_high = f_in & (flow > st.fhi + TOL)
    f_leave_high = (s.flow == _HIGH) & (r < -TOL)
    f_leave_low = (s.flow == _LOW) & (r > TOL) & (st.fhi > 0)
    bad = (neg_price | over_cap | above_bau | below_top | b_low | b_high | b_leave_high
           | b_leave_low).any(axis=1) | (f_low | f_high | f_leave_high | f_leave_low).any(axis=1)
    exports = np.zeros((x.shape[0], st.exp_key.size))
    np.add.at(exports.T, st.exp_of_flow, flow.T)
    issuance: BoolArray = np.asarray((exports > cap[:, st.exp_key] + TOL).any(axis=1), dtype=bool)
    nxt = _States(
        slack=(s.slack & ~over_cap) | neg_price,
        top=(s.top & ~below_top) | above_bau,
        bank=np.where(b_low, _LOW, np.where(b_high, _HIGH, np.where(
            b_leave_high | b_leave_low, _INTERIOR, s.bank))).astype(np.int8),
        flow=np.where(f_low, _LOW, np.where(f_high, _HIGH, np.where(
            f_leave_high | f_leave_low, _INTERIOR, s.flow))).astype(np.int8),
    )
    movable = st.blo < st.bhi
    gap_b = np.where(s.bank == _HIGH, lam_next - lam, lam - lam_next)
    gap_f = np.where(s.flow == _HIGH, r, -r)
    flat = (((s.bank != _INTERIOR) & movable & (np.abs(gap_b) <= 1e-8)).any(axis=1)
            | ((s.flow != _INTERIOR) & (st.fhi > 0) & (np.abs(gap_f) <= 1e-8)).any(axis=1)
            | (s.top & (np.abs(c * lam - bau) <= 1e-8)).any(axis=1)
            | (~s.slack & (np.abs(lam) <= 1e-8)).any(axis=1))
    degenerate: BoolArray = np.asarray(flat, dtype=bool)
    return np.asarray(~bad, dtype=bool), issuance, degenerate, nxt


_CACHE: dict[bytes, dict[int, _Known]] = {}
#: active sets whose inverse a process keeps per design (44×44 doubles ≈ 15 kB each for the
#: five-market example, which meets about 3,500 over 100,000 samples)
CACHE_SIZE = 4000
#: designs (linked or autarky programs) whose inverses a process keeps
CACHE_DESIGNS = 4


def _cache_for(st: _Structure, c: FloatArray) -> dict[int, _Known]:
    """The inverses already computed for this design in this process (the batches of one
    design meet the same active sets again). Shocked slopes: a fresh dict (no reuse)."""
    if c.shape[0] > 1 and np.ptp(c, axis=0).max() > 0:
        return {}
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in (st.g_bal, st.r_bank, st.r_flow, c[:1], st.blo, st.bhi):
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.digest()
    if key not in _CACHE:
        # a few designs at a time (a design's linked and autarky programs alternate, batch
        # after batch): memory stays bounded
        while len(_CACHE) >= CACHE_DESIGNS:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = {}
    known = _CACHE[key]
    if len(known) > CACHE_SIZE:  # the oldest tenth goes: memory stays bounded
        for old in list(known)[:CACHE_SIZE // 10]:
            del known[old]
    return known


@dataclass
class BatchSolution:
    """Per sample (``B``): ``price`` (current value), ``abatement``, ``bank`` ``[B,T,M]``,
    ``flow [B,T,L]`` (zero where a link is not in operation); ``solved`` says which samples the
    batch path solved (the others need the one-by-one program); ``degenerate`` which of them
    have an optimum that is not unique (a bank or flow at a bound it could leave at no cost, a
    balance binding at a zero price, banks and flows that can trade places): prices,
    abatement, emissions and present-value gains are unique all the same, banks, flows, net
    imports and per-period costs are one optimum among several, chosen deterministically (the
    same on every executor); ``iterations`` the active-set iterations the batch took."""

    price: FloatArray
    abatement: FloatArray
    bank: FloatArray
    flow: FloatArray
    solved: BoolArray
    iterations: int
    degenerate: BoolArray | None = None
    states: _States | None = None  # the active set each sample ended in


def solve_batch(pa: PeriodArrays, bau: FloatArray, cap: FloatArray, slope: FloatArray, *,
                links: bool = True, states: _States | None = None,
                max_iterations: int | None = None) -> BatchSolution:
    """Solve the multi-period program of every sample (``bau``, ``cap`` ``[B,T,M]``, ``slope``
    ``[B,M]``; everything else from ``pa``) by the batched active-set iteration.

    A sample is solved when its point satisfies the KKT conditions (primal and dual feasible
    to :data:`TOL`); a degenerate KKT point is an optimum like any other, so it is kept and
    flagged (see :class:`BatchSolution`). A sample falls back (``solved`` False) when an
    exporter's issuance limit breaks (not modelled here), when its active set stops changing
    without being feasible, or after :data:`MAX_ITERATIONS`."""
    nb = bau.shape[0]
    nt, nm = pa.bau.shape
    st = _structure(pa, links)
    tm = st.tm
    bau_s = bau.reshape(nb, tm) / st.sq
    cap_s = cap.reshape(nb, tm) / st.sq
    c = st.sp / (st.d[None, :] * np.tile(slope, (1, nt)) * st.sq)  # a = c·λ, per (t, i)
    cur = states if states is not None else _initial_states(st, pa, nb, links)
    x = np.zeros((nb, st.n))
    done = np.zeros(nb, dtype=bool)
    failed = np.zeros(nb, dtype=bool)
    flat = np.zeros(nb, dtype=bool)
    final = _States(cur.slack.copy(), cur.top.copy(), cur.bank.copy(), cur.flow.copy())
    todo = np.arange(nb)
    cur = cur.take(todo)
    it = 0
    known = _cache_for(st, c)  # active set (hash) → inverse, singular, matrix
    limit = MAX_ITERATIONS if max_iterations is None else max_iterations
    while todo.size and it < limit:
        it += 1
        s = cur
        xs, singular, inconsistent = _solve_linear(st, s, c[todo],
                                                   _rhs(st, s, bau_s[todo], cap_s[todo]), known)
        ok, issuance, degenerate, nxt = _check(st, s, xs, bau_s[todo], cap_s[todo], c[todo])
        ok &= ~inconsistent
        x[todo] = xs
        # a singular set with abatement at the top of a MAC may leave a price itself free
        # (any price above the top of the MAC): that sample goes to the one-by-one program
        free_price = singular & s.top.any(axis=1)
        fin = ok & ~issuance & ~free_price
        done[todo[fin]] = True
        flat[todo[fin]] = (degenerate | singular)[fin]
        stuck = ~ok & _same(s, nxt)  # nowhere to go: the iteration cannot settle it
        stop = ((issuance | free_price) & ok) | stuck
        failed[todo[stop]] = True
        for name in ("slack", "top", "bank", "flow"):
            getattr(final, name)[todo[fin]] = getattr(s, name)[fin]
        keep = ~fin & ~stop
        todo = todo[keep]
        cur = nxt.take(np.flatnonzero(keep))
    solved = done & ~failed
    lam = x[:, :tm]
    a = np.where(final.slack, 0.0, np.where(final.top, bau_s, c * lam))
    price = np.maximum(lam, 0.0) * st.sp / st.d[None, :]
    flow = np.zeros((nb, nt, pa.src.size))
    flow[:, st.ft, st.fl] = x[:, 2 * tm:] * st.sq
    return BatchSolution(price=price.reshape(nb, nt, nm), abatement=(a * st.sq).reshape(nb, nt, nm),
                         bank=(x[:, tm:2 * tm] * st.sq).reshape(nb, nt, nm), flow=flow,
                         solved=solved, iterations=it, degenerate=flat & solved, states=final)


#: reference samples per design and process whose active sets start the others' iterations
REFERENCE_SAMPLES = 1024


@dataclass
class Reference:
    """Samples solved once per design and process (the design's first
    :data:`REFERENCE_SAMPLES` samples, whatever the batch): their shocked numbers, scaled, and
    the active sets they ended in, with and without links. A sample's iteration starts from the
    active set of its nearest reference sample instead of the unshocked design's: most samples
    then need one iteration, not three. Every executor and batch size sees the same references,
    so a sample's start — and the optimum it reaches when it is not unique — does not depend on
    where it runs."""

    mean: FloatArray
    axes: FloatArray  # features → coordinates along the shocks' principal axes
    features: FloatArray
    linked: _States
    autarky: _States
    tree: Any

    @staticmethod
    def build(pa: PeriodArrays, bau: FloatArray, cap: FloatArray, slope: FloatArray) -> Reference:
        from scipy.spatial import cKDTree

        f = _features(bau, cap, slope)
        mean = f.mean(axis=0)
        sd = f.std(axis=0)
        keep = sd > 1e-12 * (1.0 + np.abs(mean))
        # the shocks move the features along a few directions: their principal axes (a
        # low-dimensional tree answers fast)
        _, sv, vt = np.linalg.svd((f[:, keep] - mean[keep]) / sd[keep], full_matrices=False)
        axes = np.zeros((f.shape[1], int((sv > 1e-9 * sv[:1].max(initial=0.0)).sum())))
        axes[keep] = (vt[:axes.shape[1]] / sd[keep]).T
        z = np.einsum("bk,kj->bj", f - mean, axes)
        linked = solve_batch(pa, bau, cap, slope).states
        autarky = solve_batch(pa, bau, cap, slope, links=False).states
        assert linked is not None and autarky is not None
        return Reference(mean, axes, z, linked, autarky, cKDTree(z))

    def start(self, bau: FloatArray, cap: FloatArray, slope: FloatArray, *,
              links: bool = True) -> _States:
        """The starting active sets of these samples (their nearest reference's)."""
        # einsum, not BLAS: a sample's coordinates (so its start) must not depend on the
        # batch it shares the call with
        z = np.einsum("bk,kj->bj", _features(bau, cap, slope) - self.mean, self.axes)
        _, near = self.tree.query(z, k=1)
        return (self.linked if links else self.autarky).take(np.asarray(near, dtype=np.int64))


def _features(bau: FloatArray, cap: FloatArray, slope: FloatArray) -> FloatArray:
    nb = bau.shape[0]
    return np.concatenate([(bau - cap).reshape(nb, -1), np.log(slope)], axis=1)


def _same(a: _States, b: _States) -> BoolArray:
    return np.asarray((a.slack == b.slack).all(axis=1) & (a.top == b.top).all(axis=1)
                      & (a.bank == b.bank).all(axis=1) & (a.flow == b.flow).all(axis=1), dtype=bool)


def solve_direct(pa: PeriodArrays, bau: FloatArray, cap: FloatArray, slope: FloatArray, *,
                 links: bool = True) -> tuple[BatchSolution, BoolArray]:
    """The samples the batch did not settle, one program each: the multi-period program
    (:func:`~carbonlink.markets.multiperiod.solve_periods`, HiGHS) on each sample's arrays —
    not the whole ``simulate_periods`` path with its scenario document and tables. When HiGHS
    gives up on a sample (seen: "Solve error" on a program the batch path solves), the
    active-set iteration runs again on it alone from a plain start. Returns the solutions
    (``solved`` False where the sample is infeasible or both routes failed) and which samples
    failed (no answer at all: the caller reports them as NaN and counts them)."""
    from dataclasses import replace

    nb = bau.shape[0]
    nt, nm = pa.bau.shape
    out = BatchSolution(price=np.full((nb, nt, nm), math.nan), abatement=np.full((nb, nt, nm), math.nan),
                        bank=np.full((nb, nt, nm), math.nan), flow=np.zeros((nb, nt, pa.src.size)),
                        solved=np.zeros(nb, dtype=bool), iterations=0,
                        degenerate=np.zeros(nb, dtype=bool))
    failed = np.zeros(nb, dtype=bool)
    for b in range(nb):
        one = replace(pa, bau=bau[b], cap=cap[b], slope=slope[b])
        try:
            s = solve_periods(one, links=links)
        except SolverError:
            st = _structure(one, links)
            again = solve_batch(one, bau[b:b + 1], cap[b:b + 1], slope[b:b + 1], links=links,
                                states=_plain_states(st, 1), max_iterations=RETRY_ITERATIONS)
            if not again.solved[0]:
                failed[b] = True
                continue
            for name in ("price", "abatement", "bank", "flow"):
                getattr(out, name)[b] = getattr(again, name)[0]
            out.solved[b] = True
            assert out.degenerate is not None and again.degenerate is not None
            out.degenerate[b] = again.degenerate[0]
            continue
        if s.status != "optimal":  # infeasible: NaN rows, as the one-by-one program reports
            continue
        out.price[b], out.abatement[b], out.bank[b], out.flow[b] = s.price, s.abatement, s.bank, s.flow
        out.solved[b] = True
    return out, failed


# ------------------------------------------------------------------------------------------
# results as the one-by-one rows
# ------------------------------------------------------------------------------------------
def period_values(pa: PeriodArrays, bau: FloatArray, slope: FloatArray, sol: BatchSolution,
                  aut: BatchSolution) -> FloatArray:
    """Per sample the values of the long rows ``[B, R]``: for each variable of
    :data:`PERIOD_VARIABLES` one value per (period, market); the gain per market (present
    value, autarky minus linked); per link in operation and period, 1.0 when the flow is at its
    quota."""
    nb = bau.shape[0]
    nt, nm = pa.bau.shape
    ft, fl = np.nonzero(pa.active)
    cc = _compliance(pa, slope, sol)
    cc_aut = _compliance(pa, slope, aut)
    d = pa.discount[None, :, None]
    gain = (d * cc_aut).sum(axis=1) - (d * cc).sum(axis=1)
    x = sol.flow[:, ft, fl]
    q = pa.quota[fl]
    binding = (np.isfinite(q) & (x >= q * (1 - 1e-7))).astype(np.float64)
    net = np.zeros((nb, nt, nm))
    np.add.at(net.transpose(1, 2, 0), (ft, pa.dst[fl]), (pa.factor[fl] * x).T)
    np.add.at(net.transpose(1, 2, 0), (ft, pa.src[fl]), -x.T)
    cols = [sol.price, bau - sol.abatement, sol.abatement, net, np.maximum(sol.bank, 0.0), cc]
    return np.concatenate([c.reshape(nb, nt * nm) for c in cols] + [gain, binding], axis=1)


def _compliance(pa: PeriodArrays, slope: FloatArray, s: BatchSolution) -> FloatArray:
    """Compliance cost per (period, market), current value: abatement cost plus payments for
    imports (at the exporter's price, plus the transfer tax) minus receipts for exports."""
    nt, nm = pa.bau.shape
    ft, fl = np.nonzero(pa.active)
    cost = 0.5 * slope[:, None, :] * s.abatement ** 2
    x = s.flow[:, ft, fl]
    unit = s.price[:, ft, pa.src[fl]]
    view = cost.transpose(1, 2, 0)
    np.add.at(view, (ft, pa.dst[fl]), (x * (unit + pa.tax[fl])).T)
    np.add.at(view, (ft, pa.src[fl]), (-x * unit).T)
    return cost


def row_labels(sc: Scenario, pa: PeriodArrays) -> tuple[list[str], list[str], list[str]]:
    """Market, variable and unit of each value of :func:`period_values` (its ``R`` columns)."""
    from carbonlink.markets.sweep import units_of

    qty, cur = sc.markets[0].unit, sc.markets[0].currency or "money"
    ids = [m.id for m in sc.markets]
    markets: list[str] = []
    variables: list[str] = []
    units: list[str] = []
    for var in PERIOD_VARIABLES:
        for year in pa.years.tolist():
            for m in ids:
                markets.append(m)
                variables.append(f"{var}|{year}")
                units.append(units_of(var, qty, cur))
    for m in ids:
        markets.append(m)
        variables.append("gain")
        units.append(units_of("gain", qty, cur))
    ft, fl = np.nonzero(pa.active)
    for t, li in zip(ft.tolist(), fl.tolist(), strict=True):
        markets.append(f"{ids[pa.src[li]]}>{ids[pa.dst[li]]}")
        variables.append(f"binding|{pa.years[t]}")
        units.append("")
    return markets, variables, units


def one_by_one_values(sc: Scenario, pa: PeriodArrays) -> FloatArray:
    """The values of :func:`period_values` for one sample from the one-by-one program (NaN
    everywhere when the sample is infeasible)."""
    from carbonlink.markets.multiperiod import simulate_periods

    nt, nm = pa.bau.shape
    ft, fl = np.nonzero(pa.active)
    n_rows = len(PERIOD_VARIABLES) * nt * nm + nm + ft.size
    res = simulate_periods(sc)
    if res.status != "optimal" or res.present_value.empty:
        return np.full(n_rows, math.nan)
    cols = [res.markets[v].to_numpy(dtype=np.float64) for v in PERIOD_VARIABLES]
    gain = res.present_value["gain"].to_numpy(dtype=np.float64)
    binding = res.links["binding"].to_numpy(dtype=np.float64)
    return np.concatenate(cols + [gain, binding])
