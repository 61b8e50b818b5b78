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


def _draw_all(rep: dict[str, Any], workers: int) -> list[Chart]:
    """In the warmed worker: every chart of ``rep``, drawn by ``workers`` processes forked from
    it (matplotlib already imported: imported once, not once per process)."""
    kinds = chart_kinds(rep)
    order = sorted(range(len(kinds)), key=lambda i: (kinds[i] not in SLOW_KINDS, i))
    with ProcessPoolExecutor(max_workers=min(workers, len(kinds)),
                             mp_context=multiprocessing.get_context("fork")) as pool:
        futures: dict[int, Future[Chart | None]] = {i: pool.submit(_draw, rep, i) for i in order}
        charts = [futures[i].result() for i in range(len(kinds))]
    return [c for c in charts if c is not None]


class ChartPool:
    """Draws a report's charts in ``workers`` processes; a context manager. One process is forked
    at once and imports matplotlib; it forks the drawing processes when the charts are asked for."""

    def __init__(self, workers: int, lang: str = "en") -> None:
        self._workers = workers
        self._pool = ProcessPoolExecutor(max_workers=1,
                                         mp_context=multiprocessing.get_context("fork"),
                                         initializer=_warm, initargs=(lang,))
        # forking happens at the first submit: now, so that it imports while we simulate
        self._pool.submit(int)

    def start(self, rep: dict[str, Any]) -> Future[list[Chart]] | None:
        """Start drawing the charts of ``rep`` (``None``: it has none); the caller does other
        work (the page's template, its tables) and then reads the future's result."""
        if not rep["simulated"]:
            return None
        return self._pool.submit(_draw_all, rep, self._workers)

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
