"""GET /api/data/…: the shipped reference data, each figure with its source, year and verified
flag — the same JSON as `carbonlink data list|show --format json`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from carbonlink.cli import main
from carbonlink.data import get_ets, list_ets, list_jurisdictions
from tests.api.test_simulate import problems

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    with pytest.raises(SystemExit) as exc:
        main(["data", *args, "--format", "json"])
    assert exc.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_ets_list_equals_the_cli(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    r = client.get("/api/data/ets")
    assert r.status_code == 200
    assert r.json() == cli_json(capsys, "list", "--ets")["ets"]  # type: ignore[index]
    assert [e["id"] for e in r.json()] == [e.id for e in list_ets()]


def test_jurisdictions_list(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    r = client.get("/api/data/jurisdictions")
    assert r.status_code == 200
    assert r.json() == cli_json(capsys, "list", "--jurisdictions")["jurisdictions"]  # type: ignore[index]
    assert len(r.json()) == len(list_jurisdictions())


def test_one_ets_keeps_every_figure_with_its_provenance(client: TestClient,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    r = client.get("/api/data/ets/EU_ETS")
    assert r.status_code == 200
    body = r.json()
    assert body == cli_json(capsys, "show", "EU_ETS")
    eu = get_ets("EU_ETS")
    assert body["cap"] == eu.cap.model_dump(mode="json")
    assert {"value", "unit", "year", "source", "note", "verified", "valid_from",
            "valid_to"} <= set(body["cap"])
    assert body["price"]["source"] and body["price"]["year"]
    assert {"value", "source", "year", "verified"} <= set(body["covered_emissions"])


def test_as_of_reads_the_data_for_a_date(client: TestClient) -> None:
    r = client.get("/api/data/ets/CA_CAT", params={"as_of": "2024-06-01"})
    assert r.status_code == 200 and r.json()["offsets"]["limit_share"]["value"] == 0.04
    assert r.json()["resolved_on"] == "2024-06-01"
    r = client.get("/api/data/ets/ON_CAT", params={"as_of": "2019-01-01"})
    assert r.json()["status"] == "ended"
    r = client.get("/api/data/jurisdictions/US", params={"as_of": "2026-06-01"})
    assert r.status_code == 200 and r.json()["paris_party"]["value"] is False
    assert client.get("/api/data/ets", params={"as_of": "not-a-date"}).status_code in (400, 422)


def test_one_jurisdiction(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    r = client.get("/api/data/jurisdictions/CH")
    assert r.status_code == 200
    assert r.json() == cli_json(capsys, "show", "CH")
    assert r.json()["paris_party"]["source"]


@pytest.mark.parametrize("url", ["/api/data/ets/NOPE", "/api/data/jurisdictions/NOPE",
                                 "/api/data/ets/CH"])  # CH is a jurisdiction, not an ETS
def test_unknown_id_is_404(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404
    assert problems(r) == []
    assert "unknown" in r.json()["error"] and "known:" in r.json()["error"]
