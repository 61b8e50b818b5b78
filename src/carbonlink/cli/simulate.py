"""``carbonlink simulate FILE``: the linked-market equilibrium of a scenario document."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from carbonlink.cli.app import app


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
    from carbonlink.reporting.console import simulation_tables

    name = engine or get_settings().engine
    if name not in {e.value for e in Engine}:
        raise DocumentError("--engine", f"must be one of {', '.join(e.value for e in Engine)}, got {name!r}")
    # a spinner on stderr (the plain engine on large firm files takes seconds); stdout stays clean
    with Console(stderr=True).status(f"solving {file.name} ({name} engine)…"):
        result = run(file, engine=name)
    if fmt is SimFormat.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        console = Console()
        for table in simulation_tables(result):
            console.print(table)
        for w in result.warnings:
            console.print(f"[yellow]warning:[/] {w}")
    return 0 if result.status == "optimal" else 1
