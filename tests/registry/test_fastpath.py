"""Internal transfers: the PostgreSQL two-round-trip path and the general path agree (splits,
more than one page of blocks, failed checks write nothing); read-only commands never create
a missing SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonlink.errors import CarbonlinkError
from carbonlink.registry import CheckFailed, Registry
from tests.registry.conftest import T0


def _setup(r: Registry) -> tuple[int, int, int]:
    g = r.add_registry("GHA01", system="gh", at=T0)
    a = r.open_account("GHA01", representatives_=["alice", "bob"], at=T0)
    b = r.open_account("GHA01", at=T0)
    r.issue(a, 1_000, vintage=2026, at=T0)
    return a, b, g["party_holding"]


def test_internal_transfers_split_page_and_verify(reg: Registry) -> None:
    a, b, _ = _setup(reg)
    got = reg.transfer(a, b, 7, by="alice", at=T0)            # split: lower serials move
    assert got.state == "completed" and got.blocks == [("GHA01", "allowance", 2026, 1, 7)]
    for _ in range(70):                                       # b gets 71 one-unit blocks
        reg.transfer(a, b, 1, by="alice", at=T0)
    assert reg.balance(b) == 77
    back = reg.transfer(b, a, 77, at=T0)                      # two pages of blocks
    assert back.quantity == 77 and reg.balance(a) == 1_000 and reg.balance(b) == 0
    assert reg.verify() == []


def test_failed_checks_write_nothing(reg: Registry) -> None:
    a, b, _ = _setup(reg)
    first = reg.transfer(a, b, 5, by="alice", at=T0).tx_id
    with pytest.raises(CheckFailed) as e:
        reg.transfer(a, b, 5, by="mallory", at=T0)
    assert e.value.code == "A2005"
    with pytest.raises(CheckFailed) as e:
        reg.transfer(b, a, 6, at=T0)
    assert e.value.code == "H3001"
    with pytest.raises(CheckFailed) as e:
        reg.transfer(a, a, 1, by="alice", at=T0)
    assert e.value.code == "A2007"
    with pytest.raises(CheckFailed) as e:
        reg.transfer(a, 9999, 1, by="alice", at=T0)
    assert e.value.code == "A2002"
    with pytest.raises(CheckFailed):                          # general path rolls back
        reg.retire(b, 10**6, at=T0)
    assert reg.balance(a) == 995 and reg.balance(b) == 5
    assert reg.transfer(b, a, 5, at=T0).tx_id > first
    assert reg.verify() == []


def test_read_only_commands_do_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with Registry(f"sqlite:///{path}") as r:
        for call in (r.verify, r.accounts, lambda: r.holdings(), lambda: r.balance(1)):
            with pytest.raises(CarbonlinkError, match="not initialised"):
                call()
    assert not path.exists()
    with Registry(f"sqlite:///{path}") as r:
        r.init()
        assert r.verify() == []
