"""Calibration: the autarky price reproduces the observed price; overrides are labelled."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from carbonlink.assess.calibrate import Overrides, calibrate, parse_assume
from carbonlink.errors import DocumentError
from carbonlink.markets import simulate


def fig(value: float | None, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(value=value, unit=kw.get("unit", "tCO2e/yr"), year=2024,
                           source="test", note=kw.get("note"), verified=True,
                           currency=kw.get("currency"))


def ets(eid: str, cap: float | None, price: float | None, cur: str = "EUR",
        linked: list[str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=eid, name=eid, cap=fig(cap), price=fig(price, currency=cur),
                           covered_emissions=fig(None), price_floor=None, price_ceiling=None,
                           linked_with=linked or [])


DATA = {"A": ets("A", 100e6, 50.0), "B": ets("B", 10e6, 20.0),
        "C": ets("C", 5e6, None, cur="CHF", linked=["A"]), "D": ets("D", 5e6, None),
        "E": ets("E", 5e6, 10.0, cur="XYZ")}


def get(eid: str) -> Any:
    return DATA[eid]


def test_linear_calibration_reproduces_observed_price() -> None:
    cal = calibrate(["A", "B"], get_ets=get)
    a, b = cal.markets
    assert a.cap == pytest.approx(100.0) and a.unit == "MtCO2e"
    assert a.bau == pytest.approx(100.0 / 0.9)  # default abatement share 10 %
    res = simulate({"markets": [m.model_dump(by_alias=True) for m in cal.markets]})
    assert res.markets.loc["A", "autarky_price"] == pytest.approx(50.0, rel=1e-6)
    assert res.markets.loc["B", "autarky_price"] == pytest.approx(20.0, rel=1e-6)
    keys = {x.key: x for x in cal.assumptions}
    assert keys["abatement_share.A"].value == 0.1 and keys["abatement_share.A"].origin == "default"


def test_overrides_are_labelled_with_origin() -> None:
    ov = Overrides()
    ov.update({"abatement_share": 0.2}, "agreement document")
    ov.update(parse_assume(["abatement_share.B=0.3", "price.A=60", "mac_scale.B=2"]),
              "command line")
    cal = calibrate(["A", "B"], ov, get_ets=get)
    keys = {x.key: x for x in cal.assumptions}
    assert keys["abatement_share.A"].value == 0.2
    assert keys["abatement_share.A"].origin == "agreement document"
    assert keys["abatement_share.B"].value == 0.3
    assert keys["price.A"].origin == "command line"
    a, b = cal.markets
    assert a.bau == pytest.approx(100.0 / 0.8)
    # autarky price of B doubles with its MAC slope
    res = simulate({"markets": [m.model_dump(by_alias=True) for m in cal.markets]})
    assert res.markets.loc["B", "autarky_price"] == pytest.approx(40.0, rel=1e-6)
    assert res.markets.loc["A", "autarky_price"] == pytest.approx(60.0, rel=1e-6)


def test_missing_price_derived_from_linked_partner_and_converted() -> None:
    cal = calibrate(["A", "C"], get_ets=get)
    keys = {x.key: x for x in cal.assumptions}
    assert keys["price.C"].origin == "derived"
    # the exchange rate comes from the dated reference series (not an assumption)
    assert "fx.CHF" not in keys and "fx.EUR" not in keys
    assert "EUR per CHF (2024 average; ECB" in cal.sources["C"]["price"]["fx"]
    assert cal.sources["C"]["price"]["converted"] == pytest.approx(50.0)
    assert cal.gaps and "C" in cal.gaps[0]


@pytest.mark.parametrize(("ids", "where"), [(["A", "D"], "price.D"), (["A", "E"], "fx.XYZ"),
                                             (["A", "Z"], "links")])
def test_unknown_data_names_the_override(ids: list[str], where: str) -> None:
    def getter(eid: str) -> Any:
        if eid == "Z":
            raise KeyError(eid)
        return DATA[eid]

    with pytest.raises(DocumentError) as exc:
        calibrate(ids, get_ets=getter)
    assert where in exc.value.message


@pytest.mark.parametrize("item", ["abatement_share=1.2", "price.A=-1", "nonsense=3",
                                  "abatement_share=abc"])
def test_bad_override_is_a_document_error(item: str) -> None:
    with pytest.raises(DocumentError):
        Overrides().update(parse_assume([item]), "command line")


def test_parse_assume_needs_equals() -> None:
    with pytest.raises(DocumentError):
        parse_assume(["abatement_share"])


# ---- pre-link (autarky) calibration for systems that are already linked ----------------------

def pfig(value: float | None, year: int, cur: str, date: str | None = None,
         fx_usd: float | None = None) -> SimpleNamespace:
    return SimpleNamespace(value=value, year=year, date=date, currency=cur, fx_usd=fx_usd,
                           unit=None, kind="test", source=f"test {year}", verified=True,
                           note=None if value is not None else "unknown")


def capfig(value: float, year: int) -> SimpleNamespace:
    return SimpleNamespace(value=value, year=year, date=None, unit="tCO2e/yr",
                           source=f"cap {year}", verified=True, note=None)


def linked_pair(p_prices: list[Any], q_prices: list[Any], p_caps: list[Any] | None = None,
                q_caps: list[Any] | None = None) -> dict[str, Any]:
    p = ets("P", 100e6, 50.0, linked=["Q"])
    q = ets("Q", 10e6, 50.0, linked=["P"])
    p.pre_link_prices, p.pre_link_caps = p_prices, p_caps or []
    q.pre_link_prices, q.pre_link_caps = q_prices, q_caps or []
    return {"P": p, "Q": q}


def test_already_linked_systems_use_the_latest_common_pre_link_year() -> None:
    data = linked_pair([pfig(5.0, 2014, "EUR"), pfig(7.0, 2015, "EUR"), pfig(27.0, 2019, "EUR")],
                       [pfig(40.0, 2014, "EUR"), pfig(12.0, 2015, "EUR"),
                        pfig(None, 2019, "EUR")],
                       p_caps=[capfig(90e6, 2015)], q_caps=[capfig(9e6, 2013)])
    cal = calibrate(["P", "Q"], get_ets=data.__getitem__, link_date="2020-01-01")
    assert cal.price_basis == "pre_link" and cal.price_year == 2015
    assert cal.sources["P"]["price"]["value"] == 7.0
    assert cal.sources["Q"]["price"]["value"] == 12.0
    assert cal.sources["P"]["cap"]["value_mt"] == pytest.approx(90.0)
    assert cal.sources["Q"]["cap"]["year"] == 2013
    assert any("cap is from 2013, the price from 2015" in g for g in cal.gaps)
    basis = next(a for a in cal.assumptions if a.key == "price_basis")
    assert basis.value == "pre_link" and basis.source and "2015" in basis.description
    res = simulate({"markets": [m.model_dump(by_alias=True) for m in cal.markets],
                    "links": [{"between": ["P", "Q"]}]})
    assert res.markets.loc["Q", "autarky_price"] == pytest.approx(12.0, rel=1e-6)
    assert res.links["flow"].sum() > 0  # a real gap, so units move


def test_pre_link_years_differ_are_labelled_and_dates_after_the_link_ignored() -> None:
    data = linked_pair([pfig(5.0, 2012, "EUR"), pfig(99.0, 2021, "EUR")],
                       [pfig(8.0, 2013, "EUR", date="2013-11-19"),
                        pfig(77.0, 2014, "EUR", date="2014-02-01")])
    cal = calibrate(["P", "Q"], get_ets=data.__getitem__, link_date="2014-01-01")
    assert cal.price_year is None
    assert cal.sources["P"]["price"]["value"] == 5.0
    assert cal.sources["Q"]["price"]["value"] == 8.0
    assert any("years differ" in g for g in cal.gaps)
    # no pre-link cap: today's cap, labelled
    assert any("no pre-link cap" in g for g in cal.gaps)


def test_pre_link_falls_back_to_current_prices_and_can_be_turned_off() -> None:
    data = linked_pair([pfig(5.0, 2012, "EUR")], [])
    cal = calibrate(["P", "Q"], get_ets=data.__getitem__, link_date="2014-01-01")
    assert cal.price_basis == "current"
    assert cal.sources["P"]["price"]["value"] == 50.0
    assert any("no pre-link observed price" in g for g in cal.gaps)
    data = linked_pair([pfig(5.0, 2012, "EUR")], [pfig(8.0, 2012, "EUR")])
    ov = Overrides()
    ov.update(parse_assume(["price_basis=current"]), "command line")
    cal = calibrate(["P", "Q"], ov, get_ets=data.__getitem__, link_date="2014-01-01")
    assert cal.price_basis == "current" and cal.sources["Q"]["price"]["value"] == 50.0
    basis = next(a for a in cal.assumptions if a.key == "price_basis")
    assert basis.value == "current" and basis.origin == "command line"


def test_unlinked_systems_keep_todays_prices() -> None:
    cal = calibrate(["A", "B"], get_ets=get, link_date="2020-01-01")
    assert cal.price_basis == "current"
    assert not any(a.key == "price_basis" for a in cal.assumptions)


def test_dated_exchange_rate_of_the_source_is_used() -> None:
    data = linked_pair([pfig(11.48, 2013, "USD")], [pfig(10.75, 2013, "CAD", fx_usd=0.94)])
    data["P"].price = fig(41.76, currency="USD")
    cal = calibrate(["P", "Q"], get_ets=data.__getitem__, link_date="2014-01-01")
    assert cal.currency == "USD"
    assert cal.sources["Q"]["price"]["converted"] == pytest.approx(10.75 * 0.94)
    assert "0.94" in cal.sources["Q"]["price"]["fx"]


def test_bad_price_basis_is_a_document_error() -> None:
    with pytest.raises(DocumentError):
        Overrides().update({"price_basis": "yesterday"}, "command line")


def test_shipped_eu_ch_calibrates_to_a_pre_link_gap() -> None:
    cal = calibrate(["EU_ETS", "CH_ETS"], link_date="2020-01-01")
    assert cal.price_basis == "pre_link"
    eu, ch = cal.sources["EU_ETS"]["price"], cal.sources["CH_ETS"]["price"]
    assert eu["year"] == ch["year"] and eu["verified"] and ch["verified"]
    assert ch["converted"] != pytest.approx(eu["converted"], rel=0.05)
