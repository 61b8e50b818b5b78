"""Internal transfers on SQLite and PostgreSQL (splits, more than one page of blocks, failed
checks write nothing, the same code, path and detail on both); read-only commands never create
a missing SQLite file. Every internal transfer is proposed and approved (revision 0009); on
PostgreSQL each step is one statement (migration 0011: ``registry_propose_internal``,
``registry_approve_internal``), on SQLite one transaction on the driver
(:mod:`carbonlink.registry.sqlite_fast`). These tests run three ways — SQLite's fast path,
SQLite through the general Python path (``sqlite-general``), PostgreSQL — and hold the same
receipts, codes, paths, details, rows and journal entries on each."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from carbonlink.errors import CarbonlinkError
from carbonlink.registry import CheckFailed, Registry
from carbonlink.registry.access import OPERATIONS
from carbonlink.registry.db import blocks, journal, transactions
from carbonlink.registry.journal import canonical
from tests.registry.conftest import T0, Acting, World, acting


@pytest.fixture(params=["sqlite", "sqlite-general", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> str:
    """The registry tests' backends (tests/conftest.py), and SQLite once more with its fast
    path off: the general path's answers are the ones both fast paths must give."""
    from carbonlink.registry.transfers import Transfers
    if request.param == "sqlite-general":
        monkeypatch.setattr(Transfers, "sqlite_fast_path", False)
    if request.param.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return str(request.getfixturevalue("pg_database_url"))


def _fast_names(reg: Registry) -> tuple[str, str] | None:
    """The fast path's (proposal, approval) method names on this backend, None when off."""
    from carbonlink.registry.transfers import Transfers
    if reg.engine.dialect.name == "postgresql":
        return ("_propose_pg", "_approve_pg")
    return ("_propose_lite", "_approve_lite") if Transfers.sqlite_fast_path else None


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


# --- the four-eyes internal transfer: the fast paths' proposal and approval (PostgreSQL's
# one statement each, migration 0011; SQLite's driver-level transaction) against the general
# Python path: the same receipts, codes, paths, details, rows and journal entries

