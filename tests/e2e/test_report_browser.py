"""The HTML report in headless Chromium (Debian's): no console errors, every chart rendered,
no network requests (the page is self-contained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonlink.cli import main
from tests.conftest import watched_page

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def test_report_renders_without_errors(chromium: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(REPO / "examples/agreements/eu-switzerland.yaml"), "--out", str(out),
              "--assume", "mac_scale.CH_ETS=1.5", "--quiet", "--no-fail"])
    assert exc.value.code == 0
    with watched_page(chromium, ("file:", "data:", "blob:")) as w:
        page = w.page
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        charts = page.locator("figure.chart")
        n = charts.count()
        assert n >= 6  # prices, flows, gains (+ revenue) and 3 sensitivity charts
        for i in range(n):
            chart = charts.nth(i)
            assert chart.locator("svg.chart-svg").count() == 1, chart.get_attribute("id")
            # plotted something: bars (patches) or lines
            assert chart.locator("svg g[id^=patch], svg g[id^=line2d]").count() >= 1
            assert chart.locator("figcaption").inner_text().startswith("Source:")
        assert page.locator("section#findings table tbody tr").count() >= 1
        assert page.locator("section#compatibility table tbody tr").count() >= 1
    assert w.errors == []
    assert w.foreign_requests == []
