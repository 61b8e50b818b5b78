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
    _store(client, inline_wait=300.0)  # the report itself when the run ends within the wait
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


# ------------------------------------------------------------------------- jobs and progress
def _store(client: TestClient, **kw: Any) -> Any:
    from carbonlink.api.jobs import JobStore

    store = JobStore(**kw)
    client.app.state.assess_jobs = store  # type: ignore[attr-defined]
    return store


def _poll(client: TestClient, job_id: str, *, until: tuple[str, ...] = ("done", "failed",
                                                                          "cancelled"),
          timeout: float = 300.0) -> list[dict[str, Any]]:
    import time

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout  # generous: a loaded 2-CPU machine
    while time.monotonic() < deadline:
        r = client.get(f"/api/assess/jobs/{job_id}")
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] in until:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"job still {seen[-1]['status']} after {timeout} s")


def test_assess_job_reports_progress_then_every_format(client: TestClient) -> None:
    _store(client)
    r = client.post("/api/assess/jobs?sensitivity=true", json=doc())
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == job["poll"] == f"/api/assess/jobs/{job['id']}"
    assert client.get(job["report"]).status_code == 409  # not finished
    seen = _poll(client, job["id"])
    assert seen[-1]["status"] == "done" and seen[-1]["percent"] == 100
    running = [s for s in seen if s["status"] == "running"]
    # progress moves: steps counted, never 100 % before the end
    assert running and all(s["done"] < s["total"] for s in running)
    assert [s["done"] for s in seen] == sorted(s["done"] for s in seen)
    rep = client.get(job["report"]).json()
    direct = client.post("/api/assess?sensitivity=true", json=doc()).json()
    assert rep["decision"] == direct["decision"] and rep["designs"] == direct["designs"]
    html = client.get(job["report"] + "?format=html")
    assert html.status_code == 200 and 'id="decision"' in html.text
    xlsx = client.get(job["report"] + "?format=xlsx")
    assert xlsx.content[:2] == b"PK" and "attachment" in xlsx.headers["content-disposition"]
    assert client.get("/api/assess/jobs/nope").status_code == 404


