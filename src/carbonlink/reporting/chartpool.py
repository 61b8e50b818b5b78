"""A report's charts drawn in other processes while the assessment runs (issue 13).

Drawing the eight charts of an EU–CH report and importing matplotlib for them were most of
``carbonlink assess``. :class:`ChartPool` forks a process when the command starts: it imports
matplotlib while this process simulates the designs, then forks one drawing process per CPU,
which share the charts, the slowest first. The process that writes the report never imports
matplotlib. The SVG is the one
:func:`carbonlink.reporting.plots.report_charts` draws in-process (tested).

This module imports nothing heavy: it is imported before the pool is forked.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chart:
    """One chart: its id, the SVG markup, and the caption printed under it. Defined here, not
    in :mod:`~carbonlink.reporting.plots`, so that a chart drawn by a worker is read back without
    importing matplotlib."""

    id: str
    title: str
    svg: str
    caption: str

    def _repr_svg_(self) -> str:
        return self.svg


#: the charts of every simulated report, in report order; one more per sensitivity sweep
CHART_KINDS = ("prices", "flows", "gains", "emissions", "revenue")
#: the slowest to draw (several panels), started first
SLOW_KINDS = ("sweep", "gains")


def chart_kinds(rep: dict[str, Any]) -> list[str]:
    """The kind of each chart job of ``rep``, in report order (``sweep`` for each sweep)."""
    return [*CHART_KINDS, *("sweep" for _ in rep["sensitivity"])]


def chart_workers() -> int:
    """How many processes may draw a report's charts: the CPUs this process may run on; 1 where
    a process cannot be forked (the charts are then drawn in-process)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _warm(lang: str) -> None:
    """A worker's start: import matplotlib, the SVG backend and the charts' modules, find the CJK
    fonts once, and draw a throwaway chart (:func:`~carbonlink.reporting.plots.warm_up`), so that
    the drawing processes forked from this one start with the fonts and caches of a first chart
    in memory."""
    from matplotlib.backends import backend_svg  # noqa: F401

    from carbonlink.reporting import plots, render  # noqa: F401 - render: the designs' titles

    if lang != "en":
        plots.cjk_fonts()
    plots.warm_up(lang)
    # forked while ``carbonlink assess`` paused the garbage collector for its imports: collect
    # again (drawing leaves figures in reference cycles), without traversing what is loaded
    gc.freeze()
    gc.enable()


def _draw(rep: dict[str, Any], index: int) -> Chart | None:
    from carbonlink.reporting.plots import draw_chart

    return draw_chart(rep, index)


def _draw_all(rep: dict[str, Any], workers: int,
              indices: list[int] | None = None) -> dict[int, Chart | None]:
    """In the warmed worker: the charts ``indices`` of ``rep`` (default: all), drawn by up to
    ``workers`` processes forked from it (matplotlib already imported: imported once, not once
    per process); one chart is drawn here."""
    kinds = chart_kinds(rep)
    todo = list(range(len(kinds))) if indices is None else indices
    order = sorted(todo, key=lambda i: (kinds[i] not in SLOW_KINDS, i))
    if min(workers, len(todo)) <= 1:
        return {i: _draw(rep, i) for i in order}
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)),
                             mp_context=multiprocessing.get_context("fork")) as pool:
        futures: dict[int, Future[Chart | None]] = {i: pool.submit(_draw, rep, i) for i in order}
        return {i: futures[i].result() for i in todo}


#: what the designs' charts (the first :data:`CHART_KINDS`) read of a report; the sweeps' charts
#: also read ``sensitivity``
DESIGN_CHART_KEYS = ("lang", "simulated", "units", "calibration", "designs")


def design_chart_inputs(rep: dict[str, Any]) -> dict[str, Any]:
    """The part of ``rep`` the designs' charts are drawn from (a report without sweeps)."""
    return {**{k: rep.get(k) for k in DESIGN_CHART_KEYS},
            "framing": {"parties": rep["framing"]["parties"]}, "sensitivity": []}


class PendingCharts:
    """A report's charts being drawn: :meth:`result` waits for them, in report order."""

    def __init__(self, kept: dict[int, Future[Chart | None]],
                 rest: Future[dict[int, Chart | None]] | None) -> None:
        self._kept = kept
        self._rest = rest

    def result(self) -> list[Chart]:
        drawn = {i: f.result() for i, f in self._kept.items()}
        if self._rest is not None:
            drawn.update(self._rest.result())
        return [c for _, c in sorted(drawn.items()) if c is not None]


class ChartPool:
    """Draws a report's charts in ``workers`` processes; a context manager. One process is forked
    at once and imports matplotlib; it forks the drawing processes when the charts are asked for.

    The designs' charts may be started early (:meth:`start_designs`), while the sweeps are still
    solved: the chart process draws them one by one; when the whole report comes
    (:meth:`start`), the ones already drawn or being drawn are kept if the report's design inputs
    are the same (compared pickled, byte for byte), the others are drawn with the sweeps' charts."""

    def __init__(self, workers: int, lang: str = "en") -> None:
        self._workers = workers
        self._pool = ProcessPoolExecutor(max_workers=1,
                                         mp_context=multiprocessing.get_context("fork"),
                                         initializer=_warm, initargs=(lang,))
        # forking happens at the first submit: now, so that it imports while we simulate
        self._pool.submit(int)
        self._early: dict[int, Future[Chart | None]] = {}
        self._early_inputs = b""

    def start_designs(self, rep: dict[str, Any]) -> None:
        """Start drawing the designs' charts of ``rep``, a report whose designs are solved (its
        sweeps may be missing): one job per chart, the slowest first, so that the whole report's
        charts (:meth:`start`) wait for at most the ones already under way."""
        if not rep["simulated"]:
            return
        inputs = design_chart_inputs(rep)
        self._early_inputs = pickle.dumps(inputs)
        order = sorted(range(len(CHART_KINDS)), key=lambda i: (CHART_KINDS[i] not in SLOW_KINDS, i))
        self._early = {i: self._pool.submit(_draw, inputs, i) for i in order}

    def start(self, rep: dict[str, Any]) -> PendingCharts | None:
        """Start drawing the charts of ``rep`` (``None``: it has none); the caller does other
        work (the page's template, its tables) and then reads the result."""
        early, self._early = self._early, {}
        if not rep["simulated"]:
            for f in early.values():
                f.cancel()
            return None
        same = bool(early) and self._early_inputs == pickle.dumps(design_chart_inputs(rep))
        # a chart not yet started is drawn with the others (cancel() is True), so that the
        # drawing processes share it; one under way or done is kept
        kept = {i: f for i, f in early.items() if not f.cancel()} if same else {}
        if not same:
            for f in early.values():
                f.cancel()
        todo = [i for i in range(len(chart_kinds(rep))) if i not in kept]
        rest = self._pool.submit(_draw_all, rep, self._workers, todo) if todo else None
        return PendingCharts(kept, rest)

    def charts(self, rep: dict[str, Any]) -> list[Chart]:
        """:func:`carbonlink.reporting.plots.report_charts` of ``rep``, drawn by the workers."""
        pending = self.start(rep)
        return [] if pending is None else pending.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChartPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
