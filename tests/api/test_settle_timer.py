"""The web server's own settle timer and ``carbonlink registry settle --watch`` (issue 11,
build point 2: a delay completes without an operator's cron), on SQLite and PostgreSQL: a
delayed internal transfer whose delay has passed on the server's clock (the tests' clock
override, no sleeping out the delay) is completed by the timer, journalled as
``system:scheduler``; a failing run is logged, not swallowed, and the timer goes on; the
timer stops with the app."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from carbonlink.api import create_app
from carbonlink.errors import DocumentError
from carbonlink.registry import Registry
from carbonlink.registry.db import journal
from carbonlink.registry.store import UNTRUSTED_DELAY
from tests.registry.conftest import acting, make_world

WAIT = 120.0     # generous: a loaded 2-CPU machine


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _delayed(url: str) -> tuple[int, datetime]:
    """A registry with one internal transfer approved now and delayed (Art 35(3): to 12:00 CET
    of the next or second working day)."""
    with Registry(url) as raw:
        raw.init()
        reg = acting(raw)
        w = make_world(reg)
        reg.issue(w.seller, 10, vintage=2026)
        raw.untrusted_delay = UNTRUSTED_DELAY     # the harness's registries run without it
        p = reg.as_("alice").transfer(w.seller, w.gha["party_holding"], 4)
        a = reg.as_("bob").approve(p.tx_id)
        assert a.state == "delayed"
        due = reg.as_("admin").transaction(p.tx_id)["completes_at"]
        return p.tx_id, due


def _state(url: str, tx: int) -> str:
    with Registry(url) as raw:
        return str(acting(raw).as_("admin").transaction(tx)["state"])


def test_the_web_server_settles_due_transfers_itself(database_url: str,
                                                     client_factory: Callable[..., object],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    tx, due = _delayed(database_url)
    app = create_app(database_url, settle_seconds=0.2)
    reg = app.state.registry
    reg.clock = lambda: due - timedelta(seconds=1)        # not yet due
    with caplog.at_level(logging.INFO, logger="carbonlink.api.settle"), \
            client_factory(app):   # type: ignore[operator]
        time.sleep(1.0)                                    # a few runs, none due
        assert _state(database_url, tx) == "delayed"
        reg.clock = lambda: due + timedelta(seconds=1)     # the server's clock passes the delay
        end = time.monotonic() + WAIT
        while _state(database_url, tx) != "completed" and time.monotonic() < end:
            time.sleep(0.1)
        assert _state(database_url, tx) == "completed"
    assert any(f"settled delayed transfers {tx}" in r.getMessage() for r in caplog.records)
    with Registry(database_url) as raw:
        with raw.engine.connect() as c:
            body = c.execute(sa.select(journal.c.payload).where(
                journal.c.tx_id == tx, journal.c.kind == "internal_transfer.completed")
            ).scalar_one()
        assert json.loads(body)["settled_by"] == "system:scheduler"
        assert acting(raw).as_("admin").verify() == []


def test_the_web_server_expires_stale_proposals_itself(
        database_url: str, client_factory: Callable[..., object],
        caplog: pytest.LogCaptureFixture) -> None:
    """A transfer proposed and never approved is terminated by the timer once its time limit
    (three days) has passed on the server's clock: the escrowed units go back, the entry is
    written under ``system:scheduler``'s run, and the ledger verifies."""
    with Registry(database_url) as raw:
        raw.init()
        reg = acting(raw)
        w = make_world(reg)
        reg.issue(w.seller, 10, vintage=2026)
        p = reg.as_("alice").transfer(w.seller, w.buyer, 4)      # external: proposed only
        limit = reg.as_("admin").transaction(p.tx_id)["expires_at"]
        assert reg.as_("admin").balance(w.seller) == 6
    app = create_app(database_url, settle_seconds=0.2)
    reg2 = app.state.registry
    reg2.clock = lambda: limit - timedelta(seconds=1)
    with caplog.at_level(logging.INFO, logger="carbonlink.api.settle"), \
            client_factory(app):   # type: ignore[operator]
        time.sleep(1.0)
        assert _state(database_url, p.tx_id) == "proposed"
        reg2.clock = lambda: limit + timedelta(seconds=1)
        end = time.monotonic() + WAIT
        while _state(database_url, p.tx_id) != "expired" and time.monotonic() < end:
            time.sleep(0.1)
        assert _state(database_url, p.tx_id) == "expired"
    assert any(f"expired transfers past their time limit {p.tx_id}" in r.getMessage()
               for r in caplog.records)
    with Registry(database_url) as raw:
        admin = acting(raw).as_("admin")
        assert admin.balance(w.seller) == 10 and admin.verify() == []


def test_a_failing_run_is_logged_and_the_timer_goes_on(
        tmp_path: Path, client_factory: Callable[..., object],
        caplog: pytest.LogCaptureFixture) -> None:
    """On a database that is not initialised every run fails: each failure is logged with its
    reason (not swallowed), the app keeps serving, and it shuts down cleanly."""
    app = create_app(f"sqlite:///{tmp_path / 'empty.db'}", settle_seconds=0.1)
    with caplog.at_level(logging.ERROR, logger="carbonlink.api.settle"), \
            client_factory(app) as client:   # type: ignore[operator]
        end = time.monotonic() + WAIT
        while sum("settle" in r.getMessage() for r in caplog.records) < 2 and \
                time.monotonic() < end:
            time.sleep(0.1)
        assert client.get("/api/health").status_code == 200
    failures = [r for r in caplog.records if r.name == "carbonlink.api.settle"]
    assert len(failures) >= 2 and all(r.exc_info for r in failures)
    assert "not initialised" in str(failures[0].exc_info[1])


def test_the_interval_is_bounded() -> None:
    with pytest.raises(DocumentError) as e:
        create_app("sqlite://", settle_seconds=-1)
    assert e.value.problems[0][0] == "settle_seconds"


def test_settle_watch_runs_until_its_runs_are_done(database_url: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``carbonlink registry settle --watch 0.1 --runs 3`` as a logged-in administrator:
    the first run (server clock past the delay) completes the transfer, the others find
    nothing; the entry names the administrator."""
    from carbonlink.cli import main
    from carbonlink.registry import store

    tx, due = _delayed(database_url)
    with Registry(database_url) as raw:
        monkeypatch.setenv("CARBONLINK_TOKEN",
                           acting(raw).as_("admin").issue_token("write", name="cron"))
    monkeypatch.setattr(store, "_now", lambda: due + timedelta(seconds=1))
    with pytest.raises(SystemExit) as e:
        main(["registry", "settle", "--watch", "0.1", "--runs", "3", "--db", database_url])
    out = capsys.readouterr().out
    assert e.value.code in (0, None)
    assert out.splitlines() == [f"completed: {tx}", "completed: none", "completed: none"]
    monkeypatch.undo()
    assert _state(database_url, tx) == "completed"
    with Registry(database_url) as raw, raw.engine.connect() as c:
        body = c.execute(sa.select(journal.c.payload).where(
            journal.c.tx_id == tx, journal.c.kind == "internal_transfer.completed")).scalar_one()
    assert json.loads(body)["settled_by"] == "admin"
