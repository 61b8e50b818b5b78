"""POST /api/simulate: the body is what `carbonlink simulate --format json` prints; bad documents
are 422 naming the field path, as on the command line."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import carbonlink
from carbonlink.api.schemas import MarketResult, SimulationOut, Totals
from carbonlink.errors import DocumentError
from carbonlink.markets.equilibrium import MARKET_COLUMNS, TOTAL_KEYS
from carbonlink.model import load_scenario
from tests.api.conftest import REPO

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

SCENARIOS = REPO / "examples" / "scenarios"
INLINE = ["full-link.yaml", "two-markets-discount.yaml", "third-party-joins.yaml"]


def doc(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def problems(response: Any) -> list[tuple[str, str]]:
    body = response.json()
    assert set(body) == {"error", "problems"}
    return [(p["path"], p["reason"]) for p in body["problems"]]


@pytest.mark.parametrize("name", INLINE)
def test_simulate_equals_the_cli_json(client: TestClient, name: str) -> None:
    r = client.post("/api/simulate", json=doc(name))
    assert r.status_code == 200
    assert r.json() == carbonlink.simulate(SCENARIOS / name).to_dict()


def test_plain_engine(client: TestClient) -> None:
    r = client.post("/api/simulate", params={"engine": "plain"}, json=doc("two-markets-discount.yaml"))
    assert r.status_code == 200
    expected = carbonlink.simulate(SCENARIOS / "two-markets-discount.yaml", engine="plain")
    assert r.json() == expected.to_dict()


def test_full_link_values(client: TestClient) -> None:
    """The closed form of examples/scenarios/full-link.yaml: linked price 50 (autarky 60 and 30),
    gains 50 and 100."""
    body = client.post("/api/simulate", json=doc("full-link.yaml")).json()
    j1, j2 = body["markets"]["J1"], body["markets"]["J2"]
    assert j1["price"] == pytest.approx(50) and j2["price"] == pytest.approx(50)
    assert (j1["autarky_price"], j2["autarky_price"]) == (pytest.approx(60), pytest.approx(30))
    assert (j1["gain"], j2["gain"]) == (pytest.approx(50), pytest.approx(100))
    assert [(lk["from"], lk["to"]) for lk in body["links"]] == [("J1", "J2"), ("J2", "J1")]


def test_response_model_matches_the_engine_columns() -> None:
    """The documented shape and SimulationResult.to_dict() name the same keys."""
    assert list(MarketResult.model_fields) == MARKET_COLUMNS
    assert list(Totals.model_fields) == TOTAL_KEYS
    out = carbonlink.simulate(SCENARIOS / "two-markets-discount.yaml").to_dict()
    assert SimulationOut.model_validate(out).model_dump(by_alias=True) == out


def test_infeasible_is_a_result_not_an_error(client: TestClient) -> None:
    sc = {"markets": [{"id": "A", "bau": 100, "cap": 0, "mac": {"steps": [[10, 5]]}}]}
    r = client.post("/api/simulate", json=sc)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "infeasible"
    assert body["markets"]["A"]["price"] is None
    assert body == carbonlink.simulate(sc).to_dict()


def damaged(path: list[Any], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    d = copy.deepcopy(doc("two-markets-discount.yaml"))
    target: Any = d
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


@pytest.mark.parametrize(("path", "value", "where", "why"), [
    (["markets", 0, "mac", "linear", "slope"], -2, "markets[0].mac.linear.slope",
     "Input should be greater than 0, got -2"),
    (["markets", 1, "bau"], "lots", "markets[1].bau", "Input should be a valid number"),
    (["links", 0, "discount"], 1.5, "links[0].discount", "Input should be less than 1"),
    (["links", 0, "to"], "J9", "links[0].to", "unknown market 'J9'"),
    (["markets", 0, "colour"], "green", "markets[0].colour", "Extra inputs are not permitted"),
])
def test_invalid_field_is_422_with_its_path(client: TestClient, path: list[Any], value: Any,
                                            where: str, why: str) -> None:
    bad = damaged(path, value)
    r = client.post("/api/simulate", json=bad)
    assert r.status_code == 422
    got = problems(r)
    assert [p for p, _ in got] == [where]
    assert why in got[0][1]
    # the same path and reason as the command line (load_scenario → DocumentError)
    with pytest.raises(DocumentError) as exc:
        load_scenario(bad)
    assert got == exc.value.problems


def test_missing_field(client: TestClient) -> None:
    r = client.post("/api/simulate", json=damaged(["markets", 0, "cap"], delete=True))
    assert r.status_code == 422
    assert problems(r) == [("markets[0].cap", "Field required")]


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_422(client: TestClient, token: bytes) -> None:
    """Python's JSON reader accepts NaN and Infinity (and 1e999 overflows to infinity)."""
    body = json.dumps(doc("full-link.yaml")).replace('"slope": 1.0', '"slope": SLOPE', 1)
    r = client.post("/api/simulate", content=body.encode().replace(b"SLOPE", token),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    [(path, reason)] = problems(r)
    assert path == "markets[0].mac.linear.slope"
    assert "finite number" in reason or "greater than 0" in reason


def test_firm_files_are_refused(client: TestClient) -> None:
    """A firm file names a path on the server: even an existing one is not read."""
    sc = doc("firm-level.yaml")
    sc["markets"][0]["mac"]["firms"] = str(SCENARIOS / "firms" / "north.csv")
    r = client.post("/api/simulate", json=sc)
    assert r.status_code == 422
    assert [p for p, _ in problems(r)] == ["markets[0].mac.firms", "markets[1].mac.firms"]
    assert "not read over HTTP" in problems(r)[0][1]


@pytest.mark.parametrize(("content", "reason"), [
    (b'{"markets": [', "malformed JSON"),
    (b"[1, 2]", "valid dictionary"),
    (b"", "required: send the document"),
])
def test_not_a_document(client: TestClient, content: bytes, reason: str) -> None:
    r = client.post("/api/simulate", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422
    [(path, why)] = problems(r)
    assert path == "<document>" and reason in why


def test_deep_nesting_is_not_a_server_error(client: TestClient) -> None:
    r = client.post("/api/simulate", content=b"[" * 100_000 + b"]" * 100_000,
                    headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_unknown_engine(client: TestClient) -> None:
    r = client.post("/api/simulate", params={"engine": "quantum"}, json=doc("full-link.yaml"))
    assert r.status_code == 422
    assert [p for p, _ in problems(r)] == ["query.engine"]


@pytest.mark.parametrize("engine", ["fast", "plain"])
def test_finite_numbers_whose_products_overflow_are_422(client: TestClient, engine: str) -> None:
    """1e307 per tonne times 5e69 tonnes is not a float: refused as out of range, not sent to
    the solver with infinite costs (and never a 500)."""
    sc = {"markets": [{"id": "A", "bau": 5.27e69, "cap": 0, "mac": {"linear": {"slope": 1.54e307}}}]}
    r = client.post("/api/simulate", params={"engine": engine}, json=sc)
    assert r.status_code == 422
    [(path, reason)] = problems(r)
    assert path == "<document>" and reason.startswith("numbers out of range")