def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the one-statement calls that answered (not handed to the general path)."""
    from carbonlink.registry.transfers import Transfers
    ran: list[str] = []
    for name in ("_propose_pg", "_approve_pg", "_propose_lite", "_approve_lite"):
        real = getattr(Transfers, name)

        def spy(self: object, *a: object, _real: object = real, _name: str = name,
                **k: object) -> object:
            out = _real(self, *a, **k)  # type: ignore[operator]
            if out is not None:
                ran.append(_name)
            return out
        monkeypatch.setattr(Transfers, name, spy)
    return ran


def _as(reg: Registry, who: str, at: datetime) -> Registry:
    reg.registry.clock = lambda: at       # type: ignore[attr-defined]
    return reg.as_(who)                   # type: ignore[attr-defined]


def test_four_eyes_parity(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _spy(monkeypatch)
    ids = _parity_world(reg)
    a, b = ids["a"], ids["b"]
    reg.registry.untrusted_delay = timedelta(hours=26)       # type: ignore[attr-defined]
    t1 = T0 + timedelta(microseconds=5)
    p = _as(reg, "alice", t1).transfer(a, b, 7)
    assert (p.state, p.blocks) == ("proposed", [("GHA01", "allowance", 2026, 1, 7)])
    with pytest.raises(CheckFailed) as e:                     # four eyes: not the proposer
        _as(reg, "alice", t1).approve(p.tx_id)
    assert (e.value.code, e.value.problems[0][0], e.value.detail) == (
        "A2006", "by", f"'alice' proposed transfer {p.tx_id}; a second representative must "
        "approve")
    got = _as(reg, "bob", t1).approve(p.tx_id)                # b is not trusted: delayed
    assert (got.state, got.quantity) == ("delayed", 7)
    with pytest.raises(CheckFailed) as e:
        _as(reg, "bob", t1).approve(p.tx_id)
    assert (e.value.code, e.value.problems[0][0], e.value.detail) == (
        "R1002", "tx", f"transfer {p.tx_id} is delayed; expected proposed")
    late = _as(reg, "alice", T0).transfer(a, b, 3)            # expires after three days
    with pytest.raises(CheckFailed) as e:
        _as(reg, "bob", T0 + timedelta(days=3)).approve(late.tx_id)
    assert (e.value.code, e.value.problems[0][0], e.value.detail) == (
        "R1003", "tx", f"transfer {late.tx_id} expired at 2026-01-08 09:00:00")
    # b on a's trusted list (in force from the fourth working day): completes at once; the
    # server's clock stepping back keeps the journal monotone
    change = _as(reg, "alice", T0).trust(a, b)["id"]
    _as(reg, "bob", T0).approve_trust(change)
    t2 = datetime(2026, 1, 12, 9, 0)
    q = _as(reg, "alice", t2).transfer(a, b, 85, vintage=2026)     # splits 11–100
    assert q.blocks == [("GHA01", "allowance", 2026, 11, 95)]
    done = _as(reg, "bob", t2 - timedelta(hours=1)).approve(q.tx_id)
    assert (done.state, done.quantity) == ("completed", 85)
    assert reg.settle(at=T0 + timedelta(hours=27)) == [p.tx_id]
    with reg.engine.connect() as c:
        rows = c.execute(sa.select(journal.c.kind, journal.c.tx_id, journal.c.payload,
                                   journal.c.at).where(journal.c.kind.like("internal%"))
                         .order_by(journal.c.seq)).all()
        txs = c.execute(sa.select(transactions).where(
            transactions.c.kind == "internal_transfer").order_by(transactions.c.id)).all()
        held = c.execute(sa.select(blocks.c.account_id, blocks.c.serial_start,
                                   blocks.c.serial_end, blocks.c.status, blocks.c.pending_tx)
                         .where(blocks.c.vintage == 2026, blocks.c.issuing_registry == "GHA01",
                                blocks.c.account_id.in_((a, b)))
                         .order_by(blocks.c.serial_start)).all()
    assert [(k, t, json.loads(pl)) for k, t, pl, _ in rows] == [
        ("internal_transfer.proposed", p.tx_id, {
            "blocks": [["GHA01", "allowance", 2026, 1, 7]], "by": "alice", "from": a,
            "quantity": 7, "to": b}),
        ("internal_transfer.approved", p.tx_id, {"by": "bob",
                                                 "completes_at": "2026-01-06T11:00:00.000005"}),
        ("internal_transfer.proposed", late.tx_id, {
            "blocks": [["GHA01", "allowance", 2026, 8, 10]], "by": "alice", "from": a,
            "quantity": 3, "to": b}),
        ("internal_transfer.proposed", q.tx_id, {
            "blocks": [["GHA01", "allowance", 2026, 11, 95]], "by": "alice", "from": a,
            "quantity": 85, "to": b}),
        ("internal_transfer.approved", q.tx_id, {"by": "bob", "completes_at": None}),
        ("internal_transfer.completed", q.tx_id, {}),
        ("internal_transfer.completed", p.tx_id, {"settled_by": "admin"}),
    ]
    # canonical payloads, byte for byte (the journal hash covers them)
    assert [pl for _, _, pl, _ in rows] == [canonical(json.loads(pl)) for _, _, pl, _ in rows]
    assert rows[4][3] == rows[3][3] >= t2   # approved at t2 - 1h: the journal stays monotone
    assert [(t.state, t.proposer, t.approver, t.expires_at, t.completes_at, t.unit_type,
             t.vintage, t.created_at, t.updated_at) for t in txs] == [
        ("completed", "alice", "bob", t1 + timedelta(days=3), t1 + timedelta(hours=26),
         "allowance", 2026, t1, T0 + timedelta(hours=27)),
        ("proposed", "alice", None, T0 + timedelta(days=3), None, "allowance", 2026, T0, T0),
        ("completed", "alice", "bob", t2 + timedelta(days=3), None, "allowance", 2026, t2,
         t2 - timedelta(hours=1))]
    assert [tuple(h) for h in held] == [
        (b, 1, 7, "held", None), (a, 8, 10, "pending_export", late.tx_id),
        (b, 11, 95, "held", None), (a, 96, 100, "held", None)]
    assert reg.verify() == []
    names = _fast_names(reg)                  # the fast path answered every step
    assert ran == ([] if names is None else [names[i] for i in (0, 1, 0, 0, 1)])


@pytest.mark.parametrize("revision", ["0011_pg_four_eyes_fast_path",
                                      "0012_pg_fast_path_one_pass",
                                      "0014_pg_fast_path_fewer_statements"])
def test_function_matrix_matches_account_units(revision: str) -> None:
    """The PostgreSQL functions' account types and unit types (migrations 0011, 0012, 0014)
    are those of ``HOLDING_TYPES`` and ``ACCOUNT_UNITS`` for holding accounts."""
    import importlib.util

    from carbonlink.registry.common import ACCOUNT_UNITS, HOLDING_TYPES
    path = (Path(__file__).parents[2] / "src/carbonlink/registry/migrations/versions"
            / f"{revision}.py")
    spec = importlib.util.spec_from_file_location(f"m{revision[:4]}", path)
    assert spec is not None and spec.loader is not None
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    assert set(m.HOLDING_TYPES) == set(HOLDING_TYPES)
    for t in HOLDING_TYPES:
        assert set(m.HOLDING_UNITS) == set(ACCOUNT_UNITS[t])
    assert "@" not in m.PROPOSE and "@" not in m.APPROVE


def test_approve_refusals_parity(reg: Registry, world: World,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval's access check — on PostgreSQL made inside the one statement (migration
    0012) from the accounts the actor represents — refuses as the Python check does on SQLite:
    the same code and message, journalled, nothing written; for internal and external
    transfers and for a transaction that does not exist."""
    ran = _spy(monkeypatch)
    reg.issue(world.seller, 50, vintage=2026, at=T0)
    why = OPERATIONS["approve"].why
    internal = _as(reg, "alice", T0).transfer(world.seller, world.gha["party_holding"], 5)
    external = _as(reg, "alice", T0).transfer(world.seller, world.buyer, 4)
    cases = [("carol", internal.tx_id, f"account {world.seller}"),   # represents the buyer
             ("carol", external.tx_id, f"account {world.seller}"),
             ("bob", 10**6, "*")]                                    # no such transaction
    for who, tx, where in cases:
        before = _refusals(reg)
        with pytest.raises(CheckFailed) as e:
            _as(reg, who, T0).approve(tx)
        assert (e.value.code, e.value.detail) == (
            "S7001", f"'{who}' holds no role allowed to approve in {where} "
                     f"(allowed: approver; {why})")
        assert _refusals(reg) == [*before, {"operation": "approve", "user": who,
                                            "code": "S7001", "reason": e.value.detail}]
    assert reg.transaction(internal.tx_id)["state"] == "proposed"
    assert reg.transaction(external.tx_id)["state"] == "proposed"
    done = _as(reg, "bob", T0).approve(internal.tx_id)
    assert (done.state, done.quantity) == ("completed", 5)
    assert _as(reg, "bob", T0).approve(external.tx_id).state == "approved"
    assert reg.verify() == []
    names = _fast_names(reg)
    assert ran == ([] if names is None else list(names))


