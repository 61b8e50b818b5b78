"""Multi-period scenarios: banking, borrowing, discounting, linking and delinking.

Closed forms (linear MACs, MAC = s·a): with unlimited banking and a positive bank the present
value price is the same in every period (Hotelling), so p[t] = p[0]·(1+r)^(Y[t]−Y[0]) and the
abatement over all periods is the cumulative BAU minus the cumulative cap.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonlink.errors import DocumentError
from carbonlink.markets import simulate
from carbonlink.markets.multiperiod import period_scenario, simulate_periods
from carbonlink.model.io import load_scenario


def mdoc(markets: list[dict[str, Any]], periods: list[int], rate: float = 0.0,
         links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": "mp", "periods": periods, "discount_rate": rate, "markets": markets,
            "links": links or []}


def lin(mid: str, slope: float, bau: list[float], cap: list[float], **extra: Any) -> dict[str, Any]:
    return {"id": mid, "bau": bau, "cap": cap, "mac": {"linear": {"slope": slope}}, **extra}


def test_two_periods_unlimited_banking_hotelling() -> None:
    s, r = 2.0, 0.05
    bau, cap = [100.0, 100.0], [80.0, 50.0]
    res = simulate_periods(mdoc([lin("A", s, bau, cap)], [2030, 2031], r))
    assert res.status == "optimal"
    total = sum(bau) - sum(cap)  # 70
    g = 1.0 + r
    a1 = total / (1 + g)  # s·a2 = s·a1·g and a1 + a2 = total
    m = res.markets
    assert m.loc[(2030, "A"), "abatement"] == pytest.approx(a1, rel=1e-9)
    assert m.loc[(2031, "A"), "abatement"] == pytest.approx(total - a1, rel=1e-9)
    assert m.loc[(2031, "A"), "price"] == pytest.approx(m.loc[(2030, "A"), "price"] * g, rel=1e-9)
    assert m.loc[(2030, "A"), "price"] == pytest.approx(s * a1, rel=1e-9)
    # the bank carried from 2030 is the surplus of 2030
    assert m.loc[(2030, "A"), "banked"] == pytest.approx(cap[0] - (bau[0] - a1), rel=1e-9)
    assert m.loc[(2031, "A"), "banked"] == 0.0
    assert m["abatement"].sum() == pytest.approx(sum(bau) - sum(cap), rel=1e-9)


def test_hotelling_over_uneven_years_and_linked_markets() -> None:
    r = 0.04
    years = [2026, 2028, 2033]
    doc = mdoc([lin("A", 1.0, [100, 100, 100], [90, 70, 40]),
                lin("B", 3.0, [60, 60, 60], [55, 40, 30])], years, r,
               links=[{"between": ["A", "B"]}])
    res = simulate_periods(doc)
    p = res.markets["price"]
    for y in years:
        assert p.loc[(y, "A")] == pytest.approx(p.loc[(y, "B")], rel=1e-9)
    # one present-value price: p[t] = p0 (1+r)^(Y_t − Y_0), p0 from cumulative abatement
    total = (300 - 200) + (180 - 125)
    growth = [(1 + r) ** (y - years[0]) for y in years]
    p0 = total / sum(g * (1 / 1.0 + 1 / 3.0) for g in growth)
    for y, g in zip(years, growth, strict=True):
        assert p.loc[(y, "A")] == pytest.approx(p0 * g, rel=1e-9)


def test_banking_limit_binds() -> None:
    s, r, limit = 2.0, 0.0, 5.0
    res = simulate_periods(mdoc([lin("A", s, [100, 100], [80, 50], banking={"limit": limit})],
                                [2030, 2031], r))
    m = res.markets
    a1 = 100 - 80 + limit  # emissions 2030 = cap − bank
    a2 = 100 - 50 - limit
    assert m.loc[(2030, "A"), "banked"] == pytest.approx(limit, rel=1e-9)
    assert m.loc[(2030, "A"), "abatement"] == pytest.approx(a1, rel=1e-9)
    assert m.loc[(2031, "A"), "price"] == pytest.approx(s * a2, rel=1e-9)
    # the limit binds: the later price is above the Hotelling path
    assert m.loc[(2031, "A"), "price"] > m.loc[(2030, "A"), "price"] * (1 + r) + 1.0


def test_borrowing_limited() -> None:
    s, limit = 1.0, 4.0
    doc = mdoc([lin("A", s, [100, 100], [50, 90], banking={"limit": 0}, borrowing={"limit": limit})],
               [2030, 2031], 0.0)
    m = simulate_periods(doc).markets
    assert m.loc[(2030, "A"), "borrowed"] == pytest.approx(limit, rel=1e-9)
    assert m.loc[(2030, "A"), "abatement"] == pytest.approx(50 - limit, rel=1e-9)
    assert m.loc[(2031, "A"), "abatement"] == pytest.approx(10 + limit, rel=1e-9)
    assert m.loc[(2031, "A"), "borrowed"] == 0.0


def test_no_banking_matches_single_period_engine() -> None:
    doc = mdoc([lin("A", 2.0, [100, 110, 120], [80, 75, 70], banking={"limit": 0}),
                lin("B", 5.0, [50, 50, 40], [45, 30, 30], banking={"limit": 0}),
                {"id": "C", "bau": [30, 30, 30], "cap": [25, 20, 28], "banking": {"limit": 0},
                 "mac": {"steps": [[5, 1.0], [10, 4.0], [20, 12.0]]}}],
               [2030, 2035, 2040], 0.03,
               links=[{"from": "A", "to": "B", "quota": 6, "transfer_tax": 0.5},
                      {"from": "C", "to": "A", "end": 2035},
                      {"from": "B", "to": "C", "start": 2035, "entity_share": 0.1}])
    sc = load_scenario(doc)
    res = simulate_periods(sc)
    for t, year in enumerate(sc.periods or []):
        single = simulate(period_scenario(sc, t))
        for mid in ("A", "B", "C"):
            for col in ("price", "abatement", "emissions", "net_imports", "compliance_cost",
                        "autarky_price"):
                assert res.markets.loc[(year, mid), col] == pytest.approx(
                    single.markets.loc[mid, col], rel=1e-9, abs=1e-9), (year, mid, col)
        got = res.links[res.links["period"] == year].reset_index(drop=True)
        assert list(got["from"] + got["to"]) == list(single.links["from"] + single.links["to"])
        for a, b in zip(got["flow"], single.links["flow"], strict=True):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_delinking_stops_flows() -> None:
    doc = mdoc([lin("A", 1.0, [100, 100], [80, 80], banking={"limit": 0}),
                lin("B", 4.0, [100, 100], [80, 80], banking={"limit": 0})],
               [2030, 2031], links=[{"from": "A", "to": "B", "end": 2030}])
    res = simulate_periods(doc)
    assert list(res.links["period"]) == [2030]
    assert res.links["flow"].iloc[0] > 0
    m = res.markets
    assert m.loc[(2031, "A"), "price"] == pytest.approx(20.0)
    assert m.loc[(2031, "B"), "price"] == pytest.approx(80.0)


def test_infeasible_reported() -> None:
    doc = mdoc([{"id": "A", "bau": [10, 10], "cap": [0, 0], "mac": {"steps": [[2, 1.0]]}}], [1, 2])
    res = simulate_periods(doc)
    assert res.status == "infeasible"


@pytest.mark.parametrize(("doc", "where"), [
    ({"markets": [lin("A", 1, [1, 2], [1, 1])]}, "markets[0].bau"),
    ({"periods": [2030, 2031], "markets": [lin("A", 1, [1, 2, 3], [1, 1])]}, "markets[0].bau"),
    ({"periods": [2031, 2030], "markets": [lin("A", 1, [1, 2], [1, 1])]}, "periods"),
    ({"markets": [lin("A", 1, 1, 1, banking={"limit": 1})]}, "markets[0].banking"),
    ({"periods": [1, 2], "markets": [lin("A", 1, 1, 1), lin("B", 1, 1, 1)],
      "links": [{"from": "A", "to": "B", "start": 3}]}, "links[0].start"),
    ({"periods": [1, 2], "markets": [lin("A", 1, [1, -2], [1, 1])]}, "bau_by_period"),
])
def test_bad_documents_name_the_field(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(DocumentError) as err:
        load_scenario(doc)
    assert where in str(err.value)


def test_offsets_refused_in_multiperiod() -> None:
    doc = mdoc([lin("A", 1, [10, 10], [5, 5])], [1, 2])
    doc["offsets"] = [{"id": "O", "supply": {"linear": {"slope": 1}}, "accepted_by": {"A": {}}}]
    with pytest.raises(DocumentError, match="offsets"):
        simulate_periods(doc)


def test_single_period_documents_unchanged() -> None:
    doc = {"markets": [lin("A", 2.0, 100, 80)]}
    sc = load_scenario(doc)
    assert sc.periods is None and sc.markets[0].bau == 100 and sc.markets[0].bau_by_period is None
    assert simulate(sc).markets.loc["A", "price"] == pytest.approx(40.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slopes=st.lists(st.floats(0.5, 10), min_size=1, max_size=3),
    rate=st.floats(0.0, 0.1),
    data=st.data(),
)
def test_hotelling_property(slopes: list[float], rate: float, data: st.DataObject) -> None:
    """With unlimited banking: while a market's bank is positive its next price is the
    Hotelling price; banking never raises the present value of compliance costs; cumulative
    emissions stay within the cumulative cap."""
    nt = 3
    years = [2030, 2032, 2035]
    markets, markets_nb = [], []
    for k, s in enumerate(slopes):
        bau = [data.draw(st.floats(50, 100)) for _ in range(nt)]
        cap = [b * data.draw(st.floats(0.3, 0.95)) for b in bau]
        markets.append(lin(f"M{k}", s, bau, cap))
        markets_nb.append(lin(f"M{k}", s, bau, cap, banking={"limit": 0}))
    res = simulate_periods(mdoc(markets, years, rate))
    nb = simulate_periods(mdoc(markets_nb, years, rate))
    assert res.status == nb.status == "optimal"
    m = res.markets
    for k in range(len(slopes)):
        mid = f"M{k}"
        for t in range(nt - 1):
            if m.loc[(years[t], mid), "banked"] > 1e-6:
                growth = (1 + rate) ** (years[t + 1] - years[t])
                assert m.loc[(years[t + 1], mid), "price"] == pytest.approx(
                    m.loc[(years[t], mid), "price"] * growth, rel=1e-6)
        cum_e = m.xs(mid, level="market")["emissions"].cumsum()
        cum_c = m.xs(mid, level="market")["cap"].cumsum()
        assert all(cum_e <= cum_c + 1e-7 * cum_c.max())
    assert res.totals["compliance_cost_pv"] <= nb.totals["compliance_cost_pv"] * (1 + 1e-9) + 1e-9
    # prices are positive (every cap is below BAU), so every allowance is used by the end
    assert math.isclose(m["emissions"].sum(), m["cap"].sum(), rel_tol=1e-9)


def test_cli_simulate_periods_json(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from carbonlink.cli import main

    example = Path(__file__).parents[2] / "examples" / "scenarios" / "banking-three-periods.yaml"
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(example), "--format", "json"])
    assert exc.value.code in (0, None)
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "optimal" and doc["periods"] == [2030, 2035, 2040]
    rows = {(r["period"], r["market"]): r for r in doc["markets"]}
    # A banks in 2030 (below its limit of 15): Hotelling between 2030 and 2035
    assert 0 < rows[(2030, "A")]["banked"] < 15
    assert rows[(2035, "A")]["price"] == pytest.approx(rows[(2030, "A")]["price"] * 1.03 ** 5, rel=1e-9)
    # B's intensity cap: 0.5 × output
    assert [rows[(y, "B")]["cap"] for y in (2030, 2035, 2040)] == pytest.approx([55, 50, 45])
    # the link ends after 2035: no flows in 2040
    assert {lk["period"] for lk in doc["links"]} == {2030, 2035}
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(example)])
    assert exc.value.code in (0, None)
    assert "present value" in capsys.readouterr().out


def delink_doc(treatment: dict[str, Any]) -> dict[str, Any]:
    """A (MAC = a) sells to B (MAC = 2a) in 2030 only; B's 2031 cap is tight, so B wants to
    bank. What B may do with A's units after the link ends decides how much it buys."""
    return mdoc([lin("A", 1.0, [100, 100], [80, 80], banking={"limit": 0}),
                 lin("B", 2.0, [10, 100], [10, 20])],
                [2030, 2031], 0.0, links=[{"from": "A", "to": "B", "end": 2030, **treatment}])


