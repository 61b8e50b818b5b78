"""API tokens (and browser sessions, which hold one): found by their SHA-256 digest in one
statement per request, with expiry, revocation, the user's being active, the roles and the
represented accounts read afresh every time; refusals journalled; the token itself never
stored, logged or journalled. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from carbonlink.registry import CheckFailed
from carbonlink.registry.db import api_tokens, journal
from tests.registry.conftest import Acting


def _denials(reg: Acting) -> list[dict[str, object]]:
    return [json.loads(p) for (p,) in reg.registry._read(lambda c: c.execute(
        sa.select(journal.c.payload).where(journal.c.kind == "access.denied")
        .order_by(journal.c.seq)).all())]


def _alice(reg: Acting) -> tuple[int, str]:
    """An account represented by alice (as initiator) and a write token of alice."""
    reg.add_registry("GHA01")
    acc = reg.open_account("GHA01", representatives_=[("alice", "initiator")])
    return acc, reg.as_("alice").issue_token("write", name="t")


def test_a_token_gives_the_users_roles_and_accounts_as_they_are_now(reg: Acting) -> None:
    acc, token = _alice(reg)
    actor = reg.registry.authenticate(token)
    trusted = reg.registry.trusted_actor("alice")
    assert (actor.user_id, actor.username, actor.roles, actor.reps, actor.token_scope) == (
        trusted.user_id, "alice", frozenset(), {acc: "initiator"}, "write")
    # roles and representations are read on every request, not remembered from the first
    reg.as_("admin").grant_role("alice", "auditor", "*")
    reg.as_("admin").remove_representative(acc, "alice")
    again = reg.registry.authenticate(token)
    assert again.roles == {("auditor", "*")} and again.reps == {}
    read = reg.as_("alice").issue_token("read", name="r")
    assert reg.registry.authenticate(read).token_scope == "read"


def test_unknown_revoked_expired_and_deactivated_tokens_are_refused_and_journalled(
        reg: Acting) -> None:
    _, token = _alice(reg)
    short = reg.as_("alice").issue_token("write", name="short", ttl=timedelta(minutes=5))
    doomed = reg.as_("alice").issue_token("write", name="doomed")
    rep_token = reg.as_("rep").issue_token("write", name="rep")
    before = len(_denials(reg))

    def refused(tok: str) -> None:
        with pytest.raises(CheckFailed) as e:
            reg.registry.authenticate(tok)
        assert e.value.code == "S7003"

    refused("clk_" + "A" * 43)                           # never issued
    refused(token[:-1] + ("B" if token[-1] != "B" else "C"))   # one character changed
    reg.as_("alice").revoke_token(doomed)
    refused(doomed)
    reg.registry.authenticate(short)                     # valid until its expiry …
    now = reg.registry.clock()
    reg.registry.clock = lambda: now + timedelta(minutes=6)   # … on the server's clock
    refused(short)
    reg.registry.authenticate(token)                     # the 30-day token still holds
    reg.registry.clock = lambda: now + timedelta(days=31)
    refused(token)
    reg.registry.clock = lambda: now
    reg.as_("admin").set_user_active("rep", False)       # a deactivated user's token
    refused(rep_token)
    denials = _denials(reg)[before:]
    assert [d["operation"] for d in denials] == ["authenticate"] * 6
    assert all(d["code"] == "S7003" for d in denials)
    text = json.dumps(denials)
    assert not any(t in text for t in (token, short, doomed, rep_token))


def test_a_read_token_cannot_change_state(reg: Acting) -> None:
    acc, _ = _alice(reg)
    other = reg.open_account("GHA01", representatives_=["alice"])
    reg.issue(acc, 10, vintage=2026)
    read = reg.as_("alice").issue_token("read", name="r")
    viewer = reg.registry.as_user(reg.registry.authenticate(read))
    with pytest.raises(CheckFailed) as e:
        viewer.transfer(acc, other, 1)
    assert e.value.code == "S7001"
    assert reg.balance(acc) == 10
    assert _denials(reg)[-1]["operation"] == "transfer"
    with pytest.raises(CheckFailed) as e:
        viewer.issue_token("write")                      # nor make itself a write token
    assert e.value.code == "S7001" and _denials(reg)[-1]["operation"] == "issue_token"


def test_only_the_digest_is_stored_and_the_token_is_never_logged(
        reg: Acting, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)                      # every logger, SQLAlchemy's included
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        _, token = _alice(reg)
        reg.registry.authenticate(token)
        with pytest.raises(CheckFailed):
            reg.registry.authenticate(token + "x")
        reg.as_("alice").revoke_token(token)
        with pytest.raises(CheckFailed):
            reg.registry.authenticate(token)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert any(digest in r.getMessage() for r in caplog.records)   # the logging did log
    assert token not in caplog.text and token[4:] not in caplog.text
    stored = reg.registry._read(lambda c: [tuple(r) for r in c.execute(sa.select(api_tokens))])
    assert [r for r in stored if digest in r] and not any(token in str(r) for r in stored)
    entries = reg.registry._read(lambda c: [p for (p,) in c.execute(
        sa.select(journal.c.payload))])
    assert not any(token[4:] in p for p in entries)
