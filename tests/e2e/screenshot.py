"""Take a screenshot of a report with Debian's headless chromium (docs/report-top-en.png,
docs/report-top-zh.png: the first screen at 1280×800).

Usage: python tests/e2e/screenshot.py REPORT.html OUT.png [--full]
"""

from __future__ import annotations

import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def screenshot(report: Path, out: Path, *, full_page: bool = False, height: int = 800) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": height})
        page.goto(report.resolve().as_uri())
        page.wait_for_selector("#decision", timeout=20_000)
        page.screenshot(path=str(out), full_page=full_page)
        browser.close()


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]), full_page="--full" in sys.argv)
