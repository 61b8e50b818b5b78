"""``carbonlink check AGREEMENT``: legality, completeness, compatibility and feasibility findings.

Exit 0 when no error-level finding, 1 when there are, 2 for an invalid document or option.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from carbonlink.cli.app import app

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan",
          "aligned": "green", "compatible": "cyan", "conflict": "bold red", "unknown": "dim"}


class CheckFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: object) -> str:
    """The report as Markdown (findings table, compatibility matrix, summary)."""
    from carbonlink.agreements.findings import CheckReport

    assert isinstance(report, CheckReport)
    doc = report.document
    s = report.summary
    lines = [f"## {doc['title']}", "",
             f"`{doc['id']}` — {doc['form']}, {doc['generation']}, {doc['link_type']}; parties "
             f"{', '.join(doc['parties'])}; as of {doc['as_of']}", "",
             f"**{s['errors']} errors, {s['warnings']} warnings, {s['info']} info**", "",
             "| severity | rule | subject | finding | source |", "|---|---|---|---|---|"]
    lines += [f"| {f.severity} | {f.rule} | `{_md(f.subject)}` | {_md(f.message)} | {_md(f.source)} |"
              for f in report.findings]
    if report.compatibility:
        lines += ["", "| dimension | pair | rating | reason |", "|---|---|---|---|"]
        lines += [f"| {r.dimension} ({r.severity}) | {_md(r.subject)} | {r.rating} | {_md(r.reason)} |"
                  for r in report.compatibility]
    return "\n".join(lines) + "\n"


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="agreement document (YAML or JSON)")],
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f",
                                             help="table, json or markdown")] = CheckFormat.table,
    strict: Annotated[list[str] | None, typer.Option(
        "--strict", help="make this rule's findings errors, data gaps excepted (repeatable; "
        "e.g. --strict CMP-REC)")
    ] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="reference date YYYY-MM-DD (default: today): Paris Agreement status, "
        "system status and figures as they stood on that date")] = None,
) -> int:
    """Check a linkage agreement: legal capacity (LEG), Article 6.2 (A62), completeness (CMP),
    compatibility of the linked ETSs (CPT) and feasibility (FEA)."""
    from carbonlink.agreements import check as run

    report = run(file, strict=strict, as_of=as_of)
    if fmt is CheckFormat.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    elif fmt is CheckFormat.markdown:
        print(render_markdown(report), end="")
    else:
        console = Console()
        doc = report.document
        t = Table(title=f"{doc['title']} ({doc['form']}, {doc['generation']}, {doc['link_type']}; "
                        f"as of {doc['as_of']})",
                  show_lines=False, expand=True)
        for col in ("severity", "rule", "subject", "finding", "source"):
            t.add_column(col, overflow="fold")
        for f in report.findings:
            t.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.rule, f.subject, f.message,
                      f.source)
        console.print(t)
        if report.compatibility:
            c = Table(title="Compatibility of the linked ETSs", expand=True)
            for col in ("dimension", "pair", "rating", "reason"):
                c.add_column(col, overflow="fold")
            for r in report.compatibility:
                c.add_row(f"{r.dimension} ({r.severity})", r.subject,
                          f"[{_STYLE[r.rating]}]{r.rating}[/]", r.reason)
            console.print(c)
        s = report.summary
        console.print(f"{s['errors']} errors, {s['warnings']} warnings, {s['info']} info "
                      f"({s['rules_run']} rules applied)")
    return 0 if report.ok else 1
