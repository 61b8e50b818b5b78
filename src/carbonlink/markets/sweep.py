"""Grid sweeps: many scenarios solved, results in pyam-style long format.

Columns of the result: ``scenario, sample, market, variable, unit, value`` — one row per market
and variable (plus ``market == "total"`` rows for the totals, and ``"from>to"`` rows for link
flows). Executors: ``serial`` (default), ``process`` (a :class:`ProcessPoolExecutor`), ``dask``
(needs the ``dask`` extra; uses the running distributed client or dask's default scheduler).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd

from carbonlink.errors import DocumentError
from carbonlink.model.scenario import Scenario

LONG_COLUMNS = ["scenario", "sample", "market", "variable", "unit", "value"]
_MONEY_PER_UNIT = {"price", "mac", "autarky_price"}
_MONEY = {"abatement_cost", "compliance_cost", "tax_revenue", "autarky_compliance_cost", "gain",
          "quota_rent"}


#: The money label when no market states its currency (the CLI refuses to write it: see
#: ``carbonlink sweep --currency``).
NO_CURRENCY = "currency unstated"


def _units(scenario: Scenario) -> tuple[str, str]:
    """Quantity unit and currency of a scenario (its linked markets share one currency: the
    scenario model checks it)."""
    m = scenario.markets[0]
    cur = next((x.currency for x in scenario.markets if x.currency), None)
    return m.unit, cur or NO_CURRENCY


def units_of(variable: str, qty: str, cur: str) -> str:
    """The unit of a result variable: prices per tonne; money in millions when quantities are in
    Mt (price per t × Mt); quantities in the markets' unit."""
    mega = qty.startswith("Mt")
    if variable in _MONEY_PER_UNIT:
        return f"{cur}/t{qty[2:]}" if mega else f"{cur}/{qty}"
    if variable in _MONEY:
        return f"million {cur}" if mega else cur
    return qty


def long_rows(result: Any, scenario_name: str, sample: int | str) -> list[dict[str, Any]]:
    """One SimulationResult as long-format rows (numbers read from the result as they are)."""
    qty, cur = _units(result.scenario)
    rows: list[dict[str, Any]] = []

    def unit(var: str) -> str:
        return units_of(var, qty, cur)

    for mid, row in result.markets.iterrows():
        for var, value in row.items():
            rows.append({"scenario": scenario_name, "sample": sample, "market": str(mid),
                         "variable": str(var), "unit": unit(str(var)), "value": float(value)})
    for _, lk in result.links.iterrows():
        for var in ("flow", "credited", "tax_revenue", "quota_rent"):
            rows.append({"scenario": scenario_name, "sample": sample,
                         "market": f"{lk['from']}>{lk['to']}", "variable": var,
                         "unit": unit(var), "value": float(lk[var])})
    for key, value in result.totals.items():
        rows.append({"scenario": scenario_name, "sample": sample, "market": "total",
                     "variable": key, "unit": unit(key), "value": float(value)})
    return rows


#: The variables of a multi-period result written per period (``price|2030``) for every market
#: (the batch path of :mod:`carbonlink.markets.batch` writes the same ones).
PERIOD_VARIABLES = ("price", "emissions", "abatement", "net_imports", "banked", "compliance_cost")


def period_long_rows(res: Any, scenario_name: str, sample: int | str) -> list[dict[str, Any]]:
    """A :class:`~carbonlink.markets.multiperiod.MultiPeriodResult` as long rows: the
    :data:`PERIOD_VARIABLES` per period (``VARIABLE|YEAR``, prices in current value), the gain
    (present value at the first period), ``binding|YEAR`` per link, then the stability
    mechanisms of the markets that have them (:func:`reserve_rows`). Units as the batch path
    labels them (:func:`carbonlink.markets.batch.row_labels`): the first market's."""
    qty, cur = res.scenario.markets[0].unit, res.scenario.markets[0].currency or "money"
    rows: list[dict[str, Any]] = []

    def row(market: str, variable: str, unit: str, value: Any) -> None:
        rows.append({"scenario": scenario_name, "sample": sample, "market": market,
                     "variable": variable, "unit": unit, "value": float(value)})

    flat = res.markets.reset_index()
    for var in PERIOD_VARIABLES:
        for year, market, value in flat[["period", "market", var]].itertuples(index=False):
            row(str(market), f"{var}|{year}", units_of(var, qty, cur), value)
    for market, gain in res.present_value["gain"].items() if not res.present_value.empty else []:
        row(str(market), "gain", units_of("gain", qty, cur), gain)
    for year, frm, to, binding in res.links[["period", "from", "to", "binding"]].itertuples(
            index=False):
        row(f"{frm}>{to}", f"binding|{year}", "", bool(binding))
    rows.extend(reserve_rows(res, scenario_name, sample))
    return rows


