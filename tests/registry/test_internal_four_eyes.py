"""Four eyes for internal transfers, trusted-account lists and the delay (issue 11, build
point 2), on SQLite and PostgreSQL, on the server's clock (the tests' fake clock): every
internal transfer is proposed by one representative and approved by another (there is no
opt-out); to a trusted account it then completes at once, to any other after the delay
(Reg. (EU) 2019/1122 Art 35(3): 12:00 CET of the next working day, or of the second when
approved after 12:00 CET), cancellable by the transferring account's representatives until
then.

The harness (:class:`~tests.registry.conftest.Acting`) approves internal transfers by a second
representative itself; these tests propose as the user (:func:`propose`) to see each step."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from carbonlink.registry import CheckFailed, Receipt
from carbonlink.registry import journal as jr
from carbonlink.registry.db import blocks
from carbonlink.registry.store import UNTRUSTED_DELAY
from carbonlink.registry.transfers import trusted_from, untrusted_due
from tests.registry.conftest import Acting, World, tampering

T1 = datetime(2026, 3, 2, 9, 0)


@pytest.fixture
def fe(reg: Acting, world: World) -> World:
    reg.registry.untrusted_delay = UNTRUSTED_DELAY      # the harness runs without the delay
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    return world


def propose(reg: Acting, src: int, dst: int, quantity: int, *, by: str,
            at: datetime) -> Receipt:
    """``by`` proposes the transfer at server time ``at`` (not approved by the harness)."""
    reg.user(by)
    reg.registry.clock = lambda: at
    return reg.as_(by).transfer(src, dst, quantity)


def _escrowed(reg: Acting, tx: int) -> int:
    with reg.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.coalesce(sa.func.sum(
            blocks.c.serial_end - blocks.c.serial_start + 1), 0)).where(
            blocks.c.pending_tx == tx)).scalar_one())


def test_every_internal_transfer_waits_for_a_second_representative(reg: Acting,
                                                                   world: World) -> None:
    """No account is exempt: an account that never had a policy proposes too, and nothing
    arrives until a second representative approves."""
    reg.issue(world.seller, 10, vintage=2026, at=T1)
    party = world.gha["party_holding"]
    p = propose(reg, world.seller, party, 4, by="alice", at=T1)
    assert (p.kind, p.state) == ("internal_transfer", "proposed")
    assert reg.balance(party) == 0 and reg.balance(world.seller) == 6
    with pytest.raises(CheckFailed) as e:
        reg.approve(p.tx_id, by="alice", at=T1)
    assert e.value.code == "A2006"
    assert reg.approve(p.tx_id, by="bob", at=T1).state == "completed"   # no delay here
    assert reg.balance(party) == 4
    assert not hasattr(reg.registry, "set_four_eyes")
    assert reg.verify() == []


def test_historical_four_eyes_entries_still_verify(reg: Acting, world: World) -> None:
    """A journal written before revision 0009 holds ``account.four_eyes`` entries (the opt-in
    of 0008); they stay valid history: replay and verify pass over them."""
    reg.issue(world.seller, 10, vintage=2026, at=T1)
    reg.registry._run(lambda c: jr.append(c, T1, "account.four_eyes", None,
                                          {"account": world.seller, "four_eyes": False}))
    reg.transfer(world.seller, world.gha["party_holding"], 3, by="alice", at=T1)
    assert reg.balance(world.gha["party_holding"]) == 3
    assert reg.verify() == []


def test_a_second_representative_approves_and_the_delay_runs_on_the_servers_clock(
        reg: Acting, fe: World) -> None:
    party = fe.gha["party_holding"]
    p = propose(reg, fe.seller, party, 10, by="alice", at=T1)
    assert (p.kind, p.state) == ("internal_transfer", "proposed")
    assert reg.balance(fe.seller) == 90 and _escrowed(reg, p.tx_id) == 10
    assert reg.balance(party) == 0
    with pytest.raises(CheckFailed) as e:               # the proposer cannot approve
        reg.approve(p.tx_id, by="alice", at=T1)
    assert e.value.code == "A2006"
    with pytest.raises(CheckFailed) as e:               # nor someone who is no representative
        reg.approve(p.tx_id, by="carol", at=T1)
    assert e.value.code == "S7001"
    a = reg.approve(p.tx_id, by="bob", at=T1 + timedelta(minutes=5))
    assert a.state == "delayed"                          # not on the trusted list
    t = reg.transaction(p.tx_id)
    assert (t["proposer"], t["approver"], t["state"]) == ("alice", "bob", "delayed")
    # approved Monday 10:05 CET, before noon: executed at 12:00 CET on Tuesday (Art 35(3))
    due = datetime(2026, 3, 3, 11, 0)
    assert t["completes_at"] == due == untrusted_due(T1 + timedelta(minutes=5))
    assert reg.settle(at=due - timedelta(minutes=1)) == []
    assert reg.balance(party) == 0
    assert reg.settle(at=due) == [p.tx_id]
    assert reg.balance(party) == 10 and reg.balance(fe.seller) == 90
    assert reg.transaction(p.tx_id)["state"] == "completed"
    assert reg.verify() == []


def test_a_delayed_transfer_is_cancelled_by_a_representative_of_the_transferring_account(
        reg: Acting, fe: World) -> None:
    party = fe.gha["party_holding"]
    p = propose(reg, fe.seller, party, 7, by="alice", at=T1)
    reg.approve(p.tx_id, by="bob", at=T1)
    with pytest.raises(CheckFailed) as e:               # the receiving side cannot cancel
        reg.cancel_transfer(p.tx_id, by="carol", at=T1 + timedelta(hours=1))
    assert e.value.code == "S7001"
    c = reg.cancel_transfer(p.tx_id, by="alice", at=T1 + timedelta(hours=1))
    assert c.state == "cancelled" and reg.balance(fe.seller) == 100
    assert reg.settle(at=T1 + timedelta(days=3)) == [] and reg.balance(party) == 0
    with pytest.raises(CheckFailed) as e:               # after the delay: nothing to cancel
        reg.cancel_transfer(p.tx_id, by="alice", at=T1 + timedelta(days=3))
    assert e.value.code == "R1002"
    q = propose(reg, fe.seller, party, 3, by="alice", at=T1 + timedelta(days=3))
    assert reg.cancel_transfer(q.tx_id, by="bob", at=T1 + timedelta(days=3)).state == \
        "cancelled"                                      # a proposal can be withdrawn too
    assert reg.verify() == []


def test_trusted_list_is_kept_by_the_accounts_representatives(reg: Acting, fe: World) -> None:
    """Art 23(4): alice proposes an addition, she cannot approve it, bob does; it is in force
    from 12:00 CET on the fourth working day after the proposal (server clock) — until then
    a transfer to that account is delayed, afterwards it completes at once; a removal
    approved by a second representative takes effect at once. Administrators no longer edit
    the list (S7001)."""
    party = fe.gha["party_holding"]
    p = reg.trust(fe.seller, party, by="alice", at=T1)          # Monday 2026-03-02 09:00 UTC
    assert p["state"] == "proposed" and reg.trusted(fe.seller) == []
    with pytest.raises(CheckFailed) as e:
        reg.approve_trust(p["id"], by="alice", at=T1)
    assert e.value.code == "A2006"
    with pytest.raises(CheckFailed) as e:
        reg.as_("admin").approve_trust(p["id"])
    assert e.value.code == "S7001"
    done = reg.approve_trust(p["id"], by="bob", at=T1 + timedelta(hours=1))
    due = datetime(2026, 3, 6, 11, 0)                           # Friday 12:00 CET
    assert done["effective_at"] == due
    assert reg.trusted(fe.seller, at=due - timedelta(minutes=1)) == []
    early = propose(reg, fe.seller, party, 5, by="alice", at=due - timedelta(minutes=1))
    assert reg.approve(early.tx_id, by="bob", at=due - timedelta(minutes=1)).state == "delayed"
    assert reg.trusted(fe.seller, at=due) == [party]
    q = propose(reg, fe.seller, party, 5, by="alice", at=due)
    assert reg.approve(q.tx_id, by="bob", at=due).state == "completed"
    r = reg.distrust(fe.seller, party, by="bob", at=due + timedelta(hours=1))
    assert reg.trusted(fe.seller, at=due + timedelta(hours=1)) == [party]
    reg.approve_trust(r["id"], by="alice", at=due + timedelta(hours=2))
    assert reg.trusted(fe.seller, at=due + timedelta(hours=2)) == []
    q = propose(reg, fe.seller, party, 1, by="alice", at=due + timedelta(hours=3))
    assert reg.approve(q.tx_id, by="bob", at=due + timedelta(hours=3)).state == "delayed"
    with pytest.raises(CheckFailed) as e:                       # the registry's administrators
        reg.as_("admin").trust(fe.seller, party)
    assert e.value.code == "S7001"
    assert reg.verify() == []


def test_a_trusted_list_change_can_be_withdrawn_or_refused(reg: Acting, fe: World) -> None:
    """A proposed change of the trusted list never takes effect when its proposer withdraws it
    or the second representative refuses it (Art 23(4) needs both); a decided change cannot be
    rejected (R1002); someone who does not represent the account cannot (S7001); the ledger
    verifies, and a rejection rewritten as an approval by SQL is found."""
    party = fe.gha["party_holding"]
    mine = reg.trust(fe.seller, party, by="alice", at=T1)["id"]
    gone = reg.reject_trust(mine, by="alice", at=T1)                 # withdrawn
    assert (gone["state"], gone["approver"]) == ("rejected", "alice")
    theirs = reg.trust(fe.seller, party, by="alice", at=T1)["id"]    # a new proposal may follow
    with pytest.raises(CheckFailed) as e:
        reg.as_("carol").reject_trust(theirs)
    assert e.value.code == "S7001"
    assert reg.reject_trust(theirs, by="bob", at=T1)["state"] == "rejected"   # refused
    with pytest.raises(CheckFailed) as e:
        reg.approve_trust(theirs, by="bob", at=T1)
    assert e.value.code == "R1002"
    with pytest.raises(CheckFailed) as e:
        reg.reject_trust(theirs, by="bob", at=T1)
    assert e.value.code == "R1002"
    assert reg.trusted(fe.seller, at=datetime(2026, 4, 1)) == []
    assert [x for x in reg.trusted(fe.seller, pending=True)] == []
    assert reg.verify() == []
    with tampering(reg.engine) as c:
        c.exec_driver_sql(f"UPDATE trusted_changes SET state = 'approved' WHERE id = {theirs}")
    assert any(f"trusted-list change {theirs}:" in p for p in reg.verify())


@pytest.mark.parametrize(("proposed", "due"), [
    (datetime(2026, 3, 2, 9, 0), datetime(2026, 3, 6, 11, 0)),    # Monday -> Friday
    (datetime(2026, 3, 6, 15, 0), datetime(2026, 3, 12, 11, 0)),  # Friday -> Thursday
    (datetime(2026, 3, 1, 23, 30), datetime(2026, 3, 6, 11, 0)),  # Sunday 23:30 UTC is Monday CET
    (datetime(2026, 3, 7, 12, 0), datetime(2026, 3, 12, 11, 0)),  # Saturday -> Thursday
])
def test_trusted_from_is_noon_cet_on_the_fourth_working_day(proposed: datetime,
                                                             due: datetime) -> None:
    assert trusted_from(proposed) == due
    # the plain formulation: count weekdays after the proposal's CET date
    d, n = (proposed + timedelta(hours=1)).date(), 0
    while n < 4:
        d += timedelta(days=1)
        n += d.isoweekday() <= 5
    assert due == datetime(d.year, d.month, d.day, 11, 0)


@pytest.mark.parametrize(("approved", "due"), [
    (datetime(2026, 3, 2, 9, 0), datetime(2026, 3, 3, 11, 0)),    # Mon 10:00 CET -> Tue noon
    (datetime(2026, 3, 2, 10, 59), datetime(2026, 3, 3, 11, 0)),  # Mon 11:59 CET -> Tue noon
    (datetime(2026, 3, 2, 11, 0), datetime(2026, 3, 4, 11, 0)),   # Mon 12:00 CET -> Wed noon
    (datetime(2026, 3, 5, 14, 0), datetime(2026, 3, 9, 11, 0)),   # Thu 15:00 CET -> Mon noon
    (datetime(2026, 3, 6, 8, 0), datetime(2026, 3, 9, 11, 0)),    # Fri 09:00 CET -> Mon noon
    (datetime(2026, 3, 6, 15, 0), datetime(2026, 3, 10, 11, 0)),  # Fri 16:00 CET -> Tue noon
    (datetime(2026, 3, 7, 15, 0), datetime(2026, 3, 10, 11, 0)),  # Saturday -> Tue noon
    (datetime(2026, 3, 1, 23, 30), datetime(2026, 3, 3, 11, 0)),  # Sun 23:30 UTC: Mon 00:30 CET
])
def test_untrusted_due_is_noon_cet_on_the_next_or_second_working_day(approved: datetime,
                                                                      due: datetime) -> None:
    """Reg. (EU) 2019/1122 Art 35(3), against a plain formulation: count working days after
    the approval's CET date, one if approved on a working day before 12:00 CET, else two (a
    weekend approval counts as Monday morning's)."""
    assert untrusted_due(approved) == due
    local = approved + timedelta(hours=1)
    d = local.date()
    if d.isoweekday() > 5:
        d += timedelta(days=8 - d.isoweekday())       # as if Monday morning: one working day
        n_days = 1
    else:
        n_days = 1 if local.hour < 12 else 2
    n = 0
    while n < n_days:
        d += timedelta(days=1)
        n += d.isoweekday() <= 5
    assert due == datetime(d.year, d.month, d.day, 11, 0)


