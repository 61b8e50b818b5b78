"""Issue 11 small fixes: a new transaction row names the unit type, vintage and authorisation
its blocks share (not only the read-back); the calendar's default date is the server's day."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from carbonlink.registry.db import transactions
from tests.registry.conftest import Acting, World, full_transfer

T1 = datetime(2026, 3, 1)


def test_new_transaction_rows_name_what_their_blocks_share(reg: Acting, world: World) -> None:
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    reg.issue(world.seller, 10, vintage=2027, at=T1)
    used = reg.retire(world.seller, 5, unit_type="allowance", by="alice", at=T1).tx_id
    ext = full_transfer(reg, world.seller, world.buyer, 40, T1, vintage=2026)
    mixed = reg.transfer(world.seller, world.gha["party_holding"], 65, by="alice", at=T1)
    with reg.engine.connect() as c:
        rows = {int(r.id): r for r in c.execute(sa.select(transactions))}
    assert (rows[ext].unit_type, rows[ext].vintage, rows[ext].authorisation_id) == \
        ("itmo", 2026, "GHA-A1")
    assert (rows[used].unit_type, rows[used].vintage, rows[used].authorisation_id) == \
        ("allowance", 2027, None)
    if reg.engine.dialect.name == "sqlite":   # the PostgreSQL one-statement path: see docs
        m = rows[mixed.tx_id]                  # 60 ITMOs 2026 + 5 allowances 2027: all differ
        assert (m.unit_type, m.vintage, m.authorisation_id) == (None, None, None)
    assert reg.verify() == []


def test_the_calendar_defaults_to_the_servers_day(reg: Acting, world: World) -> None:
    reg.issue(world.seller, 10, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    server_day = datetime(2031, 6, 1, 12)
    assert server_day.date() != date.today()
    got = reg.calendar(at=server_day)        # at=: the tests' server clock (Acting)
    assert got == reg.calendar(date(2031, 6, 1))
    assert got != reg.calendar(date(2026, 2, 1))


def test_sqlite_timestamp_text_is_sqlalchemys() -> None:
    """``rawsql.ts_text`` (the raw paths' SQLite timestamps) writes what SQLAlchemy's SQLite
    ``DateTime`` writes for the same value — a year below 1000 zero-padded, microseconds
    always, a time zone dropped — so rows written by either compare and read back alike."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from carbonlink.registry.rawsql import ts_text
    engine = sa.create_engine("sqlite://")
    meta = sa.MetaData()
    t = sa.Table("t", meta, sa.Column("at", sa.DateTime))
    meta.create_all(engine)
    values = [datetime(2026, 1, 5, 9, 0), datetime(2026, 12, 31, 23, 59, 59, 999_999),
              datetime(999, 3, 4, 5, 6, 7, 8), datetime(2026, 6, 1, 12, 0, tzinfo=UTC)]
    with engine.begin() as c:
        for v in values:
            c.execute(t.insert().values(at=v))
        stored = [r[0] for r in c.exec_driver_sql("SELECT at FROM t")]
    assert [ts_text(v) for v in values] == stored
    assert stored[0] == "2026-01-05 09:00:00.000000"