@pytest.mark.parametrize(("treatment", "flow", "price_a", "price_b2", "foreign"), [
    # kept: A's units bank like B's own: one price 20 + x = 2·(70 − x) → x = 40, p = 60
    ({}, 40.0, 60.0, 60.0, 0.0),
    # converted at 0.5: p_A = 0.5·p_B2, p_A = 20 + F, p_B2 = 2·(70 − F/2) → F = 100/3
    ({"on_delink": "converted", "conversion_rate": 0.5}, 100 / 3, 160 / 3, 320 / 3, 100 / 3),
    # cancelled: B abates all its 2030 emissions at MAC 20 ≤ p_A and banks only its own 10
    # allowances: no flow, p_B2 = 2·(100 − 20 − 10) = 140
    ({"on_delink": "cancelled"}, 0.0, 20.0, 140.0, 0.0),
])
def test_delinking_treatment_of_banked_foreign_units(
        treatment: dict[str, Any], flow: float, price_a: float, price_b2: float,
        foreign: float) -> None:
    res = simulate_periods(delink_doc(treatment))
    m = res.markets
    assert res.links["flow"].iloc[0] == pytest.approx(flow, rel=1e-9, abs=1e-9)
    assert m.loc[(2030, "A"), "price"] == pytest.approx(price_a, rel=1e-9)
    assert m.loc[(2031, "B"), "price"] == pytest.approx(price_b2, rel=1e-9)
    assert m.loc[(2030, "B"), "foreign_banked"] == pytest.approx(foreign, rel=1e-9, abs=1e-9)
    # B's 2030 price: its bank is positive, so it is its 2031 price (r = 0)
    assert m.loc[(2030, "B"), "price"] == pytest.approx(price_b2, rel=1e-9)


