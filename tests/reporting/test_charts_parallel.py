"""Charts drawn by :class:`ChartPool`'s forked processes (``carbonlink assess`` on a machine with
several CPUs) are the charts drawn in-process: the same SVG and captions, in report order
(issue 13)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

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


def test_chart_modules_import_neither_pandas_nor_the_simulator() -> None:
    """The chart processes import matplotlib and the charts' modules, not pandas or the
    simulator: they are forked before the command imports those (a fresh interpreter)."""
    import json
    import subprocess
    import sys

    code = ("import json, sys\nimport carbonlink.reporting.plots, carbonlink.reporting.render\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=180)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "matplotlib" in mods
    assert not mods & {"pandas", "highspy", "carbonlink.assess.pipeline", "carbonlink.markets"}, \
        sorted(mods & {"pandas", "highspy", "carbonlink.assess.pipeline", "carbonlink.markets"})


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_assess_forks_the_chart_process_before_the_heavy_imports(tmp_path: Path) -> None:
    """``carbonlink assess`` starts its chart process before pandas, the simulator and the
    agreement's models are imported, so that matplotlib is imported on the other CPU while this
    process imports and simulates."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import carbonlink.reporting.chartpool as cp\n"
        "init = cp.ChartPool.__init__\n"
        "def probe(self, *a, **k):\n"
        "    heavy = sorted(m for m in ('pandas', 'highspy', 'carbonlink.assess.pipeline',\n"
        "                               'carbonlink.model.agreement') if m in sys.modules)\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
        "    init(self, *a, **k)\n"
        "cp.ChartPool.__init__ = probe\n"
        "cp.chart_workers = lambda: 2  # a pool even on a one-CPU machine\n"
        "from carbonlink.cli import main\n"
        f"main(['assess', {str(EU_CH)!r}, '--out', {str(tmp_path / 'r.html')!r}, '-q',\n"
        "      '--no-sensitivity', '--as-of', '2026-06-01'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stderr, out.stderr
    assert (tmp_path / "r.html").read_text().count("<svg") >= 5


def _partial_and_full(lang: str = "en") -> tuple[dict[str, Any], dict[str, Any]]:
    """The report as ``carbonlink assess`` sees it when the designs are solved (no sweeps yet)
    and the whole report."""
    import pickle

    from carbonlink.reporting.render import page_units

    seen: list[bytes] = []
    full = assess(EU_CH, as_of="2026-06-01", on_designs=lambda a: seen.append(pickle.dumps(
        page_units(build_report(a, tool_version="test", lang=lang)))))
    assert len(seen) == 1
    return pickle.loads(seen[0]), page_units(build_report(full, tool_version="test", lang=lang))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_designs_charts_read_only_the_design_inputs(lang: str) -> None:
    """The designs' charts drawn from :func:`design_chart_inputs` of the early report are the
    whole report's (what :meth:`ChartPool.start_designs` relies on)."""
    from carbonlink.reporting.chartpool import CHART_KINDS, design_chart_inputs
    from carbonlink.reporting.plots import draw_chart

    partial, full = _partial_and_full(lang)
    assert not partial["sensitivity"] and full["sensitivity"]
    assert design_chart_inputs(partial) == design_chart_inputs(full)
    for i in range(len(CHART_KINDS)):
        assert draw_chart(design_chart_inputs(partial), i) == draw_chart(full, i), CHART_KINDS[i]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_designs_charts_started_early_are_kept_or_redrawn() -> None:
    """Charts started early from the designs are kept when the whole report's design inputs are
    the same, redrawn when they differ; either way the charts are the in-process ones, in order."""
    from carbonlink.reporting.chartpool import CHART_KINDS

    partial, full = _partial_and_full()
    serial = report_charts(full)
    with ChartPool(2) as pool:
        pool.start_designs(partial)
        next(iter(pool._early.values())).result()  # the slowest one, drawn
        pending = pool.start(full)
        assert pending is not None and pending._kept  # at least the one drawn is kept
        assert [c.svg for c in pending.result()] == [c.svg for c in serial]
        # the early report differs (another unit): nothing is kept, everything redrawn
        other = {**partial, "units": {**partial["units"], "price": "CHF/tCO2e"}}
        pool.start_designs(other)
        next(iter(pool._early.values())).result()
        pending = pool.start(full)
        assert pending is not None and not pending._kept
        charts = pending.result()
        assert [c.svg for c in charts] == [c.svg for c in serial]
        assert [c.caption for c in charts] == [c.caption for c in serial]
        assert len(charts) >= len(CHART_KINDS)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_assess_writes_the_report_when_the_early_report_fails(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The early report is only a head start for the charts: if it cannot be built, the charts
    are drawn from the whole report and the page is written as before."""
    import carbonlink.reporting.report as report_module
    from carbonlink.cli import main

    real = report_module.build_report
    calls: list[bool] = []

    def first_fails(a: Any, **kw: Any) -> dict[str, Any]:
        calls.append(True)
        if len(calls) == 1:
            raise RuntimeError("early report")
        return real(a, **kw)

    monkeypatch.setattr(report_module, "build_report", first_fails)
    out = tmp_path / "r.html"
    with pytest.raises(SystemExit) as exit_:
        main(["assess", str(EU_CH), "--out", str(out), "-q", "--as-of", "2026-06-01"])
    assert exit_.value.code == 0 and len(calls) == 2
    assert out.read_text().count("<svg") == 8
