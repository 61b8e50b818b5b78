"""Charts drawn by :class:`ChartPool`'s forked processes (``carbonlink assess`` on a machine with
several CPUs) are the charts drawn in-process: the same SVG and captions, in report order
(issue 13)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from carbonlink.assess.pipeline import assess
from carbonlink.reporting.chartpool import ChartPool, chart_kinds, chart_workers
from carbonlink.reporting.plots import report_charts
from carbonlink.reporting.report import build_report

EU_CH = Path(__file__).resolve().parents[2] / "examples" / "agreements" / "eu-switzerland.yaml"


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_charts_in_processes_equal_charts_in_order() -> None:
    rep = build_report(assess(EU_CH, as_of="2026-06-01"), tool_version="test")
    with ChartPool(2) as pool:
        parallel = pool.charts(rep)
        assert pool.charts({**rep, "simulated": False}) == []
    serial = report_charts(rep)
    assert len(chart_kinds(rep)) == 5 + len(rep["sensitivity"])
    assert [c.id for c in parallel] == [c.id for c in serial]
    assert any(c.id.startswith("sweep-") for c in serial)  # the sweeps, drawn first, come last
    assert [c.svg for c in parallel] == [c.svg for c in serial]
    assert [c.caption for c in parallel] == [c.caption for c in serial]
    assert chart_workers() >= 1
