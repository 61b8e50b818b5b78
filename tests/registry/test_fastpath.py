"""Internal transfers on SQLite and PostgreSQL (splits, more than one page of blocks, failed
checks write nothing, the same code, path and detail on both); read-only commands never create
a missing SQLite file. (Until revision 0009 a PostgreSQL internal transfer ran as one
statement, ``registry_internal_transfer``, whose parity with the Python checks these tests
held; every internal transfer is now proposed and approved, on the general path.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from carbonlink.errors import CarbonlinkError
from carbonlink.registry import CheckFailed, Registry
from carbonlink.registry.db import blocks, journal
from carbonlink.registry.journal import canonical
from tests.registry.conftest import T0, acting


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
    with reg.engine.connect() as c:                           # payload is journal.canonical's
        payload = c.execute(sa.select(journal.c.payload).where(
            journal.c.tx_id == back.tx_id, journal.c.kind == "internal_transfer.proposed")
        ).scalar_one()
    assert payload == canonical({"blocks": [list(x) for x in back.blocks], "by": "rep",
                                 "from": b, "quantity": 77, "to": a})
    assert len(back.blocks) == 71
    assert reg.verify() == []


def test_failed_checks_write_nothing(reg: Registry) -> None:
    a, b, _ = _setup(reg)
    first = reg.transfer(a, b, 5, by="alice", at=T0).tx_id
    with pytest.raises(CheckFailed) as e:
        reg.transfer(a, b, 5, by="mallory", at=T0)
    assert e.value.code == "S7001"            # not a representative: refused by access
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
        for call in (lambda: r.verify(), lambda: r.accounts(), lambda: r.holdings(),
                     lambda: r.balance(1)):
            with pytest.raises(CarbonlinkError, match="not initialised"):
                call()
    assert not path.exists()
    with Registry(f"sqlite:///{path}") as r:
        r.init()
        assert acting(r).verify() == []


# --- the same code, path and detail on both backends ------------------------------------------

def _parity_world(r: Registry) -> dict[str, int]:
    g = r.add_registry("GHA01", system="gh", at=T0)
    r.add_registry("CHE01", system="ch", at=T0)
    a = r.open_account("GHA01", representatives_=["alice", "bob"], at=T0)
    b = r.open_account("GHA01", at=T0)
    closed = r.open_account("GHA01", at=T0)
    blocked = r.open_account("GHA01", at=T0)
    r.issue(a, 100, vintage=2026, at=T0)
    r.issue(closed, 10, vintage=2026, at=T0)
    r.set_account_status(closed, "closed", at=T0)
    r.set_account_status(blocked, "blocked", at=T0)
    return {"a": a, "b": b, "closed": closed, "blocked": blocked, **g}


_CASES: list[tuple[str, str, str, dict[str, object], str, str, str]] = [
    # (id, from, to, kwargs, code, path, detail ({name} → account id))
    ("R1001-zero", "a", "b", {"quantity": 0, "by": "alice"}, "R1001", "quantity",
     "must be a positive whole number, got 0"),
    ("R1001-negative", "a", "b", {"quantity": -3, "by": "alice"}, "R1001", "quantity",
     "must be a positive whole number, got -3"),
    # nobody represents a missing account: access refuses before the account checks
    ("A2001-missing", "missing", "b", {}, "S7001", "actor",
     "'rep' holds no role allowed to transfer in account {missing} "),
    ("A2001-closed", "closed", "b", {}, "A2001", "from_account", "account {closed} is closed"),
    ("A2002-missing", "a", "missing", {"by": "alice"}, "A2002", "to_account",
     "account {missing} does not exist"),
    ("A2002-blocked", "a", "blocked", {"by": "alice"}, "A2002", "to_account",
     "account {blocked} is blocked"),
    ("A2007", "a", "a", {"by": "alice"}, "A2007", "to_account", "transfer to the same account"),
    ("A2004", "retirement", "b", {}, "A2004", "from_account",
     "units never leave a retirement account"),
    ("A2003-account-type", "a", "retirement", {"by": "alice"}, "A2003", "to_account",
     "transfers go to holding accounts; use surrender, use, cancel or retire for retirement"),
    # not a representative: access (S7001) refuses before A2005, which stays as a second line
    ("A2005-stranger", "a", "b", {"by": "mallory"}, "S7001", "actor",
     "'mallory' holds no role allowed to transfer in account {a} "),
    ("A2005-nobody", "a", "b", {}, "S7001", "actor",
     "'rep' holds no role allowed to transfer in account {a} "),
    ("H3001-too-many", "a", "b", {"by": "alice", "quantity": 101}, "H3001", "quantity",
     "account {a} holds 100 matching units, 101 requested"),
    ("H3001-vintage", "a", "b", {"by": "alice", "vintage": 2027}, "H3001", "quantity",
     "account {a} holds 0 matching units, 5 requested"),
    ("H3001-unit-type", "a", "b", {"by": "alice", "unit_type": "offset"}, "H3001", "quantity",
     "account {a} holds 0 matching units, 5 requested"),
    ("H3001-authorisation", "a", "b", {"by": "alice", "authorisation": "GHA-X"}, "H3001",
     "quantity", "account {a} holds 0 matching units, 5 requested"),
    ("H3001-empty", "b", "a", {}, "H3001", "quantity",
     "account {b} holds 0 matching units, 5 requested"),
]


@pytest.mark.parametrize("case", _CASES, ids=[c[0] for c in _CASES])
def test_internal_transfer_check_parity(
        reg: Registry, case: tuple[str, str, str, dict[str, object], str, str, str]) -> None:
    _, src, dst, kw, code, path, detail = case
    ids = {**_parity_world(reg), "missing": 9999}
    kwargs = dict(kw)
    quantity = kwargs.pop("quantity", 5)
    before = reg.verify(), reg.balance(ids["a"]), reg.balance(ids["b"])
    with pytest.raises(CheckFailed) as e:
        reg.transfer(ids[src], ids[dst], quantity, at=T0, **kwargs)  # type: ignore[arg-type]
    assert (e.value.code, e.value.problems[0][0]) == (code, path)
    assert e.value.detail == detail.format(**ids) if code != "S7001" else \
        e.value.detail.startswith(detail.format(**ids))
    assert (reg.verify(), reg.balance(ids["a"]), reg.balance(ids["b"])) == before


def test_unit_type_matrix_parity(reg: Registry) -> None:
    """A2003 for a unit type the acquiring holding account may not hold (a block written
    behind the service's back: the API only issues known unit types)."""
    ids = _parity_world(reg)
    with reg.engine.begin() as conn:
        conn.execute(blocks.insert().values(
            issuing_registry="GHA01", unit_type="bogus", vintage=2026, serial_start=1,
            serial_end=10, account_id=ids["a"], status="held", authorisation_id=None,
            first_transferred=False, pending_tx=None))
    with pytest.raises(CheckFailed) as e:
        reg.transfer(ids["a"], ids["b"], 3, unit_type="bogus", by="alice", at=T0)
    assert (e.value.code, e.value.problems[0][0]) == ("A2003", "to_account")
    assert e.value.detail == "entity_holding accounts cannot hold bogus"
    assert reg.balance(ids["b"]) == 0


def test_filters_and_receipts_agree(reg: Registry) -> None:
    ids = _parity_world(reg)
    a, b = ids["a"], ids["b"]
    reg.issue(a, 50, vintage=2027, at=T0)
    got = reg.transfer(a, b, 30, vintage=2027, by="alice", at=T0)
    assert got.blocks == [("GHA01", "allowance", 2027, 1, 30)]
    one = reg.transaction(got.tx_id)          # read back whole: from its one block
    assert (one["unit_type"], one["vintage"]) == ("allowance", 2027)
    got = reg.transfer(a, b, 120, unit_type="allowance", by="alice", at=T0)
    assert got.blocks == [("GHA01", "allowance", 2026, 1, 100),
                          ("GHA01", "allowance", 2027, 31, 50)]
    back = reg.transfer(b, a, 140, at=T0)
    assert back.blocks == [("GHA01", "allowance", 2026, 1, 100),
                           ("GHA01", "allowance", 2027, 1, 30),
                           ("GHA01", "allowance", 2027, 31, 40)]
    tx = reg.transaction(back.tx_id)
    assert tx["kind"] == "internal_transfer" and tx["state"] == "completed"
    # read back whole: what the blocks share is filled, a field they differ in stays null
    assert (tx["unit_type"], tx["vintage"], tx["authorisation_id"]) == ("allowance", None, None)
    assert reg.balance(a) == 140 and reg.balance(b) == 10 and reg.verify() == []
