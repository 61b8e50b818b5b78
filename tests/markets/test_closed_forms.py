"""Closed forms for linear MACs (economics.md §2, derived there and re-derived in each test).

Notation: MAC_i(a) = c_i·a, required abatement R_i = bau_i − cap_i, size w_i = 1/c_i,
autarky price p_i^A = c_i·R_i.
"""

from __future__ import annotations

import pytest

from carbonlink import simulate
from tests.markets.helpers import doc, linear_market

REL = 1e-7

C1, B1, K1 = 1.0, 100.0, 40.0  # p1A = 60
C2, B2, K2 = 2.0, 50.0, 35.0   # p2A = 30
R1, R2 = B1 - K1, B2 - K2
P1A, P2A = C1 * R1, C2 * R2
W1, W2 = 1 / C1, 1 / C2


def two(links: list[dict[str, object]], m1: dict[str, object] | None = None,
        m2: dict[str, object] | None = None) -> dict[str, object]:
    return doc(linear_market("J1", C1, B1, K1, **(m1 or {})),
               linear_market("J2", C2, B2, K2, **(m2 or {})), links=links)


def approx(x: float) -> object:
    return pytest.approx(x, rel=REL, abs=1e-7)


def test_autarky_prices_and_costs() -> None:
    r = simulate(two([]))
    m = r.markets
    assert m.loc["J1", "price"] == approx(P1A)
    assert m.loc["J2", "price"] == approx(P2A)
    assert m.loc["J1", "compliance_cost"] == approx(C1 * R1**2 / 2)
    assert m.loc["J2", "gain"] == approx(0.0)
    assert r.totals["emissions"] == approx(K1 + K2)


def test_full_link_price_is_inverse_slope_weighted_mean_of_autarky_prices() -> None:
    r = simulate(two([{"between": ["J1", "J2"]}]))
    pbar = (W1 * P1A + W2 * P2A) / (W1 + W2)
    m = r.markets
    assert m.loc["J1", "price"] == approx(pbar)
    assert m.loc["J2", "price"] == approx(pbar)
    # abatement a_i = w_i·p̄; net imports q_i = R_i − a_i
    assert m.loc["J1", "abatement"] == approx(W1 * pbar)
    assert m.loc["J1", "net_imports"] == approx(R1 - W1 * pbar)
    # gains G_i = w_i (p_i^A − p̄)² / 2; the steeper (smaller) market gains more: G1/G2 = w2/w1
    assert m.loc["J1", "gain"] == approx(W1 * (P1A - pbar) ** 2 / 2)
    assert m.loc["J2", "gain"] == approx(W2 * (P2A - pbar) ** 2 / 2)
    assert r.totals["gain"] == approx((P1A - P2A) ** 2 / (2 * (C1 + C2)))
    assert r.totals["emissions_change"] == approx(0.0)


def test_import_quota_binding() -> None:
    q = 4.0  # full-link flow is 10
    r = simulate(two([{"from": "J2", "to": "J1", "quota": q}]))
    p1, p2 = C1 * (R1 - q), C2 * (R2 + q)
    m = r.markets
    assert m.loc["J1", "price"] == approx(p1)
    assert m.loc["J2", "price"] == approx(p2)
    link = r.links.iloc[0]
    assert link["flow"] == approx(q)
    assert bool(link["binding"])
    assert link["quota_rent"] == approx((p1 - p2) * q)
    # rent with the importer: J1 pays J2's price
    assert m.loc["J1", "compliance_cost"] == approx(C1 * (R1 - q) ** 2 / 2 + p2 * q)


def test_quota_rent_holder_moves_rent_not_totals() -> None:
    imp = simulate(two([{"from": "J2", "to": "J1", "quota": 4}]))
    exp = simulate(two([{"from": "J2", "to": "J1", "quota": 4, "rent_holder": "exporter"}]))
    rent = float(imp.links.iloc[0]["quota_rent"])
    assert exp.markets.loc["J1", "gain"] == approx(imp.markets.loc["J1", "gain"] - rent)
    assert exp.markets.loc["J2", "gain"] == approx(imp.markets.loc["J2", "gain"] + rent)
    assert exp.totals["gain"] == approx(imp.totals["gain"])
    # a seller holding the rent prefers the binding quota Q* = (p1A − p2A)/(2c1 + c2) (economics.md §2.2)
    qstar = (P1A - P2A) / (2 * C1 + C2)
    gains = [simulate(two([{"from": "J2", "to": "J1", "quota": qq, "rent_holder": "exporter"}]))
             .markets.loc["J2", "gain"] for qq in (qstar * 0.9, qstar, qstar * 1.1)]
    assert gains[1] > gains[0] and gains[1] > gains[2]


