"""The batched Monte Carlo path: each sample equals its one-by-one multi-period program (to
1e-7), samples the batch cannot settle fall back and are counted, seeds are numpy's
SeedSequence.spawn, and output streamed to Parquet equals the in-memory frame."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carbonlink.errors import SolverError
from carbonlink.markets import batch
from carbonlink.markets.multiperiod import period_arrays
from carbonlink.markets.uncertainty import (
    SummaryOf,
    SweepStats,
    draw_factors,
    execute,
    run_samples,
    sample_scenarios,
    solve_task,
    spawned_state,
    stream_samples,
    summarise,
    summary_of,
    tasks_of,
)
from carbonlink.model.io import load_scenario, read_document
from carbonlink.model.scenario import Scenario
from tests.conftest import DASK_FREE_PORT

EXAMPLES = Path(__file__).parents[2] / "examples" / "scenarios"
FIVE = EXAMPLES / "five-markets-restricted-uncertain.yaml"


def five(**changes: Any) -> dict[str, Any]:
    doc = read_document(FIVE)
    doc = copy.deepcopy(doc)
    doc.update(changes)
    return doc


def one_by_one(sc: Scenario, n: int, start: int = 0) -> np.ndarray:
    assert sc.uncertainty is not None
    pa = period_arrays(sc)
    f = draw_factors(sc.uncertainty, n, start=start)
    return np.array([batch.one_by_one_values(s, pa) for s in sample_scenarios(sc, f)])


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    if not want.size:
        return
    scale = max(1.0, float(np.nanmax(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * scale)


#: rows every optimum shares (abatement is unique: the cost is strictly convex in it; prices
#: follow from it; present-value gains do not move with free banks or flows)
UNIQUE = ("price", "emissions", "abatement", "gain")


def assert_equals_one_by_one(sc: Scenario, n: int, chunk: Any) -> int:
    """The batch's rows against the one-by-one program's: every row of every sample whose
    optimum is unique; for a degenerate sample (banks or flows not unique) the unique rows, and
    its banks and flows are checked to be feasible and as cheap as the one-by-one optimum (so
    the batch reports an optimum, another one). Returns the number of degenerate samples."""
    from dataclasses import replace

    from carbonlink.markets.multiperiod import solve_periods

    assert sc.uncertainty is not None
    want = one_by_one(sc, n)
    pa = period_arrays(sc)
    f = draw_factors(sc.uncertainty, n)
    bau, cap, slope = batch.shocked_arrays(sc, pa, sc.uncertainty, f)
    sol = batch.solve_batch(pa, bau, cap, slope)
    assert sol.degenerate is not None
    deg = sol.degenerate & sol.solved
    unique = np.array([v.split("|")[0] in UNIQUE for v in chunk.variables])
    assert_same(chunk.values[:, unique], want[:, unique])
    assert_same(chunk.values[~deg], want[~deg])
    nt, nm = pa.bau.shape
    for b in np.flatnonzero(deg).tolist():
        one = replace(pa, bau=bau[b], cap=cap[b], slope=slope[b])
        ref = solve_periods(one)
        scale = float(max(bau[b].max(), cap[b].max()))
        tol = 1e-7 * scale
        a, bank, flow = sol.abatement[b], sol.bank[b], sol.flow[b]
        np.testing.assert_allclose(a, ref.abatement, atol=tol)
        assert (flow >= -tol).all() and (flow <= pa.quota[None, :] + tol).all()
        assert (flow[~pa.active] == 0).all()
        low = np.where(np.arange(nt)[:, None] == nt - 1, 0.0, -pa.borrow_max[None, :])
        assert (bank >= low - tol).all() and (bank <= pa.bank_max[None, :] + tol).all()
        prev = np.vstack([pa.initial_bank[None, :], bank[:-1]])
        out = np.zeros((nt, nm))
        inn = np.zeros((nt, nm))
        for t in range(nt):
            np.add.at(out[t], pa.src, flow[t])
            np.add.at(inn[t], pa.dst, pa.factor * flow[t])
        gap = bau[b] - a + bank - prev + out - inn - cap[b]
        assert (gap <= tol).all()
        assert (out <= cap[b] + tol).all()  # a period's exports come from its own issuance
        cost = (pa.discount[:, None] * pa.tax[None, :] * flow).sum()
        cost_ref = (pa.discount[:, None] * pa.tax[None, :] * ref.flow).sum()
        assert cost <= cost_ref + 1e-7 * max(1.0, abs(cost_ref))
    return int(deg.sum())


@pytest.mark.parametrize("seed", [0, 7, 20261201, 2 ** 40 + 5])
def test_spawned_state_is_numpys_seed_sequence(seed: int) -> None:
    keys = [0, 1, 2, 99, 1000, 123456]
    # numpy's spawn API for the first keys: spawn(n)[k] is the child with spawn_key (k,) for
    # every n > k, so spawn(3) gives the very children spawn(123457) would (in microseconds,
    # not 123,457 objects three times per seed); the far keys through spawn_key directly
    want = np.array([child.generate_state(6) for child in np.random.SeedSequence(seed).spawn(3)] +
                    [np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(6)
                     for k in keys[3:]])
    np.testing.assert_array_equal(spawned_state(seed, keys, 6), want)


def test_any_range_of_samples_draws_the_same() -> None:
    unc = load_scenario(FIVE).uncertainty
    assert unc is not None
    whole = draw_factors(unc, 50)
    np.testing.assert_array_equal(draw_factors(unc, 20, start=30), whole[30:])


def test_batch_equals_one_by_one_on_the_five_market_example() -> None:
    sc = load_scenario(FIVE)
    assert batch.unsupported(sc) is None
    chunk = solve_task((0, 0, sc, "fast", 0, 60))
    assert chunk.batched >= 50 and chunk.batched + chunk.fallback == 60
    assert_equals_one_by_one(sc, 60, chunk)
    # the layout is the one-by-one rows': prices of 3 periods × 5 markets first
    assert chunk.variables[:2] == ["price|2030", "price|2030"] and chunk.markets[:2] == ["A", "B"]
    assert "binding|2035" in chunk.variables and "gain" in chunk.variables


def test_shocked_slopes_and_a_degenerate_bank_stay_in_the_batch() -> None:
    """B may bank: A and B bank and trade with an interior A→B flow, so flows and banks can
    trade places between periods (the optimum is not unique: a singular active set). Those
    samples stay in the batch (least-norm banks and flows of the pseudo-inverse), their unique
    rows equal the one-by-one program's and their banks and flows are an optimum too; slope
    shocks give every sample its own matrix. (Before, such samples went one by one.)"""
    doc = five()
    doc["markets"][1]["banking"] = {"limit": 10}
    doc["markets"][3]["borrowing"] = {"limit": 8}
    doc["uncertainty"]["shocks"].append(
        {"market": "C", "variable": "slope", "distribution": "uniform", "low": 0.7, "high": 1.3})
    doc["uncertainty"]["correlation"] = None
    sc = load_scenario(doc)
    chunk = solve_task((0, 0, sc, "fast", 0, 40))
    # a few samples cycle between a singular and a regular active set: one by one, counted
    assert chunk.batched >= 30 and chunk.batched + chunk.fallback == 40 and chunk.failed == 0
    assert assert_equals_one_by_one(sc, 40, chunk) > 0


def test_degenerate_samples_report_the_same_optimum_whatever_the_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where banks and flows are not unique, the optimum reported depends only on the sample:
    40 samples in one batch, in batches of 7, and with the inverses computed afresh (a cold
    cache, other matrices in the stack) give identical bits — so serial, process and dask runs
    of any batch size agree on degenerate samples too."""
    doc = five()
    doc["markets"][1]["banking"] = {"limit": 10}
    doc["markets"][3]["borrowing"] = {"limit": 8}
    sc = load_scenario(doc)
    whole = solve_task((0, 0, sc, "fast", 3000, 3040))
    monkeypatch.setattr(batch, "_CACHE", {})
    parts = [solve_task((i, 0, sc, "fast", s, min(s + 7, 3040)))
             for i, s in enumerate(range(3000, 3040, 7))]
    assert whole.degenerate > 0 and sum(p.degenerate for p in parts) == whole.degenerate
    np.testing.assert_array_equal(np.vstack([p.values for p in parts]), whole.values)