def reserve_rows(res: Any, scenario_name: str, sample: int | str) -> list[dict[str, Any]]:
    """The stability mechanisms of a multi-period result, per period (``VARIABLE|YEAR``), only
    for the markets that have them, in the markets' quantity unit:

    * a price ceiling / floor: ``ceiling_released``, ``floor_withheld`` (California/Québec's
      ceiling units, a floor's withheld allowances);
    * price-triggered reserve tiers (RGGI CCR/ECR, California/Québec reserve tiers):
      ``reserve_released`` and ``reserve_withheld`` summed over the market's tiers, and per
      tier ``reserve_released|TIER|YEAR`` or ``reserve_withheld|TIER|YEAR`` (``TIER`` the
      tier's ``name``, else ``tier K``);
    * a market stability reserve (the EU MSR): ``msr_intake`` (allowances placed in the reserve,
      taken from the period's supply), ``msr_release`` (released from it), ``msr_invalidated``
      and ``msr_holdings`` (at the end of the period)."""
    qty, _ = _units(res.scenario)
    rows: list[dict[str, Any]] = []
    if res.status != "optimal":
        return rows
    flat = res.markets.reset_index()
    for m in res.scenario.markets:
        part = flat[flat["market"] == m.id]
        years = part["period"].tolist()
        series: list[tuple[str, Any]] = []
        if m.price_ceiling is not None:
            series.append(("ceiling_released", part["ceiling_released"]))
        if m.price_floor is not None:
            series.append(("floor_withheld", part["floor_withheld"]))
        if m.reserves:
            series += [("reserve_released", part["reserve_released"]),
                       ("reserve_withheld", part["reserve_withheld"])]
        if m.msr is not None:
            adjust = part["msr_adjustment"].to_numpy(dtype=float)
            series += [("msr_intake", (-adjust).clip(min=0.0) + 0.0),
                       ("msr_release", adjust.clip(min=0.0)),
                       ("msr_invalidated", part["msr_invalidated"]),
                       ("msr_holdings", part["msr_holdings"])]
        for var, values in series:
            for year, value in zip(years, list(values), strict=True):
                rows.append({"scenario": scenario_name, "sample": sample, "market": m.id,
                             "variable": f"{var}|{year}", "unit": qty, "value": float(value)})
        tiers = res.reserves[res.reserves["market"] == m.id]
        for year, tier, kind, value in tiers[["period", "tier", "kind", "quantity"]].itertuples(
                index=False):
            var = "reserve_released" if kind == "release" else "reserve_withheld"
            rows.append({"scenario": scenario_name, "sample": sample, "market": m.id,
                         "variable": f"{var}|{tier}|{year}", "unit": qty, "value": float(value)})
    return rows


def _solve_one(args: tuple[Scenario, str, str, int | str]) -> tuple[list[dict[str, Any]], Any]:
    scenario, engine, name, sample = args
    if scenario.periods is not None:  # one program over all periods: rows per period
        from carbonlink.markets.multiperiod import simulate_periods

        res = simulate_periods(scenario)
        return period_long_rows(res, name, sample), res
    from carbonlink.markets import simulate

    result = simulate(scenario, engine=engine)
    return long_rows(result, name, sample), result


def run_scenarios(scenarios: Sequence[Scenario], *, name: str = "sweep", engine: str = "fast",
                  executor: str = "serial", max_workers: int | None = None,
                  samples: Sequence[int | str] | None = None,
                  ) -> tuple[pd.DataFrame, list[Any]]:
    """Solve every scenario; return the long-format frame and the SimulationResults in order."""
    labels = list(samples) if samples is not None else list(range(len(scenarios)))
    jobs = [(sc, engine, name, lab) for sc, lab in zip(scenarios, labels, strict=True)]
    if executor == "serial":
        outs = [_solve_one(j) for j in jobs]
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=max_workers) as pool:
            outs = list(pool.map(_solve_one, jobs))
    elif executor == "dask":
        try:
            import dask
        except ImportError:  # pragma: no cover - depends on the extra
            raise DocumentError("--executor", "dask is not installed (pip install "
                                "'carbonlink[dask]')") from None
        delayed = [dask.delayed(_solve_one)(j) for j in jobs]
        outs = list(dask.compute(*delayed))
    else:
        raise DocumentError("--executor", f"must be serial, process or dask, got {executor!r}")
    rows = [r for rs, _ in outs for r in rs]
    frame = pd.DataFrame(rows, columns=LONG_COLUMNS)
    return frame, [res for _, res in outs]


# -- grid over document paths ------------------------------------------------------------------

