"""Shocks to a scenario: output, BAU and MAC-slope factors per market (and period).

A shock is a factor applied to a market's numbers:

* ``output`` × f — the market's output moves: its BAU moves with it (assumption: emissions per
  unit of output are those of the BAU, so BAU ∝ output) and, under an **intensity-based cap**,
  so do its allowances (intensity × output); an absolute cap stays. This is why the two kinds
  of cap link differently under uncertainty.
* ``bau`` × f — emissions move at a given output (weather, fuel prices): the cap stays.
* ``slope`` × f — abatement gets dearer or cheaper: a linear MAC's slope, or every unit cost of
  a merit-order curve, is multiplied by f.

``period`` (a year) limits a shock to one period of a multi-period scenario; without it every
period moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from carbonlink.model.scenario import IntensityCap, LinearCurve, LinearSpec, Market, Scenario, StepsSpec

ShockVariable = Literal["output", "bau", "slope"]


@dataclass(frozen=True)
class Shock:
    """``market``'s ``variable`` multiplied by ``factor`` (≥ 0), in ``period`` or every period."""

    market: str
    variable: ShockVariable
    factor: float
    period: int | None = None


def _scaled(values: list[float], factor: float, index: int | None) -> list[float]:
    return [v * factor if index is None or k == index else v for k, v in enumerate(values)]


def _shock_market(m: Market, variable: ShockVariable, factor: float, index: int | None,
                  n_periods: int) -> Market:
    f = max(factor, 0.0)
    update: dict[str, object] = {}
    if variable in ("output", "bau"):
        bau = m.bau_by_period if m.bau_by_period is not None else (
            [m.bau] * n_periods if index is not None else None)
        if bau is None:
            update["bau"] = m.bau * f
        else:
            new = _scaled(bau, f, index)
            update["bau_by_period"], update["bau"] = new, new[0]
    if variable == "output" and m.cap_intensity is not None:
        ic = m.cap_intensity
        out = ic.output if isinstance(ic.output, list) else (
            [ic.output] * n_periods if index is not None else ic.output)
        new_out: float | list[float] = (_scaled(out, f, index) if isinstance(out, list)
                                        else out * f)
        new_ic = IntensityCap(intensity=ic.intensity, output=new_out)
        caps = new_ic.allowances()
        update["cap_intensity"], update["cap"] = new_ic, caps[0]
        if isinstance(new_out, list):
            update["cap_by_period"] = caps
    if variable == "slope":
        if isinstance(m.mac, LinearSpec):
            update["mac"] = LinearSpec(linear=LinearCurve(slope=max(m.mac.linear.slope * f, 1e-300)))
        elif isinstance(m.mac, StepsSpec):
            update["mac"] = StepsSpec(steps=[(q, c * f) for q, c in m.mac.steps])
        else:
            raise ValueError(f"market {m.id!r}: a slope shock needs a linear or steps MAC "
                             "(firm files are not rescaled)")
    return m.model_copy(update=update)


def apply_shocks(scenario: Scenario, shocks: list[Shock]) -> Scenario:
    """The scenario with every shock applied (factors of one market multiply)."""
    years = scenario.periods or []
    markets = list(scenario.markets)
    ids = [m.id for m in markets]
    for s in shocks:
        i = ids.index(s.market)
        index = years.index(s.period) if s.period is not None else None
        markets[i] = _shock_market(markets[i], s.variable, s.factor, index, len(years))
    return scenario.model_copy(update={"markets": markets})
