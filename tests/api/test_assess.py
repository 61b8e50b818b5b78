"""POST /api/assess and the /assess page: the decision report over HTTP, bounded per request
(size limit 413, plain engine and large inline curves 422), downloads, and cancellation when the
client goes away."""

from __future__ import annotations

import asyncio
import io
import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from openpyxl import load_workbook

from carbonlink.api.routes.assess import MAX_BODY, Cancelled, run_assessment
from tests.api.conftest import REPO

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

EU_CH = REPO / "examples" / "agreements" / "eu-switzerland.yaml"


def doc() -> dict[str, Any]:
    data = yaml.safe_load(EU_CH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_assess_json_has_the_decision_box(client: TestClient) -> None:
    r = client.post("/api/assess?sensitivity=false", json=doc())
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["decision"]["headline"] in ("Link as drafted", "Link with the named changes",
                                           "Do not link yet")
    assert rep["source"] == "request body" and rep["simulated"]
    assert any(f["id"] == "gains" for f in rep["decision"]["figures"])


def test_assess_yaml_body_in_chinese_as_html(client: TestClient) -> None:
    r = client.post("/api/assess?sensitivity=false&format=html&lang=zh",
                    content=EU_CH.read_bytes(), headers={"content-type": "application/yaml"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="decision"' in r.text and "链接" in r.text and "<script" not in r.text


def test_assess_xlsx_download(client: TestClient) -> None:
    r = client.post("/api/assess?sensitivity=false&format=xlsx", json=doc())
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert "Decision" in wb.sheetnames and "Designs" in wb.sheetnames


@pytest.mark.parametrize(("query", "body", "status", "path"), [
    ("?engine=plain", None, 422, "query.engine"),
    ("", {"id": "x"}, 422, None),
    ("?lang=fr", None, 422, None),
])
def test_assess_refusals(client: TestClient, query: str, body: dict[str, Any] | None,
                         status: int, path: str | None) -> None:
    r = client.post("/api/assess" + query, json=body if body is not None else doc())
    assert r.status_code == status, r.text
    if path:
        assert path in [p["path"] for p in r.json()["problems"]]


def test_assess_body_size_and_inline_curves_are_bounded(client: TestClient) -> None:
    big = json.dumps({**doc(), "padding": "x" * MAX_BODY})
    r = client.post("/api/assess", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    curves = doc()
    curves["markets"] = [{"id": "EU_ETS", "bau": 10, "cap": 9,
                          "mac": {"steps": [[0.001, float(i)] for i in range(2500)]}}]
    r = client.post("/api/assess", json=curves)
    assert r.status_code == 422 and "markets" in [p["path"] for p in r.json()["problems"]]


def test_a_client_that_goes_away_cancels_the_work() -> None:
    class Gone:
        async def is_disconnected(self) -> bool:
            return True

    async def go() -> None:
        await run_assessment(Gone(), doc(), lang="en", sensitivity=True)  # type: ignore[arg-type]

    with pytest.raises(Cancelled):
        asyncio.run(go())


def test_assess_page_form_report_and_error(client: TestClient) -> None:
    r = client.get("/assess")
    assert r.status_code == 200 and "<textarea" in r.text and "Assess a link" in r.text
    r = client.post("/assess", data={"document": EU_CH.read_text(encoding="utf-8"),
                                     "format": "html", "lang": "en"})
    assert r.status_code == 200 and 'id="decision"' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    r = client.post("/assess", data={"document": "id: x\n", "format": "html", "lang": "en"})
    assert r.status_code == 422 and 'id="error"' in r.text


def test_assess_judges_the_law_as_of_the_date_asked(client: TestClient) -> None:
    """The decision follows the legal check's reference date: the CA–QC–ON 2017 agreement has
    no error as of 2017 and an error (Ontario's system ended in 2018) as of 2026."""
    body = (REPO / "examples" / "agreements" / "california-quebec-ontario-2017.yaml").read_bytes()
    counts = {}
    for day in ("2017-12-31", "2026-06-01"):
        r = client.post(f"/api/assess?sensitivity=false&as_of={day}", content=body,
                        headers={"content-type": "application/yaml"})
        assert r.status_code == 200, r.text
        counts[day] = r.json()["check"]["summary"]["errors"]
    assert counts == {"2017-12-31": 0, "2026-06-01": 1}
    r = client.post("/api/assess?as_of=2026-13-01", content=body,
                    headers={"content-type": "application/yaml"})
    assert r.status_code == 422