def _refusals(reg: Registry) -> list[dict[str, object]]:
    with reg.engine.connect() as c:
        return [json.loads(p) for (p,) in c.execute(sa.select(journal.c.payload).where(
            journal.c.kind == "access.denied").order_by(journal.c.seq))]


def test_deferred_checks_need_only_representation() -> None:
    """An access check made inside a statement knows only which accounts the actor represents:
    an operation whose rule names any other role cannot be deferred."""
    from carbonlink.registry import guard
    assert guard.DEFERRABLE
    for op in guard.DEFERRABLE:
        assert OPERATIONS[op].roles <= guard._REP, op


_TABLES = ("accounts", "blocks", "transactions", "transaction_blocks", "journal",
           "journal_signatures", "journal_head", "trusted_accounts", "trusted_changes",
           "authorisation_totals", "first_transfers", "ca_entries", "links")


def _dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    import sqlite3
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in _TABLES}
    finally:
        con.close()


def _fast_and_general(start: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      story: Callable[[Acting], list[object]]) -> dict[str, list[Any]]:
    """Run ``story`` on two copies of the SQLite registry ``start``, one with the fast path
    (which must answer) and one through the general path; assert the same outcomes, a clean
    ``verify`` and identical tables; return the tables."""
    from carbonlink.registry.transfers import Transfers
    from tests.registry.conftest import copy_sqlite_registry

    outcomes = []
    for fast in (True, False):
        url = copy_sqlite_registry(start, tmp_path / f"{fast}.db")
        monkeypatch.setattr(Transfers, "sqlite_fast_path", fast)
        ran = _spy(monkeypatch)
        with Registry(url) as r:
            acting = Acting(r)
            outcomes.append((story(acting), _dump(url)))
            assert acting.verify() == []
        assert (len(ran) > 0) == fast
        monkeypatch.undo()
    (got_fast, db_fast), (got_general, db_general) = outcomes
    assert got_fast == got_general
    for t in _TABLES:
        assert db_fast[t] == db_general[t], t
    return db_fast


