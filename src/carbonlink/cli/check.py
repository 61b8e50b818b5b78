"""``carbonlink check AGREEMENT``: legality, completeness, compatibility and feasibility findings.

Exit 0 when no error-level finding, 1 when there are, 2 for an invalid document or option.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from carbonlink.cli.app import app

if TYPE_CHECKING:
    from carbonlink.reporting.i18n import Translator


def N_(text: str) -> str:
    """Mark a message for the catalog (translated where shown)."""
    return text

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan",
          "aligned": "green", "compatible": "cyan", "conflict": "bold red", "unknown": "dim"}


_FINDING_COLUMNS = (N_("severity"), N_("rule"), N_("subject"), N_("finding"), N_("source"))
_COMPAT_COLUMNS = (N_("dimension"), N_("pair"), N_("rating"), N_("reason"))


class CheckFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _head(doc: dict[str, Any], _: Translator, parties: bool = False) -> str:
    """The document line: its form, generation and link type (the parties), the reference date."""
    fields = {"form": _(doc["form"]), "generation": _(doc["generation"]),
              "link_type": _(doc["link_type"]), "date": _.date(doc["as_of"])}
    if parties:
        return _("{form}, {generation}, {link_type}; parties {parties}; as of {date}").format(
            parties=", ".join(doc["parties"]), **fields)
    return _("{form}, {generation}, {link_type}; as of {date}").format(**fields)


def _summary(s: dict[str, Any], _: Translator, rules: bool = True) -> str:
    counts = {"errors": s["errors"], "warnings": s["warnings"], "info": s["info"]}
    if not rules:
        return _("{errors} errors, {warnings} warnings, {info} info").format(**counts)
    return _("{errors} errors, {warnings} warnings, {info} info ({rules} rules applied)").format(
        rules=s["rules_run"], **counts)


def _reason(r: Any, _: Translator) -> str:
    """A compatibility cell's reason: the English reason; in Chinese the rating alone (the
    dimension's name says what was compared)."""
    return str(r.reason) if _.lang == "en" else _(r.rating)


def localised(report: object, _: Translator) -> dict[str, Any]:
    """The JSON report: the same keys, finding messages and compatibility reasons in the
    language of ``_`` (English: unchanged)."""
    from carbonlink.agreements.findings import CheckReport

    assert isinstance(report, CheckReport)
    out = report.to_dict()
    if _.lang != "en":
        out["lang"] = _.lang
        for f, fd in zip(report.findings, out["findings"], strict=True):
            fd["message"] = _.finding(f)
            fd["source"] = _.source(f.source)
        for r, rd in zip(report.compatibility, out["compatibility"], strict=True):
            rd["reason"] = _reason(r, _)
    return out


def render_markdown(report: object, _: Translator | None = None) -> str:
    """The report as Markdown (findings table, compatibility matrix, summary)."""
    from carbonlink.agreements.findings import CheckReport
    from carbonlink.reporting.i18n import Translator

    assert isinstance(report, CheckReport)
    _ = _ or Translator("en")
    doc = report.document
    s = report.summary
    lines = [f"## {doc['title']}", "",
             f"`{doc['id']}` — {_head(doc, _, parties=True)}", "",
             f"**{_summary(s, _, rules=False)}**", "",
             "| " + " | ".join(_(c) for c in _FINDING_COLUMNS) + " |", "|---|---|---|---|---|"]
    lines += [f"| {_(f.severity)} | {f.rule} | `{_md(_.subject(f.subject))}` | {_md(_.finding(f))} | "
              f"{_md(_.source(f.source))} |" for f in report.findings]
    if report.compatibility:
        lines += ["", "| " + " | ".join(_(c) for c in _COMPAT_COLUMNS) + " |", "|---|---|---|---|"]
        lines += [f"| {_md(_.dimension(r.dimension))} ({_(r.severity)}) | {_md(r.subject)} | "
                  f"{_(r.rating)} | {_md(_reason(r, _))} |" for r in report.compatibility]
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
    lang: Annotated[str, typer.Option(
        "--lang", help="language of the output: en or zh (JSON keys stay English)")] = "en",
) -> int:
    """Check a linkage agreement: legal capacity (LEG), Article 6.2 (A62), completeness (CMP),
    compatibility of the linked ETSs (CPT) and feasibility (FEA)."""
    from carbonlink.agreements import check as run
    from carbonlink.cli import modules_loaded
    from carbonlink.reporting.i18n import Translator

    modules_loaded()
    _ = Translator(lang)  # an unknown language is bad input: exit 2 before any work
    report = run(file, strict=strict, as_of=as_of)
    if fmt is CheckFormat.json:
        print(json.dumps(localised(report, _), indent=2, ensure_ascii=False))
    elif fmt is CheckFormat.markdown:
        print(render_markdown(report, _), end="")
    else:
        # no emoji codes: a source or subject such as ``:x:`` is shown as written, and rich's
        # emoji table (a large module) stays unloaded
        console = Console(emoji=False)
        doc = report.document
        t = Table(title=f"{doc['title']} ({_head(doc, _)})", show_lines=False, expand=True)
        for col in _FINDING_COLUMNS:
            t.add_column(_(col), overflow="fold")
        for f in report.findings:
            t.add_row(f"[{_STYLE[f.severity]}]{_(f.severity)}[/]", f.rule, _.subject(f.subject),
                      _.finding(f), _.source(f.source))
        console.print(t)
        if report.compatibility:
            c = Table(title=_("Compatibility of the linked ETSs"), expand=True)
            for col in _COMPAT_COLUMNS:
                c.add_column(_(col), overflow="fold")
            for r in report.compatibility:
                c.add_row(f"{_.dimension(r.dimension)} ({_(r.severity)})", r.subject,
                          f"[{_STYLE[r.rating]}]{_(r.rating)}[/]", _reason(r, _))
            console.print(c)
        # the summary's numbers are highlighted in colour; without colours (a pipe, a file,
        # NO_COLOR) highlighting changes no byte, so its large regular expression is not built
        console.print(_summary(report.summary, _), highlight=console.color_system is not None)
    return 0 if report.ok else 1
