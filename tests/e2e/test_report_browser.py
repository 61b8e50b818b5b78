"""The HTML report in headless Chromium (Debian's): no console errors, every chart rendered,
no network requests (the page is self-contained)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from carbonlink.cli import main
from tests.conftest import watched_page
from tests.e2e.conftest import Assessed

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def test_report_renders_without_errors(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(REPO / "examples/agreements/eu-switzerland.yaml"), "--out", str(out),
              "--assume", "mac_scale.CH_ETS=1.5", "--quiet", "--no-fail"])
    assert exc.value.code == 0
    with watched_page(browser, ("file:", "data:", "blob:")) as w:
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


def _report(assess_once: Callable[..., Assessed], example: Path) -> Path:
    """The HTML report of ``example`` (made once per session; these tests only read it)."""
    run = assess_once(example, "html")
    assert run.code in (0, 1) and run.out.exists()   # 1: the agreement has error findings
    return run.out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_verdict_box_first_on_screen_no_page_scroll_and_chart_text_never_overlaps(
        browser: Any, assess_once: Callable[..., Assessed], example: Path) -> None:
    out = _report(assess_once, example)
    with watched_page(browser, ("file:",)) as w:
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


def test_printed_layout_keeps_charts_whole(browser: Any,
                                           assess_once: Callable[..., Assessed]) -> None:
    """Print media at A4 width: no toolbar or script, every chart shorter than a printable page
    and marked unbreakable, sections start on a new page."""
    out = _report(assess_once, REPO / "examples/agreements/eu-switzerland.yaml")
    with watched_page(browser, ("file:",)) as w:
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


def _norm(text: str) -> str:
    """Text as extracted from a PDF and as written in HTML compared alike: ligatures (ﬁ) and
    entities resolved, runs of white space (line wraps) made one space."""
    import html
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", html.unescape(text)).split())


CAPTION = "Source: carbonlink"

#: Labels of plotly's modebar (the toolbar the report printed when it embedded plotly.js).
TOOLBAR = ("Download plot as a png", "Zoom in", "Zoom out", "Autoscale", "Reset axes",
           "Box Select", "Lasso Select", "Toggle Spike Lines", "Produced with Plotly", "plotly")


def test_printed_pdf_of_eu_ch_has_no_toolbar_and_no_chart_split_across_pages(
        chromium: Path, tmp_path: Path, assess_once: Callable[..., Assessed]) -> None:
    """Read from the PDF Chromium printed: each chart's title and its source caption (the first
    and the last element of its figure) are on one page, in order, every title whole; no toolbar
    text, no script in the PDF."""
    import re

    from pypdf import PdfReader

    from carbonlink.reporting.export import render_pdf

    out = _report(assess_once, REPO / "examples/agreements/eu-switzerland.yaml")
    page_html = out.read_text(encoding="utf-8")
    titles = [_norm(t) for t in re.findall(r'<figure class="chart"[^>]*><h4>(.*?)</h4>', page_html)]
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page_html)
    assert len(titles) == len(captions) >= 6 and all(c.startswith(CAPTION) for c in captions)
    pdf = render_pdf(page_html)
    (tmp_path / "report.pdf").write_bytes(pdf)
    reader = PdfReader(tmp_path / "report.pdf")
    pages = [_norm(p.extract_text()) for p in reader.pages]
    assert len(pages) >= 3
    # captions in page order; each chart's title between the previous caption and its own
    chart = 0
    for number, text in enumerate(pages, start=1):
        start = 0
        for m in re.finditer(re.escape(CAPTION), text):
            assert chart < len(titles), f"page {number}: more captions than charts"
            where = text.rfind(titles[chart], start, m.start())
            assert where >= 0, (f"chart {chart + 1} ({titles[chart]!r}) is split: its caption is on "
                                f"page {number}, its title not above it on that page")
            start, chart = m.end(), chart + 1
    assert chart == len(titles), f"{len(titles) - chart} chart caption(s) missing from the PDF"
    whole = " ".join(pages)
    assert not [t for t in TOOLBAR if t.lower() in whole.lower()]
    raw = (tmp_path / "report.pdf").read_bytes()
    assert b"/JavaScript" not in raw and b"/JS " not in raw
