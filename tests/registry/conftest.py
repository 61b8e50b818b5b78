"""Registry fixtures: a migrated registry per backend and a small two-Party world."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import pytest

from carbonlink.registry import Registry

T0 = datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def reg(database_url: str) -> Iterator[Registry]:
    with Registry(database_url) as r:
        r.init()
        yield r


@dataclass
class World:
    """GHA01 (Ghana, transferring Party) linked to CHE01 (Switzerland, acquiring Party)."""

    gha: dict[str, int]
    che: dict[str, int]
    seller: int          # entity holding in GHA01 (representatives alice, bob)
    buyer: int           # entity holding in CHE01 (representative carol)
    buyer_holder: int
    buyer2: int          # second CHE entity (representative dave)
    seller_holder: int


def make_world(r: Registry, *, quota: int | None = None, discount: float = 0.0,
               unit_types: tuple[str, ...] = ("allowance", "itmo")) -> World:
    gha = r.add_registry("GHA01", system="gh", at=T0)
    che = r.add_registry("CHE01", system="ch", at=T0)
    sh = r.add_holder("GHA01", "Cookstoves Ltd", at=T0)
    bh = r.add_holder("CHE01", "KliK Foundation", at=T0)
    bh2 = r.add_holder("CHE01", "Other AG", at=T0)
    seller = r.open_account("GHA01", holder=sh, representatives_=["alice", "bob"], at=T0)
    buyer = r.open_account("CHE01", holder=bh, representatives_=["carol"], at=T0)
    buyer2 = r.open_account("CHE01", holder=bh2, representatives_=["dave"], at=T0)
    r.add_link("GHA01", "CHE01", unit_types=unit_types, quota=quota, discount=discount, at=T0)
    r.authorise("GHA-A1", cooperative_approach="CA0002", registry="GHA01", quantity=10_000,
                purposes="NDC", vintage_from=2025, vintage_to=2030, valid_from=date(2026, 1, 1),
                at=T0)
    return World(gha, che, seller, buyer, bh, buyer2, sh)


def full_transfer(r: Registry, src: int, dst: int, q: int, at: datetime, **kw: object) -> int:
    """Propose (alice), approve (bob), accept (carol) an external transfer."""
    p = r.transfer(src, dst, q, by="alice", at=at, **kw)  # type: ignore[arg-type]
    r.approve(p.tx_id, by="bob", at=at)
    r.accept(p.tx_id, by="carol", at=at)
    return p.tx_id


@pytest.fixture
def world(reg: Registry) -> World:
    return make_world(reg)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-alembic's built-in tests carry this marker; strict markers would reject it
    config.addinivalue_line("markers", "alembic: pytest-alembic migration tests")
