"""Rich tables for ``carbonlink simulate`` (and the assess summary on the console)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rich.table import Table

if TYPE_CHECKING:  # imported where a table is built: fmt_num serves the chart processes too
    import pandas as pd


class ResultLike(Protocol):
    """What the tables read from a :class:`carbonlink.markets.SimulationResult`."""

    status: str
    markets: pd.DataFrame
    links: pd.DataFrame
    offsets: pd.DataFrame
    totals: dict[str, Any]


#: Display-only: a value smaller than this share of its ``scale`` (e.g. an emissions change
#: against total emissions) is solver noise and shows as 0. The report data keep the value.
NOISE_REL = 1e-9


def fmt_num(value: Any, digits: int = 4, scale: float | None = None) -> str:
    """A number as a reader sees it: thousands separators, ``digits`` significant figures.
    With ``scale`` (the magnitude the value is a change of), ``|value| <= NOISE_REL·|scale|``
    shows as ``0``."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if scale is not None and math.isfinite(float(scale)) and abs(x) <= NOISE_REL * abs(float(scale)):
        return "0"
    mag = abs(x)
    if mag < 1e-4:
        return f"{x:.{digits - 1}e}"
    if mag >= 10 ** digits:
        return f"{x:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(mag))))
    return f"{x:,.{decimals}f}"


_MARKET_COLUMNS: list[tuple[str, str]] = [
    ("price", "price"),
    ("autarky_price", "autarky price"),
    ("emissions", "emissions"),
    ("abatement", "abatement"),
    ("net_imports", "net imports"),
    ("offsets_used", "offsets used"),
    ("abatement_cost", "abatement cost"),
    ("compliance_cost", "compliance cost"),
    ("autarky_compliance_cost", "autarky compl. cost"),
    ("gain", "gain vs autarky"),
    ("tax_revenue", "tax revenue"),
    ("ceiling_released", "ceiling released"),
    ("floor_withheld", "floor withheld"),
]

_LINK_COLUMNS: list[tuple[str, str]] = [
    ("flow", "flow (from-units)"),
    ("credited", "credited (to-units)"),
    ("tax_revenue", "tax revenue"),
    ("quota_rent", "quota rent"),
    ("binding", "binding"),
]


def _optional_zero_column(df: pd.DataFrame, col: str) -> bool:
    """Columns that are all zero (offsets, ceilings, floors, tax) are left out of the table."""
    import pandas as pd

    if col not in df.columns:
        return True
    values = pd.to_numeric(df[col], errors="coerce").fillna(0.0)
    return bool((values.abs() < 1e-12).all())


_COST_COLUMNS = {"abatement_cost", "compliance_cost", "autarky_compliance_cost", "gain",
                 "tax_revenue"}


def market_columns(result: ResultLike, columns: set[str] | None = None) -> list[tuple[str, str]]:
    """``(result column, header)`` pairs of a market table, in display order; optional columns
    that are all zero (offsets, ceilings, floors, tax) are left out, ``columns`` limits the set."""
    df = result.markets
    optional = {"offsets_used", "ceiling_released", "floor_withheld", "tax_revenue"}
    return [(c, h) for c, h in _MARKET_COLUMNS
            if c in df.columns and not (c in optional and _optional_zero_column(df, c))
            and (columns is None or c in columns)]


def market_table_specs(result: ResultLike) -> list[tuple[str, list[tuple[str, str]]]]:
    """The two market tables of ``carbonlink simulate`` as ``(title, columns)``: prices and
    quantities (linked beside autarky), then costs and gains. The web pages show the same."""
    quantity_cols = {c for c, _ in _MARKET_COLUMNS} - _COST_COLUMNS
    return [("Markets: prices and quantities", market_columns(result, quantity_cols)),
            ("Markets: costs and gains", market_columns(result, _COST_COLUMNS))]


@dataclass
class TableData:
    """One table of ``carbonlink simulate`` as formatted text, for any renderer: the console
    (:func:`rich_table`) and the web page draw the same rows."""

    id: str
    title: str
    columns: list[str]          # the result column of each header
    headers: list[str]
    rows: list[list[str]]
    numeric_from: int = 1       # columns from this index on are numbers (right-aligned)


def simulation_table_data(result: ResultLike) -> list[TableData]:
    """The tables of ``carbonlink simulate``: markets (prices and quantities; costs and gains),
    links and offsets when there are any, totals."""
    tables = [TableData(tid, title, ["market", *(c for c, _ in cols)],
                        ["market", *(h for _, h in cols)],
                        [[str(mid), *(fmt_num(row[c]) for c, _ in cols)]
                         for mid, row in result.markets.iterrows()])
              for tid, (title, cols) in zip(("markets-prices", "markets-costs"),
                                            market_table_specs(result), strict=True)]
    if result.links is not None and len(result.links):
        cols = [(c, h) for c, h in _LINK_COLUMNS if c in result.links.columns]
        tables.append(TableData("links", "Links", ["from", "to", *(c for c, _ in cols)],
                                ["from", "to", *(h for _, h in cols)],
                                [[str(r["from"]), str(r["to"]), *(fmt_num(r[c]) for c, _ in cols)]
                                 for _, r in result.links.iterrows()], numeric_from=2))
    if result.offsets is not None and len(result.offsets):
        tables.append(TableData("offsets", "Offsets", ["offset", "price", "used"],
                                ["offset", "price", "used"],
                                [[str(oid), fmt_num(r.get("price")), fmt_num(r.get("used"))]
                                 for oid, r in result.offsets.iterrows()]))
    tables.append(TableData("totals", f"Totals (status: {result.status})", ["quantity", "value"],
                            ["quantity", "value"],
                            [[k.replace("_", " "), fmt_num(v)] for k, v in result.totals.items()]))
    return tables


def rich_table(t: TableData) -> Table:
    table = Table(title=t.title, title_justify="left")
    for n, header in enumerate(t.headers):
        if n < t.numeric_from:
            table.add_column(header, style="bold")
        else:
            table.add_column(header, justify="right")
    for row in t.rows:
        table.add_row(*row)
    return table


def simulation_tables(result: ResultLike) -> list[Table]:
    """The tables ``carbonlink simulate`` prints: markets, links, offsets (if any), totals."""
    return [rich_table(t) for t in simulation_table_data(result)]
