"""Expected gains from linking split into effort sharing and risk sharing.

Doda, Quemin & Taschini's decomposition: the expected gain of a link under shocks is the gain
the link brings when every shock sits at its mean (**effort sharing**: the deterministic
model's gain) plus the rest (**risk sharing**: what the link adds because the markets' shocks
differ and a common price absorbs them). For two linear markets in a full link the total gain
is ``(p1ᴬ − p2ᴬ)² / (2(c1 + c2))``, so the risk-sharing part is
``Var(p1ᴬ − p2ᴬ) / (2(c1 + c2))``: it grows with the shocks' variances and falls with their
correlation (tests/markets/test_risksharing.py).

:func:`gain_split` reads the ``gain`` rows of a Monte Carlo frame
(:func:`carbonlink.markets.uncertainty.run_samples`) and solves each design once with its shocks
at their means. (Note for :mod:`carbonlink.markets.uncertainty`: its ``summarise`` gives the
expected gain and its spread but not this split; it can call :func:`gain_split`.)
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy.stats import norm

from carbonlink.markets.shocks import Shock, apply_shocks
from carbonlink.model.scenario import Scenario, ShockSpec

SPLIT_COLUMNS = ["design", "market", "expected_gain", "effort_sharing", "risk_sharing", "samples"]


def mean_factor(sh: ShockSpec) -> float:
    """The expected factor of one shock (the normal one is cut at 0, so its mean is that of a
    normal truncated from below: μΦ(μ/σ) + σφ(μ/σ) with μ = 1 + mean, σ = sd)."""
    if sh.distribution == "lognormal":
        return 1.0
    if sh.distribution == "uniform":
        assert sh.low is not None and sh.high is not None
        return 0.5 * (sh.low + sh.high)
    assert sh.sd is not None
    mu, sd = 1.0 + sh.mean, sh.sd
    if sd == 0.0:
        return max(mu, 0.0)
    return float(mu * norm.cdf(mu / sd) + sd * norm.pdf(mu / sd))


def at_means(design: Scenario) -> Scenario:
    """``design`` with every shock at its expected factor."""
    unc = design.uncertainty
    if unc is None:
        return design
    return apply_shocks(design, [Shock(sh.market, sh.variable, mean_factor(sh), sh.period)
                                 for sh in unc.shocks])


def deterministic_gains(design: Scenario) -> pd.Series:
    """Per market, the gain of ``design`` with its shocks at their means (present value over
    the periods in a multi-period scenario)."""
    sc = at_means(design)
    if sc.periods is not None:
        from carbonlink.markets.multiperiod import simulate_periods

        res = simulate_periods(sc)
        return res.present_value["gain"].astype(float)
    from carbonlink.markets import simulate

    return simulate(sc).markets["gain"].astype(float)


def gain_split(designs: Sequence[Scenario], frame: pd.DataFrame) -> pd.DataFrame:
    """Per design and market: the expected gain (mean of the samples' ``gain``), its effort
    sharing part (the gain at the shocks' means) and its risk sharing part (the difference)."""
    rows = []
    gains = frame[frame["variable"] == "gain"]
    for d, design in enumerate(designs):
        det = deterministic_gains(design)
        sel = gains[gains["design"] == d].groupby("market")["value"]
        means, counts = sel.mean().to_dict(), sel.count().to_dict()
        for market, effort in det.items():
            if str(market) not in means:
                continue
            expected = float(means[str(market)])
            rows.append({"design": d, "market": str(market), "expected_gain": expected,
                         "effort_sharing": float(effort),
                         "risk_sharing": expected - float(effort),
                         "samples": int(counts[str(market)])})
    out = pd.DataFrame(rows, columns=SPLIT_COLUMNS)
    if len(out):
        total = out.groupby("design", as_index=False)[
            ["expected_gain", "effort_sharing", "risk_sharing"]].sum()
        total["market"] = "total"
        total["samples"] = out.groupby("design")["samples"].max().to_numpy()
        out = pd.concat([out, total[SPLIT_COLUMNS]], ignore_index=True)
    return out