def test_conversion_rate_only_with_converted() -> None:
    with pytest.raises(DocumentError, match="conversion_rate"):
        load_scenario(delink_doc({"on_delink": "converted"}))
    with pytest.raises(DocumentError, match="conversion_rate"):
        load_scenario(delink_doc({"conversion_rate": 0.5}))


def test_conversion_at_par_is_kept() -> None:
    kept = simulate_periods(delink_doc({})).markets
    par = simulate_periods(delink_doc({"on_delink": "converted", "conversion_rate": 1.0})).markets
    for col in ("price", "abatement", "banked"):
        for a, b in zip(kept[col], par[col], strict=True):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_unforeseen_delinking_strands_banked_units() -> None:
    """The plan: A's units stay valid in B after the link ends (kept), so B buys 40 in 2030 and
    banks them with its own 10 (price 60 in both years). The rule changes at the end of 2030:
    A's units are cancelled. B's 2030 emissions were 0, so all 40 foreign units were banked and
    are stranded; 2031 starts from B's own 10: p_B = 2·(100 − 20 − 10) = 140."""
    from carbonlink.markets.multiperiod import unexpected_delinking

    out = unexpected_delinking(delink_doc({}), 2030, on_delink="cancelled")
    assert out.planned.markets.loc[(2031, "B"), "price"] == pytest.approx(60.0, rel=1e-9)
    assert out.foreign_banked["B"] == pytest.approx(40.0, rel=1e-9)
    assert out.stranded["B"] == pytest.approx(40.0, rel=1e-9)
    assert out.stranded["A"] == 0.0
    assert out.after.markets.loc[(2031, "B"), "price"] == pytest.approx(140.0, rel=1e-9)
    assert out.after.markets.loc[(2031, "A"), "price"] == pytest.approx(20.0, rel=1e-9)
    # converted at 0.5: half the foreign units survive, p_B = 2·(70 − 20) = 100
    half = unexpected_delinking(delink_doc({}), 2030, on_delink="converted", conversion_rate=0.5)
    assert half.stranded["B"] == pytest.approx(20.0, rel=1e-9)
    assert half.after.markets.loc[(2031, "B"), "price"] == pytest.approx(100.0, rel=1e-9)
    # kept: nothing stranded, the plan goes on
    kept = unexpected_delinking(delink_doc({}), 2030, on_delink="kept")
    assert kept.stranded["B"] == 0.0
    assert kept.after.markets.loc[(2031, "B"), "price"] == pytest.approx(60.0, rel=1e-9)