def test_entity_share_blends_mac_and_fixes_importer_emissions() -> None:
    lam = 0.1
    r = simulate(two([{"from": "J2", "to": "J1", "entity_share": lam}]))
    e1 = K1 / (1 - lam)
    a1 = B1 - e1
    a2 = R2 + lam * e1
    p2 = C2 * a2
    mac1 = C1 * a1
    p1 = (mac1 - lam * p2) / (1 - lam)  # mac = (1 − λ)·p1 + λ·p2
    m = r.markets
    assert m.loc["J1", "emissions"] == approx(e1)
    assert m.loc["J1", "mac"] == approx(mac1)
    assert m.loc["J1", "price"] == approx(p1)
    assert m.loc["J1", "price"] > m.loc["J1", "mac"]
    assert m.loc["J2", "price"] == approx(p2)
    assert bool(r.links.iloc[0]["binding"])


def test_transfer_tax_gap_and_flow() -> None:
    tau = 6.0
    r = simulate(two([{"between": ["J1", "J2"], "transfer_tax": tau}]))
    q = (P1A - P2A - tau) / (C1 + C2)
    m = r.markets
    assert m.loc["J1", "price"] - m.loc["J2", "price"] == approx(tau)
    flows = r.links.set_index(["from", "to"])["flow"]
    assert flows[("J2", "J1")] == approx(q)
    assert flows[("J1", "J2")] == approx(0.0)
    assert m.loc["J1", "tax_revenue"] == approx(tau * q)
    # no trade inside the band |p1A − p2A| ≤ τ
    wide = simulate(two([{"between": ["J1", "J2"], "transfer_tax": P1A - P2A + 1}]))
    assert wide.links["flow"].abs().max() == approx(0.0)


def test_discount_on_imports() -> None:
    delta = 0.2
    rr = 1 - delta
    r = simulate(two([{"from": "J2", "to": "J1", "discount": delta}]))
    q = (rr * C1 * R1 - C2 * R2) / (C2 + rr**2 * C1)
    m = r.markets
    assert r.links.iloc[0]["flow"] == approx(q)
    assert r.links.iloc[0]["credited"] == approx(rr * q)
    assert m.loc["J2", "price"] == approx(rr * m.loc["J1", "price"])
    assert r.totals["emissions_change"] == approx(-(1 - rr) * q)  # an environmental gain
    # trade stops when r ≤ p2A/p1A
    none = simulate(two([{"from": "J2", "to": "J1", "discount": 1 - P2A / P1A + 0.01}]))
    assert none.links.iloc[0]["flow"] == approx(0.0)


def test_seed_discount_example_125_units() -> None:
    """Seed S-7.2: with a 20% discount, 100 units from B count as 80, so 1.25 B-units are
    needed per domestic unit."""
    r = simulate(two([{"from": "J2", "to": "J1", "discount": 0.2}]))
    link = r.links.iloc[0]
    assert link["flow"] / link["credited"] == approx(1.25)


def test_exchange_rate_inflates_emissions_when_above_one() -> None:
    rho = 1.5
    r = simulate(two([{"from": "J2", "to": "J1", "exchange_rate": rho}]))
    q = (rho * C1 * R1 - C2 * R2) / (C2 + rho**2 * C1)
    assert r.markets.loc["J2", "price"] == approx(rho * r.markets.loc["J1", "price"])
    assert r.links.iloc[0]["flow"] == approx(q)
    assert r.totals["emissions_change"] == approx((rho - 1) * q)
    assert r.warnings == []  # one way: no cycle


def test_cycle_that_manufactures_allowances_is_named() -> None:
    r = simulate(two([{"from": "J2", "to": "J1", "exchange_rate": 1.5}, {"from": "J1", "to": "J2"}]))
    assert len(r.warnings) == 1
    assert "J1 -> J2 -> J1" in r.warnings[0] or "J2 -> J1 -> J2" in r.warnings[0]
    fair = simulate(two([{"from": "J2", "to": "J1", "exchange_rate": 1.5},
                         {"from": "J1", "to": "J2", "exchange_rate": 1 / 1.5}]))
    assert fair.warnings == []


def test_unilateral_link_only_works_towards_the_high_price_market() -> None:
    toward = simulate(two([{"from": "J2", "to": "J1"}]))  # J1 (high price) may buy J2 units
    full = simulate(two([{"between": ["J1", "J2"]}]))
    assert toward.markets["price"].to_numpy() == pytest.approx(full.markets["price"].to_numpy(), rel=REL)
    away = simulate(two([{"from": "J1", "to": "J2"}]))  # J2 may buy J1 units: useless
    assert away.markets.loc["J1", "price"] == approx(P1A)
    assert away.markets.loc["J2", "price"] == approx(P2A)
    assert away.links.iloc[0]["flow"] == approx(0.0)


