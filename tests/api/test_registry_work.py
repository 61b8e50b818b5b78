"""The registry's working pages and the history API over a TestClient, on SQLite and
PostgreSQL: what each role sees and may do, the history's search and filters against a plain
filter of the service's transactions, the officials' and administrators' forms (four eyes),
the AEF download, and refusals journalled."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from carbonlink.api import create_app
from carbonlink.registry import CheckFailed, Registry
from tests.api.conftest import Ledger
from tests.registry.conftest import acting

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


@contextmanager
def session(client_factory: Callable[..., TestClient], ledger: Ledger,
            user: str) -> Iterator[tuple[TestClient, str]]:
    """A client logged in as ``user`` (a session cookie) and the CSRF token of its forms."""
    with Registry(ledger.url) as raw:
        token = acting(raw).as_(user).issue_token("write", name="web")
    with client_factory(create_app(ledger.url)) as client:
        client.cookies.set("carbonlink_session", token)
        page = client.get("/registry")
        assert page.status_code == 200, page.text
        m = re.search(r'name="csrf" value="([0-9a-f]{32})"', page.text)
        assert m
        yield client, m.group(1)


def denials(ledger: Ledger) -> list[dict[str, Any]]:
    with Registry(ledger.url) as raw:
        return [json.loads(p) for (p,) in raw._read(lambda c: c.exec_driver_sql(
            "SELECT payload FROM journal WHERE kind = 'access.denied' ORDER BY seq").all())]


def row_of(page: str, row_id: str) -> str:
    """The table row ``<tr id="row_id">…</tr>`` of ``page`` ('' when there is none)."""
    m = re.search(rf'<tr id="{row_id}">.*?</tr>', page, re.S)
    return m.group(0) if m else ""


def test_a_representative_sees_their_accounts_only(client_factory: Callable[..., TestClient],
                                                    ledger: Ledger) -> None:
    w = ledger.world
    with session(client_factory, ledger, "carol") as (client, _):
        home = client.get("/registry").text
        assert re.findall(r'<td class="num"><a href="/registry/accounts/(\d+)">', home) == \
            [str(w.buyer)]
        assert 'id="accounts"' not in home and 'id="calendar"' not in home   # reads all: no
        page = client.get(f"/registry/accounts/{w.buyer}")
        assert page.status_code == 200
        assert re.search(r'id="balance">30<', page.text)
        # holdings by unit type and vintage: 30 held GHA01 itmo 2026 (40 in, 10 used)
        assert re.search(r"<td>held</td><td>GHA01</td><td>itmo</td><td class=\"num\">2026</td>"
                         r"<td class=\"num\">30</td>", page.text)
        assert 'id="transfer-form"' in page.text
        before = len(denials(ledger))
        other = client.get(f"/registry/accounts/{w.seller}")
        assert other.status_code == 403 and "S7001" in other.text
        assert client.get(f"/api/registry/accounts/{w.seller}/transactions").status_code == 403
        assert client.get("/registry/users").status_code == 403
        assert client.get("/registry/aef", params={"party": "GHA", "year": "2026"}
                          ).status_code == 403
    after = denials(ledger)[before:]
    assert [d["user"] for d in after] == ["carol"] * 4 and all(d["code"] == "S7001"
                                                               for d in after)


def test_history_search_and_filters(client_factory: Callable[..., TestClient],
                                    ledger: Ledger) -> None:
    """The API's history equals a plain filter of every transaction of the account read
    back one by one through the service."""
    w = ledger.world
    with Registry(ledger.url) as raw:
        reg = acting(raw).as_("admin")
        everything = []
        for i in range(ledger.issuance_tx, ledger.use_tx + 1):   # ids may skip (PostgreSQL)
            try:
                everything.append(reg.transaction(i))
            except CheckFailed as exc:
                assert exc.code == "R1005"
    mine = [t for t in everything if w.buyer in (t["from_account"], t["to_account"])]

    def plain(**f: str) -> list[int]:
        out = [t for t in mine if all(str(t[k]) == v for k, v in f.items())]
        return sorted((t["id"] for t in out), reverse=True)

    with session(client_factory, ledger, "carol") as (client, _):
        def api(**params: str) -> list[int]:
            r = client.get(f"/api/registry/accounts/{w.buyer}/transactions", params=params)
            assert r.status_code == 200, r.text
            return [t["id"] for t in r.json()]

        assert api() == plain() and len(plain()) == 2      # the transfer in, the use
        read_back = {t["id"]: t for t in mine}
        for row in client.get(f"/api/registry/accounts/{w.buyer}/transactions").json():
            for k in ("unit_type", "vintage", "authorisation_id", "quantity", "state"):
                assert row[k] == read_back[row["id"]][k], k      # read back whole
        assert api(kind="use") == plain(kind="use") == [ledger.use_tx]
        assert api(state="completed") == plain(state="completed")
        assert api(state="rejected") == []
        assert api(q="alice") == [ledger.transfer_tx]       # its proposer
        assert api(q=str(ledger.use_tx)) == [ledger.use_tx]
        assert api(date_from="2026-11-01") == [ledger.use_tx]
        assert api(date_to="2026-07-01") == [ledger.transfer_tx]
        assert api(limit="1") == plain()[:1]
        page = client.get(f"/registry/accounts/{w.buyer}", params={"kind": "use"}).text
        assert re.findall(r'<tr id="tx-(\d+)">', page) == [str(ledger.use_tx)]
        bad = client.get(f"/registry/accounts/{w.buyer}", params={"date_from": "May 1"})
        assert bad.status_code == 422 and "date_from" in bad.text
    with session(client_factory, ledger, "auditor") as (client, _):
        assert client.get("/api/registry/accounts/999999/transactions").status_code == 404


def test_transfer_forms(client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    w = ledger.world
    with session(client_factory, ledger, "alice") as (client, csrf):
        url = f"/registry/accounts/{w.seller}/transfer"
        form = {"to_account": str(w.buyer), "quantity": "5", "vintage": "2026"}
        refused = client.post(url, data=form, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
        bad = client.post(url, data={**form, "quantity": "0", "csrf": csrf})
        assert bad.status_code == 422 and "quantity" in bad.text
        r = client.post(url, data={**form, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        tx = int(re.search(r"transaction\+(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
        own = client.post(f"/registry/transactions/{tx}/approve", data={"csrf": csrf})
        assert own.status_code == 403 and "A2006" in own.text
    with session(client_factory, ledger, "bob") as (client, csrf):
        assert f'id="waiting-{tx}"' in client.get("/registry").text
        r = client.post(f"/registry/transactions/{tx}/reject",
                        data={"csrf": csrf, "reason": "wrong account",
                              "back": "https://elsewhere.example/"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/registry?done=")
        shown = client.get(r.headers["location"]).text
        assert re.search(rf'id="done"[^>]*>transaction {tx}: external transfer rejected<', shown)
        crafted = client.get("/registry", params={"done": "Visit https://evil.example <b>"})
        assert 'id="done"' not in crafted.text
    with Registry(ledger.url) as raw:
        t = acting(raw).as_("admin").transaction(tx)
        assert (t["state"], t["reason"]) == ("rejected", "wrong account")
        assert acting(raw).as_("admin").balance(w.seller) == 60


def test_officials_propose_and_decide_authorisations(
        client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    form = {"id": "GHA-A2", "cooperative_approach": "CA0002", "registry": "GHA01",
            "quantity": "500", "purposes": "NDC", "vintage_from": "2026", "vintage_to": "2027",
            "valid_from": "2026-01-01"}
    with session(client_factory, ledger, "officer") as (client, csrf):
        r = client.post("/registry/authorisations", data={**form, "csrf": csrf},
                        follow_redirects=False)
        assert r.status_code == 303 and "proposed" in r.headers["location"]
        page = client.get("/registry/authorisations").text
        [action] = re.findall(r'action="/registry/actions/(\d+)/reject"', page)
        assert f'action="/registry/actions/{action}/approve"' not in page    # own proposal
        own = client.post(f"/registry/actions/{action}/approve", data={"csrf": csrf})
        assert own.status_code == 403 and "S7002" in own.text
    with session(client_factory, ledger, "officer2") as (client, csrf):
        r = client.post(f"/registry/actions/{action}/approve", data={"csrf": csrf},
                        follow_redirects=False)
        assert r.status_code == 303
        assert "<td>GHA-A2</td>" in client.get("/registry/authorisations").text
    with Registry(ledger.url) as raw:
        assert acting(raw).as_("admin").authorisation("GHA-A2").quantity == 500
    with session(client_factory, ledger, "auditor") as (client, csrf):
        page = client.get("/registry/authorisations").text
        assert "<td>GHA-A2</td>" in page and 'id="authorise-form"' not in page
        r = client.post("/registry/authorisations", data={**form, "id": "GHA-A3", "csrf": csrf})
        assert r.status_code == 403


def test_administrators_manage_users(client_factory: Callable[..., TestClient],
                                     ledger: Ledger) -> None:
    w = ledger.world
    with session(client_factory, ledger, "admin") as (client, csrf):
        r = client.post("/registry/users/create",
                        data={"csrf": csrf, "username": "erin", "role": "auditor", "scope": "*"})
        assert r.status_code == 201, r.text
        assert re.search(r'id="otp">[\w-]{12,}<', r.text)
        for what, extra in (("grant", {"role": "administrator", "scope": "CHE01"}),
                            ("revoke", {"role": "administrator", "scope": "CHE01"}),
                            ("representative", {"account": str(w.buyer2),
                                                "rep_role": "approver"}),
                            ("active", {"active": "0"})):
            r = client.post(f"/registry/users/{what}",
                            data={"csrf": csrf, "username": "erin", **extra},
                            follow_redirects=False)
            assert r.status_code == 303, r.text
        assert client.post("/registry/users/grant", data={
            "csrf": csrf, "username": "erin", "role": "wizard"}).status_code == 422
    with Registry(ledger.url) as raw:
        [erin] = [u for u in acting(raw).as_("admin").users() if u["username"] == "erin"]
    assert erin["roles"] == [("auditor", "*")] and erin["accounts"] == {w.buyer2: "approver"}
    assert erin["active"] is False
    with session(client_factory, ledger, "auditor") as (client, csrf):
        assert "erin" in client.get("/registry/users").text
        assert client.post("/registry/users/create", data={
            "csrf": csrf, "username": "mallory"}).status_code == 403


def test_aef_download(client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    with Registry(ledger.url) as raw:
        tables = acting(raw).as_("admin").aef("GHA", 2026)
    with session(client_factory, ledger, "auditor") as (client, _):
        r = client.get("/registry/aef", params={"party": "GHA", "year": "2026"})
        assert r.status_code == 200 and "aef-GHA-2026.xlsx" in r.headers["content-disposition"]
        wb = openpyxl.load_workbook(io.BytesIO(r.content))
        assert wb.sheetnames == list(tables)
        for name, rows in tables.items():
            assert wb[name].max_row == len(rows) + 1       # the header and every row
        bad = client.get("/registry/aef", params={"party": "gh", "year": "26"})
        assert bad.status_code == 422 and "party" in bad.text and "year" in bad.text


def test_a_user_created_on_the_web_changes_the_one_time_password_at_first_login(
        client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    """The users page shows a one-time password; its holder logs in on the web once with it
    and a new password (changed before any session exists), then only the new one works."""
    with session(client_factory, ledger, "admin") as (client, csrf):
        r = client.post("/registry/users/create",
                        data={"csrf": csrf, "username": "fiona", "role": "auditor", "scope": "*"})
        assert r.status_code == 201, r.text
        m = re.search(r'id="otp">([\w-]{12,})<', r.text)
        assert m
        otp = m.group(1)
    new = "a much better passphrase 42"
    with client_factory(create_app(ledger.url)) as client:
        page = client.get("/registry")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None and 'name="new_password"' in page.text
        form = {"csrf": token.group(1), "username": "fiona", "password": otp}
        r = client.post("/registry/login", data=form, follow_redirects=False)
        assert r.status_code == 401 and "one-time password" in r.text   # no session yet
        assert "carbonlink_session" not in r.headers.get("set-cookie", "")
        r = client.post("/registry/login", data={**form, "new_password": new,
                                                 "new_password_again": new + "x"},
                        follow_redirects=False)
        assert r.status_code == 422 and "differ" in r.text
        r = client.post("/registry/login", data={**form, "new_password": new,
                                                 "new_password_again": new},
                        follow_redirects=False)
        assert r.status_code == 303 and "carbonlink_session=" in r.headers["set-cookie"]
        assert 'id="user"' in client.get("/registry").text
    with Registry(ledger.url) as raw:
        with pytest.raises(CheckFailed):
            raw.login("fiona", otp)
        assert not raw.login("fiona", new).must_change_password


def test_internal_transfer_under_four_eyes_is_approved_and_cancelled_in_the_delay(
        client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    """Every internal transfer is under four eyes: alice proposes one on the web, cannot
    approve it, bob approves it (to an account not on the trusted list: delayed 26 h on the
    server's clock, the page says until when), and a representative of the sending account
    cancels it during the delay: the units come back."""
    w = ledger.world
    party = w.gha["party_holding"]
    with Registry(ledger.url) as raw:
        before = acting(raw).as_("admin").balance(w.seller)
    with session(client_factory, ledger, "alice") as (client, csrf):
        r = client.post(f"/registry/accounts/{w.seller}/transfer",
                        data={"csrf": csrf, "to_account": str(party), "quantity": "6",
                              "vintage": "2026"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        tx = int(re.search(r"transaction\+(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
        row = row_of(client.get(f"/registry/accounts/{w.seller}").text, f"tx-{tx}")
        assert row and "proposed" in row and f"/transactions/{tx}/approve" not in \
            row and f"/transactions/{tx}/cancel" in row
        own = client.post(f"/registry/transactions/{tx}/approve", data={"csrf": csrf})
        assert own.status_code == 403 and "A2006" in own.text
    with session(client_factory, ledger, "bob") as (client, csrf):
        assert f'id="waiting-{tx}"' in client.get("/registry").text
        r = client.post(f"/registry/transactions/{tx}/approve", data={"csrf": csrf},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        row = row_of(client.get(f"/registry/accounts/{w.seller}").text, f"tx-{tx}")
        assert row and "delayed (completes at" in row
    with session(client_factory, ledger, "carol") as (client, csrf):   # not a representative
        r = client.post(f"/registry/transactions/{tx}/cancel", data={"csrf": csrf})
        assert r.status_code == 403
    with session(client_factory, ledger, "alice") as (client, csrf):
        r = client.post(f"/registry/transactions/{tx}/cancel", data={"csrf": csrf},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
    with Registry(ledger.url) as raw:
        adm = acting(raw).as_("admin")
        assert adm.transaction(tx)["state"] == "cancelled"
        assert adm.balance(w.seller) == before and adm.balance(party) == 0
        assert adm.verify() == []


def test_trusted_list_is_kept_by_representatives_on_the_account_page(
        client_factory: Callable[..., TestClient], ledger: Ledger) -> None:
    """alice proposes adding an account to the seller's trusted list on the account page; she
    is offered no approval and her own approval is refused (A2006); bob approves from the page
    and the list shows the account with the time it is in force from (not yet: the fourth
    working day, Reg. (EU) 2019/1122 Art 23(4)); the auditor sees the list and no form."""
    w = ledger.world
    party = w.gha["party_holding"]
    with session(client_factory, ledger, "alice") as (client, csrf):
        page = client.get(f"/registry/accounts/{w.seller}").text
        assert 'id="trust-form"' in page and 'id="trusted"' in page
        r = client.post(f"/registry/accounts/{w.seller}/trusted",
                        data={"csrf": csrf, "trusted_account": str(party), "action": "add"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        change = int(re.search(r"change\+(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
        row = row_of(client.get(f"/registry/accounts/{w.seller}").text, f"trust-change-{change}")
        assert row and "alice" in row and "/approve" not in row
        own = client.post(f"/registry/trusted/{change}/approve", data={"csrf": csrf})
        assert own.status_code == 403 and "A2006" in own.text
        bad = client.post(f"/registry/accounts/{w.seller}/trusted",
                          data={"csrf": csrf, "trusted_account": str(party), "action": "x"})
        assert bad.status_code == 422 and "action" in bad.text
    with session(client_factory, ledger, "bob") as (client, csrf):
        row = row_of(client.get(f"/registry/accounts/{w.seller}").text, f"trust-change-{change}")
        assert row and f"/registry/trusted/{change}/approve" in row
        r = client.post(f"/registry/trusted/{change}/approve",
                        data={"csrf": csrf, "back": f"/registry/accounts/{w.seller}"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        page = client.get(f"/registry/accounts/{w.seller}").text
        row = row_of(page, f"trusted-{party}")
        assert row and "not yet" in row
        assert f'id="trust-change-{change}"' not in page
        # bob proposes taking it off again, then withdraws his proposal from the page
        r = client.post(f"/registry/accounts/{w.seller}/trusted",
                        data={"csrf": csrf, "trusted_account": str(party), "action": "remove"},
                        follow_redirects=False)
        removal = int(re.search(r"change\+(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
        row = row_of(client.get(f"/registry/accounts/{w.seller}").text, f"trust-change-{removal}")
        assert row and f"/registry/trusted/{removal}/reject" in row
        r = client.post(f"/registry/trusted/{removal}/reject",
                        data={"csrf": csrf, "back": f"/registry/accounts/{w.seller}"},
                        follow_redirects=False)
        assert r.status_code == 303 and "rejected" in r.headers["location"], r.text
        assert f'id="trust-change-{removal}"' not in client.get(
            f"/registry/accounts/{w.seller}").text
        bad = client.post(f"/registry/trusted/{removal}/maybe", data={"csrf": csrf})
        assert bad.status_code == 422 and "decision" in bad.text
    with session(client_factory, ledger, "auditor") as (client, _):
        page = client.get(f"/registry/accounts/{w.seller}").text
        assert f'id="trusted-{party}"' in page and 'id="trust-form"' not in page
        assert "/reject" not in page
    with Registry(ledger.url) as raw:
        adm = acting(raw).as_("admin")
        assert adm.trusted(w.seller, pending=True)[0]["trusted"] == party
        assert adm.verify() == []
