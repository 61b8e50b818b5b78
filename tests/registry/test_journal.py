"""Hash-chained journal and `verify` naming divergences."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from carbonlink.registry import Registry
from carbonlink.registry.db import blocks, ca_entries, journal
from tests.registry.conftest import World, full_transfer, tampering

T1 = datetime(2026, 3, 1)


def _busy(reg: Registry, w: World) -> None:
    reg.issue(w.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, w.seller, w.buyer, 40, T1)
    reg.use(w.buyer, 10, year=2026, by="carol", at=T1)


def test_every_change_is_journaled_and_chained(reg: Registry, world: World) -> None:
    _busy(reg, world)
    with reg.engine.connect() as c:
        rows = c.execute(sa.select(journal).order_by(journal.c.seq)).all()
    kinds = [r.kind for r in rows]
    assert kinds[-5:] == ["issuance", "external_transfer.proposed", "external_transfer.approved",
                          "external_transfer.completed", "use"]
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert reg.verify() == []


def test_verify_names_a_tampered_entry(reg: Registry, world: World) -> None:
    _busy(reg, world)
    with tampering(reg.engine) as c:
        c.execute(journal.update().where(journal.c.kind == "use")
                  .values(payload='{"quantity":1}'))
    problems = reg.verify()
    assert any("(use) hash mismatch" in p for p in problems)


def test_verify_names_ledger_divergences(reg: Registry, world: World) -> None:
    _busy(reg, world)
    with reg.engine.begin() as c:
        c.execute(ca_entries.update().where(ca_entries.c.kind == "use").values(quantity=11))
        c.execute(blocks.update().where(blocks.c.status == "used").values(status="held"))
    problems = reg.verify()
    assert any(p.startswith("CA ledger: CHE 2026 use: ledger 11") for p in problems)
    assert any("holdings" in p and "GHA01 itmo" in p for p in problems)
