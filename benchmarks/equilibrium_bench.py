"""Equilibrium engine speed on firm-level data, and the fast path against the plain formulation.

Cases (each run in a fresh child process, so its peak resident memory is its own):

1. 10 markets, 1,000,000 firm-level options (Parquet files), all 90 directed links full;
2. the same with a quota, a transfer tax and a discount on every link;
3. 10 markets, 100,000 options, restricted links: fast engine vs plain formulation (every
   option its own HiGHS column), measured in the same run.

Times are end-to-end ``carbonlink.simulate`` calls (read the files, aggregate by merit order,
solve the linked network and its autarky, build the result tables); medians of repeated runs.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

N_MARKETS = 10


def make_scenario(folder: Path, options: int, restricted: bool, seed: int = 1) -> dict[str, Any]:
    """Random firm-level markets (assumption: synthetic data, costs lognormal around 20/t)."""
    rng = np.random.default_rng(seed)
    per = options // N_MARKETS
    markets = []
    for i in range(N_MARKETS):
        qty = rng.uniform(0.1, 1.0, per)
        cost = rng.lognormal(3.0, 0.8, per) * rng.uniform(0.5, 2.0)
        path = folder / f"m{i}-{options}.parquet"
        if not path.exists():
            pd.DataFrame({"firm": np.arange(per) // 4, "quantity": qty, "unit_cost": cost}).to_parquet(path)
        bau = float(qty.sum()) * 1.2
        markets.append({"id": f"M{i}", "bau": bau, "cap": bau * rng.uniform(0.6, 0.85),
                        "mac": {"firms": str(path)}})
    links = []
    for a in range(N_MARKETS):
        for b in range(N_MARKETS):
            if a == b:
                continue
            terms = ({"quota": 0.01 * markets[a]["bau"], "transfer_tax": 1.0, "discount": 0.1}
                     if restricted else {})
            links.append({"from": f"M{a}", "to": f"M{b}", **terms})
    return {"name": f"bench {options} {'restricted' if restricted else 'full'}", "markets": markets,
            "links": links}


def _child(doc: dict[str, Any], engine: str, runs: int, out: Any) -> None:
    from carbonlink import simulate

    simulate(doc, engine=engine)  # warm-up (imports, page cache)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = simulate(doc, engine=engine)
        times.append(time.perf_counter() - t)
    prices = r.markets["price"].to_numpy().tolist()
    out.put((times, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, prices))


def measure(doc: dict[str, Any], engine: str, runs: int) -> tuple[list[float], float, list[float]]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(doc, engine, runs, q))
    p.start()
    result = q.get()
    p.join()
    return result  # type: ignore[no-any-return]


def main() -> None:
    console = Console(width=140)
    table = Table(title="Equilibrium engine (carbonlink.simulate end to end, 2-core machine)")
    for col in ("case", "options", "engine", "runs", "median s", "min s", "peak RSS MiB", "goal"):
        table.add_column(col, justify="right" if col not in ("case", "engine", "goal") else "left")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        for label, options, restricted, goal in (
            ("90 full links", 1_000_000, False, "≤ 1.0 s"),
            ("90 links: quota+tax+discount", 1_000_000, True, "≤ 1.5 s"),
        ):
            console.print(f"[dim]running {label} on {options:,} options …[/]")
            times, rss, _ = measure(make_scenario(folder, options, restricted), "fast", 7)
            rows.append((label, options, "fast", times, rss, goal))
        doc = make_scenario(folder, 100_000, True)
        console.print("[dim]running fast vs plain on 100,000 options …[/]")
        fast_t, fast_rss, fast_p = measure(doc, "fast", 7)
        plain_t, plain_rss, plain_p = measure(doc, "plain", 3)
        rows.append(("fast vs plain (restricted)", 100_000, "fast", fast_t, fast_rss, ""))
        rows.append(("fast vs plain (restricted)", 100_000, "plain", plain_t, plain_rss, ""))
    for label, options, engine, times, rss, goal in rows:
        table.add_row(label, f"{options:,}", engine, str(len(times)), f"{statistics.median(times):.3f}",
                      f"{min(times):.3f}", f"{rss:,.0f}", goal)
    console.print(table)
    ratio = statistics.median(plain_t) / statistics.median(fast_t)
    agree = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(fast_p, plain_p, strict=True))
    console.print(f"speed ratio plain/fast on 100,000 options: [bold]{ratio:,.0f}×[/] (goal ≥ 50×); "
                  f"largest relative price difference {agree:.1e}")


if __name__ == "__main__":
    main()