def test_ceiling_propagates_across_a_link() -> None:
    ceiling = 40.0  # below the linked price 50
    r = simulate(two([{"between": ["J1", "J2"]}], m2={"price_ceiling": {"price": ceiling}}))
    m = r.markets
    assert m.loc["J1", "price"] == approx(ceiling)
    assert m.loc["J2", "price"] == approx(ceiling)
    released = R1 + R2 - (W1 + W2) * ceiling
    assert m.loc["J2", "ceiling_released"] == approx(released)
    assert r.totals["emissions"] == approx(K1 + K2 + released)
    # the ceiling units cost their buyers the ceiling price
    limited = simulate(two([{"between": ["J1", "J2"]}],
                           m2={"price_ceiling": {"price": ceiling, "max_release": 3}}))
    assert limited.markets.loc["J2", "ceiling_released"] == approx(3.0)
    assert limited.markets.loc["J1", "price"] == approx((R1 + R2 - 3) / (W1 + W2))


def test_floor_propagates_across_a_link() -> None:
    floor = 55.0  # above the linked price 50
    r = simulate(two([{"between": ["J1", "J2"]}], m2={"price_floor": {"price": floor}}))
    m = r.markets
    assert m.loc["J1", "price"] == approx(floor)
    withheld = (W1 + W2) * floor - (R1 + R2)
    assert m.loc["J2", "floor_withheld"] == approx(withheld)
    assert r.totals["emissions"] == approx(K1 + K2 - withheld)


def test_lax_cap_hot_air() -> None:
    # J2's cap exceeds its BAU: autarky price 0; linking sells the surplus and raises emissions
    r = simulate(doc(linear_market("J1", C1, B1, K1), linear_market("J2", C2, 50.0, 60.0),
                     links=[{"between": ["J1", "J2"]}]))
    pbar = (R1 + (50.0 - 60.0)) / (W1 + W2)
    m = r.markets
    assert m.loc["J2", "autarky_price"] == approx(0.0)
    assert m.loc["J1", "price"] == approx(pbar)
    assert r.totals["autarky_emissions"] == approx(K1 + 50.0)
    assert r.totals["emissions"] == approx(K1 + 60.0)
    # a discount can more than offset the hot air
    d = simulate(doc(linear_market("J1", C1, B1, K1), linear_market("J2", C2, 50.0, 60.0),
                     links=[{"from": "J2", "to": "J1", "discount": 0.6}]))
    assert d.totals["emissions"] < d.totals["autarky_emissions"] + 10.0


K_OFF = 0.5


def offsets_doc(l1: float, l2: float) -> dict[str, object]:
    return doc(linear_market("J1", C1, B1, K1), linear_market("J2", C2, B2, K2),
               offsets=[{"id": "CER", "supply": {"linear": {"slope": K_OFF}},
                         "accepted_by": {"J1": {"limit": l1}, "J2": {"limit": l2}}}])


def test_indirect_link_all_limits_binding_keeps_prices_independent() -> None:
    r = simulate(offsets_doc(5, 2))
    m = r.markets
    assert m.loc["J1", "price"] == approx(C1 * (R1 - 5))
    assert m.loc["J2", "price"] == approx(C2 * (R2 - 2))
    assert r.offsets.loc["CER", "price"] == approx(K_OFF * 7)
    # a change of J2's limit moves only the offset price (and J2's own price)
    r2 = simulate(offsets_doc(5, 3))
    assert r2.markets.loc["J1", "price"] == approx(C1 * (R1 - 5))


def test_indirect_link_slack_limit_ties_price_to_offset_price() -> None:
    big = 1e3
    r = simulate(offsets_doc(big, 2))  # J1's limit slack, J2's binding
    o1 = (C1 * R1 - K_OFF * 2) / (C1 + K_OFF)
    assert r.markets.loc["J1", "offsets_used"] == approx(o1)
    assert r.markets.loc["J1", "price"] == approx(r.offsets.loc["CER", "price"])
    # now J2's limit moves J1's price (spill-over through the offset market)
    r3 = simulate(offsets_doc(big, 3))
    assert r3.markets.loc["J1", "price"] != approx(r.markets.loc["J1", "price"])
    # no limit binds: all prices converge (a de facto link)
    free = simulate(offsets_doc(big, big))
    assert free.markets.loc["J1", "price"] == approx(free.markets.loc["J2", "price"])