@pytest.mark.parametrize("gufunc", [True, False], ids=["one pass", "raising inv"])
def test_stacked_inverses_are_numpys_matrix_by_matrix(gufunc: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``_inverses`` inverts a stack in one pass (numpy's gufunc, NaN for a matrix with an
    exact zero pivot): every regular matrix's inverse has the bits ``np.linalg.inv`` gives it
    alone — whatever else shares the stack, so a cached inverse does not depend on the worker
    or batch that computed it — and singular ones (an exact zero pivot, or a condition number
    above 1e12) get their pseudo-inverse; the raising path numpy's public ``inv`` takes gives
    the same."""
    if not gufunc:
        monkeypatch.setattr(batch, "_stacked_inv", None)
    rng = np.random.default_rng(7)
    regular = rng.normal(size=(5, 9, 9)) + 9 * np.eye(9)
    exact = regular[1].copy()
    exact[4] = 0.0  # a zero row: an exact zero pivot
    near = regular[2].copy()
    near[:, 3] = near[:, 5] * (1 + 1e-15)  # two columns equal to round-off: cond > 1e12
    mats = np.stack([regular[0], exact, regular[3], near, regular[4]])
    inv, singular = batch._inverses(mats)
    assert singular.tolist() == [False, True, False, True, False]
    for k in (0, 2, 4):
        np.testing.assert_array_equal(inv[k], np.linalg.inv(mats[k]))
    for k in (1, 3):
        np.testing.assert_array_equal(inv[k], np.linalg.pinv(mats[k], rtol=1e-10))
    alone, sing_alone = batch._inverses(regular)  # the same matrices without singular company
    assert not sing_alone.any()
    np.testing.assert_array_equal(alone[[0, 3, 4]], inv[[0, 2, 4]])
    empty, none = batch._inverses(np.zeros((0, 9, 9)))
    assert empty.shape == (0, 9, 9) and none.shape == (0,)


def test_a_summary_shared_out_over_workers_is_the_same_table() -> None:
    """On a cluster the summary runs as one share per worker (rows i, i + n, … each); joined,
    the shares give :func:`summary_of`'s table bit for bit, for any number of shares (more
    shares than rows too) and chunks in any order."""
    sc = load_scenario(FIVE)
    designs = [sc, sc.model_copy(update={"links": [lk.model_copy(update={"quota": 2.0})
                                                   for lk in sc.links]})]
    chunks = [solve_task(t).summarised() for t in tasks_of(designs, 40, batch_size=15)]
    whole = summary_of(chunks)
    assert len(whole) > 20
    reduce = SummaryOf()
    pd.testing.assert_frame_equal(reduce(chunks), whole, check_exact=True)
    for n in (1, 2, 3, len(whole) + 2):
        shares = [f(chunks[::-1]) for f in reduce.split(n)]
        assert sum(len(f) for f in shares) == len(whole)
        pd.testing.assert_frame_equal(SummaryOf.join(shares), whole, check_exact=True)
    nothing = [f([]) for f in reduce.split(2)]
    pd.testing.assert_frame_equal(SummaryOf.join(nothing), summary_of([]), check_exact=True)


def test_the_sample_highs_gives_up_on_is_solved_in_the_batch() -> None:
    """Sample 33,253 of the five-market example: HiGHS stops with "Solve error" on its
    autarky program (it was the benchmark's one NaN); the batch path solves it (its autarky
    point is checked as a KKT point like any other): no NaN, nothing failed."""
    from dataclasses import replace

    from carbonlink.markets.multiperiod import solve_periods

    sc = load_scenario(FIVE)
    chunk = solve_task((0, 0, sc, "fast", 33253, 33254))
    assert chunk.failed == 0 and not np.isnan(chunk.values).any()
    assert sc.uncertainty is not None
    pa = period_arrays(sc)
    bau, cap, slope = batch.shocked_arrays(sc, pa, sc.uncertainty,
                                           draw_factors(sc.uncertainty, 1, start=33253))
    linked = solve_periods(replace(pa, bau=bau[0], cap=cap[0], slope=slope[0]))
    prices = np.array([v.startswith("price|") for v in chunk.variables])
    assert_same(chunk.values[0, prices], linked.price.ravel())


def _fallback_everything(monkeypatch: pytest.MonkeyPatch, highs_fails: bool) -> None:
    """No active-set iteration at all (every sample falls back); HiGHS failing on every
    sample's own program when ``highs_fails`` (the unshocked design still solves)."""
    import carbonlink.markets.multiperiod as mp

    monkeypatch.setattr(batch, "MAX_ITERATIONS", 0)
    if highs_fails:
        base = period_arrays(load_scenario(FIVE)).bau

        def failing(pa: Any, *, links: bool = True) -> Any:
            if not np.array_equal(pa.bau, base):  # a shocked sample
                raise SolverError("HiGHS stopped with status Solve error")
            return mp.solve_periods(pa, links=links)

        monkeypatch.setattr(batch, "solve_periods", failing)