def test_sqlite_fast_path_writes_what_the_general_path_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite, byte for byte: the same story run on two copies of one registry, one through
    :mod:`carbonlink.registry.sqlite_fast` and one through the general path, leaves identical
    tables — rows, ids, timestamps, journal hashes and (deterministic Ed25519) signatures —
    and the same receipts and refusals."""
    from tests.registry.conftest import make_world

    start = tmp_path / "start.db"
    with Registry(f"sqlite:///{start}") as r0:
        r0.init()
        acting = Acting(r0)
        w = make_world(acting)
        acting.issue(w.seller, 500, vintage=2026, at=T0)
        acting.issue(w.seller, 300, vintage=2027, at=T0)
        acting.issue(w.seller, 40, unit_type="itmo", vintage=2026, authorisation="GHA-A1",
                     at=T0)
    db = _fast_and_general(start, tmp_path, monkeypatch, lambda story: _run_story(story, w))
    assert len(db["journal_signatures"]) == len(db["journal"]) > 20


def _run_story(r: Acting, w: World) -> list[object]:
    out: list[object] = []
    a, other = w.seller, w.gha["party_holding"]
    r.registry.untrusted_delay = None          # Art 35(3): the delay to untrusted accounts

    def call(who: str, at: datetime, op: str, *args: object, **kw: object) -> None:
        try:
            got = getattr(_as(r, who, at), op)(*args, **kw)
            out.append(("ok", op, got))
        except CheckFailed as e:
            out.append(("refused", op, e.code, e.problems[0][0], e.detail))

    t1 = datetime(2026, 1, 5, 9, 0)            # a Monday morning
    call("alice", t1, "transfer", a, other, 7)                       # split, then delayed
    p1 = out[-1][2].tx_id                                            # type: ignore[index]
    call("alice", t1, "approve", p1)                                 # A2006
    call("carol", t1, "approve", p1)                                 # S7001 (journalled)
    call("bob", t1 + timedelta(seconds=1), "approve", p1)            # delayed
    call("bob", t1, "approve", p1)                                   # R1002
    call("alice", t1, "transfer", a, other, 20, vintage=2027)        # vintage filter
    p2 = out[-1][2].tx_id                                            # type: ignore[index]
    call("bob", t1 + timedelta(days=4), "approve", p2)               # R1003: expired
    call("alice", t1, "transfer", a, other, 10_000)                  # H3001
    call("alice", t1, "transfer", a, a, 1)                           # A2007
    call("alice", t1, "transfer", a, other, 40, unit_type="itmo")    # authorised: general
    p3 = out[-1][2].tx_id                                            # type: ignore[index]
    call("bob", t1, "approve", p3)
    call("alice", t1, "transfer", a, w.buyer, 5)                     # external: general
    call("bob", t1, "approve", out[-1][2].tx_id)                     # type: ignore[index]
    change = _as(r, "alice", t1).trust(a, other)["id"]
    _as(r, "bob", t1).approve_trust(change)                          # in force 2026-01-09
    t2 = datetime(2026, 1, 12, 9, 0)
    for q in (3, 600, 1):                                            # many blocks, mixed vintages
        call("alice", t2, "transfer", a, other, q)
        call("bob", t2 - timedelta(hours=2), "approve", out[-1][2].tx_id)  # clock stepped back
    call("alice", t2, "transfer", a, other, 2)
    call("alice", t2, "cancel_transfer", out[-1][2].tx_id)           # general path
    out.append(("settled", _as(r, "admin", t2 + timedelta(days=3)).settle()))
    return out


@pytest.mark.parametrize(("delay", "signed"), [(None, True), (timedelta(hours=26), True),
                                               (timedelta(0), True), (None, False)],
                         ids=["art35", "fixed", "none", "art35-no-key-file"])
def test_sqlite_fast_path_edges_write_what_the_general_path_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delay: timedelta | None,
        signed: bool) -> None:
    """The byte-for-byte comparison of the test above on the edges it does not reach, for each
    kind of :attr:`untrusted_delay`: an account without a holder, one of the same holder (Art
    23(2)), a trusted-list entry approved but not yet in force and then in force, a destination
    blocked and a source closed between proposal and approval, a block already first
    transferred (split), mixed unit types and vintages, refusals (journalled) of a
    destination's representative, of a missing transaction, of a representative with the
    initiator right only and of an administrator; once without the journal key file
    (entries unsigned)."""
    from tests.registry.conftest import make_world

    start = tmp_path / "start.db"
    with Registry(f"sqlite:///{start}") as r0:
        r0.init()
        if not signed:                           # a registry whose key file never existed
            start.with_name("start.db.journal-key").unlink()
        acting = Acting(r0)
        w = make_world(acting)
        acting.issue(w.seller, 200, vintage=2026, at=T0)
        acting.issue(w.seller, 100, unit_type="offset", vintage=2027, at=T0)
        lone = acting.open_account("GHA01", representatives_=["erin", "fred"], at=T0)
        sib = acting.open_account("GHA01", holder=w.seller_holder,
                                  representatives_=["alice", "bob"], at=T0)
        acting.issue(lone, 30, vintage=2026, at=T0)
        for u, role in (("ivy", "initiator"), ("kim", "initiator"), ("jon", "approver")):
            acting.user(u)                       # representatives with one right each
            acting.as_("admin").add_representative(lone, u, role)
        acting.issue(w.seller, 50, vintage=2028, at=T0)
        with r0.engine.begin() as conn:          # marked first transferred (no authorisation)
            conn.execute(blocks.update().where(blocks.c.vintage == 2028)
                         .values(first_transferred=True))
    def story(r: Acting) -> list[object]:
        r.registry.untrusted_delay = delay
        return _edge_story(r, w, lone, sib)
    db = _fast_and_general(start, tmp_path, monkeypatch, story)
    signatures = len(db["journal_signatures"])
    assert signatures > len(db["journal"]) // 2 if signed else signatures == 0


def _edge_story(r: Acting, w: World, lone: int, sib: int) -> list[object]:
    out: list[object] = []
    a = w.seller

    def call(who: str, at: datetime, op: str, *args: object, **kw: object) -> Any:
        try:
            got = getattr(_as(r, who, at), op)(*args, **kw)
            out.append(("ok", op, got))
            return got
        except CheckFailed as e:
            out.append(("refused", op, e.code, e.problems[0][0], e.detail))
            return None

    t1 = datetime(2026, 1, 5, 13, 0)                 # a Monday afternoon
    p = call("alice", t1, "transfer", a, lone, 7)    # no holder: off the trusted list
    call("fred", t1, "approve", p.tx_id)             # the destination's representative
    call("bob", t1, "approve", p.tx_id)
    p = call("alice", t1, "transfer", a, sib, 5)     # the same holder
    call("bob", t1, "approve", p.tx_id)
    p = call("erin", t1, "transfer", lone, a, 4)     # to an account with a holder
    call("fred", t1, "approve", p.tx_id)
    call("bob", t1, "approve", 10**6)                # no such transaction
    p = call("ivy", t1, "transfer", lone, a, 1)      # an initiator only proposes
    call("kim", t1, "approve", p.tx_id)              # another initiator: no right to approve
    call("admin", t1, "approve", p.tx_id)            # an administrator neither
    call("jon", t1, "approve", p.tx_id)              # the approver
    change = _as(r, "alice", t1).trust(a, lone)["id"]
    _as(r, "bob", t1).approve_trust(change)          # in force on the fourth working day
    p = call("alice", t1, "transfer", a, lone, 3)
    call("bob", t1 + timedelta(days=1), "approve", p.tx_id)     # not yet in force
    t2 = datetime(2026, 1, 13, 9, 30)
    p = call("alice", t2, "transfer", a, lone, 2)
    call("bob", t2, "approve", p.tx_id)                         # in force
    p = call("alice", t2, "transfer", a, lone, 20, vintage=2028)  # first transferred, split
    call("bob", t2, "approve", p.tx_id)
    p = call("alice", t2, "transfer", a, lone, 250)             # allowances and offsets
    call("bob", t2, "approve", p.tx_id)
    p = call("alice", t2, "transfer", a, sib, 6)
    r.set_account_status(sib, "blocked", at=t2)                 # blocked before approval:
    call("bob", t2, "approve", p.tx_id)                         # A2002 when it executes
    p = call("erin", t2, "transfer", lone, w.gha["party_holding"], 5)
    r.set_account_status(lone, "closed", at=t2)                 # the source closed
    call("fred", t2, "approve", p.tx_id)
    out.append(("settled", _as(r, "admin", t2 + timedelta(days=9)).settle()))
    assert [o[2] for o in out if o[0] == "refused"] == ["S7001"] * 4 + ["A2002"]
    return out


# --- SQLite's driver-level transaction: rollback on every way out, the kept connection after

def _lite_world(tmp_path: Path) -> tuple[Registry, Acting, int, int]:
    """A SQLite registry (fast path on) with 100 units in ``a`` (alice, bob) and an empty
    ``b`` of the same holder (completes at once)."""
    raw = Registry(f"sqlite:///{tmp_path / 'lite.db'}")
    raw.init()
    r = Acting(raw)
    r.add_registry("GHA01", at=T0)
    h = r.add_holder("GHA01", "Lite Ltd", at=T0)
    a = r.open_account("GHA01", holder=h, representatives_=["alice", "bob"], at=T0)
    b = r.open_account("GHA01", holder=h, representatives_=["alice", "bob"], at=T0)
    r.issue(a, 100, vintage=2026, at=T0)
    return raw, r, a, b


def _counts(reg: Registry) -> tuple[int, ...]:
    with reg.engine.connect() as c:
        return tuple(int(c.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one())
                     for t in ("transactions", "blocks", "transaction_blocks", "journal",
                               "journal_signatures"))


def _no_open_transaction(reg: Registry) -> None:
    for kept in reg._idle:
        assert not kept.cursor.connection.in_transaction


@pytest.mark.parametrize("exc", [KeyboardInterrupt, "sqlite"], ids=["base", "sqlite"])
def test_sqlite_fast_path_rolls_back_when_interrupted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: object) -> None:
    """An exception inside the transaction — a ``BaseException`` such as KeyboardInterrupt,
    or a driver error after rows were written (a duplicate journal head) — writes nothing, on
    the proposal and on the approval, and the kept connection serves the next call."""
    from carbonlink.errors import DocumentError
    from carbonlink.registry import sqlite_fast
    raw, r, a, b = _lite_world(tmp_path)
    with raw:
        real = sqlite_fast.append

        def broken(reg: object, cur: Any, *args: object) -> None:
            if exc is KeyboardInterrupt:
                raise KeyboardInterrupt
            cur.execute("INSERT INTO journal_head (id, seq, hash) VALUES (1, 0, 'x')")

        ok = _as(r, "alice", T0).transfer(a, b, 5)
        before = _counts(raw), r.balance(a), r.balance(b)
        monkeypatch.setattr(sqlite_fast, "append", broken)
        want = KeyboardInterrupt if exc is KeyboardInterrupt else DocumentError
        with pytest.raises(want):
            _as(r, "alice", T0).transfer(a, b, 7)
        with pytest.raises(want):
            _as(r, "bob", T0).approve(ok.tx_id)
        assert (_counts(raw), r.balance(a), r.balance(b)) == before
        _no_open_transaction(raw)
        monkeypatch.setattr(sqlite_fast, "append", real)
        assert _as(r, "bob", T0).approve(ok.tx_id).state == "completed"
        p = _as(r, "alice", T0).transfer(a, b, 7)
        assert _as(r, "bob", T0).approve(p.tx_id).state == "completed"
        assert r.balance(b) == 12 and r.verify() == []


def test_sqlite_fast_path_interrupted_after_begin_keeps_no_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt that arrives as ``BEGIN IMMEDIATE`` returns (Ctrl-C while waiting for the
    write lock) must not hand the connection back to the idle list inside its transaction:
    it would hold SQLite's write lock for good (every other writer, in any process, waits) and
    fail its next ``BEGIN``."""
    import sqlite3

    from carbonlink.registry.common import _Kept
    raw, r, a, b = _lite_world(tmp_path)
    with raw:
        take = type(raw)._take_statement_conn

        class Interrupted:
            armed = True

            def __init__(self, cur: Any) -> None:
                self.cur, self.connection = cur, cur.connection

            def execute(self, sql: str, *args: Any) -> Any:
                out = self.cur.execute(sql, *args)
                if sql == "BEGIN IMMEDIATE" and Interrupted.armed:
                    Interrupted.armed = False
                    raise KeyboardInterrupt
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(self.cur, name)

        def interrupted(self: Registry) -> _Kept:
            kept = take(self)
            return kept._replace(cursor=Interrupted(kept.cursor))

        monkeypatch.setattr(type(raw), "_take_statement_conn", interrupted)
        with pytest.raises(KeyboardInterrupt):
            _as(r, "alice", T0).transfer(a, b, 5)
        monkeypatch.undo()
        _no_open_transaction(raw)          # what is kept holds no transaction
        other = sqlite3.connect(tmp_path / "lite.db", timeout=0.1, isolation_level=None)
        try:                               # another writer gets the lock
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
        p = _as(r, "alice", T0).transfer(a, b, 5)
        assert _as(r, "bob", T0).approve(p.tx_id).state == "completed"
        assert r.balance(b) == 5 and r.verify() == []


