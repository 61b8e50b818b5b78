"""The pages in headless Chromium (Debian's, driven by Playwright's sync API) against the app
served by uvicorn: forms submitted as a person would, results read from the rendered tables, no
console errors and no request leaving the server (the pages are self-contained)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from fastapi import FastAPI

import carbonlink
from carbonlink.api import create_app
from carbonlink.reporting.console import fmt_num
from tests.api.conftest import REPO, VIEWER, VIEWER_PASSWORD, build_ledger
from tests.conftest import watched_page

pytestmark = pytest.mark.browser




def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app on a registry with a few operations, served by uvicorn in a thread."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    build_ledger(url)
    with serve(create_app(url)) as base:
        yield base


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread; yields its base URL."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                        log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    for _ in range(1200):  # wait for start-up (not a timing assertion: a bound on waiting)
        if srv.started or not thread.is_alive():
            break
        time.sleep(0.05)
    if not srv.started:
        srv.should_exit = True
        pytest.fail("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join()


def test_pages_in_chromium(browser: Any, server: str) -> None:
    agreement = (REPO / "examples/agreements/california-quebec.yaml").read_text(encoding="utf-8")
    scenario = (REPO / "examples/scenarios/full-link.yaml").read_text(encoding="utf-8")
    expected_rules = [f.rule for f in carbonlink.check(yaml.safe_load(agreement)).findings]
    prices = carbonlink.simulate(REPO / "examples/scenarios/full-link.yaml").markets["price"]
    with watched_page(browser, (server, "data:")) as w:
        page = w.page
        page.goto(f"{server}/")
        assert "carbonlink" in page.title()
        assert page.locator("#ets-ids tbody tr").count() >= 10
        page.get_by_role("link", name="Check an agreement").first.click()
        page.wait_for_url(f"{server}/check")

        # paste an agreement over the example and submit the form
        page.fill("textarea#document", agreement)
        page.get_by_role("button", name="Check").click()
        page.wait_for_selector("#findings")
        assert page.locator("#findings td.rule").all_inner_texts() == expected_rules
        assert "LEG-02" in expected_rules and "CMP-REC" in expected_rules
        assert "0 errors" in page.inner_text("#summary")
        assert page.locator("#compatibility tbody tr").count() >= 1
        assert page.input_value("textarea#document") == agreement
        assert w.errors == []

        # a broken document comes back with the field path, and the text to correct; the
        # browser logs the page's HTTP status (422) on the console, and nothing else
        page.fill("textarea#document", agreement.replace("jurisdiction: CA-QC", "jurisdiction: QQ"))
        page.get_by_role("button", name="Check").click()
        page.wait_for_selector("#error")
        assert page.inner_text("#error code.path") == "parties[1].jurisdiction"
        assert page.locator("#findings").count() == 0
        assert w.errors == ["Failed to load resource: the server responded with a status of 422 "
                          "(Unprocessable Entity)"]
        w.errors.clear()

        page.goto(f"{server}/simulate")
        page.fill("textarea#document", scenario)
        page.select_option("select#engine", "plain")
        page.get_by_role("button", name="Simulate").click()
        page.wait_for_selector("#markets-prices")
        shown = page.locator("#markets-prices td[data-col=price]").all_inner_texts()
        assert shown == [fmt_num(v) for v in prices] == ["50.00", "50.00"]
        assert page.locator("#markets-prices td[data-col=autarky_price]").all_inner_texts() == [
            "60.00", "30.00"]

        # a scenario with an uncertainty block: the Monte Carlo charts, drawn and visible
        page.fill("textarea#document", (REPO / "examples/scenarios/ca-qc-risk-sharing.yaml"
                                        ).read_text(encoding="utf-8"))
        page.fill("input#samples", "25")
        page.get_by_role("button", name="Simulate").click()
        page.wait_for_selector("#chart-uncertainty-fan svg")
        for cid in ("fan", "transmission", "gains"):
            box = page.locator(f"#chart-uncertainty-{cid} svg").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
        assert "25 samples per design" in page.inner_text("#uncertainty")

        page.goto(f"{server}/registry")                # the public sees aggregates, no names
        assert page.locator("#public-holdings").is_visible()
        assert "Cookstoves" not in page.content() and "#accounts" not in page.content()
        page.fill("#username", VIEWER)
        page.fill("#password", VIEWER_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("#user")
        page.goto(f"{server}/registry?as_of=2027-05-01")
        page.get_by_role("button", name="Verify the journal and the ledger").click()
        page.wait_for_selector("#verify")
        assert "Verified" in page.inner_text("#verify")
        assert page.locator("#as_of").input_value() == "2027-05-01"   # the view is kept
        assert page.locator("#accounts tbody tr").count() == 19
        assert "overdue" in page.locator("#calendar").inner_text()

        page.goto(f"{server}/data")
        assert page.locator("tr#EU_ETS").is_visible()
        assert page.locator("tr#EU_ETS .src").count() >= 3  # each figure with its source
    assert w.errors == []
    assert w.foreign_requests == []


def test_assess_page_shows_progress_then_downloads_in_chromium(browser: Any,
                                                               tmp_path: Path) -> None:
    """Submit the /assess form: the progress page (a run longer than the page's wait) refreshes
    itself until the decision box shows, then the report opens as HTML and downloads as XLSX
    and PDF from its links."""
    from carbonlink.api.jobs import JobStore

    app = create_app(f"sqlite:///{tmp_path / 'never-created.db'}")
    app.state.assess_jobs = JobStore(inline_wait=0.0)  # every run shows its progress page
    with serve(app) as base, watched_page(browser, (base, "data:")) as w:
        page = w.page
        page.goto(f"{base}/assess")
        page.get_by_role("button", name="Assess").click()
        page.wait_for_url(f"{base}/assess/jobs/*")
        assert page.locator("progress, #decision").count() == 1
        page.wait_for_selector("#decision", timeout=300_000)  # generous: a loaded machine
        assert "Link" in page.locator("#decision").inner_text()
        for fmt, magic in (("xlsx", b"PK"), ("pdf", b"%PDF")):
            with page.expect_download(timeout=300_000) as dl:
                page.locator(f"#downloads a[href$='format={fmt}']").click()
            assert Path(dl.value.path()).read_bytes().startswith(magic), fmt
        page.locator("#downloads a[href$='format=html']").click()
        page.wait_for_selector("main #decision")
        assert page.locator("figure.chart svg").count() >= 3
    assert w.errors == [] and w.foreign_requests == []