def test_initial_bank_lowers_the_price() -> None:
    res = simulate_periods(mdoc([lin("A", 1.0, [100, 100], [80, 80], initial_bank=10)], [1, 2]))
    # 40 to abate over two periods less the 10 banked before: 15 each, price 15
    assert res.markets.loc[(1, "A"), "price"] == pytest.approx(15.0, rel=1e-9)
    assert res.markets.loc[(2, "A"), "price"] == pytest.approx(15.0, rel=1e-9)


def test_single_period_simulate_refuses_periods() -> None:
    with pytest.raises(DocumentError, match="periods"):
        simulate(mdoc([lin("A", 1, [10, 10], [5, 5])], [1, 2]))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sa=st.floats(0.5, 5), sb=st.floats(0.5, 5), bau_b1=st.floats(5, 50),
       cap_b2=st.floats(5, 60), rate=st.floats(0.05, 0.95), r=st.floats(0.0, 0.1))
def test_delinking_treatments_order_the_importers_price(
        sa: float, sb: float, bau_b1: float, cap_b2: float, rate: float, r: float) -> None:
    """The less A's units are worth in B after the link ends, the fewer B carries over and the
    higher B's later price: kept ≤ converted ≤ cancelled; a foreseen cancellation strands
    nothing (no one buys units to see them cancelled)."""
    def solve(treatment: dict[str, Any]) -> Any:
        return simulate_periods(mdoc([lin("A", sa, [100, 100], [80, 80], banking={"limit": 0}),
                                      lin("B", sb, [bau_b1, 100], [bau_b1 * 0.9, cap_b2])],
                                     [2030, 2031], r,
                                     links=[{"from": "A", "to": "B", "end": 2030, **treatment}])).markets
    kept = solve({})
    conv = solve({"on_delink": "converted", "conversion_rate": rate})
    canc = solve({"on_delink": "cancelled"})
    p = [m.loc[(2031, "B"), "price"] for m in (kept, conv, canc)]
    assert p[0] <= p[1] * (1 + 1e-9) + 1e-9
    assert p[1] <= p[2] * (1 + 1e-9) + 1e-9
    assert canc.loc[(2030, "B"), "foreign_banked"] == pytest.approx(0.0, abs=1e-7)