def test_sqlite_close_closes_kept_connections(tmp_path: Path) -> None:
    """``Registry.close`` closes the driver connections the fast path kept."""
    import sqlite3
    raw, r, a, b = _lite_world(tmp_path)
    with raw:
        p = _as(r, "alice", T0).transfer(a, b, 5)
        _as(r, "bob", T0).approve(p.tx_id)
        kept = [k.cursor.connection for k in raw._idle]
        assert kept
    for c in kept:
        with pytest.raises(sqlite3.ProgrammingError):
            c.execute("SELECT 1")


def test_sqlite_connection_in_use_across_close_is_closed(tmp_path: Path) -> None:
    """A call still running on a kept connection while ``Registry.close`` runs (the web
    server's threadpool at shutdown; a view made by ``as_user``) does not keep that connection
    open after it ends: it is closed, not kept idle in a closed registry; a registry used
    again after ``close`` still works."""
    import sqlite3
    raw, r, a, b = _lite_world(tmp_path)
    view = _as(r, "alice", T0)
    p = view.transfer(a, b, 5)
    busy = view._take_statement_conn()       # in use by another thread as close() runs
    raw.close()
    view._put_statement_conn(busy)           # that call ends
    assert raw._idle == [] and view._idle == []
    with pytest.raises(sqlite3.ProgrammingError):
        busy.cursor.connection.execute("SELECT 1")
    with raw:
        assert _as(r, "bob", T0).approve(p.tx_id).state == "completed"
        assert r.balance(b) == 5 and r.verify() == []


