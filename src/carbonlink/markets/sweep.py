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


def _solve_one(args: tuple[Scenario, str, str, int | str]) -> tuple[list[dict[str, Any]], Any]:
    from carbonlink.markets import simulate

    scenario, engine, name, sample = args
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
            model: str = "carbonlink") -> pd.DataFrame:
    """A sweep in the IAMC long format pyam reads (``model, scenario, region, variable, unit,
    year, value``): one scenario per sample, named by its parameter values
    (``sweep|links[*].quota=5``); the region is the market (``World`` for the totals); a link's
    rows are the exporting market's, with the variable ``<variable>|to <market>``. ``year`` is
    the compliance year the user states: the scenario documents carry none."""
    names: dict[Any, str] = {}
    for sample, row in samples.iterrows():
        params = ",".join(f"{k}={'unrestricted' if pd.isna(v) else v}" for k, v in row.items())
        names[sample] = params or str(sample)
    out = frame.copy()
    out["scenario"] = [f"{scen}|{names.get(smp, smp)}" for scen, smp in
                       zip(out["scenario"], out["sample"], strict=True)]
    region, variable = [], []
    for market, var in zip(out["market"], out["variable"], strict=True):
        src, sep, dst = str(market).partition(">")
        if sep:
            region.append(src)
            variable.append(f"{var}|to {dst}")
        else:
            region.append("World" if market == "total" else str(market))
            variable.append(str(var))
    out["region"], out["variable"] = region, variable
    out["model"], out["year"] = model, int(year)
    return out[IAMC_COLUMNS].reset_index(drop=True)
