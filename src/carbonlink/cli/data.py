"""``carbonlink data list`` / ``carbonlink data show ID [--as-of DATE]``: the shipped reference
data as a reader would read it — every figure with its value, the period (or year) it holds for,
its source and whether it was checked against that source."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from carbonlink.cli.app import app
from carbonlink.errors import DocumentError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from carbonlink.model.jurisdiction import (
        ETS,
        Fact,
        Figure,
        Jurisdiction,
        LinkPeriod,
        Membership,
    )

data_app = typer.Typer(name="data", help="Reference data: jurisdictions and ETSs, with sources.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


class DataFormat(StrEnum):
    table = "table"
    json = "json"


AsOf = Annotated[str | None, typer.Option(
    "--as-of", metavar="DATE", help="the date to read the data for (YYYY-MM-DD; default: today)")]


def _when(f: Figure | Fact) -> str:
    """The period a figure holds for (``2021-01-01 to 2025-12-31``), else its year."""
    from carbonlink.model.jurisdiction import PriceFigure

    if f.period:
        return f.period
    if isinstance(f, PriceFigure) and f.date:
        return f.date
    return str(f.year) if f.year else ""


def _fig(f: Figure | Fact | None) -> str:
    """A figure for people: ``0.06 share of compliance obligation (from 2026-01-01)``; ``none
    (2023)`` for a control recorded as absent, ``unknown`` when not known."""
    from carbonlink.model.jurisdiction import Figure, PriceFigure

    if f is None:
        return "—"
    if isinstance(f, Figure) and f.absent:   # known: the system has none (the source says so)
        when = _when(f)
        return "none" + (f" ({when})" if when else "") + ("" if f.verified else " [unverified]")
    if f.value is None:
        return "unknown"
    text = f.text
    if isinstance(f, Figure) and not isinstance(f, PriceFigure) and f.unit and f.unit not in text:
        text += f" {f.unit}"
    if isinstance(f, PriceFigure) and f.unit and "/" in f.unit and f.unit not in text:
        text = f.text.replace(f" {f.currency}", f" {f.unit}") if f.currency else text
    when = _when(f)
    text += f" ({when})" if when else ""
    return text + ("" if f.verified else " [unverified]")


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    return str(value)


@data_app.command("list")
def list_(
    ets: Annotated[bool, typer.Option("--ets", help="only ETSs")] = False,
    jurisdictions: Annotated[bool, typer.Option("--jurisdictions", help="only jurisdictions")] = False,
    fmt: Annotated[DataFormat, typer.Option("--format", "-f")] = DataFormat.table,
    as_of: AsOf = None,
) -> int:
    """List the shipped jurisdictions and ETSs (ids to use in agreement documents)."""
    from carbonlink.data import list_ets, list_jurisdictions, paris_party_status, parse_as_of

    day = parse_as_of(as_of)
    show_ets = ets or not jurisdictions
    show_jur = jurisdictions or not ets
    if fmt is DataFormat.json:
        out: dict[str, Any] = {"as_of": day.isoformat()}
        if show_jur:
            out["jurisdictions"] = [j.model_dump(mode="json") for j in list_jurisdictions(day)]
        if show_ets:
            out["ets"] = [e.model_dump(mode="json") for e in list_ets(day)]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    console = Console()
    if show_jur:
        t = Table(title=f"Jurisdictions (as of {day.isoformat()})", expand=True)
        for col in ("id", "name", "level", "parent", "Paris Party"):
            t.add_column(col, overflow="fold")
        for j in list_jurisdictions(day):
            pp = paris_party_status(j.id, day)
            t.add_row(*map(escape, (j.id, j.name, j.level, j.parent or "", _fig(pp))))
        console.print(t)
    if show_ets:
        t = Table(title=f"Emissions trading systems (as of {day.isoformat()})", expand=True)
        for col in ("id", "name", "jurisdiction", "status", "cap", "covered emissions", "price",
                    "cap source"):
            t.add_column(col, overflow="fold")
        for e in list_ets(day):
            t.add_row(*map(escape, (e.id, e.name, e.jurisdiction, e.status.replace("_", " "),
                                    (f"({e.cap_type}) " if e.cap_type else "") + _fig(e.cap),
                                    _fig(e.covered_emissions), _fig(e.price), e.cap.source or "")))
        console.print(t)
    return 0


#: Fields shown elsewhere (the title, the history section) or internal to the data.
_SKIP = {"id", "name", "series", "membership", "links", "resolved_on"}


def _rows(obj: BaseModel) -> list[tuple[str, str, str, str]]:
    """(field, value, source, note) for every field that has something to show."""
    from pydantic import BaseModel

    from carbonlink.model.jurisdiction import Fact, Figure

    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, value: Any) -> None:
        if isinstance(value, Figure | Fact):
            rows.append((name, _fig(value), value.source or "", value.note or ""))
        elif isinstance(value, BaseModel):
            for sub in type(value).model_fields:
                add(f"{name} {sub.replace('_', ' ')}", getattr(value, sub))
        elif isinstance(value, list) and value and all(isinstance(v, Figure) for v in value):
            for i, v in enumerate(value):
                add(f"{name}[{i + 1}]", v)
        elif value not in (None, [], ""):
            text = _value_text(value)
            rows.append((name, text.replace("_", " ") if name == "status" else text, "", ""))

    for field in type(obj).model_fields:
        if field not in _SKIP:
            add(field.replace("_", " "), getattr(obj, field))
    return rows


def _history(record: ETS | Jurisdiction) -> list[tuple[str, str, str, str]]:
    """The dated history: each series entry, membership and link with its period."""
    from carbonlink.model.jurisdiction import ETS, period_text

    rows: list[tuple[str, str, str, str]] = []
    series = record.series
    for name in type(series).model_fields:
        for f in getattr(series, name):
            rows.append((name.replace("_", " "), _fig(f), f.source or "", f.note or ""))
    members: list[Membership] = record.membership
    for m in members:
        rows.append(("member", f"{m.jurisdiction} ({_member_period(m)})"
                     + ("" if m.verified else " [unverified]"), m.source, m.note or ""))
    if isinstance(record, ETS):
        links: list[LinkPeriod] = record.links
        for k in links:
            period = period_text(k.start, k.end - dt.timedelta(days=1) if k.end else None)
            rows.append(("link", f"{k.ets} ({period or 'undated'})"
                         + ("" if k.verified else " [unverified]"), k.source, k.note or ""))
    return rows


def _member_period(m: Membership) -> str:
    from carbonlink.model.jurisdiction import period_text

    return period_text(m.joined, m.left - dt.timedelta(days=1) if m.left else None) or "undated"


@data_app.command("show")
def show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="an ETS id (EU_ETS) or a jurisdiction id (CH)")],
    fmt: Annotated[DataFormat, typer.Option("--format", "-f")] = DataFormat.table,
    as_of: AsOf = None,
) -> int:
    """Show one ETS or jurisdiction as of a date (default today): every figure's value, the
    period it holds for, its source and notes, then the dated history it was read from."""
    from carbonlink.data import (
        ets_record,
        get_ets,
        get_jurisdiction,
        jurisdiction_record,
        list_ets,
        list_jurisdictions,
        paris_party_status,
        parse_as_of,
    )
    from carbonlink.model.jurisdiction import Jurisdiction


    day = parse_as_of(as_of)
    obj: ETS | Jurisdiction
    record: ETS | Jurisdiction
    try:
        obj, record = get_ets(ident, day), ets_record(ident)
    except KeyError:
        try:
            obj, record = get_jurisdiction(ident, day), jurisdiction_record(ident)
        except KeyError:
            known = [e.id for e in list_ets(day)] + [j.id for j in list_jurisdictions(day)]
            raise DocumentError("ID", f"unknown ETS or jurisdiction id {ident!r} "
                                f"(known: {', '.join(known)})") from None
    if fmt is DataFormat.json:
        print(json.dumps(obj.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return 0
    t = Table(title=escape(f"{obj.id} — {obj.name} (as of {day.isoformat()})"), expand=True)
    for col in ("field", "value (holds for)", "source", "note"):
        t.add_column(col, overflow="fold")
    rows = _rows(obj)
    if isinstance(obj, Jurisdiction) and obj.paris_party is None:
        pp = paris_party_status(obj.id, day)
        rows.insert(0, ("paris party (national)", _fig(pp), pp.source or "", pp.note or ""))
    for row in rows:
        t.add_row(*map(escape, row))  # "[unverified]" is text, not rich markup
    console = Console()
    console.print(t)
    history = _history(record)
    if history:
        h = Table(title=f"{obj.id} — dated history", expand=True)
        for col in ("series", "value (holds for)", "source", "note"):
            h.add_column(col, overflow="fold")
        for row in history:
            h.add_row(*map(escape, row))
        console.print(h)
    return 0