def test_an_assess_job_whose_client_goes_away_is_cancelled(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody polls the job: it stops at its next step and keeps no report; the same when the
    client says so (DELETE). Deterministic: the run waits at its first step until the test has
    moved the store's clock past the client timeout (or sent DELETE), then goes on."""
    import threading

    import carbonlink.assess.pipeline as pipeline

    real = pipeline.assess
    started, go = threading.Event(), threading.Event()

    def gated(*args: Any, progress: Any = None, **kw: Any) -> Any:
        def step(desc: str, n: int = 1) -> None:
            if not go.is_set():
                started.set()
                assert go.wait(300)
            progress(desc, n)
        return real(*args, progress=step, **kw)

    monkeypatch.setattr(pipeline, "assess", gated)
    now = [0.0]
    store = _store(client, client_timeout=10.0, clock=lambda: now[0])
    job = store.submit(parse(doc()), sensitivity=True)
    assert started.wait(300)
    now[0] = 11.0                       # nobody polled for longer than the client timeout
    go.set()
    assert job.ready.wait(300)
    assert job.status == "cancelled" and job.report is None
    assert job.done < job.total
    # the same when the client says so: DELETE
    started.clear()
    go.clear()
    r = client.post("/api/assess/jobs", json=doc())
    jid = r.json()["id"]
    assert started.wait(300)
    assert client.delete(f"/api/assess/jobs/{jid}").status_code == 200
    go.set()
    assert _poll(client, jid)[-1]["status"] == "cancelled"
    assert client.get(f"/api/assess/jobs/{jid}/report").status_code == 409


def parse(d: dict[str, Any]) -> dict[str, Any]:
    from carbonlink.api.routes.assess import parse_agreement

    return parse_agreement(json.dumps(d))


def test_assess_jobs_are_bounded_in_number_and_lifetime(client: TestClient) -> None:
    now = [0.0]
    store = _store(client, max_active=1, max_jobs=2, ttl=60.0, clock=lambda: now[0])
    first = client.post("/api/assess/jobs", json=doc())
    assert first.status_code == 202
    busy = client.post("/api/assess/jobs", json=doc())
    assert busy.status_code == 429 and busy.headers["retry-after"] and "limit" in busy.json()["error"]
    assert store.get(first.json()["id"]).ready.wait(300)
    second = client.post("/api/assess/jobs?sensitivity=false", json=doc())
    assert second.status_code == 202
    assert store.get(second.json()["id"]).ready.wait(300)
    assert client.post("/api/assess/jobs", json=doc()).status_code == 429  # two results kept
    now[0] = 61.0  # both expire
    assert client.get(f"/api/assess/jobs/{first.json()['id']}").status_code == 404
    assert client.post("/api/assess/jobs?sensitivity=false", json=doc()).status_code == 202
    # the same request bounds as POST /api/assess
    assert client.post("/api/assess/jobs?engine=plain", json=doc()).status_code == 422
    big = json.dumps({**doc(), "padding": "x" * MAX_BODY})
    assert client.post("/api/assess/jobs", content=big,
                       headers={"content-type": "application/json"}).status_code == 413


def test_assess_page_shows_progress_then_downloads(client: TestClient) -> None:
    store = _store(client, inline_wait=0.0)  # every run counts as longer than a second
    r = client.post("/assess", data={"document": EU_CH.read_text(encoding="utf-8"),
                                     "format": "html", "lang": "en"}, follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    page = client.get(url)
    assert page.status_code == 200 and "<progress" in page.text
    assert '<meta http-equiv="refresh" content="1">' in page.text and "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    jid = url.rsplit("/", 1)[1]
    assert store.get(jid).ready.wait(300)
    done = client.get(url).text
    assert 'id="decision"' in done and "http-equiv" not in done
    for fmt, magic in (("html", b"<!DOCTYPE html"), ("xlsx", b"PK")):
        href = f"/api/assess/jobs/{jid}/report?format={fmt}"
        assert href in done
        assert client.get(href).content.startswith(magic)
    assert f"/api/assess/jobs/{jid}/report?format=pdf" in done
    assert client.get("/assess/jobs/unknown").status_code == 404


UNC = {"seed": 7, "shocks": [
    {"market": "EU_ETS", "variable": "bau", "distribution": "lognormal", "sigma": 0.04},
    {"market": "CH_ETS", "variable": "bau", "distribution": "lognormal", "sigma": 0.08}],
    "correlation": [[1.0, 0.2], [0.2, 1.0]]}


def test_the_assess_page_and_jobs_take_a_number_of_samples(client: TestClient) -> None:
    """The form's samples field (blank: the default) and ``?samples=`` of the jobs API draw
    that many samples of the agreement's uncertainty block; a number out of range, or samples
    for an agreement without the block, are refused naming the field."""
    store = _store(client, inline_wait=300.0)
    uncertain = yaml.safe_dump({**doc(), "uncertainty": UNC}, allow_unicode=True)
    assert 'id="samples"' in client.get("/assess").text
    r = client.post("/assess", data={"document": uncertain, "format": "json", "lang": "en",
                                     "samples": "12"})
    assert r.status_code == 200, r.text[:300]
    assert json.loads(r.content)["uncertainty"]["samples"] == 12
    for text, reason in (("0", "whole number"), ("2001", "whole number"), ("x", "whole number")):
        r = client.post("/assess", data={"document": uncertain, "format": "html", "lang": "en",
                                         "samples": text})
        assert r.status_code == 422 and "samples" in r.text and reason in r.text, text
        assert f'value="{text}"' in r.text          # the form comes back as it was
    r = client.post("/assess", data={"document": EU_CH.read_text(encoding="utf-8"),
                                     "format": "html", "lang": "en", "samples": "5"})
    assert r.status_code == 422 and "uncertainty" in r.text
    r = client.post("/api/assess/jobs?samples=9", content=uncertain,
                    headers={"content-type": "application/yaml"})
    assert r.status_code == 202, r.text
    jid = r.json()["id"]
    assert store.get(jid).ready.wait(300)
    assert client.get(f"/api/assess/jobs/{jid}/report").json()["uncertainty"]["samples"] == 9
    r = client.post("/api/assess/jobs?samples=9", content=EU_CH.read_text(encoding="utf-8"),
                    headers={"content-type": "application/yaml"})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "query.samples"
