"""The fast engine against the plain formulation (every firm option its own HiGHS column).

Prices, abatement and net imports are compared everywhere; per-link flows where they are
unique (links forming a tree, one direction per pair — in a multilateral full link only net
positions are determined).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonlink import simulate

REL = 1e-6


def firms_market(tmp: Path, mid: str, rng: np.random.Generator, n: int) -> dict[str, object]:
    qty = rng.uniform(0.1, 1.0, n)
    cost = rng.lognormal(3.0, 0.8, n)
    path = tmp / f"{mid}.csv"
    pd.DataFrame({"firm": np.arange(n) // 3, "quantity": qty, "unit_cost": cost}).to_csv(path, index=False)
    bau = float(qty.sum()) * rng.uniform(1.0, 1.3)
    return {"id": mid, "bau": bau, "cap": bau * rng.uniform(0.55, 0.9), "mac": {"firms": str(path)}}


def tree_links(rng: np.random.Generator, n: int) -> list[dict[str, object]]:
    links = []
    for child in range(1, n):
        parent = int(rng.integers(0, child))
        a, b = (child, parent) if rng.random() < 0.5 else (parent, child)
        terms: dict[str, object] = {}
        if rng.random() < 0.5:
            terms["transfer_tax"] = float(rng.uniform(0, 5))
        if rng.random() < 0.5:
            terms["discount"] = float(rng.uniform(0, 0.3))
        if rng.random() < 0.3:
            terms["quota"] = float(rng.uniform(0, 50))
        if rng.random() < 0.3:
            terms["entity_share"] = float(rng.uniform(0.02, 0.3))
        links.append({"from": f"M{a}", "to": f"M{b}", **terms})
    return links


def compare(doc: dict[str, object], flows: bool) -> None:
    fast = simulate(doc, engine="fast")
    plain = simulate(doc, engine="plain")
    assert fast.status == plain.status == "optimal"
    for col in ("price", "abatement", "net_imports", "emissions", "compliance_cost"):
        f, p = fast.markets[col].to_numpy(), plain.markets[col].to_numpy()
        scale = max(1.0, float(np.abs(p).max()))
        assert f == pytest.approx(p, rel=REL, abs=REL * scale), col
    if flows:
        f, p = fast.links["flow"].to_numpy(), plain.links["flow"].to_numpy()
        assert f == pytest.approx(p, rel=REL, abs=REL * max(1.0, float(np.abs(p).max())))


@given(seed=st.integers(0, 2**32 - 1), n_markets=st.integers(2, 5), n_options=st.integers(300, 3000))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_tree_networks_agree(tmp_path: Path, seed: int, n_markets: int, n_options: int) -> None:
    rng = np.random.default_rng(seed)
    ms = [firms_market(tmp_path, f"M{i}", rng, n_options) for i in range(n_markets)]
    compare({"markets": ms, "links": tree_links(rng, n_markets)}, flows=True)


def test_full_links_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(2026)
    ms = [firms_market(tmp_path, f"M{i}", rng, 5_000) for i in range(4)]
    links = [{"between": [f"M{a}", f"M{b}"]} for a in range(4) for b in range(a + 1, 4)]
    compare({"markets": ms, "links": links}, flows=False)


def test_100k_options_restricted_tree_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    ms = [firms_market(tmp_path, f"M{i}", rng, 20_000) for i in range(5)]
    compare({"markets": ms, "links": tree_links(rng, 5)}, flows=True)


def test_firm_files_aggregate_like_steps(tmp_path: Path) -> None:
    pd.DataFrame({"firm": ["a", "a", "b"], "quantity": [10, 5, 15], "unit_cost": [5, 12, 12]}).to_parquet(
        tmp_path / "f.parquet")
    steps = {"id": "J2", "bau": 50, "cap": 35, "mac": {"steps": [[10, 5], [20, 12]]}}
    firms = {**steps, "mac": {"firms": str(tmp_path / "f.parquet")}}
    j1 = {"id": "J1", "bau": 100, "cap": 40, "mac": {"linear": {"slope": 1.0}}}
    a = simulate({"markets": [j1, steps], "links": [{"between": ["J1", "J2"]}]}).to_dict()
    b = simulate({"markets": [j1, firms], "links": [{"between": ["J1", "J2"]}]}).to_dict()
    assert a == b
