"""GET /api/registry/…: read-only views of a registry built here with a few operations, on
SQLite and on PostgreSQL; each answer equals the Registry method it presents."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pytest

from carbonlink.api import create_app
from carbonlink.registry import Registry
from carbonlink.registry.db import journal
from tests.api.conftest import AS_OF, Ledger
from tests.api.test_simulate import problems
from tests.registry.conftest import acting, tampering

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi.testclient import TestClient


def test_verify_clean(registry_client: TestClient) -> None:
    r = registry_client.get("/api/registry/verify")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "problems": []}


def test_verify_names_a_tampered_journal(client_factory: Callable[..., TestClient],
                                         ledger: Ledger) -> None:
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        with tampering(reg.engine) as c:
            c.execute(journal.update().where(journal.c.kind == "use").values(payload='{"quantity":1}'))
        expected = reg.verify()
    assert expected
    with client_factory(create_app(ledger.url)) as client:
        client.headers.update(ledger.auth)
        body = client.get("/api/registry/verify").json()
    assert body == {"ok": False, "problems": expected}
    assert any("(use) hash mismatch" in p for p in body["problems"])


def test_accounts_with_balances(registry_client: TestClient, ledger: Ledger) -> None:
    r = registry_client.get("/api/registry/accounts")
    assert r.status_code == 200
    body = {a["id"]: a for a in r.json()}
    w = ledger.world
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        rows = reg.accounts()
        assert [a["id"] for a in r.json()] == [a["id"] for a in rows]
        for row in rows:
            assert body[row["id"]] == {**row, "balance": reg.balance(row["id"])}
    # 100 issued to the seller, 40 moved to the buyer, 10 of them used
    assert (body[w.seller]["balance"], body[w.buyer]["balance"], body[w.buyer2]["balance"]) == (60, 30, 0)
    assert body[w.che["ndc_use"]]["balance"] == 0  # used units are not "held"


def test_accounts_of_one_registry(registry_client: TestClient, ledger: Ledger) -> None:
    r = registry_client.get("/api/registry/accounts", params={"registry": "CHE01"})
    assert r.status_code == 200
    assert {a["registry_id"] for a in r.json()} == {"CHE01"}
    assert ledger.world.buyer in {a["id"] for a in r.json()}
    assert registry_client.get("/api/registry/accounts", params={"registry": "che"}).status_code == 422


def test_holdings(registry_client: TestClient, ledger: Ledger) -> None:
    w = ledger.world
    r = registry_client.get(f"/api/registry/accounts/{w.buyer}/holdings")
    assert r.status_code == 200
    body = r.json()
    assert body["account"]["id"] == w.buyer and body["account"]["balance"] == 30
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        rows = reg.holdings(w.buyer)
    assert body["blocks"] == [{**b, "quantity": b["serial_end"] - b["serial_start"] + 1} for b in rows]
    by_status: dict[str, int] = {}
    for b in body["blocks"]:
        by_status[b["status"]] = by_status.get(b["status"], 0) + b["quantity"]
    assert by_status == {"held": 30}
    used = registry_client.get(f"/api/registry/accounts/{w.che['ndc_use']}/holdings").json()
    assert sum(b["quantity"] for b in used["blocks"] if b["status"] == "used") == 10
    assert all(b["issuing_registry"] == "GHA01" and b["vintage"] == 2026 for b in body["blocks"])


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    """The registry's naive UTC times as RFC 3339 (``Z``)."""
    return {k: v.isoformat() + "Z" if isinstance(v, datetime) else v for k, v in row.items()}


def test_transaction(registry_client: TestClient, ledger: Ledger) -> None:
    for tx in (ledger.issuance_tx, ledger.transfer_tx, ledger.use_tx):
        r = registry_client.get(f"/api/registry/transactions/{tx}")
        assert r.status_code == 200
        with Registry(ledger.url) as raw:
            reg = acting(raw)
            assert r.json() == _iso(reg.transaction(tx))
    t = registry_client.get(f"/api/registry/transactions/{ledger.transfer_tx}").json()
    assert (t["quantity"], t["from_account"], t["to_account"]) == (40, ledger.world.seller,
                                                                    ledger.world.buyer)
    assert t["approver"] == "bob" and t["acceptor"] == "carol"
    assert t["created_at"] == "2026-06-01T00:00:00Z"
    for tx in (ledger.issuance_tx, ledger.transfer_tx, ledger.use_tx):   # read back whole
        t = registry_client.get(f"/api/registry/transactions/{tx}").json()
        assert (t["unit_type"], t["vintage"], t["authorisation_id"]) == ("itmo", 2026, "GHA-A1")


@pytest.mark.parametrize("url", ["/api/registry/transactions/999999",
                                 "/api/registry/accounts/999999/holdings",
                                 "/api/registry/ca/ZZZ"])
def test_unknown_ids_are_404(registry_client: TestClient, url: str) -> None:
    r = registry_client.get(url)
    assert r.status_code == 404
    assert r.json()["error"] and problems(r) == []


