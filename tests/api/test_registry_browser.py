"""The registry page in headless Chromium: the public sees aggregates and no names; a login
form without its CSRF token is refused; the sixth wrong password locks the login (the right one
is then refused too); an auditor logged in sees the accounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import VIEWER, VIEWER_PASSWORD
from tests.api.test_browser import server  # noqa: F401 - the served app (fixture)
from tests.conftest import watched_page

pytestmark = pytest.mark.browser


def _login(page: object, base: str, password: str) -> None:
    page.goto(f"{base}/registry")  # type: ignore[attr-defined]
    page.fill("#username", VIEWER)  # type: ignore[attr-defined]
    page.fill("#password", password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]


def test_registry_login_in_chromium(chromium: Path, server: str) -> None:  # noqa: F811
    with watched_page(chromium, (server, "data:")) as w:
        page = w.page
        page.goto(f"{server}/registry")
        text = page.inner_text("main")
        assert page.locator("#public-holdings tbody tr").count() >= 1
        for name in ("alice", "bob", "carol", "Cookstoves", "KliK"):
            assert name not in text
        page.evaluate("document.querySelector('#login-form input[name=csrf]').remove()")
        page.fill("#username", VIEWER)
        page.fill("#password", VIEWER_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        assert "CSRF" in page.inner_text("#error")                 # refused without it
        for i in range(6):
            _login(page, server, f"wrong password {i}")
            assert "wrong user name or password" in page.inner_text("#error")
        assert "locked" in page.inner_text("#error")              # the sixth locks it
        _login(page, server, VIEWER_PASSWORD)
        assert "locked" in page.inner_text("#error")              # even the right one
    assert [e for e in w.errors if "401" not in e and "403" not in e] == []
    assert w.foreign_requests == []
