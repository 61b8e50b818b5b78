"""``carbonlink assess AGREEMENT``: from a proposed link to a decision report, in one command."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from carbonlink.cli.app import app

if TYPE_CHECKING:
    from carbonlink.reporting.chartpool import ChartPool


class ReportFormat(StrEnum):
    html = "html"
    markdown = "markdown"
    json = "json"
    xlsx = "xlsx"
    pdf = "pdf"


_EXT = {ReportFormat.html: ".html", ReportFormat.markdown: ".md", ReportFormat.json: ".json",
        ReportFormat.xlsx: ".xlsx", ReportFormat.pdf: ".pdf"}
#: The suffixes each format may be written to; any other suffix is an error (exit 2).
SUFFIXES = {ReportFormat.html: (".html", ".htm"), ReportFormat.markdown: (".md", ".markdown"),
            ReportFormat.json: (".json",), ReportFormat.xlsx: (".xlsx",), ReportFormat.pdf: (".pdf",)}


def report_format(out: Path | None, fmt: ReportFormat | None) -> ReportFormat:
    """The format to write: ``--format``, else from ``--out``'s suffix, else HTML. A suffix that
    does not match the format (``-o x.pdf --format html``, ``-o x.txt``) is a DocumentError."""
    from carbonlink.errors import DocumentError

    if out is None or str(out) == "-":
        return fmt or ReportFormat.html
    suffix = out.suffix.lower()
    by_suffix = {sfx: f for f, sfxs in SUFFIXES.items() for sfx in sfxs}
    if fmt is None:
        if suffix not in by_suffix:
            raise DocumentError("--out", f"unknown report suffix {suffix or '(none)'!r}: use "
                                + ", ".join(_EXT.values()) + " or give --format")
        return by_suffix[suffix]
    if suffix not in SUFFIXES[fmt]:
        raise DocumentError("--out", f"the suffix {suffix or '(none)'!r} does not match --format "
                            f"{fmt.value} (expected {' or '.join(SUFFIXES[fmt])})")
    return fmt


@app.command()
def assess(
    agreement: Annotated[Path, typer.Argument(help="agreement document (YAML or JSON)")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="report file (default: <agreement>-report.<ext> here; '-' = stdout)",
    )] = None,
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--format", "-f", help="html, markdown, json, xlsx or pdf (default: from --out's suffix, "
        "else html; a suffix that does not match is an error)",
    )] = None,
    assume: Annotated[list[str] | None, typer.Option(
        "--assume", "-a", help="override an assumption, e.g. abatement_share=0.2, "
        "price.CH_ETS=60, mac_scale.CH_ETS=1.5, fx.CHF=1.1 (repeatable)")] = None,
    assumptions: Annotated[Path | None, typer.Option(
        "--assumptions", help="YAML/JSON file of assumption overrides")] = None,
    strict: Annotated[list[str] | None, typer.Option(
        "--strict", help="rule id whose findings count as errors (repeatable)")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="reference date YYYY-MM-DD for the agreement check (default: today)")
    ] = None,
    engine: Annotated[str, typer.Option(help="equilibrium engine: fast or plain")] = "fast",
    sensitivity: Annotated[bool, typer.Option(
        "--sensitivity/--no-sensitivity", help="run the sensitivity sweeps")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    no_fail: Annotated[bool, typer.Option(
        "--no-fail", help="exit 0 even when the agreement has error findings")] = False,
    lang: Annotated[str, typer.Option(
        "--lang", help="language of the report: en or zh")] = "en",
    samples: Annotated[int | None, typer.Option(
        "--samples", "-n", help="Monte Carlo samples of the agreement's `uncertainty` block "
        "for the report's Uncertainty section (default 200 when the block is there; an error "
        "without one)")] = None,
) -> int:
    """Check the agreement, simulate every link design, and write one decision report.

    Exit code as ``carbonlink check``: 0, or 1 when the agreement has error findings (the report
    is written either way; ``--no-fail`` exits 0); 2 for bad input (nothing written)."""
    from carbonlink.reporting.chartpool import ChartPool, chart_workers
    from carbonlink.reporting.i18n import Translator

    fmt = report_format(out, fmt)
    Translator(lang)  # an unknown language is bad input: exit 2 before any work
    # the charts' process is forked first, before the simulator, pandas and the agreement's
    # models are imported: it imports matplotlib and draws a first chart on the other CPU while
    # this process imports, checks and simulates (issue 13)
    workers = chart_workers() if fmt in (ReportFormat.html, ReportFormat.pdf) else 1
    with ChartPool(workers, lang) if workers > 1 else nullcontext() as pool:
        from carbonlink.assess.calibrate import parse_assume

        overrides = parse_assume(assume or [])
        return _run(agreement, out, fmt, overrides, assumptions, engine, strict, as_of, sensitivity,
                    quiet, no_fail, lang, pool, samples)


def _run(agreement: Path, out: Path | None, fmt: ReportFormat, overrides: dict[str, Any],
         assumptions: Path | None, engine: str, strict: list[str] | None, as_of: str | None,
         sensitivity: bool, quiet: bool, no_fail: bool, lang: str, pool: ChartPool | None,
         samples: int | None) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from carbonlink import __version__ as version
    from carbonlink.assess.pipeline import ESTIMATED_STEPS
    from carbonlink.assess.pipeline import assess as run
    from carbonlink.cli import modules_loaded
    from carbonlink.reporting.export import render_pdf, render_xlsx
    from carbonlink.reporting.render import (
        page_units,
        render_html,
        render_json,
        render_markdown,
        write_atomic,
    )
    from carbonlink.reporting.report import build_report

    modules_loaded()

    err = Console(stderr=True)
    show = not quiet and err.is_terminal
    with Progress(TextColumn("[bold]assess[/]"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("reading the agreement", total=ESTIMATED_STEPS)

        def progress(desc: str, n: int) -> None:
            bar.update(task, advance=n, description=desc)

        def designs_solved(partial: Any) -> None:
            # the chart process draws the designs' charts while the sweeps are solved; only a
            # head start: if the early report cannot be built, the charts are drawn from the
            # whole report as before, which reports any error itself
            if pool is not None and fmt in (ReportFormat.html, ReportFormat.pdf):
                try:
                    early = page_units(build_report(partial, tool_version=version, lang=lang))
                except Exception:  # noqa: BLE001 - see above
                    return
                pool.start_designs(early)

        assessment = run(agreement, overrides=overrides, assumptions_file=assumptions,
                         engine=engine, strict=strict, as_of=as_of, progress=progress,
                         with_sensitivity=sensitivity, samples=samples, on_designs=designs_solved)
        bar.update(task, description="writing the report", completed=ESTIMATED_STEPS)
        rep = build_report(assessment, tool_version=version, lang=lang)
        content: str | bytes
        if fmt is ReportFormat.xlsx:
            content = render_xlsx(rep)
        elif fmt is ReportFormat.pdf:
            bar.update(task, description="printing the report to PDF")
            content = render_pdf(render_html(rep, charts=pool))
        elif fmt is ReportFormat.html:
            content = render_html(rep, charts=pool)
        else:
            content = {ReportFormat.markdown: render_markdown, ReportFormat.json: render_json}[fmt](rep)
    ok = bool(rep["check"] is None or rep["check"]["summary"]["ok"])
    code = 0 if ok or no_fail else 1
    if out is not None and str(out) == "-":
        if isinstance(content, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(content)
        else:
            sys.stdout.write(content)
        return code
    target = out if out is not None else Path(f"{agreement.stem}-report{_EXT[fmt]}")
    written = write_atomic(target, content)
    if not quiet:
        err.print(rep["decision"]["line"], highlight=False)
    if not ok:
        n = rep["check"]["summary"]["errors"]
        err.print(f"the agreement has {n} error finding(s): exit "
                  + ("0 (--no-fail)" if no_fail else "1 (as `carbonlink check`; --no-fail exits 0)"),
                  highlight=False)
    print(f"report written to {written}")
    return code
