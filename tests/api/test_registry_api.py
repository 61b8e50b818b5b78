"""GET /api/registry/…: read-only views of a registry built here with a few operations, on
SQLite and on PostgreSQL; each answer equals the Registry method it presents."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pytest

from carbonlink.api import create_app
from carbonlink.registry import Registry
from carbonlink.registry.db import journal
from tests.api.conftest import AS_OF, Ledger
from tests.api.test_simulate import problems

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi.testclient import TestClient


def test_verify_clean(registry_client: TestClient) -> None:
    r = registry_client.get("/api/registry/verify")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "problems": []}


def test_verify_names_a_tampered_journal(client_factory: Callable[..., TestClient],
                                         ledger: Ledger) -> None:
    with Registry(ledger.url) as reg:
        with reg.engine.begin() as c:
            c.execute(journal.update().where(journal.c.kind == "use").values(payload='{"quantity":1}'))
        expected = reg.verify()
    assert expected
    with client_factory(create_app(ledger.url)) as client:
        body = client.get("/api/registry/verify").json()
    assert body == {"ok": False, "problems": expected}
    assert any("(use) hash mismatch" in p for p in body["problems"])


def test_accounts_with_balances(registry_client: TestClient, ledger: Ledger) -> None:
    r = registry_client.get("/api/registry/accounts")
    assert r.status_code == 200
    body = {a["id"]: a for a in r.json()}
    w = ledger.world
    with Registry(ledger.url) as reg:
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
    with Registry(ledger.url) as reg:
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
        with Registry(ledger.url) as reg:
            assert r.json() == _iso(reg.transaction(tx))
    t = registry_client.get(f"/api/registry/transactions/{ledger.transfer_tx}").json()
    assert (t["quantity"], t["from_account"], t["to_account"]) == (40, ledger.world.seller,
                                                                    ledger.world.buyer)
    assert t["approver"] == "bob" and t["acceptor"] == "carol"
    assert t["created_at"] == "2026-06-01T00:00:00Z"


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
    with Registry(ledger.url) as reg:
        expected = reg.calendar(AS_OF)
    assert r.json() == [{"party": i.party, "report": i.report, "year": i.year,
                         "due": i.due.isoformat(), "status": i.status, "source": i.source}
                        for i in expected]
    items = {(i["report"], i["year"]): i for i in r.json()}
    assert items[("annual", 2026)]["due"] == "2027-04-15"
    assert items[("annual", 2026)]["status"] == "overdue"  # 1 May 2027, nothing submitted
    assert items[("initial", 0)]["status"] == "overdue"
    assert {i["party"] for i in r.json()} == {"GHA"}
    only = registry_client.get("/api/registry/calendar", params={"party": "CHE",
                                                                 "as_of": "2027-05-01"})
    assert only.json() == []  # CHE authorised nothing


def test_calendar_defaults_to_today(registry_client: TestClient, ledger: Ledger) -> None:
    body = registry_client.get("/api/registry/calendar").json()
    with Registry(ledger.url) as reg:
        expected = reg.calendar(date.today())
    assert [(i["report"], i["year"], i["status"]) for i in body] == [
        (i.report, i.year, i.status) for i in expected]


def test_corresponding_adjustments(registry_client: TestClient, ledger: Ledger) -> None:
    r = registry_client.get("/api/registry/ca/GHA")
    assert r.status_code == 200
    body = r.json()
    assert body["ledger"] == [{"metric": "tCO2e", "year": 2026, "first_transferred": 40, "used": 0}]
    adj = body["adjustments"]
    with Registry(ledger.url) as reg:
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


def test_the_registry_api_cannot_change_anything(registry_client: TestClient) -> None:
    """No authentication, so no route moves units: every registry route is a GET, and writing
    methods are refused."""
    paths = registry_client.get("/openapi.json").json()["paths"]
    registry = {p: set(ops) for p, ops in paths.items() if p.startswith("/api/registry")}
    assert len(registry) == 6 and all(methods == {"get"} for methods in registry.values())
    for method in ("post", "put", "patch", "delete"):
        assert registry_client.request(method.upper(), "/api/registry/accounts").status_code == 405
