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


EXAMPLES = sorted((REPO / "examples" / "agreements").glob("*.yaml"))

#: Pairs of SVG texts whose glyph boxes (rotation included: each box is the text's own bbox
#: mapped through its screen transform, compared by the separating-axis test) overlap by more
#: than 1 px.
_OVERLAPS_JS = """
svg => {
  const polys = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => {
    const b = t.getBBox(), m = t.getScreenCTM();
    const pt = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
    return {s: t.textContent.trim(), p: [pt(b.x, b.y), pt(b.x + b.width, b.y),
            pt(b.x + b.width, b.y + b.height), pt(b.x, b.y + b.height)]};
  });
  const separated = (A, B) => {
    for (const P of [A, B]) for (let i = 0; i < 4; i++) {
      const [x0, y0] = P[i], [x1, y1] = P[(i + 1) % 4];
      const len = Math.hypot(x1 - x0, y1 - y0) || 1;
      const nx = (y0 - y1) / len, ny = (x1 - x0) / len;
      const pa = A.map(([x, y]) => x * nx + y * ny), pb = B.map(([x, y]) => x * nx + y * ny);
      if (Math.max(...pa) - Math.min(...pb) <= 1 || Math.max(...pb) - Math.min(...pa) <= 1) return true;
    }
    return false;
  };
  const out = [];
  for (let i = 0; i < polys.length; i++) for (let j = i + 1; j < polys.length; j++)
    if (!separated(polys[i].p, polys[j].p)) out.push(polys[i].s + ' / ' + polys[j].s);
  return out;
}
"""


def _assess(example: Path, out: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(example), "--out", str(out), "--quiet", "--no-fail"])
    assert exc.value.code == 0


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_verdict_box_first_on_screen_no_page_scroll_and_chart_text_never_overlaps(
        chromium: Path, tmp_path: Path, example: Path) -> None:
    out = tmp_path / "report.html"
    _assess(example, out)
    with watched_page(chromium, ("file:",)) as w:
        page = w.page
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(out.as_uri())
        box = page.locator("#decision").bounding_box()
        assert box is not None
        # the verdict box is on the first screen, whole, below only the title
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box
        above = page.evaluate("""() => [...document.querySelectorAll('main > section, main > h2')]
            .filter(e => e.getBoundingClientRect().top < document.querySelector('#decision')
            .getBoundingClientRect().top).map(e => e.id)""")
        assert above in ([], ["verdict"]), above
        # no horizontal scrollbar at 1280 px, also with every <details> (designs in full) open
        for opened in (False, True):
            if opened:
                page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            width = page.evaluate("() => [document.documentElement.scrollWidth, "
                                  "document.documentElement.clientWidth]")
            assert width[0] <= width[1], (opened, width)
        svgs = page.locator("figure.chart svg")
        for i in range(svgs.count()):
            overlaps = svgs.nth(i).evaluate(_OVERLAPS_JS)
            assert overlaps == [], (svgs.nth(i).evaluate("s => s.closest('figure').id"), overlaps)
    assert w.errors == [] and w.foreign_requests == []


def test_printed_layout_keeps_charts_whole(chromium: Path, tmp_path: Path) -> None:
    """Print media at A4 width: no toolbar or script, every chart shorter than a printable page
    and marked unbreakable, sections start on a new page."""
    out = tmp_path / "report.html"
    _assess(REPO / "examples/agreements/eu-switzerland.yaml", out)
    with watched_page(chromium, ("file:",)) as w:
        page = w.page
        page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        page.emulate_media(media="print")
        page.goto(out.as_uri())
        assert page.locator("script, .modebar, .plotly").count() == 0
        printable = (297 - 2 * 14) / 25.4 * 96  # A4 height minus @page margins, px
        figs = page.locator("figure.chart")
        assert figs.count() >= 3
        for i in range(figs.count()):
            f = figs.nth(i)
            assert f.evaluate("e => getComputedStyle(e).breakInside") == "avoid"
            bb = f.bounding_box()
            assert bb is not None and bb["height"] < printable, f.get_attribute("id")
        breaks = page.evaluate("""() => [...document.querySelectorAll('main > section')]
            .map(s => [s.id, getComputedStyle(s).breakBefore])""")
        assert dict(breaks)["designs"] == "page" and dict(breaks)["verdict"] != "page"
    assert w.errors == []
