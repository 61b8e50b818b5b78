"""The web pages in Chinese (``?lang=zh``): the check, assess and data pages through the catalog,
links and forms keep the language, an unknown language is refused, English is unchanged."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import pytest

from tests.api.conftest import REPO, Ledger
from tests.reporting.test_i18n import _english

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi.testclient import TestClient

AGREEMENTS = REPO / "examples" / "agreements"


def _visible(page: str) -> str:
    page = re.sub(r"<(style|textarea|title|code)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'<td class="small">.*?</td>|<span class="src">.*?</span>', " ", page,
                  flags=re.S)  # sources
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("name", ["eu-switzerland.yaml", "defective-draft.yaml",
                                  "switzerland-ghana-overselling.yaml"])
def test_check_page_in_chinese(client: TestClient, name: str) -> None:
    text = (AGREEMENTS / name).read_text(encoding="utf-8")
    r = client.post("/check?lang=zh", data={"document": text, "strict": ""})
    assert r.status_code == 200
    page = r.text
    assert '<html lang="zh">' in page and "审查结果" in page and "严重程度" in page
    assert 'action="/check?lang=zh"' in page and 'href="/data?lang=zh"' in page
    title = re.search(r"<h2>(.*?)</h2>", page, re.S)
    assert title
    shown = _visible(page.replace(title.group(0), " "))
    assert not _english(shown), _english(shown)


def test_assess_and_data_pages_in_chinese(client: TestClient) -> None:
    page = client.get("/assess?lang=zh").text
    assert "评估拟议的链接" in page and 'action="/assess?lang=zh"' in page
    assert re.search(r'<option value="zh" selected>', page)
    assert not _english(_visible(page)), _english(_visible(page))
    data = client.get("/data?lang=zh&as_of=2024-06-30").text
    assert "碳排放权交易体系" in data and "2024年6月30日" in data
    assert '<input type="hidden" name="lang" value="zh">' in data
    # the table heads and the page's own sentences are Chinese (names of systems and
    # jurisdictions and the data's sources stay as in the reference data)
    heads = " ".join(re.findall(r"<th>(.*?)</th>", data))
    assert not re.search(r"[A-Za-z]{3}", heads), heads
    lead = re.search(r'<p class="lead">(.*?)</p>', data, re.S)
    assert lead and not _english(_visible(lead.group(1)))


def test_unknown_page_language_is_refused(client: TestClient) -> None:
    r = client.get("/check?lang=fr")
    assert r.status_code == 422
    assert "query.lang" in r.text and "fr" in r.text


def test_english_pages_unchanged(client: TestClient) -> None:
    a, b = client.get("/check").text, client.get("/check?lang=en").text
    assert a == b and '<html lang="en">' in a and "Check a linkage agreement" in a
    assert 'href="/data"' in a


def test_registry_public_page_in_chinese(client_factory: Callable[..., TestClient],
                                         ledger: Ledger) -> None:
    """The registry's public page (login form, aggregates) in Chinese: no English sentence."""
    from carbonlink.api import create_app

    with client_factory(create_app(ledger.url)) as client:
        page = client.get("/registry?lang=zh").text
    assert '<html lang="zh">' in page and "公开信息" in page and "登录" in page
    assert 'id="public-holdings"' in page and "itmo" in page.lower()
    assert not _english(_visible(page)), _english(_visible(page))
