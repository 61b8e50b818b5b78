"""Monte Carlo sampling: reproducible per-sample seeds, correlated shocks, executor-independent
results, a per-design summary, and the ``sweep --samples`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from carbonlink.cli import main
from carbonlink.errors import DocumentError
from carbonlink.markets.uncertainty import draw_factors, run_samples, summarise
from carbonlink.model.io import load_scenario
from tests.conftest import DASK_FREE_PORT

EXAMPLE = Path(__file__).parents[2] / "examples" / "scenarios" / "uncertain-intensity-link.yaml"


def two_markets(**unc: Any) -> dict[str, Any]:
    return {"name": "mc", "markets": [
        {"id": "CN", "bau": 100, "cap": {"intensity": 0.5, "output": 150}, "mac": {"linear": {"slope": 2}}},
        {"id": "EU", "bau": 80, "cap": 60, "mac": {"linear": {"slope": 3}}},
    ], "links": [{"between": ["CN", "EU"], "quota": 8}],
        "uncertainty": {"seed": 7, "shocks": [
            {"market": "CN", "variable": "output", "distribution": "normal", "sd": 0.1},
            {"market": "EU", "variable": "bau", "distribution": "lognormal", "sigma": 0.05}],
            **unc}}


def test_sample_draws_depend_only_on_seed_and_index() -> None:
    unc = load_scenario(two_markets()).uncertainty
    assert unc is not None
    a, b = draw_factors(unc, 5), draw_factors(unc, 12)
    np.testing.assert_array_equal(a, b[:5])
    other = unc.model_copy(update={"seed": 8})
    assert not np.array_equal(draw_factors(other, 5), a)


def test_correlation_and_marginals() -> None:
    unc = load_scenario(two_markets(correlation=[[1, 0.6], [0.6, 1]])).uncertainty
    assert unc is not None
    f = draw_factors(unc, 4000)
    z0 = (f[:, 0] - 1.0) / 0.1
    z1 = (np.log(f[:, 1]) + 0.5 * 0.05 ** 2) / 0.05
    assert np.corrcoef(z0, z1)[0, 1] == pytest.approx(0.6, abs=0.05)
    assert z0.std() == pytest.approx(1.0, abs=0.05)
    assert f[:, 1].mean() == pytest.approx(1.0, abs=0.01)  # lognormal factor: mean 1


def test_each_sample_matches_the_closed_form() -> None:
    sc = load_scenario(two_markets(correlation=[[1, -0.3], [-0.3, 1]]))
    # without the quota: p = (Σ bau − Σ cap) / (1/2 + 1/3), the CN output shock moving its BAU
    # and its intensity cap, the EU shock its BAU
    free = sc.model_copy(update={"links": [lk.model_copy(update={"quota": None}) for lk in sc.links]})
    frame = run_samples([free], 20)
    assert sc.uncertainty is not None
    f = draw_factors(sc.uncertainty, 20)
    expected = (100 * f[:, 0] - 75 * f[:, 0] + 80 * f[:, 1] - 60) / (1 / 2 + 1 / 3)
    got = frame[(frame["market"] == "EU") & (frame["variable"] == "price")]["value"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_same_results_on_every_executor_and_batch_size() -> None:
    sc = load_scenario(two_markets())
    designs = [sc, sc.model_copy(update={"links": [lk.model_copy(update={"quota": 2.0})
                                                   for lk in sc.links]})]
    serial = run_samples(designs, 6, batch_size=64)
    one = run_samples(designs, 6, batch_size=1)
    procs = run_samples(designs, 6, executor="process", max_workers=2, batch_size=2)
    dask = run_samples(designs, 6, executor="dask", batch_size=5)
    for other in (one, procs, dask):
        pd.testing.assert_frame_equal(serial, other)
    assert set(serial["design"]) == {0, 1} and set(serial["sample"]) == set(range(6))


def test_summary_statistics() -> None:
    frame = run_samples([load_scenario(two_markets())], 30)
    stats = summarise(frame).set_index(["design", "market", "variable"])
    prices = frame[(frame["market"] == "CN") & (frame["variable"] == "price")]["value"]
    row = stats.loc[(0, "CN", "price")]
    assert row["mean"] == pytest.approx(prices.mean())
    assert row["sd"] == pytest.approx(prices.std())
    assert row["q05"] <= row["q50"] <= row["q95"]
    assert row["samples"] == 30
    binding = frame[(frame["market"] == "EU>CN") & (frame["variable"] == "binding")]["value"]
    assert stats.loc[(0, "EU>CN", "binding"), "mean"] == pytest.approx(binding.mean())
    assert set(binding.unique()) <= {0.0, 1.0}


def test_multiperiod_samples() -> None:
    doc = two_markets()
    doc["periods"] = [2030, 2035]
    doc["discount_rate"] = 0.02
    doc["uncertainty"]["shocks"][0]["period"] = 2035
    frame = run_samples([load_scenario(doc)], 4)
    assert {"price|2030", "price|2035", "gain"} <= set(frame["variable"])
    cn = frame[(frame["market"] == "CN") & (frame["variable"] == "price|2030")]["value"]
    assert cn.notna().all()


@pytest.mark.parametrize(("unc", "where"), [
    ({"shocks": [{"market": "XX", "variable": "bau", "sd": 0.1}]}, "uncertainty.shocks[0].market"),
    ({"shocks": [{"market": "CN", "variable": "bau"}]}, "sd"),
    ({"shocks": [{"market": "CN", "variable": "bau", "sd": 0.1},
                 {"market": "EU", "variable": "bau", "sd": 0.1}],
      "correlation": [[1, 2], [2, 1]]}, "correlation"),
    ({"shocks": [{"market": "CN", "variable": "bau", "sd": 0.1},
                 {"market": "EU", "variable": "bau", "sd": 0.1},
                 {"market": "EU", "variable": "slope", "sd": 0.1}],
      "correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]}, "semi-definite"),
    ({"shocks": [{"market": "CN", "variable": "bau", "sd": 0.1, "period": 2030}]}, "period"),
])
def test_bad_uncertainty_names_the_field(unc: dict[str, Any], where: str) -> None:
    doc = two_markets()
    doc["uncertainty"] = unc
    with pytest.raises(DocumentError) as err:
        load_scenario(doc)
    assert where in str(err.value)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_cli_sweep_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, summary = tmp_path / "s.parquet", tmp_path / "summary.json"
    code, _, err = run_cli(["sweep", str(EXAMPLE), "--samples", "12", "--set",
                            "links[*].quota=none,3", "-o", str(out), "--summary", str(summary)],
                           capsys)
    assert code == 0, err
    frame = pd.read_parquet(out)
    assert set(frame["design"]) == {0, 1} and frame["sample"].nunique() == 12
    assert "links[*].quota" in frame.columns
    stats = json.loads(summary.read_text())
    assert {s["variable"] for s in stats} == {"price", "gain", "binding", "gain|effort_sharing",
                                              "gain|risk_sharing"}
    assert "24/24" in err


def test_cli_sweep_needs_uncertainty_or_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = Path(__file__).parents[2] / "examples" / "scenarios" / "two-markets-discount.yaml"
    code, _, err = run_cli(["sweep", str(plain), "--samples", "3", "--currency", "EUR"], capsys)
    assert code == 2 and "uncertainty" in err
    code, _, err = run_cli(["sweep", str(plain)], capsys)
    assert code == 2 and "--set" in err


def test_cli_samples_on_a_dask_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A LocalCluster (threads, in this process) reached by its address: the same long frame as
    the serial executor."""
    from distributed import LocalCluster

    serial, remote = tmp_path / "serial.csv", tmp_path / "dask.csv"
    code, _, err = run_cli(["sweep", str(EXAMPLE), "--samples", "6", "-o", str(serial)], capsys)
    assert code == 0, err
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None, scheduler_kwargs=DASK_FREE_PORT) as cluster:
        code, _, err = run_cli(["sweep", str(EXAMPLE), "--samples", "6", "--executor", "dask",
                                "--scheduler", cluster.scheduler_address, "-o", str(remote)],
                               capsys)
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_csv(serial), pd.read_csv(remote))


def test_cli_scheduler_needs_dask_samples(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["sweep", str(EXAMPLE), "--samples", "2", "--scheduler", "tcp://x:1"],
                           capsys)
    assert code == 2 and "--scheduler" in err
