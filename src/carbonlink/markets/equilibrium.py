"""Linked-market equilibrium: prices, flows, costs and gains, beside autarky.

Definitions (the README explains them with the scenario document):

* **price** of a market — the value of one more domestic allowance (dual of its compliance
  balance); **mac** — the marginal abatement cost actually reached (it is below the price when
  an entity-level limit binds: the mac is then a blend of the domestic and the foreign price).
* **compliance cost** of a market's entities (free allocation; domestic trades net out) =
  abatement cost + payments for units imported (at the exporter's price plus the transfer tax;
  a binding quota's rent is paid to the exporter when ``rent_holder: exporter``) − receipts for
  units exported + offsets bought at the offset price + ceiling purchases.
* **gain** = autarky compliance cost − compliance cost. **autarky** = the same markets with no
  links and no offsets (price controls stay).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonlink.errors import DocumentError
from carbonlink.markets.network import Network, compile_network, integrity_cycles
from carbonlink.markets.solvers import Engine, RawSolution, SolveStatus, solve_network
from carbonlink.model.io import load_scenario
from carbonlink.model.scenario import Scenario

MARKET_COLUMNS = [
    "price", "mac", "emissions", "abatement", "abatement_cost", "net_imports", "offsets_used",
    "ceiling_released", "floor_withheld", "compliance_cost", "tax_revenue", "autarky_price",
    "autarky_compliance_cost", "gain",
]
LINK_COLUMNS = ["from", "to", "flow", "credited", "tax_revenue", "quota_rent", "binding"]
TOTAL_KEYS = ["emissions", "autarky_emissions", "emissions_change", "abatement_cost", "gain"]


@dataclass
class SimulationResult:
    """What :func:`simulate` returns: tables of markets, links and offsets, and totals."""

    status: str
    scenario: Scenario
    markets: pd.DataFrame
    links: pd.DataFrame
    offsets: pd.DataFrame
    totals: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        """In a notebook: markets, links and totals, each number with its unit and currency."""
        from carbonlink.reporting.notebook import simulation_html

        return simulation_html(self)

    def plot(self, chart: str | None = None) -> Any:
        """Static SVG charts (shown inline by Jupyter): all as a list, or the one named
        (``prices``, ``gains``, ``flows`` when units move)."""
        from carbonlink.reporting.notebook import pick, simulation_charts

        return pick(simulation_charts(self), chart)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``carbonlink simulate --format json``."""

        num = json_number
        return {
            "status": self.status,
            "markets": {
                str(mid): {c: num(row[c]) for c in MARKET_COLUMNS}
                for mid, row in self.markets.iterrows()
            },
            "links": [{c: num(row[c]) for c in LINK_COLUMNS} for _, row in self.links.iterrows()],
            "offsets": {str(oid): {"price": num(row["price"]), "used": num(row["used"])}
                        for oid, row in self.offsets.iterrows()},
            "totals": {k: num(self.totals[k]) for k in TOTAL_KEYS},
            "warnings": list(self.warnings),
        }


def json_number(v: Any) -> Any:
    """A result cell for JSON: a bool, a string, a float (``0.0`` for ``-0.0``) or ``None`` for
    NaN and infinity (the single- and multi-period results share it)."""
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, str):
        return v
    f = float(v)
    if not math.isfinite(f):
        return None
    return 0.0 if f == 0 else f  # no "-0.0"


