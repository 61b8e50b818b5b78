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
              "--assume", "mac_scale.CH_ETS=1.5", "--quiet"])
    assert exc.value.code == 0
    with watched_page(chromium, ("file:", "data:", "blob:")) as w:
        page = w.page
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        charts = page.locator("div.chart")
        n = charts.count()
        assert n >= 8  # 5 design charts + 3 sensitivity charts
        page.wait_for_function(
            "n => document.querySelectorAll('div.chart .main-svg').length >= n", arg=n,
            timeout=20_000)
        for i in range(n):
            chart = charts.nth(i)
            assert chart.locator(".main-svg").count() >= 1, chart.get_attribute("id")
            # plotted something: bars or lines
            assert chart.locator("g.trace").count() >= 1, chart.get_attribute("id")
        assert page.locator("section#findings table tbody tr").count() >= 1
        assert page.locator("section#compatibility table tbody tr").count() >= 1
    assert w.errors == []
    assert w.foreign_requests == []
