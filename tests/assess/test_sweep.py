"""Grid sweeps in long format; executors agree."""

from __future__ import annotations

import pytest

from carbonlink.errors import DocumentError
from carbonlink.markets.sweep import grid, run_scenarios, set_path, sweep
from carbonlink.model.scenario import Scenario

BASE = Scenario.model_validate({
    "markets": [{"id": "A", "bau": 100, "cap": 80, "mac": {"linear": {"slope": 2}}},
                {"id": "B", "bau": 50, "cap": 45, "mac": {"linear": {"slope": 1}}}],
    "links": [{"between": ["A", "B"]}],
})


def test_grid_product_and_long_format() -> None:
    frame, samples = sweep(BASE, {"links[*].quota": [0.0, 5.0, None],
                                  "markets[A].cap": [80.0, 85.0]})
    assert len(samples) == 6 and list(samples.columns) == ["links[*].quota", "markets[A].cap"]
    assert list(frame.columns) == ["scenario", "sample", "market", "variable", "unit", "value"]
    flows = frame[(frame.market == "B>A") & (frame.variable == "flow")].set_index("sample").value
    assert flows[0] == pytest.approx(0, abs=1e-9)
    assert flows[2] == pytest.approx(5.0)
    assert flows[4] == pytest.approx(11.666666, rel=1e-5)  # unrestricted: closed form
    totals = frame[(frame.market == "total") & (frame.variable == "gain")]
    assert len(totals) == 6


def test_set_path_errors() -> None:
    doc = BASE.model_dump(mode="json", by_alias=True)
    with pytest.raises(DocumentError):
        set_path(doc, "markets[Z].cap", 1)
    with pytest.raises(DocumentError):
        set_path(doc, "name[0]", 1)


def test_process_executor_matches_serial() -> None:
    scenarios, _ = grid(BASE, {"links[*].discount": [0.0, 0.2]})
    serial, _ = run_scenarios(scenarios)
    parallel, _ = run_scenarios(scenarios, executor="process", max_workers=2)
    assert serial.equals(parallel)


def test_dask_executor_matches_serial() -> None:
    pytest.importorskip("dask")
    scenarios, _ = grid(BASE, {"links[*].discount": [0.0, 0.2]})
    serial, _ = run_scenarios(scenarios)
    via_dask, _ = run_scenarios(scenarios, executor="dask")
    assert serial.equals(via_dask)


def test_unknown_executor() -> None:
    with pytest.raises(DocumentError):
        run_scenarios([BASE], executor="threads")
