"""Monte Carlo over a scenario's ``uncertainty``: shocks drawn per sample, solved per design.

Sample ``k`` draws its standard normals from its own generator,
``numpy.random.default_rng(SeedSequence(seed).spawn(N)[k])``, so a sample's numbers depend only
on the seed and ``k`` — never on the executor, the batch size or the number of workers. The
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

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

from carbonlink.errors import DocumentError
from carbonlink.markets.shocks import Shock, apply_shocks
from carbonlink.model.scenario import Scenario, Uncertainty

FloatArray = npt.NDArray[np.float64]

SAMPLE_COLUMNS = ["scenario", "design", "sample", "market", "variable", "unit", "value"]
QUANTILES = (0.05, 0.5, 0.95)


def draw_factors(unc: Uncertainty, n: int) -> FloatArray:
    """Factors ``[n, shocks]``: row ``k`` from sample ``k``'s own spawned seed."""
    k = len(unc.shocks)
    children = np.random.SeedSequence(unc.seed).spawn(n)
    z = np.empty((n, k))
    for s, child in enumerate(children):
        z[s] = np.random.default_rng(child).standard_normal(k)
    if unc.correlation is not None:
        c = np.asarray(unc.correlation, dtype=np.float64)
        # a semi-definite matrix (perfect correlation) has no Cholesky factor: use its
        # symmetric square root from the eigen decomposition instead
        w, v = np.linalg.eigh(c)
        root = v * np.sqrt(np.clip(w, 0.0, None))
        z = z @ root.T
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
    """A multi-period sample: variables named ``VARIABLE|YEAR`` (prices in current value)."""
    from carbonlink.markets.multiperiod import simulate_periods
    from carbonlink.markets.sweep import units_of

    sc, _engine, name, design, sample = job
    res = simulate_periods(sc)
    qty, cur = sc.markets[0].unit, sc.markets[0].currency or "money"
    rows: list[dict[str, Any]] = []
    flat = res.markets.reset_index()
    for var in ("price", "emissions", "abatement", "net_imports", "banked", "compliance_cost"):
        for year, market, value in flat[["period", "market", var]].itertuples(index=False):
            rows.append({"scenario": name, "design": design, "sample": sample, "market": market,
                         "variable": f"{var}|{year}", "unit": units_of(var, qty, cur),
                         "value": float(value)})
    for market, gain in res.present_value["gain"].items() if not res.present_value.empty else []:
        rows.append({"scenario": name, "design": design, "sample": sample, "market": str(market),
                     "variable": "gain", "unit": units_of("gain", qty, cur), "value": float(gain)})
    for year, frm, to, binding in res.links[["period", "from", "to", "binding"]].itertuples(index=False):
        rows.append({"scenario": name, "design": design, "sample": sample,
                     "market": f"{frm}>{to}", "variable": f"binding|{year}", "unit": "",
                     "value": float(bool(binding))})
    return rows


def _solve_batch(jobs: list[Job]) -> list[dict[str, Any]]:
    return [r for job in jobs for r in _rows(job)]


def run_samples(designs: Sequence[Scenario], n: int, *, name: str = "sweep",
                engine: str = "fast", executor: str = "serial", max_workers: int | None = None,
                batch_size: int = 64,
                progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Solve ``n`` samples of every design; the long frame, ordered by design and sample.
    ``progress(k)`` is called as each batch of ``k`` solves finishes."""
    if n < 1:
        raise DocumentError("--samples", f"must be >= 1, got {n}")
    if not designs or designs[0].uncertainty is None:
        raise DocumentError("uncertainty", "sampling needs an `uncertainty` section (shocks)")
    factors = draw_factors(designs[0].uncertainty, n)  # the same draws for every design
    jobs: list[Job] = [(sc, engine, name, d, k)
                       for d, design in enumerate(designs)
                       for k, sc in enumerate(sample_scenarios(design, factors))]
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), max(batch_size, 1))]
    done: list[list[dict[str, Any]]] = []

    def tick(batch: list[Job]) -> None:
        if progress is not None:
            progress(len(batch))

    if executor == "serial":
        for b in batches:
            done.append(_solve_batch(b))
            tick(b)
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=max_workers) as pool:
            futures: dict[Future[list[dict[str, Any]]], list[Job]] = {
                pool.submit(_solve_batch, b): b for b in batches}
            for fut in as_completed(futures):
                done.append(fut.result())
                tick(futures[fut])
    elif executor == "dask":
        try:
            import dask
        except ImportError:  # pragma: no cover - depends on the extra
            raise DocumentError("--executor", "dask is not installed (pip install "
                                "'carbonlink[dask]')") from None
        client = _distributed_client()
        if client is not None:  # a dask.distributed cluster: batches as tasks, progress per batch
            from distributed import as_completed as dask_completed

            dfuts = {client.submit(_solve_batch, b, pure=False): b for b in batches}
            for fut in dask_completed(list(dfuts)):
                done.append(fut.result())
                tick(dfuts[fut])
        else:  # dask's default scheduler on this machine
            done.extend(dask.compute(*[dask.delayed(_solve_batch)(b) for b in batches]))
            for b in batches:
                tick(b)
    else:
        raise DocumentError("--executor", f"must be serial, process or dask, got {executor!r}")
    frame = pd.DataFrame([r for rows in done for r in rows], columns=SAMPLE_COLUMNS)
    return frame.sort_values(["design", "sample"], kind="stable").reset_index(drop=True)


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