_PART = re.compile(r"([A-Za-z_][\w-]*)(?:\[([^\]]+)\])?")


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at ``path`` in a scenario mapping. ``links[*].quota`` sets every link;
    ``markets[EU].cap`` selects by id; ``links[0].discount`` by index."""
    parts = path.split(".")
    targets: list[Any] = [doc]
    for i, part in enumerate(parts):
        m = _PART.fullmatch(part)
        if not m:
            raise DocumentError(path, f"cannot read path part {part!r}")
        key, sel = m.group(1), m.group(2)
        last = i == len(parts) - 1
        nxt: list[Any] = []
        for t in targets:
            if not isinstance(t, dict):
                raise DocumentError(path, f"{key!r} is not inside a mapping")
            if sel is None:
                if last:
                    t[key] = value
                else:
                    nxt.append(t.setdefault(key, {}))
                continue
            seq = t.get(key)
            if not isinstance(seq, list):
                raise DocumentError(path, f"{key!r} is not a list")
            if sel == "*":
                chosen = list(range(len(seq)))
            elif sel.lstrip("-").isdigit():
                chosen = [int(sel)]
            else:
                chosen = [j for j, it in enumerate(seq)
                          if isinstance(it, dict) and it.get("id") == sel]
            if not chosen or any(not -len(seq) <= j < len(seq) for j in chosen):
                raise DocumentError(path, f"no item {sel!r} in {key}")
            for j in chosen:
                if last:
                    seq[j] = value
                else:
                    nxt.append(seq[j])
        targets = nxt


def grid(base: Scenario, params: Mapping[str, Iterable[Any]]
         ) -> tuple[list[Scenario], pd.DataFrame]:
    """The Cartesian product of parameter values applied to ``base``: the scenarios and a
    ``samples`` table (one row per sample, one column per path)."""
    from carbonlink.model.io import load_scenario

    doc = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    keys = list(params)
    combos = list(itertools.product(*(list(params[k]) for k in keys)))
    scenarios: list[Scenario] = []
    for combo in combos:
        d = copy.deepcopy(doc)
        for k, v in zip(keys, combo, strict=True):
            set_path(d, k, v)
        scenarios.append(load_scenario(d))
    samples = pd.DataFrame(combos, columns=keys)
    samples.index.name = "sample"
    return scenarios, samples


def sweep(base: Scenario, params: Mapping[str, Iterable[Any]], *, name: str = "sweep",
          engine: str = "fast", executor: str = "serial", max_workers: int | None = None,
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solve ``base`` over a parameter grid; returns ``(long_frame, samples)``."""
    scenarios, samples = grid(base, params)
    frame, _ = run_scenarios(scenarios, name=name, engine=engine, executor=executor,
                             max_workers=max_workers)
    return frame, samples


IAMC_COLUMNS = ["model", "scenario", "region", "variable", "unit", "year", "value"]


def to_iamc(frame: pd.DataFrame, samples: pd.DataFrame, *, year: int,
            model: str = "carbonlink", periods: Sequence[int] | None = None) -> pd.DataFrame:
    """A sweep in the IAMC long format pyam reads (``model, scenario, region, variable, unit,
    year, value``): one scenario per sample, named by its parameter values
    (``sweep|links[*].quota=5``); the region is the market (``World`` for the totals); a link's
    rows are the exporting market's, with the variable ``<variable>|to <market>``. ``year`` is
    the compliance year the user states for a one-period scenario (its document carries none).
    A multi-period sweep (``periods``: the scenario's years) writes ``VARIABLE|YEAR`` as the
    variable ``VARIABLE`` in the ``year`` column (``reserve_released|CCR|2023`` → variable
    ``reserve_released|CCR``, year 2023: a sub-variable of the market's total, as pyam reads
    the ``|`` hierarchy); a variable without a year (the gain, a present value at the first
    period) keeps ``year``."""
    names: dict[Any, str] = {}
    for sample, row in samples.iterrows():
        params = ",".join(f"{k}={'unrestricted' if pd.isna(v) else v}" for k, v in row.items())
        names[sample] = params or str(sample)
    out = frame.copy()
    out["scenario"] = [f"{scen}|{names.get(smp, smp)}" for scen, smp in
                       zip(out["scenario"], out["sample"], strict=True)]
    region, variable, years = [], [], []
    known = {str(y) for y in periods or []}
    for market, var in zip(out["market"], out["variable"], strict=True):
        name, bar, last = str(var).rpartition("|")
        if bar and last in known:
            var, when = name, int(last)
        else:
            when = int(year)
        years.append(when)
        src, sep, dst = str(market).partition(">")
        if sep:
            region.append(src)
            variable.append(f"{var}|to {dst}")
        else:
            region.append("World" if market == "total" else str(market))
            variable.append(str(var))
    out["region"], out["variable"] = region, variable
    out["model"], out["year"] = model, years
    return out[IAMC_COLUMNS].reset_index(drop=True)
