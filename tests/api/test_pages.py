"""The server-rendered pages through the TestClient: forms, results, error pages, the security
header that keeps them self-contained. (tests/api/test_browser.py drives them in Chromium.)"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import pytest
import yaml

import carbonlink
from carbonlink.api.routes.pages import CSP, EXAMPLE_AGREEMENT, EXAMPLE_SCENARIO
from carbonlink.data import list_ets, today
from carbonlink.reporting.console import fmt_num
from tests.api.conftest import AS_OF, REPO, Ledger

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

AGREEMENTS = REPO / "examples" / "agreements"
SCENARIOS = REPO / "examples" / "scenarios"


def cells(page: str, table_id: str, cls: str) -> list[str]:
    """Text of the cells with class ``cls`` in the table ``table_id``."""
    m = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert m, f"no table {table_id}"
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(rf'<td class="{cls}"[^>]*>(.*?)</td>', m.group(1), re.S)]


def col(page: str, table_id: str, column: str) -> list[str]:
    m = re.search(rf'<table class="result" id="{table_id}">(.*?)</table>', page, re.S)
    assert m, f"no table {table_id}"
    return [html.unescape(c) for c in re.findall(rf'<td data-col="{column}"[^>]*>(.*?)</td>', m.group(1))]


def textarea(page: str) -> str:
    m = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', page, re.S)
    assert m
    return html.unescape(m.group(1))


def test_the_form_examples_are_the_shipped_examples() -> None:
    """The forms start with copies of examples/ (which is not installed with the package)."""
    assert EXAMPLE_AGREEMENT.read_bytes() == (AGREEMENTS / EXAMPLE_AGREEMENT.name).read_bytes()
    assert EXAMPLE_SCENARIO.read_bytes() == (SCENARIOS / EXAMPLE_SCENARIO.name).read_bytes()


@pytest.mark.parametrize("url", ["/", "/check", "/simulate", "/data", "/registry"])
def test_every_page_is_self_contained_html(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "<script" not in r.text and "http://" not in r.text.replace("http://www.w3.org", "")
    for link in ("/check", "/simulate", "/registry", "/data"):
        assert f'href="{link}"' in r.text


def test_index(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "Linking carbon markets" in r.text
    assert cells(r.text, "ets-ids", "").count  # the table exists
    for e in list_ets():
        assert f"<code>{e.id}</code>" in r.text


def test_check_form_starts_with_an_example(client: TestClient) -> None:
    r = client.get("/check")
    assert r.status_code == 200
    assert textarea(r.text) == EXAMPLE_AGREEMENT.read_text(encoding="utf-8")
    assert 'method="post" action="/check"' in r.text


@pytest.mark.parametrize("name", ["california-quebec.yaml", "defective-draft.yaml"])
def test_check_submit_shows_the_findings(client: TestClient, name: str) -> None:
    text = (AGREEMENTS / name).read_text(encoding="utf-8")
    r = client.post("/check", data={"document": text, "strict": ""})
    assert r.status_code == 200
    report = carbonlink.check(yaml.safe_load(text))
    assert cells(r.text, "findings", "rule") == [f.rule for f in report.findings]
    assert [c for c in cells(r.text, "findings", r"sev-\w+")] == [f.severity for f in report.findings]
    s = report.summary
    assert f"{s['errors']} errors, {s['warnings']} warnings, {s['info']} info" in r.text
    assert textarea(r.text) == text  # the document stays in the form
    if report.compatibility:
        assert cells(r.text, "compatibility", r"rating-\w+") == [c.rating for c in report.compatibility]


def test_check_as_of_from_the_form(client: TestClient) -> None:
    text = (AGREEMENTS / "california-quebec-ontario-2017.yaml").read_text(encoding="utf-8")
    for day in ("2017-12-31", "2026-06-01"):
        r = client.post("/check", data={"document": text, "strict": "", "as_of": day})
        assert r.status_code == 200 and f"judged as of {day}" in r.text
        report = carbonlink.check(yaml.safe_load(text), as_of=day)
        assert cells(r.text, "findings", "rule") == [f.rule for f in report.findings]
        assert f'value="{day}"' in r.text
    bad = client.post("/check", data={"document": text, "strict": "", "as_of": "31.12.2017"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in html.unescape(bad.text)


def test_check_strict_rules_from_the_form(client: TestClient) -> None:
    text = EXAMPLE_AGREEMENT.read_text(encoding="utf-8")
    # strict turns every listed rule's finding into an error (FEA-GAP: an info finding on any
    # date, the Swiss price being unknown)
    r = client.post("/check", data={"document": text, "strict": "CMP-R, CMP-REC, fea-gap"})
    assert r.status_code == 200
    assert cells(r.text, "findings", r"sev-\w+")[:3] == ["error"] * 3
    bad = client.post("/check", data={"document": text, "strict": "NOPE"})
    assert bad.status_code == 422
    assert "unknown rule id(s) NOPE" in html.unescape(bad.text)


@pytest.mark.parametrize(("document", "path", "reason"), [
    ("id: x\ntitle: [", "line 2, column 9", "malformed YAML"),
    ("- just\n- a list\n", "&lt;document&gt;", "must be a mapping"),
    ("", "&lt;document&gt;", "empty: paste an agreement document"),
    # a bare YAML string is a document that is not a mapping, never a file to open
    (str(AGREEMENTS / "eu-switzerland.yaml"), "&lt;document&gt;", "must be a mapping, got str"),
    ((AGREEMENTS / "eu-switzerland.yaml").read_text().replace("jurisdiction: CH", "jurisdiction: XX"),
     "parties[1].jurisdiction", "unknown jurisdiction id"),
    ((AGREEMENTS / "eu-switzerland.yaml").read_text().replace("form: treaty\n", ""),
     "form", "Field required"),
    ((AGREEMENTS / "eu-switzerland.yaml").read_text() + "markets:\n"
     "  - {id: EU_ETS, bau: 10, cap: 5, mac: {linear: {slope: .nan}}}\n"
     "  - {id: CH_ETS, bau: 10, cap: 5, mac: {linear: {slope: 1}}}\n",
     "markets[0].mac.linear.slope", "finite number"),
])
def test_check_document_errors_are_a_422_page(client: TestClient, document: str, path: str,
                                              reason: str) -> None:
    r = client.post("/check", data={"document": document, "strict": ""})
    assert r.status_code == 422
    assert 'id="error"' in r.text and 'id="findings"' not in r.text
    assert f'<code class="path">{path}</code>' in r.text
    assert reason in html.unescape(r.text)


def test_pasted_text_is_escaped(client: TestClient) -> None:
    evil = "</textarea><script>alert(1)</script>"
    r = client.post("/check", data={"document": evil, "strict": "<b>x</b>"})
    assert r.status_code == 422
    assert "<script>" not in r.text and "<b>x</b>" not in r.text
    assert textarea(r.text) == evil


def test_simulate_form_and_result(client: TestClient) -> None:
    r = client.get("/simulate")
    assert textarea(r.text) == EXAMPLE_SCENARIO.read_text(encoding="utf-8")
    text = (SCENARIOS / "two-markets-discount.yaml").read_text(encoding="utf-8")
    r = client.post("/simulate", data={"document": text, "engine": "fast"})
    assert r.status_code == 200
    result = carbonlink.simulate(SCENARIOS / "two-markets-discount.yaml")
    m = result.markets
    assert col(r.text, "markets-prices", "market") == ["J1", "J2", "J3"]
    assert col(r.text, "markets-prices", "price") == [fmt_num(v) for v in m["price"]]
    assert col(r.text, "markets-prices", "autarky_price") == [fmt_num(v) for v in m["autarky_price"]]
    assert col(r.text, "markets-costs", "gain") == [fmt_num(v) for v in m["gain"]]
    assert col(r.text, "links", "flow") == [fmt_num(v) for v in result.links["flow"]]
    assert col(r.text, "offsets", "price") == [fmt_num(v) for v in result.offsets["price"]]
    assert "Status: <strong>optimal</strong>" in r.text


def test_simulate_warnings_and_engine(client: TestClient) -> None:
    cycle = ("markets: [{id: A, bau: 10, cap: 5, mac: {linear: {slope: 1}}},"
             " {id: B, bau: 10, cap: 5, mac: {linear: {slope: 2}}}]\n"
             "links: [{from: A, to: B, exchange_rate: 2}, {from: B, to: A}]\n")
    r = client.post("/simulate", data={"document": cycle, "engine": "plain"})
    assert r.status_code == 200
    assert 'id="warnings"' in r.text and "integrity: the cycle" in r.text
    assert '<option value="plain" selected>' in r.text
    bad = client.post("/simulate", data={"document": cycle, "engine": "turbo"})
    assert bad.status_code == 422 and '<code class="path">engine</code>' in bad.text


@pytest.mark.parametrize(("document", "path"), [
    ("markets: [{id: A, bau: 10, cap: 5, mac: {linear: {slope: -2}}}]", "markets[0].mac.linear.slope"),
    ("markets: [{id: A, bau: .inf, cap: 5, mac: {linear: {slope: 2}}}]", "markets[0].bau"),
    ("markets: [{id: A, bau: 10, cap: 5, mac: {firms: /etc/passwd}}]", "markets[0].mac.firms"),
    ("markets: [{id: A, bau: 10, cap: 5}]", "markets[0].mac"),
    (str(SCENARIOS / "full-link.yaml"), "&lt;document&gt;"),  # text, not a file to open
    ("markets: [{id: A, bau: 5e69, cap: 0, mac: {linear: {slope: 1.5e307}}}]", "&lt;document&gt;"),
])
def test_simulate_document_errors(client: TestClient, document: str, path: str) -> None:
    r = client.post("/simulate", data={"document": document, "engine": "fast"})
    assert r.status_code == 422
    assert f'<code class="path">{path}</code>' in r.text
    assert 'id="result"' not in r.text


def test_data_page_keeps_sources(client: TestClient) -> None:
    r = client.get("/data")
    assert r.status_code == 200
    text = html.unescape(r.text)
    for e in list_ets():
        assert f'<tr id="{e.id}">' in r.text
        if e.cap.source:
            assert e.cap.source in text
    assert '<span class="badge">unverified</span>' in r.text
    assert '<tr id="j-CH">' in r.text


def row_of(page: str, row_id: str) -> str:
    m = re.search(rf'<tr id="{row_id}">(.*?)</tr>', page, re.S)
    assert m, f"no row {row_id}"
    return html.unescape(re.sub(r"<[^>]+>", " ", m.group(1)))


def test_data_page_as_of_a_date(client: TestClient) -> None:
    r = client.get("/data")
    assert r.status_code == 200 and '<input type="date" id="as_of" name="as_of" value="">' in r.text
    assert f"as of <strong>{today().isoformat()}</strong>" in r.text
    # Ontario's system operated in 2018 and had ended by 2019; the US left Paris on 2026-01-27
    r = client.get("/data", params={"as_of": "2018-03-01"})
    assert r.status_code == 200 and 'value="2018-03-01"' in r.text
    assert "as of <strong>2018-03-01</strong>" in r.text
    assert " in force " in row_of(r.text, "ON_CAT")
    assert " ended " in row_of(client.get("/data", params={"as_of": "2019-01-01"}).text, "ON_CAT")
    assert " yes " in row_of(client.get("/data", params={"as_of": "2025-06-01"}).text, "j-US")
    assert " no " in row_of(client.get("/data", params={"as_of": "2026-06-01"}).text, "j-US")
    # the figure valid on the date: California's 2024 budget
    assert "280,700,000" in row_of(client.get("/data", params={"as_of": "2024-06-01"}).text,
                                   "CA_CAT")


@pytest.mark.parametrize("bad", ["31.12.2017", "2024-13-01", "20240101", "not-a-date"])
def test_data_page_refuses_a_bad_date_as_the_api_does(client: TestClient, bad: str) -> None:
    page = client.get("/data", params={"as_of": bad})
    api = client.get("/api/data/ets", params={"as_of": bad})
    assert page.status_code == api.status_code == 422
    [problem] = api.json()["problems"]
    text = html.unescape(page.text)
    assert f'<code class="path">{problem["path"]}</code>' in text
    assert problem["reason"] in text and problem["path"] == "query.as_of"
    assert '<table id="ets">' not in page.text and f'value="{bad}"' in text


def test_data_page_accepts_what_the_api_accepts(client: TestClient) -> None:
    for good in ("2024-06-01", "2024-06-01T00:00:00"):
        assert client.get("/api/data/ets", params={"as_of": good}).status_code == 200
        r = client.get("/data", params={"as_of": good})
        assert r.status_code == 200 and "as of <strong>2024-06-01</strong>" in r.text


def test_registry_page(client_factory: object, ledger: Ledger) -> None:
    from carbonlink.api import create_app

    with client_factory(create_app(ledger.url)) as client:  # type: ignore[operator]
        client.cookies.set("carbonlink_session", ledger.token)   # logged in (the auditor)
        client.headers.update(ledger.auth)
        r = client.get("/registry", params={"as_of": AS_OF.isoformat()})
        assert r.status_code == 200
        assert 'id="verify-form"' in r.text and 'id="verify"' not in r.text   # on request only
        v = client.get("/registry", params={"as_of": AS_OF.isoformat(), "verify": "1"})
        assert 'class="ok" id="verify"' in v.text and 'id="verify-form"' not in v.text
        rows = re.findall(r'<tr><td class="num"><a href="/registry/accounts/\d+">(\d+)</a></td>'
                          r'<td>(\w+)</td>.*?<td class="num">([\d,]+)</td></tr>', r.text)
        balances = {int(i): int(b.replace(",", "")) for i, _, b in rows}
        w = ledger.world
        assert (balances[w.seller], balances[w.buyer]) == (60, 30)
        assert len(balances) == len(client.get("/api/registry/accounts").json())
        assert "2027-04-15" in r.text and 'class="st-overdue"' in r.text
        only = client.get("/registry", params={"party": "CHE", "as_of": "2027-05-01"})
        # CHE acquired ITMOs: a participating Party with its own reports (2/CMA.3 annex para 20)
        assert "Nothing due" not in only.text and "CHE" in only.text
        assert 'class="st-overdue"' in only.text
        for bad in ({"as_of": "1 May"}, {"party": "ch"}, {"as_of": "9999-01-01"}):
            e = client.get("/registry", params=bad)
            assert e.status_code == 422 and 'id="error"' in e.text


def test_registry_page_without_a_database(client: TestClient) -> None:
    r = client.get("/registry")
    assert r.status_code == 400
    assert "is not initialised" in r.text and "carbonlink registry init" in r.text
