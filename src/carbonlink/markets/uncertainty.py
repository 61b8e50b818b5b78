"""Monte Carlo over a scenario's ``uncertainty``: shocks drawn per sample, solved per design.

Sample ``k`` draws its standard normals from its own seed, ``SeedSequence(seed).spawn(N)[k]``
(the uniform words of its state through Φ⁻¹, computed for a whole batch at once: see
:func:`spawned_state`), so a sample's numbers depend only on the seed and ``k`` — never on the
executor, the batch size or the number of workers. The
draws are correlated by the Cholesky factor of the ``correlation`` matrix (a Gaussian copula)
and turned into factors by each shock's distribution (:class:`carbonlink.model.scenario.ShockSpec`).
Every design (a point of a ``--set`` grid) sees the same samples (common random numbers), so
designs differ by their design alone.

Results are pyam-style long rows (``scenario, design, sample, market, variable, unit, value``)
as in :mod:`carbonlink.markets.sweep`, plus a ``binding`` row per link (1 when its quota or
entity limit binds); :func:`summarise` gives per design and market the price mean, standard
deviation and quantiles, the expected gain and its standard deviation, and per link the
probability that it binds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri
from scipy.stats import norm

from carbonlink.errors import DocumentError
from carbonlink.markets import batch
from carbonlink.markets.shocks import Shock, apply_shocks
from carbonlink.model.scenario import Scenario, Uncertainty

FloatArray = npt.NDArray[np.float64]

SAMPLE_COLUMNS = ["scenario", "design", "sample", "market", "variable", "unit", "value"]
QUANTILES = (0.05, 0.5, 0.95)


_MASK32 = np.uint64(0xFFFFFFFF)
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715


def _words32(v: int) -> list[int]:
    out = []
    while True:
        out.append(v & 0xFFFFFFFF)
        v >>= 32
        if not v:
            return out


def spawned_state(seed: int, keys: npt.ArrayLike, n_words: int) -> npt.NDArray[np.uint32]:
    """``SeedSequence(seed).spawn(N)[k].generate_state(n_words)`` for every ``k`` in ``keys``
    at once: numpy's SeedSequence hash (``numpy/random/bit_generator.pyx``: ``mix_entropy``,
    ``generate_state``; pool size 4) in 32-bit integer arithmetic over arrays, so a sample's
    seed costs no Python call (tested equal to numpy's own)."""
    ks = np.asarray(keys, dtype=np.uint64).ravel()
    if ks.size and int(ks.max()) >= 2 ** 32:
        raise DocumentError("--samples", "at most 2**32 samples")
    run = _words32(int(seed))
    run += [0] * max(0, 4 - len(run))  # padded to the pool size when a spawn key follows
    cols = [np.full(ks.size, w, dtype=np.uint64) for w in run] + [ks]
    hc = _INIT_A

    def hashmix(value: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        nonlocal hc
        value = (value ^ np.uint64(hc)) & _MASK32
        hc = (hc * _MULT_A) & 0xFFFFFFFF
        value = (value * np.uint64(hc)) & _MASK32
        return value ^ (value >> np.uint64(16))

    def mix(x: npt.NDArray[np.uint64], y: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        r = (np.uint64(_MIX_L) * x - np.uint64(_MIX_R) * y) & _MASK32
        return r ^ (r >> np.uint64(16))

    mixer = [hashmix(cols[i]) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                mixer[dst] = mix(mixer[dst], hashmix(mixer[src]))
    for src in range(4, len(cols)):
        for dst in range(4):
            mixer[dst] = mix(mixer[dst], hashmix(cols[src]))
    out = np.empty((ks.size, n_words), dtype=np.uint32)
    hb = _INIT_B
    with np.errstate(over="ignore"):
        for i in range(n_words):
            v = (mixer[i % 4] ^ np.uint64(hb)) & _MASK32
            hb = (hb * _MULT_B) & 0xFFFFFFFF
            v = (v * np.uint64(hb)) & _MASK32
            out[:, i] = v ^ (v >> np.uint64(16))
    return out


def standard_normals(seed: int, start: int, stop: int, k: int) -> FloatArray:
    """Standard normals ``[stop − start, k]``: row ``s`` from sample ``start + s``'s spawned seed
    (two 32-bit words of its state per draw → a uniform in (0, 1) with 53 bits → Φ⁻¹)."""
    words = spawned_state(seed, np.arange(start, stop, dtype=np.uint64), 2 * k).astype(np.uint64)
    bits = (words[:, 0::2] << np.uint64(32)) | words[:, 1::2]
    u = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53
    return np.asarray(ndtri(u), dtype=np.float64)


def draw_factors(unc: Uncertainty, n: int, *, start: int = 0) -> FloatArray:
    """Factors ``[n, shocks]`` of samples ``start … start + n − 1``: row ``k`` from sample
    ``k``'s own spawned seed, so any range of samples is drawn alone (a batch on a worker)."""
    k = len(unc.shocks)
    z = standard_normals(unc.seed, start, start + n, k)
    if unc.correlation is not None:
        c = np.asarray(unc.correlation, dtype=np.float64)
        # a semi-definite matrix (perfect correlation) has no Cholesky factor: use its
        # symmetric square root from the eigen decomposition instead
        w, v = np.linalg.eigh(c)
        root = v * np.sqrt(np.clip(w, 0.0, None))
        z = np.einsum("nk,jk->nj", z, root)  # not BLAS: equal bits for any batch size
    out = np.empty((n, k))
    for j, sh in enumerate(unc.shocks):
        if sh.distribution == "normal":
            assert sh.sd is not None
            out[:, j] = np.maximum(1.0 + sh.mean + sh.sd * z[:, j], 0.0)
        elif sh.distribution == "lognormal":
            assert sh.sigma is not None
            out[:, j] = np.exp(sh.sigma * z[:, j] - 0.5 * sh.sigma ** 2)
        else:
            assert sh.low is not None and sh.high is not None
            out[:, j] = sh.low + (sh.high - sh.low) * norm.cdf(z[:, j])
    return out


def sample_scenarios(design: Scenario, factors: FloatArray) -> list[Scenario]:
    """``design`` with each sample's shocks applied."""
    unc = design.uncertainty
    assert unc is not None
    return [apply_shocks(design, [Shock(sh.market, sh.variable, float(f), sh.period)
                                  for sh, f in zip(unc.shocks, row, strict=True)])
            for row in factors]


Job = tuple[Scenario, str, str, int, int]  # scenario, engine, name, design, sample


def _rows(job: Job) -> list[dict[str, Any]]:
    from carbonlink.markets import simulate
    from carbonlink.markets.sweep import long_rows

    sc, engine, name, design, sample = job
    if sc.periods is not None:
        return _period_rows(job)
    result = simulate(sc, engine=engine)
    rows = long_rows(result, name, sample)
    for _, lk in result.links.iterrows():
        rows.append({"scenario": name, "sample": sample, "market": f"{lk['from']}>{lk['to']}",
                     "variable": "binding", "unit": "", "value": float(bool(lk["binding"]))})
    for r in rows:
        r["design"] = design
    return rows


def _period_rows(job: Job) -> list[dict[str, Any]]:
    """A multi-period sample: variables named ``VARIABLE|YEAR`` (prices in current value), and
    the stability mechanisms of the markets that have them
    (:func:`carbonlink.markets.sweep.period_long_rows`)."""
    from carbonlink.markets.multiperiod import simulate_periods
    from carbonlink.markets.sweep import period_long_rows

    sc, _engine, name, design, sample = job
    rows = period_long_rows(simulate_periods(sc), name, sample)
    for r in rows:
        r["design"] = design
    return rows


@dataclass
class Chunk:
    """The results of one batch of samples of one design: ``values[s, r]`` is sample
    ``samples[s]``'s value of row label ``r`` (``markets[r]``, ``variables[r]``, ``units[r]``);
    NaN where a sample has no such row (an infeasible sample). ``batched``: samples the batch
    path solved; ``fallback``: samples it sent to the one-by-one program; ``one_by_one``:
    samples of a design the batch path does not cover (``reason``); ``failed``: fallback
    samples on which the one-by-one solver itself gave up (their values are NaN)."""

    index: int
    design: int
    samples: npt.NDArray[np.int64]
    markets: list[str]
    variables: list[str]
    units: list[str]
    values: FloatArray
    batched: int = 0
    fallback: int = 0
    one_by_one: int = 0
    reason: str | None = None
    failed: int = 0
    degenerate: int = 0  # batched samples whose banks and flows are one optimum of several

    def frame(self, name: str) -> pd.DataFrame:
        """The chunk in long format (:data:`SAMPLE_COLUMNS`), sample by sample."""
        n, r = self.values.shape
        return pd.DataFrame({
            "scenario": name, "design": self.design,
            "sample": np.repeat(self.samples, r),
            "market": np.tile(np.array(self.markets, dtype=object), n),
            "variable": np.tile(np.array(self.variables, dtype=object), n),
            "unit": np.tile(np.array(self.units, dtype=object), n),
            "value": self.values.ravel(),
        }, columns=SAMPLE_COLUMNS)

    def arrow(self, name: str, extra: Mapping[str, Any] | None = None,
              types: Mapping[str, Any] | None = None) -> Any:
        """The chunk as a pyarrow table (labels dictionary-encoded: no string copies), with
        constant ``extra`` columns (the design's parameters)."""
        import pyarrow as pa

        n, r = self.values.shape
        idx = pa.array(np.tile(np.arange(r, dtype=np.int32), n))

        def labels(values: list[str]) -> Any:
            return pa.DictionaryArray.from_arrays(idx, pa.array(values, type=pa.string()))

        cols = {
            "scenario": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n * r, dtype=np.int32)),
                                                       pa.array([name], type=pa.string())),
            "design": pa.array(np.full(n * r, self.design, dtype=np.int64)),
            "sample": pa.array(np.repeat(self.samples, r)),
            "market": labels(self.markets), "variable": labels(self.variables),
            "unit": labels(self.units), "value": pa.array(self.values.ravel()),
        }
        for k, v in (extra or {}).items():
            typ = (types or {}).get(k, pa.string())
            missing = v is None or (isinstance(v, float) and math.isnan(v))
            value = None if missing else (str(v) if typ == pa.string() else v)
            cols[k] = pa.array([value] * (n * r), type=typ)
        return pa.table(cols)

    def summarised(self) -> Chunk:
        """The chunk cut to the rows :class:`SummaryAccumulator` keeps (``price``, ``gain``,
        ``binding``) and its counts: what a worker that wrote its part sends back."""
        keep = [r for r, v in enumerate(self.variables) if v.split("|")[0] in _SUMMARISED]
        return replace(self, markets=[self.markets[r] for r in keep],
                       variables=[self.variables[r] for r in keep],
                       units=[self.units[r] for r in keep],
                       values=np.ascontiguousarray(self.values[:, keep]))

    def receipt(self) -> Chunk:
        """The chunk without its values: its task, samples and counts (what the client needs for
        progress, order and statistics while the values stay on the worker)."""
        return replace(self, markets=[], variables=[], units=[],
                       values=np.empty((self.samples.size, 0)))


def summary_of(chunks: Sequence[Chunk], part: int = 0, parts: int = 1) -> pd.DataFrame:
    """:class:`SummaryAccumulator`'s table of ``chunks`` taken in task order (the order the
    client takes them in), so the numbers do not depend on where it runs. With ``parts`` > 1
    only its rows ``part``, ``part + parts``, … (:class:`SummaryOf` shares the table out)."""
    keys = None
    if parts > 1:
        every = sorted({(c.design, m, v, u) for c in chunks
                        for m, v, u in zip(c.markets, c.variables, c.units, strict=True)
                        if v.split("|")[0] in _SUMMARISED})
        keys = set(every[part::parts])
    acc = SummaryAccumulator()
    for c in sorted(chunks, key=lambda c: c.index):
        acc.add(c, keys)
    return acc.summary()


@dataclass(frozen=True)
class SummaryOf:
    """:func:`summary_of` as the reduce of a sweep on a ``dask.distributed`` cluster
    (:func:`execute`). Called, one task; :meth:`split` shares the table out over ``n`` tasks
    (row ``i`` of the table to task ``i mod n``: each summarises its rows from every chunk,
    one per worker, so the workers fetch each other's chunks and sort their columns side by
    side, not one after the other), and :meth:`join` puts their rows back in order — the same
    table, bit for bit (tested)."""

    def __call__(self, chunks: Sequence[Chunk]) -> pd.DataFrame:
        return summary_of(chunks)

    def split(self, n: int) -> list[Callable[[Sequence[Chunk]], pd.DataFrame]]:
        return [partial(summary_of, part=k, parts=n) for k in range(n)]

    @staticmethod
    def join(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
        n = len(frames)
        kept = [(k, f) for k, f in enumerate(frames) if len(f)]
        if not kept:
            return frames[0]
        # row j of part k is row k + j·n of the table
        at = np.concatenate([k + n * np.arange(len(f)) for k, f in kept])
        joined = pd.concat([f for _, f in kept], ignore_index=True)
        return joined.iloc[np.argsort(at, kind="stable")].reset_index(drop=True)


#: a batch of samples: task index, design index, design, engine, first sample, end
Task = tuple[int, int, Scenario, str, int, int]


def solve_task(task: Task) -> Chunk:
    """Solve samples ``start … stop − 1`` of a design: through the batch path
    (:mod:`carbonlink.markets.batch`) when it covers the design, else one by one. The draws
    come from each sample's own seed, so a task needs nothing but its range."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController

        # found once per process: a fresh ``threadpool_limits`` scans the loaded libraries
        # again, 3 ms a task
        _THREADPOOLS = ThreadpoolController()
    # one BLAS thread: the matrices are small (a threaded OpenBLAS made a 44×44 SVD 20×
    # slower on a busy 2-core machine), and the executors give each worker its own core
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        return _solve_task(task)


#: this process's BLAS and OpenMP thread pools (:func:`solve_task`)
_THREADPOOLS: Any = None


def _solve_task(task: Task) -> Chunk:
    index, d, design, engine, start, stop = task
    unc = design.uncertainty
    assert unc is not None
    factors = draw_factors(unc, stop - start, start=start)
    samples = np.arange(start, stop, dtype=np.int64)
    reason = batch.unsupported(design)
    if reason is None:
        return _batched_chunk(index, d, design, factors, samples)
    jobs: list[Job] = [(sc, engine, design.name, d, int(k))
                       for k, sc in zip(samples, sample_scenarios(design, factors), strict=True)]
    labels: dict[tuple[str, str, str], int] = {}
    per_sample: list[list[tuple[int, float]]] = []
    for job in jobs:
        got = []
        for row in _rows(job):
            key = (str(row["market"]), str(row["variable"]), str(row["unit"]))
            got.append((labels.setdefault(key, len(labels)), float(row["value"])))
        per_sample.append(got)
    values = np.full((len(jobs), len(labels)), np.nan)
    for s, got in enumerate(per_sample):
        for col, v in got:
            values[s, col] = v
    keys = list(labels)
    return Chunk(index, d, samples, [k[0] for k in keys], [k[1] for k in keys],
                 [k[2] for k in keys], values, one_by_one=len(jobs), reason=reason)


def _batched_chunk(index: int, d: int, design: Scenario, factors: FloatArray,
                   samples: npt.NDArray[np.int64]) -> Chunk:
    from carbonlink.markets.multiperiod import period_arrays

    unc = design.uncertainty
    assert unc is not None
    pa = period_arrays(design)
    bau, cap, slope = batch.shocked_arrays(design, pa, unc, factors)
    ref = _reference(design, pa, unc)
    sol = batch.solve_batch(pa, bau, cap, slope, states=ref.start(bau, cap, slope))
    aut = (batch.solve_batch(pa, bau, cap, slope, links=False,
                             states=ref.start(bau, cap, slope, links=False))
           if pa.src.size else sol)
    values = batch.period_values(pa, bau, slope, sol, aut)
    redo = np.flatnonzero(~(sol.solved & aut.solved))
    failed = 0
    if redo.size:
        # one program each, straight from the arrays (HiGHS, then the active-set iteration
        # from a plain start if HiGHS gives up); NaN only when both fail, counted
        one, bad = batch.solve_direct(pa, bau[redo], cap[redo], slope[redo])
        if pa.src.size:
            one_aut, bad_aut = batch.solve_direct(pa, bau[redo], cap[redo], slope[redo], links=False)
        else:
            one_aut, bad_aut = one, bad
        with np.errstate(invalid="ignore"):
            redone = batch.period_values(pa, bau[redo], slope[redo], one, one_aut)
        redone[~one.solved] = np.nan  # infeasible (or failed): no row, as one by one
        values[redo] = redone
        failed = int((bad | bad_aut).sum())
    markets, variables, units = batch.row_labels(design, pa)
    assert sol.degenerate is not None
    return Chunk(index, d, samples, markets, variables, units, values,
                 batched=samples.size - redo.size, fallback=int(redo.size), failed=failed,
                 degenerate=int((sol.degenerate & aut.solved).sum()))


_REFERENCES: dict[str, batch.Reference] = {}


def _reference(design: Scenario, pa: Any, unc: Uncertainty) -> batch.Reference:
    """The design's reference samples (:class:`~carbonlink.markets.batch.Reference`), solved
    once per process: its first samples, the same whichever batch asks."""
    key = design.model_dump_json()
    ref = _REFERENCES.get(key)
    if ref is None:
        factors = draw_factors(unc, batch.REFERENCE_SAMPLES)
        ref = batch.Reference.build(pa, *batch.shocked_arrays(design, pa, unc, factors))
        while len(_REFERENCES) >= 4:  # a few designs at a time: memory stays bounded
            del _REFERENCES[next(iter(_REFERENCES))]
        _REFERENCES[key] = ref
    return ref


@dataclass
class SweepStats:
    """How the samples of a run were solved (see :class:`Chunk`)."""

    samples: int = 0
    batched: int = 0
    fallback: int = 0
    one_by_one: int = 0
    failed: int = 0
    reasons: dict[int, str] = field(default_factory=dict)
    degenerate: int = 0

    def add(self, c: Chunk) -> None:
        self.samples += c.samples.size
        self.batched += c.batched
        self.fallback += c.fallback
        self.one_by_one += c.one_by_one
        self.failed += c.failed
        self.degenerate += c.degenerate
        if c.reason is not None:
            self.reasons[c.design] = c.reason


def tasks_of(designs: Sequence[Scenario], n: int, *, engine: str = "fast",
             batch_size: int | None = None) -> list[Task]:
    """The batches of ``n`` samples of every design (batch path: 5,000 samples a task by
    default; one-by-one designs: 64)."""
    out: list[Task] = []
    for d, design in enumerate(designs):
        size = batch_size or (5000 if batch.unsupported(design) is None else 64)
        for start in range(0, n, max(size, 1)):
            out.append((len(out), d, design, engine, start, min(start + size, n)))
    return out


def execute(tasks: Sequence[Task], on_chunk: Callable[[Chunk], None], *,
            executor: str = "serial", max_workers: int | None = None, retries: int = 3,
            fn: Callable[[Task], Chunk] = solve_task,
            reduce: Callable[[Sequence[Chunk]], Any] | None = None) -> Any:
    """Run ``fn`` (:func:`solve_task`, or a :class:`PartWriter` that also writes the batch's
    part of the output) on every task on ``executor``, calling ``on_chunk`` with each result
    in the order they finish. At most a few tasks per worker are in flight at a time, so
    results do not pile up in memory. ``dask``: on the running ``dask.distributed`` client (a
    task lost with its worker is run again, up to ``retries`` times), else on dask's local
    scheduler.

    ``reduce`` (a ``dask.distributed`` client only): the chunks stay on the workers, the client
    gets each one's :meth:`Chunk.receipt` (for ``on_chunk``), and ``reduce(chunks)`` runs as one
    last task on a worker; its result is returned (``None`` on the other executors, where the
    caller reduces what ``on_chunk`` gave it). A ``reduce`` with ``split(n)`` and ``join``
    (:class:`SummaryOf`) runs as one task per worker instead, ``join`` combining their
    results. In a ``LocalCluster`` the client process also
    hosts the scheduler on the workers' cores: receiving and keeping every chunk there took
    most of its CPU."""
    if executor == "serial":
        for t in tasks:
            on_chunk(fn(t))
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=max_workers) as pool:
            window = 2 * (max_workers or os.cpu_count() or 1)
            todo = list(tasks)[::-1]
            running: set[Future[Chunk]] = set()
            while todo or running:
                while todo and len(running) < window:
                    running.add(pool.submit(fn, todo.pop()))
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    on_chunk(fut.result())
    elif executor == "dask":
        try:
            import dask
        except ImportError:  # pragma: no cover - depends on the extra
            raise DocumentError("--executor", "dask is not installed (pip install "
                                "'carbonlink[dask]')") from None
        client = _distributed_client()
        if client is not None:
            from distributed import as_completed as dask_completed

            addresses = list(client.scheduler_info().get("workers", {}))
            nw = max(len(addresses), 1)
            # a task is small (the design pickles to a few kB: 3.7 kB for the five-market
            # example, so it travels with each task rather than scattered — scattered data
            # dies with its worker, a task is simply run again) and its result compact (a
            # Chunk: the values array and the row labels; with a PartWriter only the
            # summarised rows, 34 numbers a sample for the five-market example)

            kept: list[Any] = []    # with reduce: every task's chunk, left on its worker

            def submit(t: Task) -> Any:
                fut = client.submit(fn, t, pure=False, retries=retries)
                if reduce is None:
                    return fut
                kept.append(fut)     # its receipt runs where the chunk is (nothing moves)
                return client.submit(Chunk.receipt, fut, pure=False, retries=retries)

            todo = list(tasks)[::-1]
            last: Any = None  # the reduce task(s), submitted with the last batch

            def queue_reduce() -> Any:
                assert reduce is not None
                split = getattr(reduce, "split", None)
                if split is None or len(addresses) < 2:
                    return client.submit(reduce, kept, pure=False, retries=retries)
                # one share of the reduce per worker, each started where it is sent (any
                # other worker if that one is lost)
                return [client.submit(f, kept, pure=False, retries=retries, workers=[a],
                                      allow_other_workers=True)
                        for f, a in zip(split(len(addresses)), addresses, strict=True)]

            def feed() -> Any:
                nonlocal last
                fut = submit(todo.pop())
                if reduce is not None and not todo:
                    # queued now, so it starts on a worker the moment the last chunk is
                    # there, not a round trip through this process later; a chunk lost with
                    # its worker is computed again for it (its part rewritten under the same
                    # name)
                    last = queue_reduce()
                return fut

            pending = dask_completed([feed() for _ in range(min(3 * nw, len(todo)))])
            for fut in pending:
                chunk = fut.result()
                fut.release()
                on_chunk(chunk)
                if todo:
                    pending.add(feed())
            if reduce is not None:
                if last is None:  # no tasks at all
                    last = queue_reduce()
                if isinstance(last, list):
                    split_reduce: Any = reduce  # a SummaryOf-like reduce
                    return split_reduce.join(client.gather(last))
                return last.result()
        else:  # dask's default scheduler on this machine
            step = 4 * (os.cpu_count() or 1)
            for i in range(0, len(tasks), step):
                for chunk in dask.compute(*[dask.delayed(fn)(t)
                                            for t in tasks[i:i + step]]):
                    on_chunk(chunk)
    else:
        raise DocumentError("--executor", f"must be serial, process or dask, got {executor!r}")


class InOrder:
    """Passes chunks on in task order (buffering those that finish early)."""

    def __init__(self, sink: Callable[[Chunk], None]) -> None:
        self.sink, self.next, self.held = sink, 0, dict[int, Chunk]()

    def __call__(self, c: Chunk) -> None:
        self.held[c.index] = c
        while self.next in self.held:
            self.sink(self.held.pop(self.next))
            self.next += 1


def run_samples(designs: Sequence[Scenario], n: int, *, name: str = "sweep",
                engine: str = "fast", executor: str = "serial", max_workers: int | None = None,
                batch_size: int | None = None, progress: Callable[[int], None] | None = None,
                stats: SweepStats | None = None) -> pd.DataFrame:
    """Solve ``n`` samples of every design; the long frame, ordered by design and sample.
    ``progress(k)`` is called as each batch of ``k`` samples finishes; ``stats`` (if given)
    counts how they were solved. For more samples than fit in memory use :func:`stream_samples`."""
    frames: list[pd.DataFrame] = []

    def keep(c: Chunk) -> None:
        frames.append(c.frame(name))

    _run(designs, n, keep, engine=engine, executor=executor, max_workers=max_workers,
         batch_size=batch_size, progress=progress, stats=stats)
    if not frames:  # pragma: no cover - n >= 1 is checked
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def _run(designs: Sequence[Scenario], n: int, sink: Callable[[Chunk], None], *, engine: str,
         executor: str, max_workers: int | None, batch_size: int | None,
         progress: Callable[[int], None] | None, stats: SweepStats | None,
         fn: Callable[[Task], Chunk] = solve_task,
         reduce: Callable[[Sequence[Chunk]], Any] | None = None) -> Any:
    if n < 1:
        raise DocumentError("--samples", f"must be >= 1, got {n}")
    if not designs or designs[0].uncertainty is None:
        raise DocumentError("uncertainty", "sampling needs an `uncertainty` section (shocks)")
    # every design sees the same draws (common random numbers): the first design's shocks
    unc = designs[0].uncertainty
    designs = [d.model_copy(update={"uncertainty": unc}) for d in designs]
    ordered = InOrder(sink)

    def on_chunk(c: Chunk) -> None:
        if stats is not None:
            stats.add(c)
        ordered(c)
        if progress is not None:
            progress(int(c.samples.size))

    return execute(tasks_of(designs, n, engine=engine, batch_size=batch_size), on_chunk,
                   executor=executor, max_workers=max_workers, fn=fn, reduce=reduce)


#: a part of a streamed output: ``part-{task index:08d}.parquet`` (or ``.csv``), so the parts
#: sort by name in task order (design, then sample) and a batch run again overwrites its own
PART = "part-{index:08d}{suffix}"


@dataclass(frozen=True)
class PartWriter:
    """A task function (picklable: it travels with every task) that solves a batch
    (:func:`solve_task`), writes its rows to ``folder/part-{index:08d}.parquet`` (or ``.csv``,
    no header) and returns only the summarised rows (:meth:`Chunk.summarised`): the encoding
    and compression happen where the batch was solved — on a dask or pool worker — and the
    client only coordinates. The part is written to a temporary name starting with ``.``
    (which readers skip) and renamed over its final name, so a batch run again after its
    worker died overwrites its own part, never adds a second one or leaves a half-written one.
    The worker does not create ``folder``: a worker that cannot see it fails rather than
    writing somewhere the client will never look."""

    folder: str
    name: str
    suffix: str  # ".parquet" or ".csv"
    params: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    types: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, task: Task) -> Chunk:
        chunk = solve_task(task)
        self.write(chunk)
        return chunk.summarised()

    def path(self, index: int) -> Path:
        return Path(self.folder) / PART.format(index=index, suffix=self.suffix)

    def write(self, c: Chunk) -> Path:
        import uuid

        final = self.path(c.index)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            if self.suffix == ".parquet":
                import pyarrow.parquet as pq

                table = c.arrow(self.name, self.params.get(c.design), self.types)
                # dictionary pages for the repeated columns, none for the values (all distinct:
                # a dictionary attempt only costs); min/max statistics on design and sample
                # (row groups a reader can skip)
                names = table.schema.names
                pq.write_table(table, tmp, use_dictionary=[k for k in names if k != "value"],
                               write_statistics=[k for k in ("design", "sample") if k in names])
            else:
                frame = c.frame(self.name)
                for k, v in self.params.get(c.design, {}).items():
                    frame[k] = v
                with tmp.open("x", encoding="utf-8", newline="") as fh:
                    frame.to_csv(fh, index=False, header=False)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final


def stream_samples(designs: Sequence[Scenario], n: int, out: Path, *, name: str = "sweep",
                   design_table: pd.DataFrame | None = None, engine: str = "fast",
                   executor: str = "serial", max_workers: int | None = None,
                   batch_size: int | None = None, progress: Callable[[int], None] | None = None,
                   stats: SweepStats | None = None) -> pd.DataFrame:
    """Solve ``n`` samples of every design, writing the long rows to ``out`` batch by batch,
    so memory does not grow with ``n``; returns the per-design summary (:func:`summarise`'s
    columns), kept from the summarised variables only.

    Each batch's rows are encoded where the batch was solved (a :class:`PartWriter` on the
    worker), so the client process — which in a dask ``LocalCluster`` also hosts the scheduler
    — only coordinates and keeps the summarised variables:

    * ``.parquet``: ``out`` is a **Parquet dataset directory**, one file per batch
      (``part-00000000.parquet``, …, in design and sample order by name);
      ``pandas.read_parquet(out)`` reads it in that order;
    * ``.csv``: one CSV file; the workers write headerless parts and the client appends them
      in order (a byte copy).

    The output appears complete or not at all: parts go to ``.NAME.partial`` beside ``out``,
    renamed to ``out`` at the end (a previous ``out`` is replaced). On a remote dask cluster
    (``--scheduler``) the workers write the parts, so ``out`` must be on a filesystem they
    share with the client: checked before the first batch (:class:`DocumentError` on
    ``--out`` if a worker cannot see the folder)."""
    import shutil

    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DocumentError("--out", f"streamed samples go to .parquet or .csv, got {out.name!r}")
    params: dict[int, dict[str, Any]] = {}
    types: dict[str, Any] = {}
    if design_table is not None:
        import pyarrow as pa

        for col in design_table.columns:
            if col != "design":
                try:  # one type per column over every design (a quota: numbers and nulls)
                    types[str(col)] = pa.array(design_table[col].tolist()).type
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    types[str(col)] = pa.string()
        for row in design_table.to_dict("records"):
            d = int(row.pop("design"))
            params[d] = {str(k): v for k, v in row.items()}
    out = out.absolute()  # the workers resolve it, maybe from another working directory
    if out.is_dir() and not _earlier_output(out):
        raise DocumentError("--out", f"{out} is a directory holding files other than an earlier "
                            "sweep's part-NNNNNNNN.parquet: it would be replaced, so choose "
                            "another path (or remove it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = out.with_name(f".{out.name}.partial")
    _remove(parts)
    parts.mkdir()
    writer = PartWriter(str(parts), name, suffix, params, types)
    acc = SummaryAccumulator()
    joined = out.with_name(f".{out.name}.joined")  # CSV: the parts appended in order
    fh: Any = None
    try:
        if executor == "dask":
            _check_shared(parts)
        if suffix == ".csv":
            fh = joined.open("wb")
            # the header the one-frame writer gives: the long columns, then the parameters
            cols = [*SAMPLE_COLUMNS, *next(iter(params.values()), {})]
            fh.write(pd.DataFrame(columns=cols).to_csv(index=False).encode("utf-8"))

        def take(c: Chunk) -> None:
            acc.add(c)
            if fh is not None:
                part = writer.path(c.index)
                with part.open("rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
                part.unlink()

        try:
            # on a dask cluster the summarised rows stay on the workers and last tasks, one
            # share of the table per worker, summarise them (the client only sees receipts);
            # elsewhere ``take`` keeps them
            summary = _run(designs, n, take, engine=engine, executor=executor,
                           max_workers=max_workers, batch_size=batch_size, progress=progress,
                           stats=stats, fn=writer,
                           reduce=SummaryOf() if executor == "dask" else None)
        except OSError as exc:  # a worker could not write its part (raised where it ran)
            raise DocumentError("--out", f"a batch's part could not be written to {parts}: "
                                f"{exc}") from exc
        if fh is not None:
            fh.close()
            fh = None
            _remove(parts)
            if out.is_dir():  # an earlier run's dataset directory of the same name
                _remove(out)
            joined.replace(out)
        else:
            for junk in parts.glob(".*"):  # temporary names a killed worker left behind
                junk.unlink(missing_ok=True)
            _swap_in(parts, out)
    finally:
        if fh is not None:
            fh.close()
        joined.unlink(missing_ok=True)
        _remove(parts)
    return summary if summary is not None else acc.summary()


def _earlier_output(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but the parts of an earlier streamed output (so
    replacing it loses nothing else)."""
    import re

    part = re.compile(r"part-\d{8}\.parquet")
    return all(p.is_file() and part.fullmatch(p.name) for p in folder.iterdir())


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _swap_in(folder: Path, out: Path) -> None:
    """Rename the finished ``folder`` to ``out``; an existing ``out`` (a file or a dataset
    directory of an earlier run) is first moved aside, then removed."""
    old = out.with_name(f".{out.name}.old")
    _remove(old)
    if out.exists() or out.is_symlink():
        out.replace(old)
    folder.replace(out)
    _remove(old)


def _probe(folder: str, token: str) -> str | None:
    """On a worker: ``None`` if it reads the client's token in ``folder`` and may write
    there, else what went wrong."""
    mark = Path(folder) / f".probe-{token}"
    try:
        if mark.read_text(encoding="utf-8") != token:
            return f"{mark} holds another token"
        own = mark.with_name(f"{mark.name}.{os.getpid()}.tmp")
        own.write_text(token, encoding="utf-8")
        own.unlink()
    except OSError as exc:
        return str(exc)
    return None


def _check_shared(folder: Path) -> None:
    """With a running ``dask.distributed`` client: every worker sees ``folder`` (the client
    writes a token there, each worker reads it back and writes a file beside it), else a
    :class:`DocumentError` on ``--out`` naming the workers. A worker that joins later and
    cannot see the folder fails its task (``OSError``: dask runs it again, maybe elsewhere);
    if every try fails, :func:`stream_samples` stops with a :class:`DocumentError` on
    ``--out`` too."""
    import uuid

    client = _distributed_client()
    if client is None:
        return
    token = uuid.uuid4().hex
    mark = folder / f".probe-{token}"
    mark.write_text(token, encoding="utf-8")
    try:
        found = client.run(_probe, str(folder), token)
    finally:
        mark.unlink(missing_ok=True)
    bad = {w: why for w, why in found.items() if why is not None}
    if bad:
        worker, why = next(iter(sorted(bad.items())))
        raise DocumentError("--out", f"the dask workers write their parts of the samples to "
                            f"{folder.parent}, so it must be on a filesystem they share with "
                            f"this machine; {len(bad)} of {len(found)} workers cannot use it "
                            f"({worker}: {why})")


class SummaryAccumulator:
    """Keeps, per design, only the summarised variables of each chunk (``price``, ``gain``,
    ``binding``) and gives :func:`summarise`'s table at the end."""

    def __init__(self) -> None:
        self.parts: dict[tuple[int, str, str, str], list[FloatArray]] = {}

    def add(self, c: Chunk, keys: set[tuple[int, str, str, str]] | None = None) -> None:
        """Keep ``c``'s summarised rows (only those in ``keys``, if given)."""
        for r, (m, v, u) in enumerate(zip(c.markets, c.variables, c.units, strict=True)):
            if v.split("|")[0] in _SUMMARISED and (keys is None or (c.design, m, v, u) in keys):
                self.parts.setdefault((c.design, m, v, u), []).append(c.values[:, r].copy())

    def summary(self) -> pd.DataFrame:
        rows = []
        for (d, m, v, u), parts in sorted(self.parts.items()):
            x = np.concatenate(parts)
            x = x[~np.isnan(x)]
            row: dict[str, Any] = {"design": d, "market": m, "variable": v, "unit": u,
                                   "mean": float(x.mean()) if x.size else math.nan,
                                   "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
                                   "samples": int(x.size)}
            # one partition for the three quantiles (the same numbers as one call each, about
            # half the client's time on them: 0.1 s for 100,000 samples of five markets)
            qs = np.quantile(x, QUANTILES) if x.size else np.full(len(QUANTILES), math.nan)
            for q, v in zip(QUANTILES, qs, strict=True):
                row[f"q{int(round(q * 100)):02d}"] = float(v)
            rows.append(row)
        return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)


