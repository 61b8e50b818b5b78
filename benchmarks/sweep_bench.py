"""Monte Carlo sweep benchmark (issue 12): batched samples side by side with one-by-one solves.

Scenario: ``examples/scenarios/five-markets-restricted-uncertain.yaml`` (5 markets, 3 periods,
quota-restricted links, banking/borrowing limits, a discount rate, 5 correlated shocks;
illustrative numbers). Rows, all in one run:

* **local executor** — N samples (100,000; 20,000 with ``CARBONLINK_BENCH_QUICK=1``) through
  ``stream_samples`` (the batch path, streamed to a Parquet dataset directory: each batch's
  part encoded and written by the process that solved it) on the process pool with 2 workers,
  and serially, against the **same samples solved one by one** through the multi-period
  program (``simulate_periods``, the path a sample took before batching): a random subset is
  timed and scaled to N (solving 100,000 one by one would take most of an hour); the ratio
  is the speed-up;
* **Dask** — the same N samples on a ``dask.distributed`` LocalCluster of 1 worker process
  and on one of 2, in 3 interleaved rounds (the ratio is the median of the rounds'): the
  speed-up from 1 to 2 workers, and the CPU seconds of the client process
  (which hosts the scheduler, on the same 2 cores: the number that bounds the speed-up, and
  one that stays meaningful when the machine is busy);
* **memory** — peak resident memory of a child process streaming N/10 and N samples to
  Parquet (flat: the output is written batch by batch; the summary keeps only the summarised
  variables).

Goals from the issue: ≤ 10 s for 100,000 samples, ≥ 50× the one-by-one solves, ≥ 1.6× from 1
to 2 Dask workers, flat peak memory. The machine is shared: compare the ratios of one run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "scenarios" / "five-markets-restricted-uncertain.yaml"
QUICK = os.environ.get("CARBONLINK_BENCH_QUICK") == "1"
N = 20_000 if QUICK else 100_000
ONE_BY_ONE = 60 if QUICK else 200
#: interleaved rounds of N samples on the 1- and 2-worker clusters (the ratio is their median)
DASK_ROUNDS = 1 if QUICK else 3

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from carbonlink.model.io import load_scenario
from carbonlink.markets.uncertainty import SweepStats, stream_samples
sc = load_scenario(sys.argv[1]); n = int(sys.argv[2]); out = Path(sys.argv[3])
stats = SweepStats()
def cpu():
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))
c0 = cpu()
t = time.perf_counter()
stream_samples([sc], n, out, name=sc.name, stats=stats, executor=sys.argv[4],
               max_workers=int(sys.argv[5]))
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "cpu": cpu() - c0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "batched": stats.batched, "fallback": stats.fallback, "failed": stats.failed,
                  "degenerate": stats.degenerate,
                  "bytes": sum(p.stat().st_size for p in out.iterdir())}))
"""