def test_a_fixed_delay_still_applies_when_configured(reg: Acting, fe: World) -> None:
    """``Registry(untrusted_delay=timedelta(hours=26))`` (the issue's Union Registry figure)
    replaces the Art 35(3) rule with a fixed delay from the approval."""
    reg.registry.untrusted_delay = timedelta(hours=26)
    party = fe.gha["party_holding"]
    p = propose(reg, fe.seller, party, 5, by="alice", at=T1)
    assert reg.approve(p.tx_id, by="bob", at=T1 + timedelta(minutes=5)).state == "delayed"
    assert reg.transaction(p.tx_id)["completes_at"] == T1 + timedelta(hours=26, minutes=5)
    assert reg.settle(at=T1 + timedelta(hours=26)) == []
    assert reg.settle(at=T1 + timedelta(hours=26, minutes=5)) == [p.tx_id]
    assert reg.verify() == []


@pytest.mark.parametrize(("sql", "expected"), [
    ("INSERT INTO trusted_accounts (account_id, trusted_id, added_at) VALUES ({seller}, "
     "{party}, '2026-03-02')", "{party} is on the trusted list of account {seller} without"),
    ("UPDATE transactions SET approver = proposer WHERE id = {tx}",
     "approved by 'alice', its proposer 'alice'"),
    ("UPDATE transactions SET state = 'completed' WHERE id = {tx}",
     "transaction {tx}: state is 'completed' in the table but 'delayed'"),
    ("UPDATE trusted_accounts SET added_at = '2026-03-02 09:00:00'",
     "{buyer} is trusted by account {seller} from 2026-03-02 09:00:00 in the table"),
    ("UPDATE trusted_changes SET approver = proposer",
     "approved by 'alice', its proposer (four eyes need two people)"),
    ("DELETE FROM trusted_changes", "trusted-list change {change} is journalled but missing"),
])
def test_tampering_with_trust_and_approvals_is_found(reg: Acting, fe: World, sql: str,
                                                     expected: str) -> None:
    party = fe.gha["party_holding"]
    tx = propose(reg, fe.seller, party, 2, by="alice", at=T1).tx_id
    reg.approve(tx, by="bob", at=T1)
    other = reg.open_account("GHA01", at=T1)
    change = reg.trust(fe.seller, other, by="alice", at=T1)["id"]
    reg.approve_trust(change, by="bob", at=T1)
    assert reg.verify() == []
    ids = {"seller": fe.seller, "party": party, "tx": tx, "buyer": other, "change": change}
    with tampering(reg.engine) as c:
        c.exec_driver_sql(sql.format(**ids))
    found = reg.verify()
    assert any(expected.format(**ids) in p for p in found), found