def expected_gains(design: Scenario) -> dict[str, float]:
    """Per market the gain from the links when every shock sits at its expected factor
    (normal: 1 + mean, lognormal: 1, uniform: the midpoint) — the gain a certain world sees."""
    unc = design.uncertainty
    assert unc is not None
    means = [1.0 + sh.mean if sh.distribution == "normal" else 1.0 if sh.distribution == "lognormal"
             else 0.5 * ((sh.low or 0.0) + (sh.high or 0.0)) for sh in unc.shocks]
    sc = sample_scenarios(design, np.array([means], dtype=np.float64))[0]
    if sc.periods is not None:
        from carbonlink.markets.multiperiod import simulate_periods

        res = simulate_periods(sc)
        if res.status != "optimal" or res.present_value.empty:
            return {}
        return {str(k): float(v) for k, v in res.present_value["gain"].items()}
    from carbonlink.markets import simulate

    one = simulate(sc)
    return {str(k): float(v) for k, v in one.markets["gain"].items()}


def gain_split(summary: pd.DataFrame, designs: Sequence[Scenario]) -> pd.DataFrame:
    """The summary with, per design and market, the expected gain split in two (rows
    ``gain|effort_sharing`` and ``gain|risk_sharing``, in the ``mean`` column): **effort
    sharing**, the gain at the expected shocks (what a certain world sees: abatement moved to
    where it is cheaper), and **risk sharing**, the rest of the expected gain (shocks absorbed
    by the linked market; Doda, Quemin & Taschini, "Linking permit markets multilaterally",
    JEEM 98 (2019) 102259, split expected gains the same way)."""
    rows = []
    gains = summary[summary["variable"] == "gain"].set_index(["design", "market"])
    for d, design in enumerate(designs):
        certain = expected_gains(design)
        for market, effort in certain.items():
            if (d, market) not in gains.index:
                continue
            g: Any = gains.loc[(d, market)]
            mean, unit, count = float(g["mean"]), str(g["unit"]), int(g["samples"])
            for part, value in (("effort_sharing", effort), ("risk_sharing", mean - effort)):
                rows.append({"design": d, "market": market, "variable": f"gain|{part}",
                             "unit": unit, "mean": value, "sd": math.nan, "samples": count})
    if not rows:
        return summary
    return pd.concat([summary, pd.DataFrame(rows)], ignore_index=True)


_SUMMARISED = ("price", "gain", "binding")
_SUMMARY_COLUMNS = ["design", "market", "variable", "unit", "mean", "sd", "samples",
                    *[f"q{int(round(q * 100)):02d}" for q in QUANTILES]]


def _distributed_client() -> Any:
    """The running ``dask.distributed`` client, or ``None``."""
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - depends on the extra
        return None
    try:
        return get_client()
    except ValueError:
        return None


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per design, market (or link) and variable: the statistics a reader asks of a sample.

    ``price``: mean, sd, quantiles; ``gain``: mean (expected gain) and sd; ``binding``: mean
    (the probability that the quota or entity limit binds). Multi-period variables
    (``price|2030``) are summarised the same way."""
    base = frame["variable"].str.split("|").str[0]
    keep = frame[base.isin(["price", "gain", "binding"])]
    grouped = keep.groupby(["design", "market", "variable", "unit"], sort=True)["value"]
    out = grouped.agg(["mean", "std", "count"]).rename(columns={"std": "sd", "count": "samples"})
    out["sd"] = out["sd"].fillna(0.0)
    for q in QUANTILES:
        out[f"q{int(round(q * 100)):02d}"] = grouped.quantile(q)
    return out.reset_index()