def test_offset_limit_share_and_discount() -> None:
    s, d = 0.05, 0.5
    r = simulate(doc(linear_market("J1", C1, B1, K1),
                     offsets=[{"id": "CER", "supply": {"linear": {"slope": 0.01}},
                               "accepted_by": {"J1": {"limit_share": s, "discount": d}}}]))
    m = r.markets
    # binding: o = s·e and e = cap + (1 − d)·o  →  e = cap / (1 − s(1 − d))
    e = K1 / (1 - s * (1 - d))
    assert m.loc["J1", "emissions"] == approx(e)
    assert m.loc["J1", "offsets_used"] == approx(s * e)


def test_three_markets_full_link_and_a_party_that_loses_when_a_third_joins() -> None:
    # p1A = 10, p2A = 50, p3A = 10, all slopes 1: J1 gains 200 with J2 alone, less once J3 joins
    m1, m2, m3 = (linear_market("J1", 1, 30, 20), linear_market("J2", 1, 80, 30),
                  linear_market("J3", 1, 30, 20))
    pair = simulate(doc(m1, m2, m3, links=[{"between": ["J1", "J2"]}]))
    trio = simulate(doc(m1, m2, m3, links=[{"between": ["J1", "J2"]}, {"between": ["J1", "J3"]},
                                           {"between": ["J2", "J3"]}]))
    assert pair.markets.loc["J1", "price"] == approx(30.0)
    assert pair.markets.loc["J1", "gain"] == approx((30 - 10) ** 2 / 2)
    pbar = 70 / 3
    assert trio.markets["price"].to_numpy() == pytest.approx([pbar] * 3, rel=REL)
    assert trio.markets.loc["J1", "gain"] == approx((pbar - 10) ** 2 / 2)
    assert trio.markets.loc["J1", "gain"] < pair.markets.loc["J1", "gain"]  # J1 loses from J3 joining
    # … while the group as a whole gains (superadditivity)
    assert trio.totals["gain"] > pair.totals["gain"]


def test_three_markets_closed_form_with_mixed_slopes() -> None:
    ms = [linear_market("A", 1, 100, 40), linear_market("B", 2, 50, 35), linear_market("C", 4, 40, 30)]
    r = simulate(doc(*ms, links=[{"between": ["A", "B"]}, {"between": ["B", "C"]}]))
    req = [60, 15, 10]
    w = [1, 0.5, 0.25]
    pbar = sum(req) / sum(w)
    assert r.markets["price"].to_numpy() == pytest.approx([pbar] * 3, rel=REL)
    assert r.markets["net_imports"].to_numpy() == pytest.approx(
        [ri - wi * pbar for ri, wi in zip(req, w, strict=True)], rel=REL, abs=1e-7)


@pytest.mark.parametrize("engine", ["fast", "plain"])
def test_no_abatement_options_at_all(engine: str) -> None:
    """Options of zero quantity leave HiGHS an empty program (no columns): a market whose cap
    covers its emissions is in equilibrium at price 0, one whose cap does not is infeasible."""
    zero = {"steps": [[0, 0], [0, 5]]}
    ok = simulate({"markets": [{"id": "A", "bau": 0, "cap": 0, "mac": zero},
                               {"id": "B", "bau": 5, "cap": 8, "mac": zero}]}, engine=engine)
    assert ok.status == "optimal"
    assert list(ok.markets["price"]) == [0.0, 0.0]
    assert list(ok.markets["emissions"]) == [0.0, 5.0]
    short = simulate({"markets": [{"id": "A", "bau": 10, "cap": 0, "mac": zero}]}, engine=engine)
    assert short.status == "infeasible"


def test_a_range_at_float_resolution_settles() -> None:
    """A linear curve whose range is subnormal cannot be refined to a finer grid: the fast
    engine stops refining instead of reporting that the solve did not settle."""
    tiny = 5e-324
    r = simulate({"markets": [{"id": "A", "bau": tiny, "cap": 0, "mac": {"linear": {"slope": tiny}}}]})
    assert r.status == "optimal"
    assert r.markets.loc["A", "emissions"] == pytest.approx(0.0, abs=1e-300)


def test_a_curve_flat_at_the_programs_price_resolution_settles() -> None:
    """A MAC of 5e-324 per tonne beside a ceiling of 4e306: after scaling the curve costs
    nothing, every abatement on it is optimal, and refining must not chase the vertices."""
    r = simulate({"markets": [
        {"id": "A", "bau": 7.2e16, "cap": 1.85e16, "mac": {"linear": {"slope": 5e-324}},
         "price_ceiling": {"price": 4.48e306}, "price_floor": {"price": 1e-6, "max_withheld": 6.4e16}},
        {"id": "B", "bau": 0, "cap": 6.4e16, "mac": {"linear": {"slope": 5e-324}}}]})
    assert r.status == "optimal"