@pytest.mark.parametrize(("url", "where"), [
    ("/api/registry/transactions/0", "path.tx_id"),
    ("/api/registry/transactions/9223372036854775808", "path.tx_id"),  # beyond any row id
    ("/api/registry/transactions/abc", "path.tx_id"),
    ("/api/registry/accounts/-1/holdings", "path.account_id"),
    ("/api/registry/ca/gha", "path.party"),
    ("/api/registry/calendar?as_of=2027-13-01", "query.as_of"),
    ("/api/registry/calendar?as_of=9999-06-01", "query.as_of"),
    ("/api/registry/calendar?party=G%00A", "query.party"),
])
def test_bad_parameters_are_422(registry_client: TestClient, url: str, where: str) -> None:
    r = registry_client.get(url)
    assert r.status_code == 422
    assert [p for p, _ in problems(r)] == [where]


def test_calendar(registry_client: TestClient, ledger: Ledger) -> None:
    r = registry_client.get("/api/registry/calendar", params={"as_of": AS_OF.isoformat()})
    assert r.status_code == 200
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        expected = reg.calendar(AS_OF)
    assert r.json() == [{"party": i.party, "report": i.report, "year": i.year,
                         "due": i.due.isoformat(), "status": i.status, "source": i.source}
                        for i in expected]
    items = {(i["report"], i["year"]): i for i in r.json() if i["party"] == "GHA"}
    assert items[("annual", 2026)]["due"] == "2027-04-15"
    assert items[("annual", 2026)]["status"] == "overdue"  # 1 May 2027, nothing submitted
    assert items[("initial", 0)]["status"] == "overdue"
    # CHE authorised nothing but acquired ITMOs: a participating Party, it reports too
    # (Decision 2/CMA.3 annex paras 18, 20, 21: "each participating Party")
    assert {i["party"] for i in r.json()} == {"GHA", "CHE"}
    only = registry_client.get("/api/registry/calendar", params={"party": "CHE",
                                                                 "as_of": "2027-05-01"})
    che = {(i["report"], i["year"]): i for i in only.json()}
    assert {i["party"] for i in only.json()} == {"CHE"}
    assert che[("annual", 2026)]["due"] == "2027-04-15"
    assert che[("initial", 0)]["status"] == "overdue"


def test_calendar_defaults_to_today(registry_client: TestClient, ledger: Ledger) -> None:
    body = registry_client.get("/api/registry/calendar").json()
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        expected = reg.calendar(date.today())
    assert [(i["report"], i["year"], i["status"]) for i in body] == [
        (i.report, i.year, i.status) for i in expected]


def test_corresponding_adjustments(registry_client: TestClient, ledger: Ledger) -> None:
    r = registry_client.get("/api/registry/ca/GHA")
    assert r.status_code == 200
    body = r.json()
    assert body["ledger"] == [{"metric": "tCO2e", "year": 2026, "first_transferred": 40, "used": 0}]
    adj = body["adjustments"]
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        res = reg.corresponding_adjustments("GHA")
    assert (adj["method"], adj["first_year"], adj["last_year"]) == ("trajectory", 2026, 2030)
    assert adj["source"] == res.source
    y2026 = adj["years"][0]
    assert (y2026["year"], y2026["first_transferred"], y2026["adjustment"],
            y2026["adjustment_exact"], y2026["adjusted_balance"]) == (2026, 40, 40.0, "40", 1040.0)
    assert [y["year"] for y in adj["years"]] == list(range(2026, 2031))
    assert adj["cumulative_adjustment"] == float(res.cumulative_adjustment) == 40
    assert body["note"] is None


def test_ledger_without_ndc_accounting(registry_client: TestClient) -> None:
    """CHE used 10 ITMOs but recorded no NDC accounting: the ledger, no adjustments, and why."""
    body = registry_client.get("/api/registry/ca/CHE").json()
    assert body["ledger"] == [{"metric": "tCO2e", "year": 2026, "first_transferred": 0, "used": 10}]
    assert body["adjustments"] is None
    assert "no NDC accounting recorded for CHE" in body["note"]


def test_uninitialised_registry_is_400_and_the_rest_still_works(client: TestClient) -> None:
    r = client.get("/api/registry/accounts")
    assert r.status_code == 400
    assert "not initialised" in r.json()["error"]
    assert client.get("/api/health").status_code == 200