def test_fallback_samples_solve_their_program_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples the batch does not settle are solved one program each from their arrays (not
    through simulate_periods): the same rows as the one-by-one program."""
    sc = load_scenario(FIVE)
    _fallback_everything(monkeypatch, highs_fails=False)
    chunk = solve_task((0, 0, sc, "fast", 0, 12))
    assert chunk.fallback == 12 and chunk.failed == 0
    assert_same(chunk.values, one_by_one(sc, 12))


def test_when_highs_gives_up_the_iteration_runs_again_else_nan_counted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS failing on a fallback sample: the active-set iteration runs again on it alone
    from a plain start: its rows are the batch's. When that cannot settle it either (one
    iteration allowed), the sample is NaN and counted as failed — never a silent NaN."""
    sc = load_scenario(FIVE)
    want = solve_task((0, 0, sc, "fast", 0, 12)).values
    _fallback_everything(monkeypatch, highs_fails=True)
    again = solve_task((0, 0, sc, "fast", 0, 12))
    assert again.fallback == 12 and again.failed == 0
    assert_same(again.values, want)
    monkeypatch.setattr(batch, "RETRY_ITERATIONS", 1)
    chunk = solve_task((0, 0, sc, "fast", 0, 12))
    nan_rows = np.isnan(chunk.values).all(axis=1)
    assert chunk.fallback == 12 and chunk.failed == int(nan_rows.sum()) > 0
    assert_same(chunk.values[~nan_rows], want[~nan_rows])
    stats = SweepStats()
    stats.add(chunk)
    assert stats.failed == chunk.failed


