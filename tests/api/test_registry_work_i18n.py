"""The registry's working pages in Chinese (``?lang=zh``), logged in: the account page (with a
proposed transfer, a trusted-list change and the forms), the authorisations page and the users
page show no run of three or more English words (the helper of tests/reporting/test_i18n.py;
names, ids and unit types are data, not sentences), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from carbonlink.registry import Registry
from tests.api.conftest import Ledger
from tests.api.test_pages_i18n import _visible
from tests.api.test_registry_work import session
from tests.registry.conftest import acting

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi.testclient import TestClient


def _zh(client: TestClient, path: str) -> str:
    r = client.get(path, params={"lang": "zh"})
    assert r.status_code == 200, r.text
    assert '<html lang="zh">' in r.text
    return r.text


def test_working_pages_in_chinese(client_factory: Callable[..., TestClient],
                                  ledger: Ledger) -> None:
    w = ledger.world
    party = w.gha["party_holding"]
    with Registry(ledger.url) as raw:
        reg = acting(raw)
        reg.as_("alice").transfer(w.seller, party, 2)          # proposed: rows with buttons
        reg.as_("alice").trust(w.seller, party)                 # a proposed trusted change
    with session(client_factory, ledger, "bob") as (client, _):
        page = _zh(client, f"/registry/accounts/{w.seller}")
        assert 'id="transfer-form"' in page and 'id="trust-form"' in page
        assert 'id="trust-changes"' in page and "/approve" in page
        assert not _english(_visible(page)), _english(_visible(page))
        home = _zh(client, "/registry")
        assert not _english(_visible(home)), _english(_visible(home))
    with session(client_factory, ledger, "officer") as (client, _):
        page = _zh(client, "/registry/authorisations")
        assert "GHA-A1" in page
        assert not _english(_visible(page)), _english(_visible(page))
    with session(client_factory, ledger, "admin") as (client, _):
        page = _zh(client, "/registry/users")
        assert "alice" in page
        assert not _english(_visible(page)), _english(_visible(page))


#: people's usernames are data, not sentences (as a document's party names are in
#: tests/reporting/test_i18n.py)
NAMES = ["alice", "bob", "carol", "cyril", "dave", "dora", "admin2", "admin", "auditor",
         "officer2", "officer", "rep2", "rep"]


def _english(text: str) -> list[str]:
    from tests.reporting.test_i18n import _english as runs
    return runs(re.sub(r"\b(" + "|".join(NAMES) + r")\b", " ", text))