def test_only_users_with_the_role_change_anything(client_factory: Callable[..., TestClient],
                                                  ledger: Ledger) -> None:
    """Anonymous requests are refused (401), the auditor reads but cannot act (403); alice
    proposes, cannot approve her own proposal, bob approves, carol accepts: holdings change."""
    w = ledger.world
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        tok = {u: reg.as_(u).issue_token("write", name="t") for u in ("alice", "bob", "carol")}
        before = reg.balance(w.seller), reg.balance(w.buyer)
    body = {"from_account": w.seller, "to_account": w.buyer, "quantity": 5}
    with client_factory(create_app(ledger.url)) as client:
        r = client.post("/api/registry/transfers", json=body)
        assert r.status_code == 401 and "S7003" in r.text
        assert client.get("/api/registry/accounts").status_code == 401
        r = client.post("/api/registry/transfers", json=body, headers=ledger.auth)
        assert r.status_code == 403 and "S7001" in r.text        # auditor: read-only
        bearer = {u: {"Authorization": f"Bearer {t}"} for u, t in tok.items()}
        r = client.post("/api/registry/transfers", json=body, headers=bearer["carol"])
        assert r.status_code == 403                               # not the seller's representative
        r = client.post("/api/registry/transfers", json=body, headers=bearer["alice"])
        assert r.status_code == 200 and r.json()["state"] == "proposed"
        tx = r.json()["tx_id"]
        r = client.post(f"/api/registry/transactions/{tx}/approve", headers=bearer["alice"])
        assert r.status_code == 422 and "A2006" in r.text        # four eyes
        r = client.post(f"/api/registry/transactions/{tx}/approve", headers=bearer["bob"])
        assert r.json()["state"] == "approved"
        r = client.post(f"/api/registry/transactions/{tx}/accept", headers=bearer["carol"])
        assert r.status_code == 200 and r.json()["state"] == "completed"
        me = client.get("/api/registry/me", headers=bearer["carol"]).json()
        assert me["username"] == "carol" and me["accounts"] == {str(w.buyer): "initiator_approver"}
        r = client.get("/api/registry/transactions/999999", headers=bearer["carol"])
        assert r.status_code in (403, 404)
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        assert (reg.balance(w.seller), reg.balance(w.buyer)) == (before[0] - 5, before[1] + 5)
        assert reg.verify() == []


def test_login_throttles_and_locks(client_factory: Callable[..., TestClient],
                                   ledger: Ledger) -> None:
    """A token for the right password; the sixth wrong password in a row locks the login (the
    right one is then refused too); every failure is journalled without the password."""
    with Registry(ledger.url) as raw:
        acting(raw).as_("admin").create_user("erin", "correct horse battery")
    with client_factory(create_app(ledger.url)) as client:
        r = client.post("/api/registry/login",
                        json={"username": "erin", "password": "correct horse battery"})
        assert r.status_code == 200
        token = r.json()["token"]
        me = client.get("/api/registry/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "erin"
        for i in range(6):
            r = client.post("/api/registry/login", json={"username": "erin",
                                                         "password": f"wrong guess {i}"})
            assert r.status_code == 401
        assert "locked" in r.text
        r = client.post("/api/registry/login",
                        json={"username": "erin", "password": "correct horse battery"})
        assert r.status_code == 401 and "locked" in r.text
        client.post("/api/registry/logout", headers={"Authorization": f"Bearer {token}"})
        r = client.get("/api/registry/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
    with Registry(ledger.url) as raw:
        payloads = raw._read(lambda c: [p for (p,) in c.exec_driver_sql(
            "SELECT payload FROM journal WHERE kind = 'access.denied'")])
    assert sum('"login"' in p for p in payloads) == 7
    assert not any("wrong guess" in p or "horse" in p for p in payloads)


def test_public_aggregates_name_no_one(client_factory: Callable[..., TestClient],
                                       ledger: Ledger) -> None:
    with client_factory(create_app(ledger.url)) as client:
        r = client.get("/api/registry/public")
    assert r.status_code == 200
    body = r.json()
    assert {"registry": "CHE01", "unit_type": "itmo", "vintage": 2026, "quantity": 30} in \
        body["holdings"]
    assert body["transfers"] == [{"from_registry": "GHA01", "to_registry": "CHE01",
                                  "transfers": 1, "quantity": 40}]
    assert {"party": "GHA", "year": 2026, "metric": "tCO2e", "first_transferred": 40,
            "used": 0} in body["adjustments"]
    for name in ("alice", "bob", "carol", "Cookstoves", "KliK", "seller", "buyer"):
        assert name not in r.text


def test_registry_page_login_needs_csrf_and_sets_a_strict_session_cookie(
        client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    from tests.api.conftest import VIEWER, VIEWER_PASSWORD
    with client_factory(create_app(ledger.url)) as client:
        page = client.get("/registry")
        assert page.status_code == 200 and 'id="login-form"' in page.text
        assert 'id="accounts"' not in page.text and "Cookstoves" not in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"username": VIEWER, "password": VIEWER_PASSWORD}
        r = client.post("/registry/login", data=form, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text             # no token: refused
        r = client.post("/registry/login", data={**form, "csrf": "x" * 32},
                        follow_redirects=False)
        assert r.status_code == 403                                    # a wrong one too
        r = client.post("/registry/login", data={**form, "csrf": csrf.group(1)},
                        follow_redirects=False)
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "carbonlink_session=" in cookie and "httponly" in cookie and \
            "samesite=strict" in cookie
        page = client.get("/registry")
        assert 'id="user"' in page.text and 'id="accounts"' in page.text
        r = client.post("/registry/logout", data={"csrf": "wrong"}, follow_redirects=False)
        assert r.status_code == 403
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        r = client.post("/registry/logout", data={"csrf": token.group(1)},
                        follow_redirects=False)
        assert r.status_code == 303
        client.cookies.clear()
        assert 'id="login-form"' in client.get("/registry").text
