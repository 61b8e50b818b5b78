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
    assert "fx.CHF" in keys and "fx.EUR" in keys
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
