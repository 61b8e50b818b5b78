"""``carbonlink simulate FILE``: the linked-market equilibrium of a scenario document."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from carbonlink.cli.app import app

if TYPE_CHECKING:
    from carbonlink.model.scenario import Scenario


class SimFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def simulate(
    file: Annotated[Path, typer.Argument(help="scenario document (YAML or JSON)")],
    fmt: Annotated[SimFormat, typer.Option("--format", "-f", help="table or json")] = SimFormat.table,
    engine: Annotated[str | None, typer.Option(
        help="fast or plain (one HiGHS column per option); default CARBONLINK_ENGINE or fast")] = None,
) -> int:
    """Solve the equilibrium of linked markets (and their autarky) and print prices, flows, gains."""
    from carbonlink.config import get_settings
    from carbonlink.errors import DocumentError
    from carbonlink.markets import Engine
    from carbonlink.markets import simulate as run
    from carbonlink.model.io import load_scenario
    from carbonlink.reporting.console import simulation_tables

    scenario = load_scenario(file)
    if scenario.periods is not None:  # a multi-period scenario: one program over all periods
        return _simulate_periods(scenario, fmt)
    name = engine or get_settings().engine
    if name not in {e.value for e in Engine}:
        raise DocumentError("--engine", f"must be one of {', '.join(e.value for e in Engine)}, got {name!r}")
    # a spinner on stderr (the plain engine on large firm files takes seconds); stdout stays clean
    with Console(stderr=True).status(f"solving {file.name} ({name} engine)…"):
        result = run(scenario, engine=name)
    if fmt is SimFormat.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        console = Console()
        for table in simulation_tables(result):
            console.print(table)
        for w in result.warnings:
            console.print(f"[yellow]warning:[/] {w}")
    return 0 if result.status == "optimal" else 1


def _simulate_periods(scenario: Scenario, fmt: SimFormat) -> int:
    """Print the result of a multi-period scenario: one table of periods × markets."""
    from rich.table import Table

    from carbonlink.markets.multiperiod import simulate_periods
    from carbonlink.reporting.console import fmt_num

    with Console(stderr=True).status("solving all periods as one program…"):
        result = simulate_periods(scenario)
    if fmt is SimFormat.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0 if result.status == "optimal" else 1
    console = Console()
    cols = ["price", "autarky_price", "emissions", "cap", "abatement", "net_imports", "banked",
            "borrowed"]
    if any(m.reserves for m in result.scenario.markets):  # stability mechanisms: their columns
        cols += ["reserve_released", "reserve_withheld"]
    if any(m.msr is not None for m in result.scenario.markets):
        cols += ["msr_adjustment", "msr_holdings"]
    table = Table(title=f"{result.scenario.name}: periods ({result.status})")
    for c in ["period", "market", *cols]:
        table.add_column(c.replace("_", " "), justify="left" if c == "market" else "right")
    flat = result.markets.reset_index()
    for period, market, *values in flat[["period", "market", *cols]].itertuples(index=False):
        table.add_row(str(period), str(market), *(fmt_num(v) for v in values))
    console.print(table)
    if not result.present_value.empty:
        years = result.scenario.periods or []
        pv = Table(title=f"present value at {years[0]} (discount rate "
                         f"{result.scenario.discount_rate:g})")
        for c in ("market", "compliance cost", "autarky compliance cost", "gain"):
            pv.add_column(c, justify="left" if c == "market" else "right")
        for mid, row in result.present_value.iterrows():
            pv.add_row(str(mid), *(fmt_num(v) for v in row))
        console.print(pv)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    return 0 if result.status == "optimal" else 1