def _child(n: int, out: Path, executor: str = "serial", workers: int = 1) -> dict[str, float]:
    """A fresh process streaming ``n`` samples: its wall time, peak RSS and counts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(SCENARIO), str(n), str(out), executor,
                           str(workers)], capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"the sweep child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _one_by_one(k: int) -> float:
    """Seconds per sample through the multi-period program, on ``k`` samples spread over N."""
    import numpy as np

    from carbonlink.markets.multiperiod import simulate_periods
    from carbonlink.markets.uncertainty import draw_factors, sample_scenarios
    from carbonlink.model.io import load_scenario

    sc = load_scenario(SCENARIO)
    assert sc.uncertainty is not None
    picks = np.linspace(0, N - 1, k).astype(int)
    scs = [sample_scenarios(sc, draw_factors(sc.uncertainty, 1, start=int(p)))[0] for p in picks]
    simulate_periods(scs[0])  # warm-up
    t = time.perf_counter()
    for s in scs:
        simulate_periods(s)
    return (time.perf_counter() - t) / k


def _worker_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


#: the dask settings of the benchmark's clusters (the README's recommended settings for a
#: cluster that runs sweeps). Besides the profiler and the nanny's malloc setting (see
#: :func:`_dask`): dask's servers poll on timers whatever the work — every event loop checks
#: its own health every 20 ms (``admin.tick``), each server samples its CPU and memory every
#: 500 ms (``admin.system-monitor``), each nanny reads its worker's memory every 100 ms
#: (``worker.memory.monitor-interval``). Measured with a 2-worker LocalCluster idle, that is
#: 0.067 core in the client process (which hosts the scheduler and the nannies) and 0.028 in
#: each worker, 0.12 of the 2 cores, taken from the workers while they solve; with the
#: intervals below 0.015 (2026-12-01). None of them changes what is computed: the tick only
#: warns of a blocked event loop, the monitors feed the dashboard and the memory limit
#: (checked every second instead of ten times a second).
SWEEP_CLUSTER_CONFIG: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


@contextmanager
def _dask(workers: int) -> Iterator[Callable[[int], tuple[float, float, float]]]:
    """A LocalCluster of ``workers`` processes (one thread each), warmed up; yields a function
    that solves ``n`` samples on it and returns the wall seconds, the CPU seconds its workers
    spent on them, and those of this process (the client, which in a LocalCluster also hosts
    the scheduler: it competes with the workers for the same cores, so it should only
    coordinate)."""
    import dask
    from distributed import Client, LocalCluster

    from carbonlink.markets.uncertainty import stream_samples
    from carbonlink.model.io import load_scenario

    sc = load_scenario(SCENARIO)
    # the workers' statistical profiler samples every thread's stack every 10 ms: CPU that
    # grows with the wall time, not with the work (and the wall time stretches with the load).
    # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
    # mmap threshold at 128 kB: every batch's arrays are mapped and unmapped afresh, 650,000
    # page faults and 1.2-1.8 CPU s in the kernel per 100,000 samples (measured; 35,000 and
    # 0.1 s without it), more with 2 workers; unset for these workers (the thread limits
    # stay). A nanny also writes it into this process's environment, which spawned workers
    # inherit: removed here too.
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set(SWEEP_CLUSTER_CONFIG), \
            tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=50,
                         # its HTTP routes on a free port: two clusters run side by side
                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster, set_as_default=False) as client:
        # warm-up: small tasks, so every worker imports the package and solves the design's
        # reference samples before the clock starts (not only the first to take a task)
        with client.as_current():
            stream_samples([sc], 2_000 * workers, Path(tmp) / "warm.parquet", executor="dask",
                           batch_size=250)

        def run(n: int) -> tuple[float, float, float]:
            with client.as_current():
                c0 = sum(client.run(_worker_cpu).values())
                own = time.process_time()  # every thread of this process: client, scheduler
                t = time.perf_counter()
                stream_samples([sc], n, Path(tmp) / "s.parquet", executor="dask")
                wall = time.perf_counter() - t
                own = time.process_time() - own
                return wall, sum(client.run(_worker_cpu).values()) - c0, own
        yield run


def _dask_rounds(n: int, rounds: int) -> tuple[list[tuple[float, float, float]],
                                                list[tuple[float, float, float]]]:
    """``rounds`` runs on 1 worker and on 2, interleaved (1, 2, 1, 2, …) on two clusters kept
    up side by side (the idle one's workers wait), so both see the same background load."""
    one: list[tuple[float, float, float]] = []
    two: list[tuple[float, float, float]] = []
    with _dask(1) as run1, _dask(2) as run2:
        for _ in range(rounds):
            one.append(run1(n))
            two.append(run2(n))
    return one, two


def main() -> None:
    print(f"\n== Monte Carlo sweep: {SCENARIO.name}, {N:,} samples "
          f"({'quick' if QUICK else 'full'}) ==")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        proc = _child(N, folder / "p.parquet", "process", 2)
        serial = _child(N, folder / "s.parquet", "serial", 1)
        per = _one_by_one(ONE_BY_ONE)
        small = _child(N // 10, folder / "m.parquet", "serial", 1)
    one, two = _dask_rounds(N, DASK_ROUNDS)
    rounds = [a[0] / b[0] for a, b in zip(one, two, strict=True)]
    ratios = sorted(rounds)
    d1, c1, k1 = (statistics.median(x[i] for x in one) for i in range(3))
    d2, c2, k2 = (statistics.median(x[i] for x in two) for i in range(3))
    speedup = statistics.median(ratios)
    load1 = os.getloadavg()
    obo = per * N
    rows = [
        ("local, process pool (2 workers)", proc["wall"], f"{N / proc['wall']:,.0f}/s",
         f"{obo / proc['wall']:.0f}× one by one", "≤ 10 s, ≥ 50×", proc["cpu"]),
        ("local, serial", serial["wall"], f"{N / serial['wall']:,.0f}/s",
         f"{obo / serial['wall']:.0f}× one by one", "", serial["cpu"]),
        (f"one by one (simulate_periods; {ONE_BY_ONE} timed, × N)", obo, f"{1 / per:,.0f}/s",
         f"{per * 1e3:.1f} ms a sample", "", None),
        ("dask LocalCluster, 1 worker", d1, f"{N / d1:,.0f}/s", "", "", c1),
        ("dask LocalCluster, 2 workers", d2, f"{N / d2:,.0f}/s",
         f"{speedup:.3f}× vs 1 worker (median of {len(ratios)} interleaved rounds, range "
         f"{ratios[0]:.2f}–{ratios[-1]:.2f})", f"≥ 1.6×: {'met' if speedup >= 1.6 else 'NOT met'}",
         c2),
    ]
    print(f"load average (1 min) {load0[0]:.1f} at the start, {load1[0]:.1f} at the end "
          f"(2 CPUs): seconds stretch with the load, CPU seconds much less")
    print(f"{'row':48} {'seconds':>9} {'CPU s':>7} {'samples/s':>11}  ratio")
    for name, secs, rate, ratio, goal, cpu in rows:
        cpu_s = "" if cpu is None else f"{cpu:.1f}"
        print(f"{name:48} {secs:9.2f} {cpu_s:>7} {rate:>11}  {ratio}"
              f"{'  (goal ' + goal + ')' if goal else ''}")
    print("CPU s: the sweep process and its pool workers (local rows), the dask workers alone "
          "(dask rows); every worker encodes and writes its own batches' Parquet parts")
    print("dask rounds (1 worker → 2 workers, seconds): " + ", ".join(
        f"{a[0]:.2f} → {b[0]:.2f} = {r:.2f}×" for a, b, r in zip(one, two, rounds, strict=True)))
    print(f"dask client process (client + scheduler, LocalCluster) CPU s: {k1:.2f} with 1 worker, "
          f"{k2:.2f} with 2 (it runs on the cores the workers use: 2 workers give at most "
          f"about 2·W/(W + C) = {2 * c2 / (c2 + k2):.2f}× for W = {c2:.1f}, C = {k2:.2f})")
    print(f"batch path: {serial['batched']:,.0f} samples batched ({serial['degenerate']:,.0f} of "
          f"them degenerate: banks and flows one optimum of several), {serial['fallback']:,.0f} "
          f"sent one by one (unsettled), {serial['failed']:,.0f} failed (NaN)")
    print(f"peak RSS streaming to Parquet: {N // 10:,} samples {small['rss_mb']:.0f} MB, "
          f"{N:,} samples {serial['rss_mb']:.0f} MB "
          f"(×{serial['rss_mb'] / small['rss_mb']:.2f} for ×10 samples; Parquet dataset "
          f"{serial['bytes'] / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
