"""Working in the registry in headless Chromium: representative A1 proposes a transfer to the
linked registry, the same A1 cannot approve it, A2 approves, an auditor sees it and cannot act,
a representative of the receiving account accepts, and both accounts' holdings change; an
action form without its CSRF token is refused and moves nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from carbonlink.registry import Registry
from tests.api.conftest import VIEWER, VIEWER_PASSWORD
from tests.api.test_browser import server  # noqa: F401 - the served app (fixture)
from tests.conftest import watched_page
from tests.registry.conftest import acting

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery 2026"
A1, A2, RECEIVER = "rep.a1", "rep.a2", "rep.b"
TIMEOUT_MS = 120_000           # generous: the tests run on a loaded 2-CPU machine


def _people(tmp_path: Path) -> tuple[int, int]:
    """Users A1, A2 (representatives of the seller in GHA01) and B (of the buyer in CHE01),
    with known passwords, added to the served registry; returns (seller, buyer)."""
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as raw:
        reg = acting(raw)
        admin = reg.as_("admin")
        holding = [a for a in admin.accounts() if a["type"] == "entity_holding"]
        seller = min(a["id"] for a in holding if a["registry_id"] == "GHA01")
        buyer = min(a["id"] for a in holding if a["registry_id"] == "CHE01")   # make_world's
        for name in (A1, A2, RECEIVER):
            admin.create_user(name, PASSWORD)
        admin.add_representative(seller, A1, "initiator_approver")
        admin.add_representative(seller, A2, "approver")
        admin.add_representative(buyer, RECEIVER, "initiator_approver")
    return seller, buyer


def _login(page: Any, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/registry")
    if page.locator("#logout-form").count():
        page.locator("#logout-form button").click()
        page.wait_for_selector("#login-form")
    page.fill("#username", user)
    page.fill("#password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#user")
    assert page.inner_text("#user") == user


def _balance(page: Any, base: str, account: int) -> int:
    page.goto(f"{base}/registry/accounts/{account}")
    return int(page.inner_text("#balance").replace(",", ""))


def _post(page: Any, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """Submit a hand-made form to ``path`` from the page (the pages' Content-Security-Policy
    allows forms to this site and no script requests): (status, text of the answer)."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.evaluate("""([path, fields]) => {
            const f = document.createElement('form');
            f.method = 'post'; f.action = path;
            for (const [k, v] of Object.entries(fields)) {
                const i = document.createElement('input');
                i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f); f.submit();
        }""", [path, fields])
    page.wait_for_load_state()
    return int(answer.value.status), str(page.inner_text("main"))


def _csrf(page: Any) -> str:
    return str(page.locator("#logout-form input[name=csrf]").input_value())


def test_cross_link_transfer_in_chromium(chromium: Path, server: str,  # noqa: F811
                                         tmp_path: Path) -> None:
    seller, buyer = _people(tmp_path)
    with watched_page(chromium, (server, "data:")) as w:
        page = w.page
        page.set_default_timeout(TIMEOUT_MS)
        _login(page, server, A1, PASSWORD)
        assert page.locator(f"#my-accounts a[href='/registry/accounts/{seller}']").count() >= 1
        before = (_balance(page, server, seller),)
        assert page.locator("#holdings tbody tr").first.inner_text().startswith("held")

        # a form without its CSRF token is refused and moves nothing
        page.evaluate("document.querySelector('#transfer-form input[name=csrf]').remove()")
        page.fill("#to_account", str(buyer))
        page.fill("#quantity", "7")
        page.get_by_role("button", name="Propose transfer").click()
        page.wait_for_selector("#error")
        assert "CSRF" in page.inner_text("#error")
        assert _balance(page, server, seller) == before[0]

        # A1 proposes a transfer to the linked registry: the units leave A1's holdings
        page.fill("#to_account", str(buyer))
        page.fill("#quantity", "7")
        page.fill("#vintage", "2026")
        page.get_by_role("button", name="Propose transfer").click()
        page.wait_for_selector("#done")
        done = page.inner_text("#done")
        m = re.search(r"transaction (\d+): external transfer proposed", done)
        assert m, done
        tx = int(m.group(1))
        row = page.locator(f"#tx-{tx}")
        assert row.locator(".state").inner_text() == "proposed"
        assert _balance(page, server, seller) == before[0] - 7        # in escrow

        # the same user cannot approve their own proposal: no button, and the server refuses
        page.goto(f"{server}/registry/accounts/{seller}")
        assert page.locator(f"#tx-{tx} button", has_text="Approve").count() == 0
        status, body = _post(page, f"/registry/transactions/{tx}/approve",
                             {"csrf": _csrf(page), "back": f"/registry/accounts/{seller}"})
        assert status == 403 and "A2006" in body
        page.goto(f"{server}/registry/accounts/{seller}")
        assert page.locator(f"#tx-{tx} .state").inner_text() == "proposed"

        # A2 (approver of the seller) sees it waiting and approves it
        _login(page, server, A2, PASSWORD)
        page.locator(f"#waiting-{tx} button", has_text="Approve").click()
        page.wait_for_selector("#done")
        assert f"transaction {tx}: external transfer approved" in page.inner_text("#done")

        # an auditor sees the transfer and every account, and cannot act
        _login(page, server, VIEWER, VIEWER_PASSWORD)
        assert page.locator("#accounts tbody tr").count() >= 3
        page.goto(f"{server}/registry/accounts/{seller}")
        assert page.locator(f"#tx-{tx} .state").inner_text() == "approved"
        assert page.locator("#transfer-form").count() == 0
        assert page.locator("#history button").count() == 0
        status, body = _post(page, f"/registry/transactions/{tx}/accept",
                             {"csrf": _csrf(page)})
        assert status == 403 and "S7001" in body
        page.goto(f"{server}/registry/accounts/{seller}")
        status, _ = _post(page, f"/registry/accounts/{seller}/transfer",
                          {"csrf": _csrf(page), "to_account": str(buyer), "quantity": "1"})
        assert status == 403

        # a representative of the receiving account accepts: the holdings change
        _login(page, server, RECEIVER, PASSWORD)
        buyer_before = _balance(page, server, buyer)
        page.goto(f"{server}/registry")
        page.locator(f"#waiting-{tx} button", has_text="Accept").click()
        page.wait_for_selector("#done")
        assert f"transaction {tx}: external transfer completed" in page.inner_text("#done")
        assert _balance(page, server, buyer) == buyer_before + 7
        assert page.locator(f"#tx-{tx} .state").inner_text() == "completed"
        # the history's search and filters find it
        page.fill("#q", A1)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_selector("#history")
        assert page.locator(f"#tx-{tx}").count() == 1
        page.goto(f"{server}/registry/accounts/{buyer}?state=rejected")
        assert page.locator(f"#tx-{tx}").count() == 0
        _login(page, server, A1, PASSWORD)
        assert _balance(page, server, seller) == before[0] - 7
    assert [e for e in w.errors if "401" not in e and "403" not in e] == []
    assert w.foreign_requests == []
