"""``carbonlink data list`` / ``carbonlink data show ID``: the shipped reference data, with sources."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from carbonlink.cli.app import app
from carbonlink.errors import DocumentError

if TYPE_CHECKING:
    from carbonlink.model.jurisdiction import Fact, Figure

data_app = typer.Typer(name="data", help="Reference data: jurisdictions and ETSs, with sources.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


class DataFormat(StrEnum):
    table = "table"
    json = "json"


def _fig(f: Figure | Fact | None) -> str:
    if f is None:
        return "—"
    if f.value is None:
        return f"unknown ({f.note})" if f.note else "unknown"
    text = f.text + (f" ({f.year})" if f.year else "")
    return text + ("" if f.verified else " [unverified]")


@data_app.command("list")
def list_(
    ets: Annotated[bool, typer.Option("--ets", help="only ETSs")] = False,
    jurisdictions: Annotated[bool, typer.Option("--jurisdictions", help="only jurisdictions")] = False,
    fmt: Annotated[DataFormat, typer.Option("--format", "-f")] = DataFormat.table,
) -> int:
    """List the shipped jurisdictions and ETSs (ids to use in agreement documents)."""
    from carbonlink.data import list_ets, list_jurisdictions, paris_party_status

    show_ets = ets or not jurisdictions
    show_jur = jurisdictions or not ets
    if fmt is DataFormat.json:
        out: dict[str, Any] = {}
        if show_jur:
            out["jurisdictions"] = [j.model_dump(mode="json") for j in list_jurisdictions()]
        if show_ets:
            out["ets"] = [e.model_dump(mode="json") for e in list_ets()]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    console = Console()
    if show_jur:
        t = Table(title="Jurisdictions", expand=True)
        for col in ("id", "name", "level", "parent", "Paris Party"):
            t.add_column(col, overflow="fold")
        for j in list_jurisdictions():
            pp = paris_party_status(j.id)
            t.add_row(j.id, j.name, j.level, j.parent or "", _fig(pp))
        console.print(t)
    if show_ets:
        t = Table(title="Emissions trading systems", expand=True)
        for col in ("id", "name", "jurisdiction", "status", "cap", "covered emissions", "price",
                    "cap source"):
            t.add_column(col, overflow="fold")
        for e in list_ets():
            t.add_row(e.id, e.name, e.jurisdiction, e.status,
                      (f"[{e.cap_type}] " if e.cap_type else "") + _fig(e.cap),
                      _fig(e.covered_emissions), _fig(e.price), e.cap.source or "")
        console.print(t)
    return 0


@data_app.command("show")
def show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="an ETS id (EU_ETS) or a jurisdiction id (CH)")],
    fmt: Annotated[DataFormat, typer.Option("--format", "-f")] = DataFormat.table,
) -> int:
    """Show one ETS or jurisdiction with every figure's value, year, source and notes."""
    from pydantic import BaseModel

    from carbonlink.data import get_ets, get_jurisdiction, list_ets, list_jurisdictions
    from carbonlink.model.jurisdiction import Fact, Figure

    obj: Any
    try:
        obj = get_ets(ident)
    except KeyError:
        try:
            obj = get_jurisdiction(ident)
        except KeyError:
            known = [e.id for e in list_ets()] + [j.id for j in list_jurisdictions()]
            raise DocumentError("ID", f"unknown ETS or jurisdiction id {ident!r} "
                                f"(known: {', '.join(known)})") from None
    if fmt is DataFormat.json:
        print(json.dumps(obj.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return 0
    t = Table(title=f"{obj.id} — {obj.name}", expand=True)
    for col in ("field", "value", "source", "note"):
        t.add_column(col, overflow="fold")

    def add(name: str, value: Any) -> None:
        if isinstance(value, Figure | Fact):
            t.add_row(name, _fig(value), value.source or "", value.note or "")
        elif isinstance(value, BaseModel):
            for sub in type(value).model_fields:
                add(f"{name}.{sub}", getattr(value, sub))
        elif value not in (None, [], ""):
            t.add_row(name, ", ".join(map(str, value)) if isinstance(value, list) else str(value),
                      "", "")

    for field in type(obj).model_fields:
        if field not in ("id", "name"):
            add(field, getattr(obj, field))
    Console().print(t)
    return 0