def test_designs_the_batch_path_does_not_cover_are_counted() -> None:
    sc = load_scenario(EXAMPLES / "banking-three-periods.yaml")  # a merit-order MAC
    doc = sc.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["uncertainty"] = {"seed": 1, "shocks": [{"market": "A", "variable": "bau", "sd": 0.05}]}
    sc = load_scenario(doc)
    assert "non-linear MAC" in (batch.unsupported(sc) or "")
    stats = SweepStats()
    frame = run_samples([sc], 5, stats=stats)
    assert stats.one_by_one == 5 and stats.batched == 0 and 0 in stats.reasons
    assert frame["value"].notna().any()


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    nm = draw(st.integers(2, 3))
    nt = draw(st.integers(1, 3))
    years = [2030 + 5 * t for t in range(nt)]
    markets = []
    for i in range(nm):
        bau = [draw(st.floats(50, 150)) for _ in range(nt)]
        cap = [b * draw(st.floats(0.6, 1.05)) for b in bau]
        m: dict[str, Any] = {"id": f"M{i}", "bau": bau, "cap": cap,
                             "mac": {"linear": {"slope": draw(st.floats(0.2, 3.0))}}}
        bank = draw(st.sampled_from([None, 0.0, 5.0, 20.0]))
        if bank is not None:
            m["banking"] = {"limit": bank}
        if draw(st.booleans()):
            m["borrowing"] = {"limit": draw(st.sampled_from([0.0, 2.0, 5.0, 10.0]))}
        markets.append(m)
    links = []
    for i in range(nm):
        for j in range(nm):
            if i != j and draw(st.booleans()):
                lk: dict[str, Any] = {"from": f"M{i}", "to": f"M{j}",
                                      "quota": draw(st.sampled_from([None, 2.0, 8.0, 15.0]))}
                if draw(st.booleans()):
                    lk["transfer_tax"] = draw(st.sampled_from([0.5, 2.0, 5.0]))
                links.append(lk)
    shocks = [{"market": f"M{i}", "variable": draw(st.sampled_from(["bau", "slope"])),
               "distribution": "lognormal", "sigma": draw(st.floats(0.01, 0.15))}
              for i in range(nm)]
    return {"name": "random", "periods": years, "discount_rate": draw(st.floats(0.0, 0.08)),
            "markets": markets, "links": links,
            "uncertainty": {"seed": draw(st.integers(0, 2 ** 31)), "shocks": shocks}}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_batch_equals_one_by_one_on_random_scenarios(doc: dict[str, Any]) -> None:
    sc = load_scenario(doc)
    assert batch.unsupported(sc) is None
    try:
        want = one_by_one(sc, 8)
    except SolverError:  # HiGHS itself gives up on a sample (seen: "Solve error"): no reference
        assume(False)
    chunk = solve_task((0, 0, sc, "fast", 0, 8))
    assert chunk.batched + chunk.fallback == 8 and chunk.failed == 0
    assert_equals_one_by_one(sc, 8, chunk)
    del want


