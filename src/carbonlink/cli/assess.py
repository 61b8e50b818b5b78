"""``carbonlink assess AGREEMENT``: from a proposed link to a decision report, in one command."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from carbonlink.cli.app import app


class ReportFormat(StrEnum):
    html = "html"
    markdown = "markdown"
    json = "json"


_EXT = {ReportFormat.html: ".html", ReportFormat.markdown: ".md", ReportFormat.json: ".json"}


@app.command()
def assess(
    agreement: Annotated[Path, typer.Argument(help="agreement document (YAML or JSON)")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="report file (default: <agreement>-report.<ext> here; '-' = stdout)",
    )] = None,
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--format", "-f", help="html, markdown or json (default: from --out's suffix, else html)",
    )] = None,
    assume: Annotated[list[str] | None, typer.Option(
        "--assume", "-a", help="override an assumption, e.g. abatement_share=0.2, "
        "price.CH_ETS=60, mac_scale.CH_ETS=1.5, fx.CHF=1.1 (repeatable)")] = None,
    assumptions: Annotated[Path | None, typer.Option(
        "--assumptions", help="YAML/JSON file of assumption overrides")] = None,
    strict: Annotated[list[str] | None, typer.Option(
        "--strict", help="rule id whose findings count as errors (repeatable)")] = None,
    engine: Annotated[str, typer.Option(help="equilibrium engine: fast or plain")] = "fast",
    sensitivity: Annotated[bool, typer.Option(
        "--sensitivity/--no-sensitivity", help="run the sensitivity sweeps")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> int:
    """Check the agreement, simulate every link design, and write one decision report."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from carbonlink import __version__ as version
    from carbonlink.assess.calibrate import parse_assume
    from carbonlink.assess.pipeline import ESTIMATED_STEPS
    from carbonlink.assess.pipeline import assess as run
    from carbonlink.reporting.render import (
        render_html,
        render_json,
        render_markdown,
        write_atomic,
    )
    from carbonlink.reporting.report import build_report

    if fmt is None:
        suffix = out.suffix.lower() if out is not None else ""
        fmt = {".md": ReportFormat.markdown, ".markdown": ReportFormat.markdown,
               ".json": ReportFormat.json}.get(suffix, ReportFormat.html)
    overrides = parse_assume(assume or [])
    err = Console(stderr=True)
    show = not quiet and err.is_terminal
    with Progress(TextColumn("[bold]assess[/]"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("reading the agreement", total=ESTIMATED_STEPS)

        def progress(desc: str, n: int) -> None:
            bar.update(task, advance=n, description=desc)

        assessment = run(agreement, overrides=overrides, assumptions_file=assumptions,
                         engine=engine, strict=strict, progress=progress,
                         with_sensitivity=sensitivity)
        bar.update(task, description="writing the report", completed=ESTIMATED_STEPS)
        rep = build_report(assessment, tool_version=version)
        text = {ReportFormat.html: render_html, ReportFormat.markdown: render_markdown,
                ReportFormat.json: render_json}[fmt](rep)
    if out is not None and str(out) == "-":
        sys.stdout.write(text)
        return 0
    target = out if out is not None else Path(f"{agreement.stem}-report{_EXT[fmt]}")
    written = write_atomic(target, text)
    if not quiet:
        err.print(rep["verdict"], highlight=False)
    print(f"report written to {written}")
    return 0
