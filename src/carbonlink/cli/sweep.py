"""``carbonlink sweep SCENARIO --set PATH=V1,V2,…``: a scenario solved over a parameter grid (and,
with ``--samples N``, over N draws of its uncertain shocks), printed or written in pyam-style long
format (scenario, sample, market, variable, unit, value), or with ``--iamc-year`` in the IAMC
format (model, scenario, region, variable, unit, year, value)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carbonlink.cli.app import app

if TYPE_CHECKING:
    import pandas as pd

    from carbonlink.model.scenario import Scenario


SUFFIXES = (".csv", ".json", ".parquet", ".xlsx")


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
        "--out", "-o", help="write .csv, .json, .parquet or .xlsx (default: CSV on stdout); "
        "with --samples, .parquet is a Parquet dataset directory (one part file per batch of "
        "samples, written by the worker that solved it; pandas.read_parquet(PATH) reads it in "
        "design and sample order) and .csv one file, both streamed")] = None,
    executor: Annotated[str, typer.Option(help="serial, process or dask")] = "serial",
    workers: Annotated[int | None, typer.Option(help="processes for --executor process")] = None,
    engine: Annotated[str, typer.Option(help="fast or plain")] = "fast",
    samples: Annotated[int | None, typer.Option(
        "--samples", "-n", help="Monte Carlo: N samples of the document's `uncertainty` shocks "
        "for every design (every --set combination, or the document alone)")] = None,
    summary: Annotated[Path | None, typer.Option(
        help="with --samples: write the per-design summary (.csv, .json, .parquet or .xlsx)")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="with --samples --executor dask: address of a dask.distributed scheduler "
        "(e.g. tcp://10.0.0.5:8786); batches of samples run as its tasks, and its workers "
        "write their parts of --out themselves, so --out must be on a filesystem they share "
        "with this machine (checked before the first batch: exit 2 if a worker cannot see "
        "it)")] = None,
    iamc_year: Annotated[int | None, typer.Option(
        "--iamc-year", help="write the IAMC format pyam reads (model, scenario, region, "
        "variable, unit, year, value), for this compliance year")] = None,
    currency: Annotated[str | None, typer.Option(
        help="currency of markets that state none (money columns name it; required when no "
        "market states one)")] = None,
) -> int:
    """Solve a scenario for every combination of parameter values (and, with --samples, for
    N draws of its uncertain shocks)."""
    from pydantic import ValidationError

    from carbonlink.errors import DocumentError, from_validation_error
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
    for name, path_ in (("--out", out), ("--summary", summary)):
        if path_ is not None and path_.suffix.lower() not in SUFFIXES:
            raise DocumentError(name, f"unknown suffix {path_.suffix or '(none)'!r}: use .csv, "
                                ".json, .parquet or .xlsx")
    if iamc_year is not None and samples is not None:
        raise DocumentError("--iamc-year", "not with --samples (the IAMC format has no sample)")
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
    if scheduler is not None and (samples is None or executor != "dask"):
        raise DocumentError("--scheduler", "only with --samples N --executor dask")
    if samples is not None and scheduler is not None:
        from distributed import Client

        with Client(scheduler) as _client:  # run_samples finds it as the running client
            frame = _monte_carlo(base, params, samples, engine, executor, workers, summary, out)
    elif samples is not None:
        frame = _monte_carlo(base, params, samples, engine, executor, workers, summary, out)
    else:
        frame, grid_samples = run(base, params, name=base.name, engine=engine, executor=executor,
                                  max_workers=workers)
        if iamc_year is not None:
            from carbonlink.markets.sweep import to_iamc

            frame = to_iamc(frame, grid_samples, year=iamc_year, periods=base.periods)
        else:
            frame = frame.merge(grid_samples.reset_index(), on="sample", how="left")
    if frame is not None:
        _write(frame, out)
    return 0


def _write(frame: pd.DataFrame, out: Path | None, label: str = "sweep") -> None:
    from carbonlink.reporting.render import write_atomic

    if out is None:
        frame.to_csv(sys.stdout, index=False)
        return
    suffix = out.suffix.lower()
    if suffix == ".xlsx":
        import io

        buf = io.BytesIO()
        frame.to_excel(buf, index=False, sheet_name=label, engine="openpyxl")
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
    # the sweep's own notice on stdout as before; the summary's on stderr (stdout may be CSV)
    print(f"{label} written to {out}", file=sys.stdout if label == "sweep" else sys.stderr)


def _monte_carlo(base: Scenario, params: dict[str, list[float | str | None]], n: int,
                 engine: str, executor: str, workers: int | None,
                 summary: Path | None, out: Path | None = None) -> pd.DataFrame | None:
    """Every design (grid point) × N samples, with a progress bar and a summary on stderr.
    With ``--out`` to .parquet (a dataset directory, one part per batch) or .csv the samples
    are streamed batch by batch, each batch written by the worker that solved it (memory flat
    in N; :func:`~carbonlink.markets.uncertainty.stream_samples`) and ``None`` is returned;
    else the long frame."""
    import pandas as pd
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from carbonlink.errors import DocumentError
    from carbonlink.markets.sweep import grid
    from carbonlink.markets.uncertainty import (
        SweepStats,
        gain_split,
        run_samples,
        stream_samples,
        summarise,
    )
    from carbonlink.reporting.console import fmt_num
    from carbonlink.reporting.i18n import translator

    _ = translator()

    if base.uncertainty is None:
        raise DocumentError("uncertainty", "--samples needs an `uncertainty` section with shocks "
                            "in the scenario document")
    if params:
        designs, table = grid(base, params)
        table = table.rename_axis("design").reset_index()
    else:
        designs, table = [base], pd.DataFrame({"design": [0]})
    err = Console(stderr=True)
    counts = SweepStats()
    stream = out is not None and out.suffix.lower() in (".parquet", ".csv")
    frame: pd.DataFrame | None = None
    with Progress(TextColumn("sampling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as bar:
        task = bar.add_task("solves", total=len(designs) * n)
        if stream:
            assert out is not None
            found = stream_samples(designs, n, out, name=base.name, design_table=table,
                                   engine=engine, executor=executor, max_workers=workers,
                                   progress=lambda k: bar.advance(task, k), stats=counts)
        else:
            frame = run_samples(designs, n, name=base.name, engine=engine, executor=executor,
                                max_workers=workers, progress=lambda k: bar.advance(task, k),
                                stats=counts)
            found = summarise(frame)
    stats = gain_split(found, designs).merge(table, on="design", how="left")
    err.print(_("{batched} samples solved in batches ({degenerate} of them degenerate: banks and "
                "flows are one optimum of several), {fallback} sent one by one (unsettled), "
                "{single} one by one (design not covered by the batch path); {failed} the "
                "solver gave up on (NaN)").format(
                    batched=counts.batched, degenerate=counts.degenerate,
                    fallback=counts.fallback, single=counts.one_by_one, failed=counts.failed))
    if stream:
        print(f"sweep written to {out}", file=sys.stdout)
    if summary is not None:
        _write(stats, summary, "summary")
    view = Table(title=f"{base.name}: {n} samples per design")
    shown = ["design", "market", "variable", "mean", "sd", "q05", "q50", "q95"]
    for c in shown:
        view.add_column(c, justify="left" if c in ("market", "variable") else "right")
    for row in stats[shown].itertuples(index=False):
        view.add_row(*(fmt_num(v) if isinstance(v, float) else str(v) for v in row))
    err.print(view)
    return None if frame is None else frame.merge(table, on="design", how="left")
