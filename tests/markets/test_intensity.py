"""Intensity-based caps: allowances = intensity × output; linking one with an absolute cap.

Closed form for two linked linear markets (MAC_i = s_i·a, no restrictions): the common price is
p = (Σ bau − Σ cap) / (1/s₁ + 1/s₂). Market 1's output moves by a factor (1+ε); its BAU moves
with it. With an absolute cap C₁ the price moves by bau₁·ε/S; with an intensity cap ρ·Q₁
(= C₁ before the shock) by (bau₁ − ρQ₁)·ε/S: the intensity cap absorbs part of the shock.
"""

from __future__ import annotations

import pytest

from carbonlink.errors import DocumentError
from carbonlink.markets import simulate
from carbonlink.markets.shocks import Shock, apply_shocks
from carbonlink.model.io import load_scenario

S1, S2 = 2.0, 3.0
BAU1, BAU2, CAP2 = 100.0, 80.0, 60.0
RHO, Q1 = 0.5, 140.0  # intensity cap: 70 allowances before the shock


def two_markets(intensity: bool) -> dict[str, object]:
    cap1: object = {"intensity": RHO, "output": Q1} if intensity else RHO * Q1
    return {"name": "intensity vs absolute", "markets": [
        {"id": "CN", "bau": BAU1, "cap": cap1, "mac": {"linear": {"slope": S1}}},
        {"id": "EU", "bau": BAU2, "cap": CAP2, "mac": {"linear": {"slope": S2}}},
    ], "links": [{"between": ["CN", "EU"]}]}


def test_intensity_cap_allowances() -> None:
    sc = load_scenario(two_markets(True))
    m = sc.market("CN")
    assert m.cap == pytest.approx(RHO * Q1) and m.cap_intensity is not None
    # without a shock it is the absolute cap of the same size
    a = simulate(sc).markets.loc["CN", "price"]
    b = simulate(two_markets(False)).markets.loc["CN", "price"]
    assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("eps", [-0.2, -0.05, 0.1, 0.3])
def test_output_shock_closed_form(eps: float) -> None:
    inv = 1 / S1 + 1 / S2
    for intensity in (True, False):
        sc = apply_shocks(load_scenario(two_markets(intensity)), [Shock("CN", "output", 1 + eps)])
        cap1 = RHO * Q1 * (1 + eps) if intensity else RHO * Q1
        expected = (BAU1 * (1 + eps) - cap1 + BAU2 - CAP2) / inv
        res = simulate(sc).markets
        assert res.loc["CN", "price"] == pytest.approx(expected, rel=1e-9)
        assert res.loc["EU", "price"] == pytest.approx(expected, rel=1e-9)
    # the price responds less under the intensity cap: slope (bau − ρQ)/S against bau/S
    p_int = simulate(apply_shocks(load_scenario(two_markets(True)),
                                  [Shock("CN", "output", 1 + eps)])).markets.loc["EU", "price"]
    p_abs = simulate(apply_shocks(load_scenario(two_markets(False)),
                                  [Shock("CN", "output", 1 + eps)])).markets.loc["EU", "price"]
    p0 = (BAU1 - RHO * Q1 + BAU2 - CAP2) / inv
    assert (p_int - p0) == pytest.approx((BAU1 - RHO * Q1) * eps / inv, rel=1e-9)
    assert (p_abs - p0) == pytest.approx(BAU1 * eps / inv, rel=1e-9)
    assert abs(p_int - p0) < abs(p_abs - p0)


def test_bau_shock_leaves_intensity_cap() -> None:
    sc = apply_shocks(load_scenario(two_markets(True)), [Shock("CN", "bau", 1.1)])
    assert sc.market("CN").cap == pytest.approx(RHO * Q1)
    assert sc.market("CN").bau == pytest.approx(BAU1 * 1.1)


def test_intensity_per_period() -> None:
    sc = load_scenario({"periods": [2030, 2035], "markets": [
        {"id": "CN", "bau": [100, 110], "cap": {"intensity": 0.5, "output": [150, 160]},
         "mac": {"linear": {"slope": 1}}}]})
    assert sc.market("CN").cap_by_period == pytest.approx([75, 80])
    shocked = apply_shocks(sc, [Shock("CN", "output", 1.1, period=2035)])
    assert shocked.market("CN").cap_by_period == pytest.approx([75, 88])
    assert shocked.market("CN").bau_by_period == pytest.approx([100, 121])


@pytest.mark.parametrize(("cap", "where"), [
    ({"intensity": -1, "output": 5}, "intensity"),
    ({"intensity": 1, "output": -5}, "output"),
    ({"intensity": 1, "output": [1, 2]}, "periods"),
])
def test_bad_intensity_cap(cap: object, where: str) -> None:
    with pytest.raises(DocumentError) as err:
        load_scenario({"markets": [{"id": "CN", "bau": 1, "cap": cap, "mac": {"linear": {"slope": 1}}}]})
    assert where in str(err.value)
