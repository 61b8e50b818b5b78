"""One set of figures (issue 10, "contradictory price"): the feasibility rules (FEA-GAP,
FEA-FLOW) read the price the calibration reads — for systems already linked, the pre-link price
(carbonlink.data.prices.reference_prices) — converted at the rate of the price's own date, and
quote the figure, its date and the rate. Unknown stays unknown: no figure, an info data gap."""

from __future__ import annotations

import re
from typing import Any

import pytest

from carbonlink.agreements import check
from carbonlink.assess.pipeline import assess
from carbonlink.reporting.render import render_html
from carbonlink.reporting.report import build_report
from tests.assess.conftest import EXAMPLES

EU_CH = EXAMPLES / "eu-switzerland.yaml"


def only(findings: list[Any], rule: str) -> Any:
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, [f.message for f in hits]
    return hits[0]


@pytest.fixture(scope="module")
def eu_ch() -> Any:
    return assess(EU_CH, with_sensitivity=False, as_of="2026-06-01")


def test_eu_ch_fea_gap_quotes_the_price_the_calibration_uses(eu_ch: Any) -> None:
    cal = eu_ch.calibration
    assert cal is not None and cal.price_basis == "pre_link"
    gap = only(eu_ch.check.findings, "FEA-GAP")
    assert "unknown" not in gap.message and gap.severity == "info"
    ch = cal.sources["CH_ETS"]["price"]
    eu = cal.sources["EU_ETS"]["price"]
    assert (ch["value"], ch["currency"], ch["date"]) == (12.0, "CHF", "2015-02")
    # the same CH figure, date, rate and converted value the calibration reports
    assert "CH_ETS 12 CHF (2015-02" in gap.message
    assert ch["fx"] in gap.message
    assert f"= {ch['converted']:,.2f} {cal.currency}" in gap.message
    assert f"EU_ETS {eu['value']:g} EUR ({eu['date']}" in gap.message
    assert f"(ratio {ch['converted'] / eu['converted']:.2f})" in gap.message
    # and the report prints both: the calibration table and the finding carry one CH price
    html = render_html(build_report(eu_ch))
    rate = re.search(r"converted at [\d.]+ EUR per CHF \(2015 average", ch["fx"])
    assert rate is not None
    assert html.count(rate.group(0)) >= 2
    assert "12.00 CHF/t (2015-02, pre-link)" in html and "CH_ETS 12 CHF (2015-02" in html
    assert "observed price of CH_ETS unknown" not in html


def test_eu_ch_flow_direction_follows_the_calibrated_prices(eu_ch: Any) -> None:
    src = eu_ch.calibration.sources
    low, high = sorted(("EU_ETS", "CH_ETS"), key=lambda e: src[e]["price"]["converted"])
    flow = only(eu_ch.check.findings, "FEA-FLOW")
    assert flow.subject == f"{low}->{high}"
    assert f"{low} {src[low]['price']['converted']:,.2f} EUR < {high}" in flow.message


def test_unknown_price_stays_an_info_data_gap() -> None:
    """Before the link (2019) the systems are not yet linked, so the price valid then is read;
    the reference data holds no dated CH price for it: an info gap, as before."""
    r = check(EU_CH, as_of="2019-06-01")
    gap = only(r.findings, "FEA-GAP")
    assert gap.severity == "info"
    assert gap.message.startswith("unknown: price gap not computed: observed price of CH_ETS")
    assert not [f for f in r.findings if f.rule == "FEA-FLOW"]


def test_assess_as_of_calibrates_on_that_date() -> None:
    """``assess --as-of`` reads the reference data as it stood on that date for the calibration
    too, as the check does: EU-CH as of 2019 has no dated EU cap for 2019 (the series starts in
    2021), so no market is calibrated on today's figures; the reason names the date."""
    a = assess(EU_CH, with_sensitivity=False, as_of="2019-06-01")
    assert a.calibration is None
    assert a.no_simulation_reason is not None
    assert "cap.EU_ETS" in a.no_simulation_reason and "2019-06-01" in a.no_simulation_reason


def test_cap_after_the_series_ends_is_carried_forward_as_an_assumption() -> None:
    import datetime as dt

    from carbonlink.assess.calibrate import Overrides, calibrate
    from carbonlink.data import ets_record, get_ets

    on = dt.date(2031, 6, 1)
    last = max((e for e in ets_record("EU_ETS").series.cap if e.value is not None),
               key=lambda e: e.year or 0)
    ov = Overrides()
    ov.update({"cap": {"UK_ETS": 100.0}}, "test")  # the UK cap is not recorded at all
    cal = calibrate(["EU_ETS", "UK_ETS"], ov, get_ets=lambda e: get_ets(e, on), link_date=None)
    assert cal.price_basis == "current"
    eu = cal.sources["EU_ETS"]["cap"]
    assert (eu["value"], eu["year"]) == (last.value, last.year)
    carried = [a for a in cal.assumptions if a.key == "cap.EU_ETS"]
    assert carried and carried[0].origin == "carried forward"
    assert "2031-06-01" in carried[0].description and str(last.year) in carried[0].description
