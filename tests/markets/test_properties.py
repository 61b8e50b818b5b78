"""Property tests (hypothesis) of the equilibrium over random markets and links."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carbonlink import simulate

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def market(draw: st.DrawFn, mid: str, linear_only: bool = False) -> dict[str, Any]:
    bau = draw(st.floats(10, 1000))
    cap = bau * draw(st.floats(0.3, 1.1))  # some caps lax (cap > bau)
    if linear_only or draw(st.booleans()):
        mac: dict[str, Any] = {"linear": {"slope": draw(st.floats(0.05, 5))}}
    else:
        n = draw(st.integers(1, 12))
        qs = draw(st.lists(st.floats(0.5, 1), min_size=n, max_size=n))
        costs = draw(st.lists(st.floats(0, 200), min_size=n, max_size=n))
        total = sum(qs)
        mac = {"steps": [[q / total * bau, c] for q, c in zip(qs, costs, strict=True)]}
    return {"id": mid, "bau": bau, "cap": cap, "mac": mac}


def markets(draw: st.DrawFn, n: int, linear_only: bool = False) -> list[dict[str, Any]]:
    return [draw(market(f"M{i}", linear_only)) for i in range(n)]


@given(st.data())
@SETTINGS
def test_unrestricted_links_every_party_gains_and_prices_are_equal(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 4))
    ms = markets(data.draw, n)
    links = [{"between": [a["id"], b["id"]]} for a, b in itertools.combinations(ms, 2)]
    r = simulate({"markets": ms, "links": links})
    assert r.status == "optimal"
    scale = max(1.0, float(r.markets["autarky_compliance_cost"].abs().max()))
    assert (r.markets["gain"] >= -1e-7 * scale).all(), r.markets["gain"]
    prices = r.markets["price"].to_numpy()
    assert prices == pytest.approx(np.full(n, prices.mean()), rel=1e-6, abs=1e-6)


@given(st.data())
@SETTINGS
def test_tax_and_the_quota_equal_to_its_flow_give_the_same_prices(data: st.DataObject) -> None:
    ms = markets(data.draw, 2, linear_only=True)
    tax = data.draw(st.floats(0, 50))
    taxed = simulate({"markets": ms, "links": [{"from": "M1", "to": "M0", "transfer_tax": tax},
                                                {"from": "M0", "to": "M1", "transfer_tax": tax}]})
    flows = taxed.links["flow"].to_numpy()
    # the equivalence is about interior equilibria: no market abates all its emissions (the
    # price of a market that also sells every allowance it issued is then not unique)
    assume((taxed.markets["emissions"] > 1e-6 * taxed.markets["emissions"].max()).all())
    quota = simulate({"markets": ms, "links": [{"from": "M1", "to": "M0", "quota": float(flows[0])},
                                                {"from": "M0", "to": "M1", "quota": float(flows[1])}]})
    assert quota.markets["price"].to_numpy() == pytest.approx(taxed.markets["price"].to_numpy(),
                                                              rel=1e-6, abs=1e-6)
    assert quota.markets["emissions"].to_numpy() == pytest.approx(
        taxed.markets["emissions"].to_numpy(), rel=1e-6, abs=1e-6)


@st.composite
def link_terms(draw: st.DrawFn) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    if draw(st.booleans()):
        terms["quota"] = draw(st.floats(0, 200))
    if draw(st.booleans()):
        terms["transfer_tax"] = draw(st.floats(0, 20))
    if draw(st.booleans()):
        terms["discount"] = draw(st.floats(0, 0.5))
    if draw(st.booleans()):
        terms["exchange_rate"] = draw(st.floats(0.5, 1.5))
    if draw(st.booleans()):
        terms["entity_share"] = draw(st.floats(0.01, 0.5))
    return terms


@given(st.data())
@SETTINGS
def test_emissions_identity_whenever_every_price_is_positive(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 4))
    ms = markets(data.draw, n)
    for m in ms:
        if data.draw(st.booleans()):
            m["price_ceiling"] = {"price": data.draw(st.floats(20, 300))}
        if data.draw(st.booleans()):
            m["price_floor"] = {"price": data.draw(st.floats(0, 20))}
    links = []
    for a, b in itertools.permutations(range(n), 2):
        if data.draw(st.booleans()):
            links.append({"from": f"M{a}", "to": f"M{b}", **data.draw(link_terms())})
    discounts = {f"M{i}": data.draw(st.floats(0, 0.5)) for i in range(n) if data.draw(st.booleans())}
    offsets = []
    if discounts:
        offsets = [{"id": "CER", "supply": {"linear": {"slope": data.draw(st.floats(0.1, 5))}},
                    "accepted_by": {m: {"limit": data.draw(st.floats(0, 100)), "discount": d}
                                    for m, d in discounts.items()}}]
    r = simulate({"markets": ms, "links": links, "offsets": offsets})
    if r.status != "optimal" or not (r.markets["price"] > 1e-6).all():
        return
    caps = sum(m["cap"] for m in ms)
    credited_offsets = sum((1 - d) * r.markets.loc[m, "offsets_used"] for m, d in discounts.items())
    link_net = float((r.links["credited"] - r.links["flow"]).sum()) if len(r.links) else 0.0
    expected = (caps + r.markets["ceiling_released"].sum() - r.markets["floor_withheld"].sum()
                + credited_offsets + link_net)
    assert r.totals["emissions"] == pytest.approx(expected, rel=1e-7, abs=1e-6)
