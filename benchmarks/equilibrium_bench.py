"""Equilibrium engine benchmark (issue 13): every row side by side with its floor or peer.

Each row times carbonlink and, in the same run, the least work any engine must do for that case
(the *floor*) or an independent formulation (a *peer*), and prints the ratio. Medians of repeated
runs after a warm-up; the machine is shared, so only the ratios of one run are comparable.

Rows:

* linear MACs — 50 markets with every directed link restricted (quota, tax, discount), the two
  markets of ``examples/scenarios/full-link.yaml``, and the same two with a quota on one link:
  ``simulate`` against the bare HiGHS solve of the programs a program-based engine solves (the
  network's QP and its autarky's, each handed to a fresh HiGHS instance with the engine's
  options). carbonlink itself needs no program where a closed form holds (full-link: one market,
  then each alone) and solves the 50-market QP over a guessed active set, so those rows may sit
  below their floor;
* step curves from YAML — 50 markets × 10,000 options, and 10 markets with 200 offset programmes
  of 1,000 options each: ``simulate(path)`` against the floor (libyaml parse + merit order of
  every curve, numpy argsort and cumsum);
* firm-level options from Parquet, 10³–10⁷, each size in fresh child processes (time and peak
  resident memory): ``simulate`` against the floor (pyarrow reads the two columns, argsort,
  cumsum, keeping each market's cumulative quantities and sorted costs); at 10⁴–10⁵ also the
  ``plain`` engine and, when linopy is installed (``pip install '.[bench]'``), an independent
  linopy model, with the largest price difference;
* start-up — ``carbonlink --help``, ``carbonlink check``, ``carbonlink assess`` as whole processes,
  paired with ``python -c pass``.

``CARBONLINK_BENCH_BASELINE=/path/to/older/src`` adds a column: the same carbonlink rows run
against that source tree (e.g. ``git archive <rev> src | tar -x -C /tmp/old``), in child
processes, for a before/after in one run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BASELINE = os.environ.get("CARBONLINK_BENCH_BASELINE")
#: ``CARBONLINK_BENCH_QUICK=1``: firm options up to 10⁵ only, smaller YAML cases (a smoke run)
QUICK = os.environ.get("CARBONLINK_BENCH_QUICK") == "1"
console = Console(width=160)


# ---- documents (assumption: synthetic data, seeded) -----------------------------------------
def linear_network(n: int, seed: int = 3) -> dict[str, Any]:
    """``n`` markets with linear MACs, every directed link with a quota, a tax and a discount."""
    rng = np.random.default_rng(seed)
    ms: list[dict[str, Any]] = []
    for i in range(n):
        bau = float(rng.uniform(50, 500))
        ms.append({"id": f"M{i}", "bau": bau, "cap": bau * float(rng.uniform(0.6, 0.9)),
                   "mac": {"linear": {"slope": float(rng.uniform(0.1, 3))}}})
    links = [{"from": f"M{a}", "to": f"M{b}", "quota": 0.01 * ms[a]["bau"], "transfer_tax": 1.0,
              "discount": 0.1} for a in range(n) for b in range(n) if a != b]
    return {"name": f"{n} linear markets", "markets": ms, "links": links}


def _firm_file(folder: Path, name: str, rng: np.random.Generator, n: int, scale: float = 1.0) -> tuple[str, float]:
    """A Parquet file of ``n`` firm-level options; its path and total quantity."""
    import pandas as pd

    qty = rng.uniform(0.1, 1.0, n) * scale
    cost = rng.lognormal(3.0, 0.8, n) * rng.uniform(0.5, 2.0)
    path = folder / f"{name}.parquet"
    pd.DataFrame({"firm": np.arange(n) // 4, "quantity": qty, "unit_cost": cost}).to_parquet(path)
    return str(path), float(qty.sum())


def steps_network(folder: Path, n: int, options: int, seed: int = 5) -> dict[str, Any]:
    """``n`` markets with ``options`` firm-level options each, every directed link restricted."""
    rng = np.random.default_rng(seed)
    ms: list[dict[str, Any]] = []
    for i in range(n):
        path, total = _firm_file(folder, f"s{n}-{i}", rng, options)
        bau = total * 1.2
        ms.append({"id": f"M{i}", "bau": bau, "cap": bau * float(rng.uniform(0.6, 0.85)),
                   "mac": {"firms": path}})
    links = [{"from": f"M{a}", "to": f"M{b}", "quota": 0.01 * ms[a]["bau"], "transfer_tax": 1.0,
              "discount": 0.1} for a in range(n) for b in range(n) if a != b]
    return {"name": f"{n} markets x {options} options", "markets": ms, "links": links}


def offsets_network(folder: Path, n: int = 10, programmes: int = 200, options: int = 1000,
                    seed: int = 7) -> dict[str, Any]:
    """``n`` linked markets and ``programmes`` offset supplies (firm-level options), each
    accepted by three markets with a limit and a discount."""
    doc = steps_network(folder, n, 1000, seed)
    rng = np.random.default_rng(seed + 1)
    offsets = []
    for k in range(programmes):
        buyers = rng.choice(n, 3, replace=False)
        path, _ = _firm_file(folder, f"o{k}", rng, options, 0.02)
        offsets.append({"id": f"O{k}", "supply": {"firms": path},
                        "accepted_by": {f"M{int(b)}": {"limit": float(rng.uniform(5, 30)),
                                                       "discount": 0.2} for b in buyers}})
    doc["offsets"] = offsets
    doc["name"] = f"{n} markets, {programmes} offset programmes x {options} options"
    return doc


def firm_network(folder: Path, options: int, n: int = 10, seed: int = 1) -> dict[str, Any]:
    """``n`` markets of firm-level options in Parquet files, every directed link restricted."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    per = options // n
    ms: list[dict[str, Any]] = []
    for i in range(n):
        qty = rng.uniform(0.1, 1.0, per)
        cost = rng.lognormal(3.0, 0.8, per) * rng.uniform(0.5, 2.0)
        path = folder / f"m{i}-{options}.parquet"
        if not path.exists():
            pd.DataFrame({"firm": np.arange(per) // 4, "quantity": qty, "unit_cost": cost}).to_parquet(path)
        bau = float(qty.sum()) * 1.2
        ms.append({"id": f"M{i}", "bau": bau, "cap": bau * rng.uniform(0.6, 0.85),
                   "mac": {"firms": str(path)}})
    links = [{"from": f"M{a}", "to": f"M{b}", "quota": 0.01 * ms[a]["bau"], "transfer_tax": 1.0,
              "discount": 0.1} for a in range(n) for b in range(n) if a != b]
    return {"name": f"{options} firm options", "markets": ms, "links": links}


# ---- timing ----------------------------------------------------------------------------------
def median_time(fn: Callable[[], object], runs: int, warm: bool = True) -> float:
    if warm:
        fn()  # warm-up (imports, page cache)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _child_main(kind: str, arg: Any, runs: int, src: str | None, out: Any) -> None:
    if src:
        sys.path.insert(0, src)
        for name in [m for m in sys.modules if m == "carbonlink" or m.startswith("carbonlink.")]:
            del sys.modules[name]
    extra: Any = None
    if kind == "floor-parquet":
        import pyarrow.parquet as pq

        def fn() -> None:  # the aggregated curves are kept, as any solve needs them
            curves = []
            for m in arg["markets"]:
                t = pq.read_table(m["mac"]["firms"], columns=["quantity", "unit_cost"])
                q, c = t.column("quantity").to_numpy(), t.column("unit_cost").to_numpy()
                del t
                order = np.argsort(c)
                curves.append((np.cumsum(q[order]), c[order]))
        sec = median_time(fn, runs)
    else:
        from carbonlink import simulate

        engine = "plain" if kind == "plain" else "fast"
        result: list[Any] = []
        # the plain formulation takes minutes at 10^5 options: no warm-up run for it
        sec = median_time(lambda: result.append(simulate(arg, engine=engine)), runs, warm=kind != "plain")
        extra = result[-1].markets["price"].to_numpy().tolist()
    out.put((sec, peak_mib(), extra))


def peak_mib() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ``ru_maxrss``, which a
    spawned child inherits from the parent it was forked from)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(kind: str, arg: Any, runs: int, src: str | None = None) -> tuple[float, float, Any]:
    """Median seconds, peak resident MiB of a fresh process, and the prices (if any)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child_main, args=(kind, arg, runs, src, q))
    p.start()
    res = q.get()
    p.join()
    return res


# ---- floors and peers ------------------------------------------------------------------------
def bare_highs(doc: Any) -> Callable[[], None]:
    """The programs carbonlink solves for ``doc`` (network and autarky), each handed to a fresh
    HiGHS instance with the same options: the floor of any engine that solves those programs."""
    import highspy

    from carbonlink.markets import solvers
    from carbonlink.markets.network import compile_network
    from carbonlink.model.io import load_scenario

    net = compile_network(load_scenario(doc), keep_options=False)
    models = []
    for n in (net, net.without_links()):
        sq, sp = solvers._scales(n)
        reps = solvers._representations(n, solvers.Engine.fast, sp, quadratic=True)
        prog = solvers.NetworkProgram(n, [r.block() for r in reps], sq, sp)
        models.append(prog.h.getModel())

    def run() -> None:
        for model in models:
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            for key, value in (("primal_feasibility_tolerance", 1e-10),
                               ("dual_feasibility_tolerance", 1e-10), ("presolve", "off"),
                               ("qp_regularization_value", 0.0)):
                h.setOptionValue(key, value)
            h.passModel(model)
            h.run()
    return run


def merit_floor(path: Path) -> Callable[[], None]:
    """libyaml parse of the document, then pyarrow reads each curve's two columns and sorts
    them into merit order (argsort, cumsum)."""
    import pyarrow.parquet as pq

    def run() -> None:
        doc = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        for part in [m["mac"] for m in doc["markets"]] + [o["supply"] for o in doc.get("offsets", [])]:
            t = pq.read_table(part["firms"], columns=["quantity", "unit_cost"])
            q, c = t.column("quantity").to_numpy(), t.column("unit_cost").to_numpy()
            order = np.argsort(c)
            np.cumsum(q[order])
    return run


def linopy_prices(doc: dict[str, Any]) -> tuple[float, list[float]] | None:
    """An independent linopy model of a firm-level network (one variable per option; the
    network program of carbonlink.markets.solvers written out by hand): seconds and prices."""
    try:
        import linopy
    except ImportError:
        return None
    import pandas as pd
    import xarray as xr

    t = time.perf_counter()
    ms, lks = doc["markets"], doc["links"]
    ids = [m["id"] for m in ms]
    frames = [pd.read_parquet(m["mac"]["firms"], columns=["quantity", "unit_cost"]) for m in ms]
    q = np.concatenate([f["quantity"].to_numpy() for f in frames])
    c = np.concatenate([f["unit_cost"].to_numpy() for f in frames])
    owner = np.repeat(np.arange(len(ms)), [len(f) for f in frames])
    src = np.array([ids.index(lk["from"]) for lk in lks])
    dst = np.array([ids.index(lk["to"]) for lk in lks])
    quota = np.array([lk["quota"] for lk in lks])
    tax = np.array([lk["transfer_tax"] for lk in lks])
    factor = np.array([1 - lk["discount"] for lk in lks])
    bau = np.array([m["bau"] for m in ms])
    cap = np.array([m["cap"] for m in ms])
    m = linopy.Model()
    a = m.add_variables(lower=0, upper=xr.DataArray(q, dims="option"), name="a")
    f = m.add_variables(lower=0, upper=xr.DataArray(quota, dims="link"), name="f")
    market = xr.DataArray(np.arange(len(ms)), dims="market")
    abated = (a * xr.DataArray((owner[:, None] == np.arange(len(ms))).astype(float),
                               dims=("option", "market"))).sum("option")
    out_m = xr.DataArray((src[:, None] == market.values).astype(float), dims=("link", "market"))
    in_m = xr.DataArray((dst[:, None] == market.values).astype(float) * factor[:, None],
                        dims=("link", "market"))
    exports = (f * out_m).sum("link")
    imports = (f * in_m).sum("link")
    m.add_constraints(-abated + exports - imports <= xr.DataArray(cap - bau, dims="market"), name="balance")
    m.add_constraints(exports <= xr.DataArray(cap, dims="market"), name="exports")
    m.add_objective((a * xr.DataArray(c, dims="option")).sum() + (f * xr.DataArray(tax, dims="link")).sum())
    m.solve(solver_name="highs", output_flag=False, progress=False)
    duals = -(m.constraints["balance"].dual.values + m.constraints["exports"].dual.values)
    return time.perf_counter() - t, [max(float(v), 0.0) for v in duals]


def cli_pair(args: list[str], runs: int = 7, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Median whole-process seconds of ``carbonlink ARGS`` and of ``python -c pass``, paired."""
    exe = [sys.executable, "-c", "import sys; from carbonlink.cli import main; sys.argv[0] = 'carbonlink'; main()"]
    # as a user runs it: with the bytecode cache (a first run writes it), whatever this shell says
    env = {k: v for k, v in (env or os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(exe + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    ours, bare = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(exe + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                       env=env)
        ours.append(time.perf_counter() - t)
    return statistics.median(ours), statistics.median(bare)


def cli_triple(args: list[str], runs: int, env_old: dict[str, str]) -> tuple[float, float, float]:
    """Medians of ``carbonlink ARGS`` here, ``python -c pass`` and ``carbonlink ARGS`` on the old
    tree (``env_old``'s PYTHONPATH), one of each per round, so the load falls on all three."""
    exe = [sys.executable, "-c", "import sys; from carbonlink.cli import main; sys.argv[0] = 'carbonlink'; main()"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env_old = {k: v for k, v in env_old.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for e in (env, env_old):  # warm-up: bytecode and data caches written
        subprocess.run(exe + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=e)
    times: dict[str, list[float]] = {"ours": [], "bare": [], "old": []}
    for _ in range(runs):
        for key, cmd, e in (("bare", [sys.executable, "-c", "pass"], env), ("ours", exe + args, env),
                            ("old", exe + args, env_old)):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=e)
            times[key].append(time.perf_counter() - t)
    return (statistics.median(times["ours"]), statistics.median(times["bare"]),
            statistics.median(times["old"]))


# ---- the table -------------------------------------------------------------------------------
@dataclass
class Row:
    case: str
    ours: float
    ref_label: str
    ref: float
    goal: str = ""
    note: str = ""
    baseline: float | None = None
    unit: str = "s"

    @property
    def ratio(self) -> float:
        return self.ours / self.ref if self.ref > 0 else float("nan")


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return ""
    if unit == "MiB":
        return f"{v:,.0f} MiB"
    return f"{v * 1e3:.3g} ms" if v < 0.1 else f"{v:.3f} s"  # small cases: 3 digits, not 0.000 s


def progress(label: str) -> None:
    console.print(f"[dim]running {label} …[/]")


def main() -> None:
    """All rows; ``CARBONLINK_BENCH_ONLY=startup`` runs the start-up rows alone."""
    rows: list[Row] = []
    only_startup = os.environ.get("CARBONLINK_BENCH_ONLY") == "startup"

    def baseline(kind: str, arg: Any, runs: int) -> float | None:
        return in_child(kind, arg, runs, BASELINE)[0] if BASELINE else None

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not only_startup:
            engine_rows(rows, folder, baseline)
    startup_rows(rows)
    print_table(rows)


def engine_rows(rows: list[Row], folder: Path, baseline: Callable[[str, Any, int], float | None]) -> None:
    from carbonlink import simulate
    from carbonlink.markets.network import compile_network
    from carbonlink.markets.solvers import solve_network
    from carbonlink.model.io import load_scenario

    # -- linear MACs ------------------------------------------------------------------------
    progress("50 linear markets")
    doc50 = linear_network(50)
    sc50 = load_scenario(doc50)
    fast = simulate(sc50)
    plain = simulate(sc50, engine="plain")
    diff = float(np.max(np.abs(fast.markets["price"] - plain.markets["price"])))
    top = float(np.max(np.abs(plain.markets["price"])))
    # the engine before the active set: the full QP of the same network
    from carbonlink.markets import solvers

    net50 = compile_network(sc50, keep_options=False)
    sq, sp = solvers._scales(net50)
    full_qp = solvers._solve_refined(
        net50, solvers._representations(net50, solvers.Engine.fast, sp, quadratic=True), sq, sp)
    diff_qp = (float(np.max(np.abs(fast.markets["price"].to_numpy() - full_qp.price)))
               if full_qp is not None else float("nan"))
    rows.append(Row("50 linear markets, 2,450 restricted links (simulate)",
                    median_time(lambda: simulate(sc50), 5), "bare HiGHS, same programs (full QP)",
                    median_time(bare_highs(sc50), 5), "≤ 1.0 s",
                    f"prices: max diff vs plain engine {diff:.1e} ({diff / top:.0e} of the "
                    f"top price), vs the full QP {diff_qp:.1e}",
                    baseline("fast", doc50, 3)))
    full = ROOT / "examples" / "scenarios" / "full-link.yaml"
    sc2 = load_scenario(full)

    def engine_only() -> None:
        net = compile_network(sc2, keep_options=False)
        solve_network(net)
        solve_network(net.without_links())
    progress("2 linear markets")
    floor2 = median_time(bare_highs(sc2), 51)
    rows.append(Row("2 linear markets (full-link.yaml): engine (compile + solve + autarky)",
                    median_time(engine_only, 51), "bare HiGHS, same programs", floor2,
                    "≤ 2×", "closed forms: one market, then each alone; no program"))
    rows.append(Row("2 linear markets (full-link.yaml): simulate, result tables included",
                    median_time(lambda: simulate(sc2), 51), "bare HiGHS, same programs",
                    floor2, "", "", baseline("fast", str(full), 21)))
    # the same markets with a quota on one direction: the network needs its program (a QP)
    doc_q = yaml.safe_load(full.read_text())
    doc_q["links"] = [{"from": "J1", "to": "J2"}, {"from": "J2", "to": "J1", "quota": 5}]
    sc2q = load_scenario(doc_q)

    def engine_only_q() -> None:
        net = compile_network(sc2q, keep_options=False)
        solve_network(net)
        solve_network(net.without_links())
    rows.append(Row("2 linear markets, quota 5 on J2→J1: engine (compile + solve + autarky)",
                    median_time(engine_only_q, 51), "bare HiGHS, same programs",
                    median_time(bare_highs(sc2q), 51), "",
                    "the network's QP + its KKT check; autarky in closed form"))
    # -- step curves, documents from YAML files --------------------------------------------------------------
    for label, build, goal in (
        ("50 markets x 10,000 firm options, 2,450 restricted links, YAML file",
         lambda: steps_network(folder, 50, 1_000 if QUICK else 10_000), "≤ 3×"),
        ("10 markets, 200 offset programmes x 1,000 options, YAML file",
         lambda: offsets_network(folder, programmes=20 if QUICK else 200), "≤ 5×"),
    ):
        progress(label)
        path = folder / (label.split(",")[0].replace(" ", "-") + ".yaml")
        path.write_text(yaml.dump(build(), Dumper=yaml.CSafeDumper, default_flow_style=None))
        rows.append(Row(label, median_time(lambda p=path: simulate(p), 3),  # type: ignore[misc]
                        "libyaml parse + merit order", median_time(merit_floor(path), 3), goal,
                        "", baseline("fast", str(path), 2)))
    # -- firm-level options: scaling, memory, peers -----------------------------------------
    for options in (1_000, 10_000, 100_000) if QUICK else (1_000, 10_000, 100_000, 1_000_000,
                                                           10_000_000):
        progress(f"{options:,} firm options")
        doc = firm_network(folder, options)
        runs = 3 if options >= 1_000_000 else 7
        ours_t, ours_m, prices = in_child("fast", doc, runs)
        floor_t, floor_m, _ = in_child("floor-parquet", doc, runs)
        big = options == 10_000_000
        rows.append(Row(f"{options:,} firm options (Parquet), 90 restricted links: time", ours_t,
                        "pyarrow read + argsort + cumsum", floor_t, "≤ 1.2×" if big else ""))
        rows.append(Row(f"{options:,} firm options: peak memory", ours_m, "the same floor",
                        floor_m, "≤ 1.3×" if big else "", unit="MiB"))
        if options in (10_000, 100_000):
            plain_t, _, plain_p = in_child("plain", doc, 1)
            d = max(abs(a - b) for a, b in zip(prices, plain_p, strict=True))
            rows.append(Row(f"{options:,} firm options: fast vs plain engine", ours_t,
                            "plain (one HiGHS column per option)", plain_t, "",
                            f"prices: max diff {d:.1e}"))
            lin = linopy_prices(doc)
            if lin is not None:
                d = max(abs(a - b) for a, b in zip(prices, lin[1], strict=True))
                rows.append(Row(f"{options:,} firm options: fast vs linopy", ours_t,
                                "linopy model + HiGHS", lin[0], "", f"prices: max diff {d:.1e}"))


#: the tree issue 13 measured ``carbonlink assess`` on ("today" in the issue): its row always runs
#: beside this one, from ``git archive`` (it imports plotly: the ``bench`` extra installs it)
ASSESS_BEFORE = "4c5c430"


def _archived_src(rev: str, into: Path) -> str | None:
    """``src`` of commit ``rev`` unpacked under ``into`` (None without git or the commit)."""
    try:
        archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return str(into / "src")


def startup_rows(rows: list[Row]) -> None:
    agreement = "examples/agreements/eu-switzerland.yaml"
    report = str(Path(tempfile.gettempdir()) / "bench-report.html")
    console.print(f"[dim]load average before the start-up rows: {os.getloadavg()}[/]")
    with tempfile.TemporaryDirectory() as tmp:
        before = BASELINE or _archived_src(ASSESS_BEFORE, Path(tmp))
        for label, args, goal, runs, old_src in (
                ("carbonlink --help", ["--help"], "≤ 15×", 7, BASELINE),
                ("carbonlink check EU–CH", ["check", agreement], "≤ 25×", 7, BASELINE),
                ("carbonlink assess EU–CH", ["assess", agreement, "--out", report],
                 "2.5× faster than " + ("before" if BASELINE else ASSESS_BEFORE), 5, before)):
            progress(label)
            env_old = {**os.environ, "PYTHONPATH": old_src} if old_src else None
            if env_old is None:
                ours, bare = cli_pair(args, runs)
                old = None
            else:  # this tree and the old one paired, run after run
                ours, bare, old = cli_triple(args, runs, env_old)
            rows.append(Row(label + " (whole process)", ours, "python -c pass", bare, goal, "",
                            old))
    console.print(f"[dim]load average after the start-up rows: {os.getloadavg()}[/]")


def print_table(rows: list[Row]) -> None:
    table = Table(title="Equilibrium engine and start-up (issue 13): medians, ratios from one run")
    for col in ("case", "carbonlink", "floor / peer", "", "ratio", "goal", "note"):
        table.add_column(col, justify="right" if col in ("carbonlink", "", "ratio") else "left")
    with_old = any(r.baseline is not None for r in rows)
    if with_old:
        table.add_column("baseline tree", justify="right")
    for r in rows:
        cells = [r.case, _fmt(r.ours, r.unit), r.ref_label, _fmt(r.ref, r.unit), f"{r.ratio:.2f}×",
                 r.goal, r.note]
        if with_old:
            cells.append(_fmt(r.baseline, r.unit) + (f" ({r.baseline / r.ours:.1f}× slower)"
                                                     if r.baseline else ""))
        table.add_row(*cells)
    console.print(table)


if __name__ == "__main__":
    main()
