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
