"""``carbonlink sweep SCENARIO --set PATH=V1,V2,…``: a scenario solved over a parameter grid,
printed or written in pyam-style long format (scenario, sample, market, variable, unit, value),
or with ``--iamc-year`` in the IAMC format (model, scenario, region, variable, unit, year,
value)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from carbonlink.cli.app import app


def _parse_value(text: str) -> float | str | None:
    t = text.strip()
    if t.lower() in ("none", "null", "unrestricted"):
        return None
    try:
        return float(t)
    except ValueError:
        return t


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="scenario document (YAML or JSON)")],
    set_: Annotated[list[str], typer.Option(
        "--set", "-s", help="PATH=V1,V2,… e.g. 'links[*].quota=0,5,10,none' or "
        "'markets[EU].cap=900,1000' (repeatable: the grid is their product)")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="write .csv, .json or .parquet (default: CSV on stdout)")] = None,
    executor: Annotated[str, typer.Option(help="serial, process or dask")] = "serial",
    workers: Annotated[int | None, typer.Option(help="processes for --executor process")] = None,
    engine: Annotated[str, typer.Option(help="fast or plain")] = "fast",
    iamc_year: Annotated[int | None, typer.Option(
        "--iamc-year", help="write the IAMC format pyam reads (model, scenario, region, "
        "variable, unit, year, value), for this compliance year")] = None,
    currency: Annotated[str | None, typer.Option(
        help="currency of markets that state none (money columns name it; required when no "
        "market states one)")] = None,
) -> int:
    """Solve a scenario for every combination of parameter values."""
    from pydantic import ValidationError

    from carbonlink.errors import DocumentError, from_validation_error
    from carbonlink.markets.sweep import sweep as run
    from carbonlink.model.io import load_scenario
    from carbonlink.reporting.render import write_atomic

    params: dict[str, list[float | str | None]] = {}
    for item in set_:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise DocumentError("--set", f"expected PATH=V1,V2,…, got {item!r}")
        params[path.strip()] = [_parse_value(v) for v in values.split(",")]
    suffix = out.suffix.lower() if out is not None else ".csv"
    if suffix not in (".csv", ".json", ".parquet", ".xlsx"):
        raise DocumentError("--out", f"unknown suffix {suffix or '(none)'!r}: use .csv, .json, "
                            ".parquet or .xlsx")
    base = load_scenario(file)
    if currency is not None:
        code = currency.strip().upper()
        if not (len(code) == 3 and code.isalpha()):
            raise DocumentError("--currency", f"must be a three-letter currency code, got {currency!r}")
        try:
            base = base.model_validate({**base.model_dump(mode="json", by_alias=True), "markets": [
                {**m.model_dump(mode="json", by_alias=True), "currency": m.currency or code}
                for m in base.markets]})
        except ValidationError as exc:
            raise from_validation_error(exc, source=str(file)) from None
    if not any(m.currency for m in base.markets):
        raise DocumentError("markets[0].currency", "no market states its currency, so the money "
                            "columns would have none; state it in the scenario or pass --currency "
                            "EUR (say)", source=str(file))
    frame, samples = run(base, params, name=base.name, engine=engine, executor=executor,
                         max_workers=workers)
    if iamc_year is not None:
        from carbonlink.markets.sweep import to_iamc

        frame = to_iamc(frame, samples, year=iamc_year)
    else:
        frame = frame.merge(samples.reset_index(), on="sample", how="left")
    if out is None:
        frame.to_csv(sys.stdout, index=False)
        return 0
    if suffix == ".xlsx":
        import io

        buf = io.BytesIO()
        frame.to_excel(buf, index=False, sheet_name="sweep", engine="openpyxl")
        write_atomic(out, buf.getvalue())
    elif suffix == ".parquet":
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(out)
    elif suffix == ".json":
        write_atomic(out, frame.to_json(orient="records", indent=2))
    else:
        write_atomic(out, frame.to_csv(index=False))
    print(f"sweep written to {out}")
    return 0