def _market_costs(net: Network, sol: RawSolution) -> dict[str, np.ndarray]:
    """Per-market emissions, abatement cost, trade payments and compliance cost."""
    nm = len(net.markets)
    abatement_cost = np.array([m.curve.cost(a) for m, a in zip(net.markets, sol.abatement,
                                                               strict=True)])
    mac = np.array([m.curve.marginal(a) for m, a in zip(net.markets, sol.abatement, strict=True)])
    a = net.arrays
    flow = np.asarray(sol.flow, dtype=np.float64)
    rent = sol.quota_rent_unit * flow
    to_exporter = np.where(a.rent_to_exporter, rent, 0.0)
    unit_price = sol.price[a.src]
    payments = (np.bincount(a.dst, weights=flow * (unit_price + a.tax) + to_exporter, minlength=nm)
                - np.bincount(a.src, weights=flow * unit_price + to_exporter, minlength=nm))
    tax_revenue = np.bincount(a.dst, weights=a.tax * flow, minlength=nm)
    net_imports = (np.bincount(a.dst, weights=a.factor * flow, minlength=nm)
                   - np.bincount(a.src, weights=flow, minlength=nm))
    offsets_used = np.zeros(nm)
    for k, off in enumerate(net.offsets):
        for a_i, acc in enumerate(off.accepted):
            used = float(sol.offset_use[k][a_i])
            offsets_used[acc.market] += used
            payments[acc.market] += used * float(sol.offset_price[k])
    ceiling_cost = np.array([
        0.0 if m.ceiling_price is None else m.ceiling_price * r
        for m, r in zip(net.markets, sol.released, strict=True)
    ])
    return {
        "emissions": np.array([m.bau for m in net.markets]) - sol.abatement,
        "abatement_cost": abatement_cost,
        "mac": mac,
        "net_imports": net_imports,
        "offsets_used": offsets_used,
        "tax_revenue": tax_revenue,
        "compliance_cost": abatement_cost + payments + ceiling_cost,
    }


def _clean(a: np.ndarray, scale: float) -> np.ndarray:
    """Round solver noise (|v| below 1e-9 of the problem's scale) to exactly zero."""
    out = np.array(a, dtype=np.float64)
    out[np.abs(out) < 1e-9 * scale] = 0.0
    return out


def simulate(scenario: Scenario | str | Path | dict[str, Any], *,
             engine: Engine | str = Engine.fast) -> SimulationResult:
    """Solve the equilibrium of a scenario (and its autarky).

    ``scenario`` is a :class:`Scenario`, a parsed document or a path to a YAML/JSON file.
    ``engine`` is ``fast`` (merit order + windowed HiGHS, default) or ``plain`` (every option
    its own HiGHS column; the reference).
    """
    t0 = time.perf_counter()
    sc = load_scenario(scenario)
    if sc.periods is not None:  # one period's solve would silently drop the others
        raise DocumentError("periods", "a multi-period scenario is solved by "
                            "carbonlink.markets.multiperiod.simulate_periods (or `carbonlink "
                            "simulate`), not period by period")
    try:
        # the engine's arithmetic never overflows or divides by zero on a document within range
        # (tests run with warnings as errors); a document whose magnitudes do (a slope of 1e307
        # times emissions of 1e70) is refused instead of handing HiGHS infinite costs
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return _solve(sc, engine, t0)
    except FloatingPointError as exc:
        raise DocumentError("<document>", f"numbers out of range: the arithmetic of the solve is "
                            f"not finite ({exc}); state quantities and costs in larger "
                            "units") from None


