"""The simulate page with a scenario's `uncertainty` block: the Monte Carlo charts as the
assess report draws them, with bounded samples (issue 12, point 6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from tests.api.conftest import REPO

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

SCENARIOS = REPO / "examples" / "scenarios"


def test_simulate_page_draws_the_uncertainty_charts(client: TestClient) -> None:
    text = (SCENARIOS / "ca-qc-risk-sharing.yaml").read_text(encoding="utf-8")
    r = client.post("/simulate", data={"document": text, "engine": "fast", "samples": "30"})
    assert r.status_code == 200, r.text[:2000]
    assert '<section id="uncertainty">' in r.text
    for cid in ("uncertainty-fan", "uncertainty-transmission", "uncertainty-gains"):
        assert f'id="chart-{cid}"' in r.text
    assert "<svg" in r.text and "<script" not in r.text
    assert "30 samples per design" in r.text


def test_simulate_page_without_a_block_has_no_charts(client: TestClient) -> None:
    text = (SCENARIOS / "two-markets-discount.yaml").read_text(encoding="utf-8")
    r = client.post("/simulate", data={"document": text, "engine": "fast", "samples": "30"})
    assert r.status_code == 200 and 'id="uncertainty"' not in r.text


def test_simulate_page_bounds_the_samples(client: TestClient) -> None:
    text = (SCENARIOS / "ca-qc-risk-sharing.yaml").read_text(encoding="utf-8")
    for bad in ("2001", "0", "many"):
        r = client.post("/simulate", data={"document": text, "engine": "fast", "samples": bad})
        assert r.status_code == 422 and '<code class="path">samples</code>' in r.text


def test_assess_api_bounds_the_samples(client: TestClient) -> None:
    doc = (REPO / "examples" / "agreements" / "eu-switzerland.yaml").read_text(encoding="utf-8")
    r = client.post("/api/assess?samples=2001", content=doc,
                    headers={"Content-Type": "application/yaml"})
    assert r.status_code == 422


def test_assess_api_returns_the_uncertainty_section(client: TestClient) -> None:
    doc = yaml.safe_load((REPO / "examples" / "agreements" / "eu-switzerland.yaml").read_text(
        encoding="utf-8"))
    doc["uncertainty"] = {"seed": 1, "shocks": [
        {"market": "CH_ETS", "variable": "bau", "distribution": "lognormal", "sigma": 0.05}]}
    r = client.post("/api/assess?samples=8&sensitivity=false", json=doc)
    assert r.status_code == 200, r.text[:1000]
    u = r.json()["uncertainty"]
    assert u["samples"] == 8 and [d["id"] for d in u["designs"]] == ["autarky", "agreement"]
    html = client.post("/api/assess?samples=8&sensitivity=false&format=html", json=doc)
    assert html.status_code == 200 and 'id="chart-uncertainty-fan"' in html.text
