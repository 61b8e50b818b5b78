"""Effort sharing and risk sharing against the closed form of two linear markets in a full link.

With MAC_i = c_i·a and required abatement R_i = f_i·bau_i − cap_i (f_i: the BAU shock), the
autarky prices are p_iᴬ = c_i·R_i and the link's total gain is G = (p1ᴬ − p2ᴬ)² / (2(c1 + c2)).
On the same draws the expected gain is mean_k G_k, the effort-sharing part is G at the mean
factors, and the risk-sharing part the difference; its limit is Var(p1ᴬ − p2ᴬ) / (2(c1 + c2)).
"""

from __future__ import annotations

import numpy as np
import pytest

from carbonlink.markets.risksharing import gain_split, mean_factor
from carbonlink.markets.uncertainty import draw_factors, run_samples
from carbonlink.model.io import load_scenario

C1, B1, K1 = 1.0, 100.0, 50.0  # autarky price 50
C2, B2, K2 = 2.0, 50.0, 30.0   # autarky price 40 (both caps 4 sd below BAU)
SD1, SD2 = 0.10, 0.10


def design(rho: float, linked: bool = True):  # type: ignore[no-untyped-def]
    return load_scenario({
        "name": "two", "markets": [
            {"id": "A", "bau": B1, "cap": K1, "mac": {"linear": {"slope": C1}}},
            {"id": "B", "bau": B2, "cap": K2, "mac": {"linear": {"slope": C2}}}],
        "links": [{"between": ["A", "B"]}] if linked else [],
        "uncertainty": {"seed": 7, "shocks": [
            {"market": "A", "variable": "bau", "distribution": "normal", "sd": SD1},
            {"market": "B", "variable": "bau", "distribution": "normal", "sd": SD2}],
            "correlation": [[1.0, rho], [rho, 1.0]]}})


def total_gain(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    d = C1 * (f1 * B1 - K1) - C2 * (f2 * B2 - K2)
    return d ** 2 / (2 * (C1 + C2))


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.8])
def test_split_matches_the_closed_form_on_the_same_draws(rho: float) -> None:
    n = 60
    designs = [design(rho)]
    frame = run_samples(designs, n)
    split = gain_split(designs, frame).set_index("market")
    f = draw_factors(designs[0].uncertainty, n)  # type: ignore[arg-type]
    m1, m2 = (mean_factor(sh) for sh in designs[0].uncertainty.shocks)  # type: ignore[union-attr]
    effort = float(total_gain(np.array([m1]), np.array([m2]))[0])
    expected = float(total_gain(f[:, 0], f[:, 1]).mean())
    assert split.loc["total", "effort_sharing"] == pytest.approx(effort, rel=1e-6)
    assert split.loc["total", "expected_gain"] == pytest.approx(expected, rel=1e-6)
    assert split.loc["total", "risk_sharing"] == pytest.approx(expected - effort, rel=1e-5, abs=1e-6)
    assert split.loc["total", "samples"] == n


def test_risk_sharing_falls_with_the_correlation() -> None:
    # the limit Var(Δp)/(2(c1 + c2)) with Var(Δp) = (c1·B1·sd1)² + (c2·B2·sd2)² − 2ρ·…
    def limit(rho: float) -> float:
        a, b = C1 * B1 * SD1, C2 * B2 * SD2
        return (a * a + b * b - 2 * rho * a * b) / (2 * (C1 + C2))

    n = 300
    risk = {}
    for rho in (-0.5, 0.8):
        designs = [design(rho)]
        s = gain_split(designs, run_samples(designs, n)).set_index("market")
        risk[rho] = float(s.loc["total", "risk_sharing"])
        # within the sampling error of a mean of n squared normals (generous: 5 standard errors)
        assert risk[rho] == pytest.approx(limit(rho), rel=5 * np.sqrt(2 / n) + 0.05)
    assert risk[-0.5] > risk[0.8] > 0.0


def test_mean_factor_of_each_distribution() -> None:
    from carbonlink.model.scenario import ShockSpec

    assert mean_factor(ShockSpec(market="A", variable="bau", sd=0.1, mean=0.05)) == \
        pytest.approx(1.05, rel=1e-12)
    cut = mean_factor(ShockSpec(market="A", variable="bau", sd=2.0))  # cut at 0: mean > 1
    assert cut > 1.0
    assert mean_factor(ShockSpec(market="A", variable="bau", distribution="lognormal",
                                 sigma=0.3)) == 1.0
    assert mean_factor(ShockSpec(market="A", variable="bau", distribution="uniform",
                                 low=0.8, high=1.4)) == pytest.approx(1.1)
    # an autarky design has no gain to split
    designs = [design(0.0, linked=False)]
    s = gain_split(designs, run_samples(designs, 5)).set_index("market")
    assert s.loc["total", "expected_gain"] == pytest.approx(0.0, abs=1e-9)
