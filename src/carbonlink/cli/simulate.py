"""``carbonlink simulate FILE``: the linked-market equilibrium of a scenario document."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    """Print the result of a multi-period scenario: per market a table of variables × periods
    (:func:`period_tables`), then the present values."""
    from rich.table import Table

    from carbonlink.markets.multiperiod import simulate_periods
    from carbonlink.reporting.console import fmt_num

    with Console(stderr=True).status("solving all periods as one program…"):
        result = simulate_periods(scenario)
    if fmt is SimFormat.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0 if result.status == "optimal" else 1
    console = Console()
    console.print(f"[bold]{result.scenario.name}[/]: periods", highlight=False)
    for table in period_tables(result, console.width):
        console.print(table)
    if not result.present_value.empty:
        years = result.scenario.periods or []
        pv = Table(title=f"present value at {years[0]} (discount rate "
                         f"{result.scenario.discount_rate:g})")
        for c in ("market", "compliance cost", "autarky compliance cost", "gain"):
            pv.add_column(c, justify="left" if c == "market" else "right",
                          no_wrap=c != "autarky compliance cost")
        for mid, row in result.present_value.iterrows():
            pv.add_row(str(mid), *(fmt_num(v) for v in row))
        console.print(pv)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    return 0 if result.status == "optimal" else 1


#: The rows of a market's table in a multi-period result (reserve and MSR rows only when a
#: market of the scenario has them).
PERIOD_ROWS = ["price", "autarky_price", "emissions", "cap", "abatement", "net_imports", "banked",
               "borrowed"]


def period_tables(result: Any, width: int) -> list[Any]:
    """One table per market, variables down and periods across, the periods split over several
    tables when they do not fit ``width`` columns (a terminal of 80 columns shows every number
    whole: no cell is wrapped)."""
    from rich.table import Table

    from carbonlink.reporting.console import fmt_num

    rows = list(PERIOD_ROWS)
    if any(m.reserves for m in result.scenario.markets):  # stability mechanisms: their rows
        rows += ["reserve_released", "reserve_withheld"]
    if any(m.msr is not None for m in result.scenario.markets):
        rows += ["msr_adjustment", "msr_holdings", "msr_invalidated"]
    labels = [r.replace("_", " ") for r in rows]
    flat = result.markets.reset_index()
    years = [int(y) for y in dict.fromkeys(flat["period"].tolist())]
    out: list[Any] = []
    for market in dict.fromkeys(flat["market"].tolist()):
        part = flat[flat["market"] == market].set_index("period")
        cells = {y: [fmt_num(part.loc[y, r]) for r in rows] for y in years}
        # a column takes its widest cell plus rich's padding (1 each side) and a border
        label_w = max(len(x) for x in labels) + 3
        groups: list[list[int]] = [[]]
        used = label_w + 1
        for y in years:
            w = max(len(str(y)), *(len(c) for c in cells[y])) + 3
            if groups[-1] and used + w > width:
                groups.append([])
                used = label_w + 1
            groups[-1].append(y)
            used += w
        for g in groups:
            span = f"{g[0]}" if len(g) == 1 else f"{g[0]}–{g[-1]}"
            title = f"{market}, {span} ({result.status})"
            table = Table(title=title, title_justify="left")
            table.add_column("variable", justify="left", no_wrap=True)
            for y in g:
                table.add_column(str(y), justify="right", no_wrap=True)
            for i, label in enumerate(labels):
                table.add_row(label, *(cells[y][i] for y in g))
            out.append(table)
    return out
