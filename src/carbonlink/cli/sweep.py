"""``carbonlink sweep SCENARIO --set PATH=V1,V2,…``: a scenario solved over a parameter grid,
printed or written in pyam-style long format (scenario, sample, market, variable, unit, value)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carbonlink.cli.app import app

if TYPE_CHECKING:
    import pandas as pd

    from carbonlink.model.scenario import Scenario


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
    set_: Annotated[list[str] | None, typer.Option(
        "--set", "-s", help="PATH=V1,V2,… e.g. 'links[*].quota=0,5,10,none' or "
        "'markets[EU].cap=900,1000' (repeatable: the grid is their product)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="write .csv, .json or .parquet (default: CSV on stdout)")] = None,
    executor: Annotated[str, typer.Option(help="serial, process or dask")] = "serial",
    workers: Annotated[int | None, typer.Option(help="processes for --executor process")] = None,
    engine: Annotated[str, typer.Option(help="fast or plain")] = "fast",
    samples: Annotated[int | None, typer.Option(
        "--samples", "-n", help="Monte Carlo: N samples of the document's `uncertainty` shocks "
        "for every design (every --set combination, or the document alone)")] = None,
    summary: Annotated[Path | None, typer.Option(
        help="with --samples: write the per-design summary (.csv, .json or .parquet)")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="with --samples --executor dask: address of a dask.distributed scheduler "
        "(e.g. tcp://10.0.0.5:8786); batches of samples run as its tasks")] = None,
) -> int:
    """Solve a scenario for every combination of parameter values (and, with --samples, for
    N draws of its uncertain shocks)."""
    from carbonlink.errors import DocumentError
    from carbonlink.markets.sweep import sweep as run
    from carbonlink.model.io import load_scenario

    params: dict[str, list[float | str | None]] = {}
    if not set_ and samples is None:
        raise DocumentError("--set", "give at least one --set PATH=V1,V2,… or --samples N")
    for item in set_ or []:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise DocumentError("--set", f"expected PATH=V1,V2,…, got {item!r}")
        params[path.strip()] = [_parse_value(v) for v in values.split(",")]
    base = load_scenario(file)
    if scheduler is not None and (samples is None or executor != "dask"):
        raise DocumentError("--scheduler", "only with --samples N --executor dask")
    if samples is not None and scheduler is not None:
        from distributed import Client

        with Client(scheduler) as _client:  # run_samples finds it as the running client
            frame = _monte_carlo(base, params, samples, engine, executor, workers, summary)
    elif samples is not None:
        frame = _monte_carlo(base, params, samples, engine, executor, workers, summary)
    else:
        frame, grid_samples = run(base, params, name=base.name, engine=engine, executor=executor,
                                  max_workers=workers)
        frame = frame.merge(grid_samples.reset_index(), on="sample", how="left")
    _write(frame, out)
    return 0


def _write(frame: pd.DataFrame, out: Path | None, label: str = "sweep") -> None:
    from carbonlink.reporting.render import write_atomic

    if out is None:
        frame.to_csv(sys.stdout, index=False)
        return
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
    # the sweep's own notice on stdout as before; the summary's on stderr (stdout may be CSV)
    print(f"{label} written to {out}", file=sys.stdout if label == "sweep" else sys.stderr)


def _monte_carlo(base: Scenario, params: dict[str, list[float | str | None]], n: int,
                 engine: str, executor: str, workers: int | None,
                 summary: Path | None) -> pd.DataFrame:
    """Every design (grid point) × N samples, with a progress bar and a summary on stderr."""
    import pandas as pd
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from carbonlink.errors import DocumentError
    from carbonlink.markets.sweep import grid
    from carbonlink.markets.uncertainty import run_samples, summarise
    from carbonlink.reporting.console import fmt_num

    if base.uncertainty is None:
        raise DocumentError("uncertainty", "--samples needs an `uncertainty` section with shocks "
                            "in the scenario document")
    if params:
        designs, table = grid(base, params)
        table = table.rename_axis("design").reset_index()
    else:
        designs, table = [base], pd.DataFrame({"design": [0]})
    err = Console(stderr=True)
    with Progress(TextColumn("sampling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as bar:
        task = bar.add_task("solves", total=len(designs) * n)
        frame = run_samples(designs, n, name=base.name, engine=engine, executor=executor,
                            max_workers=workers, progress=lambda k: bar.advance(task, k))
    stats = summarise(frame).merge(table, on="design", how="left")
    if summary is not None:
        _write(stats, summary, "summary")
    view = Table(title=f"{base.name}: {n} samples per design")
    shown = ["design", "market", "variable", "mean", "sd", "q05", "q50", "q95"]
    for c in shown:
        view.add_column(c, justify="left" if c in ("market", "variable") else "right")
    for row in stats[shown].itertuples(index=False):
        view.add_row(*(fmt_num(v) if isinstance(v, float) else str(v) for v in row))
    err.print(view)
    return frame.merge(table, on="design", how="left")
