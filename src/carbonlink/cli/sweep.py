"""``carbonlink sweep SCENARIO --set PATH=V1,V2,…``: a scenario solved over a parameter grid,
printed or written in pyam-style long format (scenario, sample, market, variable, unit, value)."""

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
) -> int:
    """Solve a scenario for every combination of parameter values."""
    from carbonlink.errors import DocumentError
    from carbonlink.markets.sweep import sweep as run
    from carbonlink.model.io import load_scenario
    from carbonlink.reporting.render import write_atomic

    params: dict[str, list[float | str | None]] = {}
    for item in set_:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise DocumentError("--set", f"expected PATH=V1,V2,…, got {item!r}")
        params[path.strip()] = [_parse_value(v) for v in values.split(",")]
    base = load_scenario(file)
    frame, samples = run(base, params, name=base.name, engine=engine, executor=executor,
                         max_workers=workers)
    frame = frame.merge(samples.reset_index(), on="sample", how="left")
    if out is None:
        frame.to_csv(sys.stdout, index=False)
        return 0
    suffix = out.suffix.lower()
    if suffix == ".parquet":
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
