"""Dated exchange rates: a price is converted at the rate of its own date, with its source."""

from __future__ import annotations

import pytest
import yaml

from carbonlink.assess.calibrate import Overrides, calibrate, parse_assume
from carbonlink.data.fx import FX_FILE, currencies, rate
from tests.assess.test_calibrate import ets, pfig


def test_every_series_has_a_source_and_positive_rates() -> None:
    raw = yaml.safe_load(FX_FILE.read_text(encoding="utf-8"))["fx"]
    assert raw["base"] == "EUR"
    for cur, s in raw["series"].items():
        assert s["source"].startswith("ECB") and "https://" in s["source"], cur
        assert s["rates"] and all(v > 0 for v in s["rates"].values()), cur
    assert {"EUR", "USD", "CHF", "CNY"} <= set(currencies())


def test_rate_is_read_for_the_price_date_not_today() -> None:
    chf_2015 = yaml.safe_load(FX_FILE.read_text())["fx"]["series"]["CHF"]["rates"]["2015"]
    r = rate("CHF", "EUR", "2015-02")
    assert r.value == pytest.approx(1 / chf_2015) and r.period == "2015"
    assert rate("CHF", "EUR", "2024").value != pytest.approx(r.value)
    # a cross rate through the base is consistent both ways
    assert rate("CHF", "USD", 2019).value * rate("USD", "CHF", 2019).value == pytest.approx(1.0)
    # a year after the series ends uses the latest earlier year, and says so
    late = rate("CHF", "EUR", "2031")
    assert late.period == "2024" and late.note and "2031" in late.note
    with pytest.raises(KeyError):
        rate("XYZ", "EUR", 2024)


def test_calibration_converts_each_price_at_its_own_date() -> None:
    p = ets("P", 100e6, 50.0, linked=["Q"])
    q = ets("Q", 10e6, 50.0, cur="CHF", linked=["P"])
    p.pre_link_prices, p.pre_link_caps = [pfig(6.91, 2015, "EUR", date="2015-Q1")], []
    q.pre_link_prices, q.pre_link_caps = [pfig(12.0, 2015, "CHF", date="2015-02")], []
    data = {"P": p, "Q": q}
    cal = calibrate(["P", "Q"], get_ets=data.__getitem__, link_date="2020-01-01")
    src = cal.sources["Q"]["price"]
    assert src["converted"] == pytest.approx(12.0 * rate("CHF", "EUR", "2015-02").value)
    assert "2015 average" in src["fx"] and "ECB" in src["fx"]
    # an explicit rate overrides the series, and is listed as an assumption
    ov = Overrides()
    ov.update(parse_assume(["fx.CHF=1.2", "fx.EUR=1.0"]), "command line")
    cal2 = calibrate(["P", "Q"], ov, get_ets=data.__getitem__, link_date="2020-01-01")
    assert cal2.sources["Q"]["price"]["converted"] == pytest.approx(12.0 * 1.2)
    assert {a.key for a in cal2.assumptions} >= {"fx.CHF", "fx.EUR"}
