"""The app as a whole: health, the OpenAPI schema of the JSON API, the registry's lifetime, and
`carbonlink serve`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from carbonlink import __version__
from carbonlink.api import create_app
from carbonlink.cli import main
from carbonlink.errors import DocumentError
from carbonlink.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi.testclient import TestClient

    from tests.api.conftest import Ledger


def test_health(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__}


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths: dict[str, dict[str, Any]] = schema["paths"]
    assert set(paths) == {
        "/api/health", "/api/simulate", "/api/check", "/api/assess", "/api/data/ets", "/api/data/ets/{ets_id}",
        "/api/data/jurisdictions", "/api/data/jurisdictions/{jurisdiction_id}",
        "/api/registry/verify", "/api/registry/accounts",
        "/api/registry/accounts/{account_id}/holdings",
        "/api/registry/accounts/{account_id}/transactions", "/api/registry/transactions/{tx_id}",
        "/api/registry/calendar", "/api/registry/ca/{party}", "/api/registry/login",
        "/api/registry/logout", "/api/registry/me", "/api/registry/public",
        "/api/registry/transfers", "/api/registry/transactions/{tx_id}/approve",
        "/api/registry/transactions/{tx_id}/accept", "/api/registry/transactions/{tx_id}/reject",
        "/api/registry/actions", "/api/registry/actions/{action_id}/approve",
        "/api/assess/jobs", "/api/assess/jobs/{job_id}", "/api/assess/jobs/{job_id}/report",
    }  # pages are HTML, not in it
    for path, ops in paths.items():
        for op in ops.values():
            success = "202" if "202" in op["responses"] else "200"  # 202: a job started
            ok = op["responses"][success]["content"]["application/json"]["schema"]
            assert "$ref" in ok or "$ref" in ok.get("items", {}), path  # a response model
            for status, resp in op["responses"].items():
                if status != success:
                    assert resp["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}, (path, status)
    body = paths["/api/simulate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/Scenario"
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_no_cdn_documentation_pages(client: TestClient) -> None:
    """Swagger UI and ReDoc load their scripts from a CDN: off on a closed network."""
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_unknown_route_and_method_are_error_bodies(client: TestClient) -> None:
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"error": "Not Found", "problems": []}
    r = client.get("/api/simulate")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_one_registry_per_app_closed_at_shutdown(
        client_factory: Callable[..., TestClient], ledger: Ledger,
        monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    real_close = Registry.close

    def close(self: Registry) -> None:
        closed.append(self.url)
        real_close(self)

    monkeypatch.setattr(Registry, "close", close)
    app = create_app(ledger.url)
    reg = app.state.registry
    assert isinstance(reg, Registry) and reg.url == ledger.url
    with client_factory(app) as client:
        client.headers.update(ledger.auth)
        assert client.get("/api/registry/verify").json()["ok"] is True
        client.get("/api/registry/accounts")
        assert app.state.registry is reg and closed == []
    assert closed == [ledger.url]


def test_a_url_no_database_opens_with_fails_when_the_app_is_made(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DocumentError) as exc:
        create_app("garbage://x")
    assert exc.value.problems[0][0] == "url"
    with pytest.raises(SystemExit) as e:                 # carbonlink serve: exit 2, one line
        main(["serve", "--db", "garbage://x"])
    assert e.value.code == 2 and "not a database URL" in capsys.readouterr().err


def test_default_database_url_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONLINK_DATABASE_URL", "sqlite:///from-env.db")
    assert create_app().state.registry.url == "sqlite:///from-env.db"


def test_serve_runs_uvicorn_on_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from fastapi import FastAPI

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "8123", "--db", "sqlite:///served.db"])
    assert exc.value.code == 0
    [(app, kw)] = calls
    assert isinstance(app, FastAPI) and app.state.registry.url == "sqlite:///served.db"
    assert kw == {"host": "127.0.0.1", "port": 8123}


def test_serve_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "70000"])
    assert exc.value.code == 2


def test_an_unexpected_error_is_a_500_with_the_error_body(
        client_factory: Callable[..., TestClient], unused_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (not bad input) still answers in the documented error shape, not plain text."""
    import carbonlink.api.routes.simulate as route

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(route, "simulate", broken)
    with client_factory(create_app(unused_db), raise_server_exceptions=False) as c:
        r = c.post("/api/simulate", json={"markets": [
            {"id": "A", "bau": 10, "cap": 5, "mac": {"linear": {"slope": 1}}}]})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error (RuntimeError); please report it", "problems": []}