def test_streamed_parquet_and_csv_equal_the_frame(tmp_path: Path) -> None:
    sc = load_scenario(FIVE)
    designs = [sc, sc.model_copy(update={"links": [lk.model_copy(update={"quota": 2.0})
                                                   for lk in sc.links]})]
    table = pd.DataFrame({"design": [0, 1], "links[*].quota": [None, 2.0]})
    frame = run_samples(designs, 30, name="five", batch_size=7)
    stats = SweepStats()
    summary = stream_samples(designs, 30, tmp_path / "s.parquet", name="five", batch_size=7,
                             design_table=table, stats=stats)
    assert stats.samples == 60 and stats.batched + stats.fallback == 60
    back = pd.read_parquet(tmp_path / "s.parquet")
    assert list(back.columns)[:7] == list(frame.columns)
    assert len(back) == len(frame)
    for c in ("scenario", "market", "variable", "unit", "design", "sample"):
        assert back[c].astype(str).tolist() == frame[c].astype(str).tolist(), c
    np.testing.assert_array_equal(back["value"].to_numpy(), frame["value"].to_numpy())
    assert set(back["links[*].quota"].dropna()) == {2.0}
    want = summarise(frame)
    pd.testing.assert_frame_equal(summary[list(want.columns)], want, check_dtype=False)
    csv = stream_samples(designs, 30, tmp_path / "s.csv", name="five", batch_size=7)
    pd.testing.assert_frame_equal(csv, summary)
    again = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(again["value"].to_numpy(), frame["value"].to_numpy())
    assert not list(tmp_path.glob(".*partial"))