def test_sqlite_fast_path_retries_a_locked_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``database is locked`` at ``BEGIN IMMEDIATE`` (another process writing longer than the
    busy timeout) is retried like the general path's, on the same kept connection, and then
    the transfer goes through once."""
    import sqlite3

    from carbonlink.registry import store
    raw, r, a, b = _lite_world(tmp_path)
    with raw:
        p = _as(r, "alice", T0).transfer(a, b, 5)       # a kept connection exists now
        for kept in raw._idle:                         # give up at once instead of waiting
            kept.cursor.execute("PRAGMA busy_timeout=0")
        other = sqlite3.connect(tmp_path / "lite.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")               # another writer holds the lock
        seen: list[str] = []
        real = store._retriable

        def release_then_judge(exc: Any) -> bool:
            seen.append(str(exc.orig))
            if other.in_transaction:
                other.execute("ROLLBACK")
            return real(exc)
        monkeypatch.setattr(store, "_retriable", release_then_judge)
        try:
            done = _as(r, "bob", T0).approve(p.tx_id)
        finally:
            other.close()
        assert seen == ["database is locked"]
        assert done.state == "completed" and r.balance(b) == 5 and r.verify() == []


def test_approval_refuses_a_destination_no_longer_open(
        reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """A2002 when the transfer executes, not only when it is proposed: an acquiring account
    blocked or closed after the proposal refuses the approval (the same code, path and detail
    on every path; nothing written, the units stay in escrow until cancelled or approved once
    the account is open again), and ``settle`` leaves a delayed transfer into an account
    blocked during its delay delayed until the account is open again."""
    ran = _spy(monkeypatch)
    ids = _parity_world(reg)
    a, b = ids["a"], ids["b"]
    p = _as(reg, "alice", T0).transfer(a, b, 7)
    reg.set_account_status(b, "blocked", at=T0)
    before = reg.verify(), reg.balance(a), reg.balance(b)
    with pytest.raises(CheckFailed) as e:
        _as(reg, "bob", T0).approve(p.tx_id)
    assert (e.value.code, e.value.problems[0][0], e.value.detail) == (
        "A2002", "to_account", f"account {b} is blocked")
    assert (reg.verify(), reg.balance(a), reg.balance(b)) == before
    assert reg.transaction(p.tx_id)["state"] == "proposed"
    reg.set_account_status(b, "open", at=T0)
    assert _as(reg, "bob", T0).approve(p.tx_id).state == "completed"
    # delayed, then the account closed during the delay: settle waits for it to reopen
    reg.registry.untrusted_delay = timedelta(hours=26)       # type: ignore[attr-defined]
    q = _as(reg, "alice", T0).transfer(a, b, 3)
    assert _as(reg, "bob", T0).approve(q.tx_id).state == "delayed"
    reg.set_account_status(b, "closed", at=T0)
    assert reg.settle(at=T0 + timedelta(hours=27)) == []
    assert reg.transaction(q.tx_id)["state"] == "delayed"
    reg.set_account_status(b, "open", at=T0 + timedelta(hours=27))
    assert reg.settle(at=T0 + timedelta(hours=28)) == [q.tx_id]
    assert reg.balance(b) == 10 and reg.verify() == []
    names = _fast_names(reg)
    assert ran == ([] if names is None else [names[0], names[1], names[0], names[1]])
