"""The compared designs, their representative levels, and the sensitivity sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonlink.assess.pipeline import assess
from tests.assess.conftest import write_agreement


def test_two_way_agreement_gets_every_design(gap_agreement: Path) -> None:
    a = assess(gap_agreement)
    ids = [d.id for d in a.designs]
    assert ids == ["autarky", "agreement", "full", "one-way:CH_ETS>EU_ETS",
                   "one-way:EU_ETS>CH_ETS", "quota", "entity_share", "border_tax",
                   "exchange_rate", "discount"]
    assert all(r.status == "optimal" for r in a.results.values())
    full = a.results["full"]
    flow = float(full.links["flow"].max())
    assert flow > 0
    levels = {d.id: d.level for d in a.designs}
    assert levels["quota"]["quota"] == pytest.approx(0.5 * flow)
    gap = abs(full.markets["autarky_price"].diff().iloc[-1])
    assert levels["border_tax"]["transfer_tax"] == pytest.approx(0.5 * gap)
    assert levels["discount"]["discount"] == 0.2
    # a binding quota at half the flow and a tax at half the gap give the same prices
    # (tariff–quota equivalence with linear MACs)
    q, t = a.results["quota"].markets, a.results["border_tax"].markets
    assert q["price"].to_numpy() == pytest.approx(t["price"].to_numpy(), rel=1e-5)
    # autarky design = the autarky columns of any result
    aut = a.results["autarky"].markets
    assert aut["price"].to_numpy() == pytest.approx(full.markets["autarky_price"].to_numpy())
    # full link: one price, gains positive
    assert full.markets["price"].nunique() == 1 or full.markets["price"].std() < 1e-6
    assert (full.markets["gain"] >= -1e-9).all() and full.totals["gain"] > 0


def test_one_way_agreement_has_no_one_way_variants(tmp_path: Path) -> None:
    doc = write_agreement(tmp_path / "one.yaml",
                          links=[{"from": "EU_ETS", "to": "CH_ETS", "discount": 0.1}],
                          assessment={"mac_scale": {"CH_ETS": 1.5}})
    a = assess(doc)
    assert not any(d.id.startswith("one-way") for d in a.designs)
    assert any("one-way" in n for n in a.notes)
    restriction = a.sweeps[0]
    assert restriction.spec.parameter == "discount"
    assert restriction.spec.values[0] == 0 and restriction.spec.values[-1] == 0.5


def test_sensitivity_sweeps_restriction_and_mac(gap_agreement: Path) -> None:
    a = assess(gap_agreement)
    ids = [s.spec.id for s in a.sweeps]
    assert ids == ["restriction", "abatement_share", "mac_scale"]
    quota = a.sweeps[0]
    assert quota.spec.parameter == "quota" and quota.spec.values[-1] is None
    flows = [float(r.links["flow"].sum()) for r in quota.results]
    assert flows[0] == pytest.approx(0, abs=1e-9)
    # more quota, more trade, up to the unrestricted flow (to float noise: the unrestricted link
    # is solved in closed form, a quota by the QP; they agree to ~1e-15)
    assert all(b >= a - 1e-9 * max(1.0, abs(a)) for a, b in zip(flows, flows[1:], strict=False))
    assert flows[-1] == pytest.approx(float(a.results["full"].links["flow"].sum()), rel=1e-6)
    frame = a.sweeps[0].frame
    assert list(frame.columns) == ["scenario", "sample", "market", "variable", "unit", "value"]
    prices = frame[(frame.variable == "price") & (frame.market == "CH_ETS")]
    assert len(prices) == len(quota.results)
    assert set(prices.unit) == {"EUR/tCO2e"}
    mac = a.sweeps[2]
    ch = [float(r.markets.loc["CH_ETS", "autarky_price"]) for r in mac.results]
    assert ch == sorted(ch) and ch[-1] == pytest.approx(4 * ch[0])


def test_article_6_agreement_is_not_simulated() -> None:
    from tests.assess.conftest import EXAMPLES

    a = assess(EXAMPLES / "sweden-ghana.yaml")
    assert not a.simulated and not a.designs
    assert a.no_simulation_reason and "No market simulation applies" in a.no_simulation_reason


def test_exchange_rates_multiply_to_one_round_every_cycle() -> None:
    """Three linked markets: the exchange-rate design gives each market a rating (its rank by
    autarky price) and each link the ratio of two ratings, so no cycle of links credits more
    units than it moves (pairwise 0.8 / 1.25 would: CA -> ON -> QC -> CA at 1.25)."""
    import itertools

    from tests.assess.conftest import EXAMPLES

    a = assess(EXAMPLES / "california-quebec-ontario-2017.yaml", with_sensitivity=False,
               as_of="2026-06-01")
    design = next(d for d in a.designs if d.id == "exchange_rate")
    rate = {(lk.from_, lk.to): lk.exchange_rate for lk in design.scenario.links}
    ids = sorted({m for pair in rate for m in pair})
    assert len(ids) == 3
    for x, y, z in itertools.permutations(ids):
        assert rate[x, y] * rate[y, z] * rate[z, x] == pytest.approx(1.0, rel=1e-12)
    prices = {m: float(a.results["autarky"].markets.loc[m, "autarky_price"])
              if "autarky" in a.results else 0.0 for m in ids}
    low, high = min(ids, key=prices.__getitem__), max(ids, key=prices.__getitem__)
    assert rate[low, high] < 1 < rate[high, low]
    assert not [w for r in a.results.values() for w in getattr(r, "warnings", [])
                if "integrity" in str(w)]