def _values(frame: pd.DataFrame) -> np.ndarray:
    return frame[["design", "sample", "value"]].to_numpy()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_identical_on_serial_process_and_dask_clusters_even_when_a_worker_dies(
        tmp_path: Path) -> None:
    """The same seed gives identical arrays on every executor, batch size and worker count; a
    LocalCluster (worker processes) whose worker is killed mid-sweep still completes it: the
    lost batches run again on the restarted worker — also when the workers write the parts of
    a streamed output (one part per batch, none twice, none half-written) and keep the
    summarised rows for the summary (the same table as serially)."""
    import os
    import signal

    from distributed import Client, LocalCluster

    sc = load_scenario(FIVE)
    designs = [sc, sc.model_copy(update={"links": [lk.model_copy(update={"quota": 2.0})
                                                   for lk in sc.links]})]
    n = 24
    serial = run_samples(designs, n, batch_size=n)
    want = _values(serial)
    # the summary a streamed sweep returns (on a cluster: summarised on a worker from the
    # chunks the workers kept, also those lost with a killed worker and computed again)
    summary = stream_samples(designs, n, tmp_path / "serial.parquet", batch_size=3)
    np.testing.assert_array_equal(_values(run_samples(designs, n, executor="process",
                                                      max_workers=2, batch_size=5)), want)
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, scheduler_kwargs=DASK_FREE_PORT,
                          silence_logs=50, death_timeout=120) as cluster, \
                Client(cluster, timeout=120) as client:
            killed: list[str] = []

            def kill_one(_k: int, workers: int = workers, killed: list[str] = killed,
                         cluster: Any = cluster) -> None:
                if workers == 2 and not killed:  # SIGKILL one worker process we started
                    nanny = next(iter(cluster.workers.values()))
                    killed.append(str(nanny.worker_address))
                    os.kill(nanny.process.process.pid, signal.SIGKILL)

            got = run_samples(designs, n, executor="dask", batch_size=3, progress=kill_one)
            np.testing.assert_array_equal(_values(got), want)
            pd.testing.assert_frame_equal(got, serial)
            if workers == 2:
                assert killed and killed[0] not in client.scheduler_info()["workers"]
            out = tmp_path / f"w{workers}.parquet"
            killed.clear()
            got_summary = stream_samples(designs, n, out, executor="dask", batch_size=3,
                                         progress=kill_one)
            pd.testing.assert_frame_equal(got_summary, summary)
            assert sorted(p.name for p in out.iterdir()) == [
                f"part-{i:08d}.parquet" for i in range(2 * n // 3)]
            np.testing.assert_array_equal(_values(pd.read_parquet(out)), want)
            if workers == 2:
                assert killed and killed[0] not in client.scheduler_info()["workers"]
            else:   # with reduce, the client sees receipts only; the summary is the same
                seen: list[int] = []
                tasks = tasks_of(designs, n, batch_size=5)
                got = execute(tasks, lambda c, seen=seen: seen.append(c.values.shape[1]),
                              executor="dask", reduce=summary_of)
                assert len(seen) == len(tasks) and set(seen) == {0}
                pd.testing.assert_frame_equal(got, summary_of([solve_task(t) for t in tasks]))
                # the reduce goes with the last batch; with no batch it still runs, on nothing
                assert execute([], seen.append, executor="dask", reduce=len) == 0
            # the summary shared out over the workers (two shares with 2 workers, a worker
            # killed mid-sweep: its share runs elsewhere), joined: the serial table exactly
            killed.clear()
            tasks = tasks_of(designs, n, batch_size=4)
            got = execute(tasks, lambda c: kill_one(0), executor="dask", fn=_summarised,
                          reduce=SummaryOf())
            pd.testing.assert_frame_equal(got, summary_of([solve_task(t) for t in tasks]),
                                          check_exact=True)


def _summarised(task: Any) -> Any:
    return solve_task(task).summarised()


def test_gain_split_into_effort_and_risk_sharing() -> None:
    """Two linear markets, one period, an unrestricted link, BAU shocks only: the gain is
    Δp²/(2(s1 + s2)) in the autarky price gap Δp (MAC slopes s), so the expected gain is the gain at the
    expected BAUs (effort sharing) plus Var(Δp)/(2(s1 + s2)) (risk sharing)."""
    from carbonlink.markets.uncertainty import gain_split

    doc = {"name": "split", "markets": [
        {"id": "A", "currency": "EUR", "bau": 100, "cap": 80, "mac": {"linear": {"slope": 1.0}}},
        {"id": "B", "currency": "EUR", "bau": 100, "cap": 70, "mac": {"linear": {"slope": 2.0}}}],
        "links": [{"between": ["A", "B"]}],
        "uncertainty": {"seed": 3, "shocks": [
            {"market": "A", "variable": "bau", "distribution": "normal", "sd": 0.05},
            {"market": "B", "variable": "bau", "distribution": "normal", "sd": 0.05}]}}
    sc = load_scenario(doc)
    frame = run_samples([sc], 400)
    out = gain_split(summarise(frame), [sc]).set_index(["market", "variable"])
    total = out.loc[("A", "gain"), "mean"] + out.loc[("B", "gain"), "mean"]
    effort = out.loc[("A", "gain|effort_sharing"), "mean"] + out.loc[("B", "gain|effort_sharing"), "mean"]
    risk = out.loc[("A", "gain|risk_sharing"), "mean"] + out.loc[("B", "gain|risk_sharing"), "mean"]
    k = 1 / (1.0 + 2.0)
    assert effort == pytest.approx((20 * 1.0 - 30 * 2.0) ** 2 * k / 2, rel=1e-9)
    assert effort + risk == pytest.approx(total)
    f = draw_factors(sc.uncertainty, 400) if sc.uncertainty else None
    assert f is not None
    dp = (100 * f[:, 0] - 80) * 1.0 - (100 * f[:, 1] - 70) * 2.0  # no sample in surplus
    assert total == pytest.approx(float(np.mean(dp ** 2)) * k / 2, rel=1e-6)
    assert risk == pytest.approx(float(np.var(dp) + (np.mean(dp) ** 2 - 40.0 ** 2)) * k / 2,
                                 rel=1e-6)


@pytest.mark.parametrize(("name", "reason"), [("rggi-reserves.yaml", "reserve tiers"),
                                              ("eu-msr.yaml", "market stability reserve")])
def test_stability_mechanisms_leave_the_batch_path(name: str, reason: str) -> None:
    # linear MACs over periods, but a reserve or an MSR the batch solver does not model: refused,
    # so the samples are solved one by one by the program that does
    sc = load_scenario(EXAMPLES / name)
    assert reason in (batch.unsupported(sc) or "")