def _solve(sc: Scenario, engine: Engine | str, t0: float) -> SimulationResult:
    net = compile_network(sc, keep_options=Engine(engine) is Engine.plain)
    t1 = time.perf_counter()
    sol = solve_network(net, engine)
    t2 = time.perf_counter()
    aut = solve_network(net.without_links(), engine) if (net.links or net.offsets) else sol
    t3 = time.perf_counter()

    warnings = [
        "integrity: the cycle " + " -> ".join(c) + " credits more units than it moves "
        "(credit factors multiply to more than 1): allowances are made out of nothing"
        for c in integrity_cycles(sc)
    ]
    ids = list(net.ids)
    qscale = max([m.bau for m in net.markets] + [m.cap for m in net.markets] + [1.0])
    pscale = max([1.0] + [float(p) for p in sol.price if math.isfinite(p)])

    if sol.status is not SolveStatus.optimal:
        nan = np.full(len(ids), np.nan)
        markets = pd.DataFrame({c: nan for c in MARKET_COLUMNS}, index=pd.Index(ids, name="id"))
        links = pd.DataFrame(
            [{"from": ids[lk.src], "to": ids[lk.dst], "flow": np.nan, "credited": np.nan,
              "tax_revenue": np.nan, "quota_rent": np.nan, "binding": False} for lk in net.links],
            columns=LINK_COLUMNS)
        offsets = pd.DataFrame({"price": [np.nan] * len(net.offsets),
                                "used": [np.nan] * len(net.offsets)},
                               index=pd.Index([o.id for o in net.offsets], name="id"))
        totals = dict.fromkeys(TOTAL_KEYS, math.nan)
        warnings.append("infeasible: the caps cannot be met with the abatement options, links, "
                        "offsets and price ceilings available")
        return SimulationResult(status=sol.status.value, scenario=sc, markets=markets,
                                links=links, offsets=offsets, totals=totals, warnings=warnings)

    cur = _market_costs(net, sol)
    if aut.status is SolveStatus.optimal:
        base = _market_costs(net.without_links(), aut)
        autarky_price = aut.price
        autarky_cost = base["compliance_cost"]
        autarky_emissions = float(base["emissions"].sum())
    else:
        autarky_price = autarky_cost = np.full(len(ids), np.nan)
        autarky_emissions = math.nan
        warnings.append("autarky is infeasible: some market cannot meet its cap alone")
    markets = pd.DataFrame({
        "price": _clean(sol.price, pscale),
        "mac": _clean(cur["mac"], pscale),
        "emissions": _clean(cur["emissions"], qscale),
        "abatement": _clean(sol.abatement, qscale),
        "abatement_cost": cur["abatement_cost"],
        "net_imports": _clean(cur["net_imports"], qscale),
        "offsets_used": _clean(cur["offsets_used"], qscale),
        "ceiling_released": _clean(sol.released, qscale),
        "floor_withheld": _clean(sol.withheld, qscale),
        "compliance_cost": cur["compliance_cost"],
        "tax_revenue": cur["tax_revenue"],
        "autarky_price": _clean(autarky_price, pscale),
        "autarky_compliance_cost": autarky_cost,
        "gain": autarky_cost - cur["compliance_cost"],
    }, index=pd.Index(ids, name="id"))
    arr = net.arrays
    flow = _clean(sol.flow, qscale)
    quota = arr.quota
    finite_quota = np.isfinite(quota)
    binding_quota = finite_quota & (flow >= quota * (1 - 1e-7)) & (quota > 0)
    binding_entity = sol.entity_dual > 1e-9 * pscale
    links = pd.DataFrame({
        "from": [ids[i] for i in arr.src.tolist()], "to": [ids[i] for i in arr.dst.tolist()],
        "flow": flow, "credited": arr.factor * flow, "tax_revenue": arr.tax * flow,
        "quota_rent": np.where(binding_quota, sol.quota_rent_unit * flow, 0.0),
        "binding": binding_quota | binding_entity | (finite_quota & (quota == 0)),
    }, columns=LINK_COLUMNS)
    offsets = pd.DataFrame(
        {"price": [float(p) for p in sol.offset_price],
         "used": _clean(np.array([float(u.sum()) for u in sol.offset_use]), qscale)},
        index=pd.Index([o.id for o in net.offsets], name="id"))
    emissions = float(markets["emissions"].sum())
    cscale = max([1.0] + [abs(float(v)) for v in autarky_cost if math.isfinite(v)])
    markets["gain"] = _clean(markets["gain"].to_numpy(), cscale)
    totals = {
        "emissions": emissions,
        "autarky_emissions": autarky_emissions,
        "emissions_change": float(_clean(np.array([emissions - autarky_emissions]), qscale)[0]),
        "abatement_cost": float(markets["abatement_cost"].sum()),
        "gain": float(_clean(np.array([markets["gain"].sum()]), cscale)[0]),
    }
    diagnostics = {
        "engine": Engine(engine).value, "solves": sol.solves + aut.solves,
        "refinements": sol.refinements, "columns": sol.columns,
        "options": sum(m.curve.n_options for m in net.markets),
        "seconds": {"aggregate": t1 - t0, "solve": t2 - t1, "autarky": t3 - t2},
    }
    return SimulationResult(status="optimal", scenario=sc, markets=markets, links=links,
                            offsets=offsets, totals=totals, warnings=warnings,
                            diagnostics=diagnostics)
