"""The operation × role table (:data:`carbonlink.registry.OPERATIONS`) generates these tests:
for every operation, a user holding each role (in the registry, Party or account the call acts
on) calls it; a role the table allows is not refused by access, every other role is refused
(``S7001``; ``S7003`` without a login) and the refusal is journalled. A Registry method that is
neither an operation with a rule nor listed as plumbing fails
:func:`test_every_registry_method_has_a_rule`; an operation without a sample call here fails
:func:`test_every_operation_has_a_sample_call`."""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from carbonlink.errors import CarbonlinkError
from carbonlink.registry import OPERATIONS, ROLES, CheckFailed, Registry
from carbonlink.registry.access import NOT_OPERATIONS, SCHEDULER
from tests.registry.conftest import Acting, World, copy_sqlite_registry, make_world

T1 = datetime(2026, 3, 1)
_names = itertools.count()


@dataclass
class Ctx:
    reg: Acting
    w: World
    tmp: Path
    role: str
    tx_proposed: int = 0
    tx_approved: int = 0


@dataclass(frozen=True)
class Sample:
    """How to call an operation, and what it acts on (where a role is granted)."""

    call: Callable[[Registry, Ctx], Any]
    registry: str = "GHA01"
    party: str = "GHA"
    account: str = "seller"        # World attribute of the account a representative holds


def _pending_for(c: Ctx) -> int:
    """A four-eyes action the role under test could approve: set_ndc for an official, an
    issuance otherwise."""
    if c.role == "authorising_official":
        p = c.reg.as_("officer").set_ndc("GHA", "trajectory", 2026, 2030)
    else:
        p = c.reg.as_("admin").issue(c.w.seller, 1, vintage=2026)
    return int(p.id)


def _trust_change_for(c: Ctx) -> int:
    """A trusted-list change of the seller's account proposed by alice (a representative)."""
    other = c.reg.as_("admin").open_account("GHA01")
    return int(c.reg.as_("alice").trust(c.w.seller, other)["id"])


def _links_file(c: Ctx) -> Path:
    f = c.tmp / "links.yaml"
    f.write_text("links:\n  - from: GHA01\n    to: CHE01\n    unit_types: [allowance]\n")
    return f


SAMPLES: dict[str, Sample] = {
    "create_user": Sample(lambda r, c: r.create_user(f"u{next(_names)}")),
    "grant_role": Sample(lambda r, c: r.grant_role("carol", "auditor", "*")),
    "revoke_role": Sample(lambda r, c: r.revoke_role("officer", "authorising_official", "GHA")),
    "set_user_active": Sample(lambda r, c: r.set_user_active("dave", True)),
    "add_representative": Sample(lambda r, c: r.add_representative(c.w.seller, "dave",
                                                                    "approver")),
    "remove_representative": Sample(lambda r, c: r.remove_representative(c.w.seller, "rep")),
    "users": Sample(lambda r, c: r.users()),
    "add_registry": Sample(lambda r, c: r.add_registry(f"GH{next(_names) % 90 + 10}", "GHA",
                                                       system=f"s{next(_names)}")),
    "add_holder": Sample(lambda r, c: r.add_holder("GHA01", "Holder")),
    "open_account": Sample(lambda r, c: r.open_account("GHA01")),
    "set_account_status": Sample(lambda r, c: r.set_account_status(c.w.seller, "open")),
    "add_link": Sample(lambda r, c: r.add_link("GHA01", "CHE01", quota=5)),
    "load_links": Sample(lambda r, c: r.load_links(_links_file(c))),
    "compact": Sample(lambda r, c: r.compact()),
    "set_ndc": Sample(lambda r, c: r.set_ndc("GHA", "trajectory", 2026, 2030)),
    "report_emissions": Sample(lambda r, c: r.report_emissions("GHA", 2026, 1000)),
    "report_entity_emissions": Sample(lambda r, c: r.report_entity_emissions(
        c.w.seller_holder, 2026, 10)),
    "authorise": Sample(lambda r, c: r.authorise(
        "GHA-A2", cooperative_approach="CA0002", registry="GHA01", quantity=1,
        vintage_from=2026, vintage_to=2026, valid_from=date(2026, 1, 1))),
    "revoke": Sample(lambda r, c: r.revoke("GHA-A1", date(2027, 1, 1))),
    "finalise": Sample(lambda r, c: r.finalise("GHA", 2020, 2020)),
    "record_report": Sample(lambda r, c: r.record_report("GHA", "initial")),
    "approve_action": Sample(lambda r, c: r.approve_action(_pending_for(c))),
    "reject_action": Sample(lambda r, c: r.reject_action(_pending_for(c))),
    "pending": Sample(lambda r, c: r.pending()),
    "issue": Sample(lambda r, c: r.issue(c.w.seller, 1, vintage=2026)),
    "transfer": Sample(lambda r, c: r.transfer(c.w.seller, c.w.gha["party_holding"], 1)),
    "approve": Sample(lambda r, c: r.approve(c.tx_proposed)),
    "accept": Sample(lambda r, c: r.accept(c.tx_approved), registry="CHE01", party="CHE",
                     account="buyer"),
    "reject": Sample(lambda r, c: r.reject(c.tx_proposed), registry="CHE01", party="CHE",
                     account="buyer"),
    "expire": Sample(lambda r, c: r.expire()),
    "cancel_transfer": Sample(lambda r, c: r.cancel_transfer(c.tx_proposed)),
    "settle": Sample(lambda r, c: r.settle()),
    "trust": Sample(lambda r, c: r.trust(c.w.seller, c.w.gha["party_holding"])),
    "approve_trust": Sample(lambda r, c: r.approve_trust(_trust_change_for(c))),
    "distrust": Sample(lambda r, c: r.distrust(c.w.seller, c.w.gha["party_holding"])),
    "reject_trust": Sample(lambda r, c: r.reject_trust(_trust_change_for(c))),
    "trusted": Sample(lambda r, c: r.trusted(c.w.seller)),
    "surrender": Sample(lambda r, c: r.surrender(c.w.seller, 1, year=2026)),
    "use": Sample(lambda r, c: r.use(c.w.seller, 1, year=2026)),
    "cancel": Sample(lambda r, c: r.cancel(c.w.seller, 1)),
    "retire": Sample(lambda r, c: r.retire(c.w.seller, 1)),
    "authorisation": Sample(lambda r, c: r.authorisation("GHA-A1")),
    "holdings": Sample(lambda r, c: r.holdings(c.w.seller)),
    "balance": Sample(lambda r, c: r.balance(c.w.seller)),
    "transaction": Sample(lambda r, c: r.transaction(c.tx_proposed)),
    "balances": Sample(lambda r, c: r.balances()),
    "accounts": Sample(lambda r, c: r.accounts()),
    "ca_ledger": Sample(lambda r, c: r.ca_ledger("GHA")),
    "ca_ledger_by_metric": Sample(lambda r, c: r.ca_ledger_by_metric("GHA")),
    "corresponding_adjustments": Sample(lambda r, c: r.corresponding_adjustments("GHA")),
    "aef": Sample(lambda r, c: r.aef("GHA", 2026)),
    "write_aef": Sample(lambda r, c: r.write_aef("GHA", 2026, c.tmp / "aef")),
    "calendar": Sample(lambda r, c: r.calendar(date(2027, 5, 1))),
    "initial_report": Sample(lambda r, c: r.initial_report("GHA")),
    "regular_information": Sample(lambda r, c: r.regular_information("GHA")),
    "verify": Sample(lambda r, c: r.verify()),
    "checkpoint": Sample(lambda r, c: r.checkpoint()),
    "public_aggregates": Sample(lambda r, c: r.public_aggregates()),
}


def test_every_registry_method_has_a_rule() -> None:
    """Each public Registry method is an operation with a rule (and is guarded by it) or is
    plumbing/authentication listed in NOT_OPERATIONS: a new method without a rule fails."""
    public = {n for n, v in inspect.getmembers(Registry) if not n.startswith("_")
              and callable(v) and not isinstance(inspect.getattr_static(Registry, n), property)}
    missing = public - set(OPERATIONS) - NOT_OPERATIONS
    assert not missing, f"Registry methods without a rule in OPERATIONS: {sorted(missing)}"
    for name in OPERATIONS:
        assert getattr(getattr(Registry, name), "__operation__", None) == name, name


def test_every_operation_has_a_sample_call() -> None:
    assert set(SAMPLES) == set(OPERATIONS)


def _denials(raw: Registry) -> list[dict[str, Any]]:
    return [json.loads(p) for (p,) in raw._read(lambda c: c.exec_driver_sql(
        "SELECT payload FROM journal WHERE kind = 'access.denied' ORDER BY seq").all())]


def _grant(reg: Acting, user: str, role: str, s: Sample, w: World, op: str) -> None:
    adm = reg.as_("admin")
    rule = OPERATIONS[op]
    if role == "administrator":
        adm.grant_role(user, role, "*" if rule.scope == "global" else s.registry)
    elif role == "authorising_official":
        adm.grant_role(user, role, s.party)
    elif role == "auditor":
        adm.grant_role(user, role, "*")
    elif role in ("initiator", "approver"):
        adm.add_representative(getattr(w, s.account), user, role)


@pytest.fixture(scope="session")
def role_table_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """The registry every row of the role table starts from (migrated, the tests' users, the
    two-Party world, 100 ITMOs issued to the seller), built once per session (xdist worker):
    migrating and building it took about half of each row's time. A SQLite file and its world."""
    db = tmp_path_factory.mktemp("role-table") / "access.db"
    with Registry(f"sqlite:///{db}") as raw:
        raw.init()
        reg = Acting(raw)
        w = make_world(reg)
        reg.issue(w.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    return db, w


@pytest.fixture
def role_table_registry(tmp_path: Path,
                        role_table_start: tuple[Path, World]) -> tuple[str, World]:
    """A copy of :func:`role_table_start`'s registry for one test (SQLite's backup API, with
    the file's journal key), its URL and world."""
    template, w = role_table_start
    return copy_sqlite_registry(template, tmp_path / "access.db"), w


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_operation_role_table(op: str, tmp_path: Path,
                              role_table_registry: tuple[str, World]) -> None:
    url, w = role_table_registry
    with Registry(url) as raw:
        reg = Acting(raw)
        rule, sample = OPERATIONS[op], SAMPLES[op]
        for role in ROLES:
            ctx = Ctx(reg, w, tmp_path, role)
            ctx.tx_proposed = reg.transfer(w.seller, w.buyer, 1, by="alice", at=T1).tx_id
            ctx.tx_approved = reg.transfer(w.seller, w.buyer, 1, by="alice", at=T1).tx_id
            reg.approve(ctx.tx_approved, by="bob", at=T1)
            if role == "public":
                acting_reg = raw
            elif role == "scheduler":             # the server's timer, not a user
                acting_reg = raw.as_user(SCHEDULER)
            else:
                user = f"{role[:4]}{next(_names)}"
                reg.user(user)
                _grant(reg, user, role, sample, w, op)
                acting_reg = raw.as_user(raw.trusted_actor(user))
            before = len(_denials(raw))
            try:
                sample.call(acting_reg, ctx)
                refused = None
            except CarbonlinkError as exc:        # other checks may fail: not access's
                code = getattr(exc, "code", "")
                refused = code if code.startswith("S7") else None
            if role in rule.roles:
                assert refused is None, f"{op}: {role} is allowed but was refused ({refused})"
            else:
                assert refused == ("S7003" if role == "public" else "S7001"), \
                    f"{op}: {role} is not allowed but was not refused"
                after = _denials(raw)
                assert len(after) == before + 1 and after[-1]["operation"] == op, \
                    f"{op}: the refusal of {role} is not journalled"


def test_four_eyes_needs_a_second_person_with_the_role(reg: Acting, world: World) -> None:
    """An issuance proposed by one administrator waits; the same person cannot approve it
    (S7002, journalled), an official cannot (S7001), a second administrator runs it."""
    p = reg.as_("admin").issue(world.seller, 7, vintage=2026)
    assert reg.balance(world.seller) == 0 and reg.pending()[0]["operation"] == "issue"
    with pytest.raises(CheckFailed) as e:
        reg.as_("admin").approve_action(p.id)
    assert e.value.code == "S7002"
    reg.grant_party("GHA")
    with pytest.raises(CheckFailed) as e:
        reg.as_("officer").approve_action(p.id)
    assert e.value.code == "S7001"
    got = reg.as_("admin2").approve_action(p.id)
    assert got.quantity == 7 and reg.balance(world.seller) == 7
    with pytest.raises(CheckFailed) as e:           # an action runs once
        reg.as_("admin2").approve_action(p.id)
    assert e.value.code == "R1002"
    assert reg.pending() == [] and reg.pending(None)[0]["approver"] == "admin2"
    kinds = [d["code"] for d in _denials(reg.registry)]
    assert kinds[-2:] == ["S7002", "S7001"]
    assert reg.verify() == []


def test_the_time_of_an_action_is_the_servers(reg: Acting, world: World) -> None:
    """A caller cannot give the time of an action (a backdated accept would get round the
    expiry): S7004, journalled. Only a global administrator's replay mode loads history, in
    order, and its entries say so; the journal never goes back in time."""
    raw = reg.registry
    reg.issue(world.seller, 10, vintage=2026)
    p = reg.transfer(world.seller, world.buyer, 5, by="alice")
    reg.approve(p.tx_id, by="bob")
    with pytest.raises(CheckFailed) as e:
        reg.as_("carol").accept(p.tx_id, at=datetime(2020, 1, 1))
    assert e.value.code == "S7004" and _denials(raw)[-1]["operation"] == "accept"
    with pytest.raises(CheckFailed) as e:
        raw.as_user(raw.trusted_actor("carol"), replay=True)
    assert e.value.code == "S7001" and _denials(raw)[-1]["operation"] == "replay"
    admin = raw.as_user(raw.trusted_actor("admin"), replay=True)
    later = datetime(2099, 1, 1)
    admin.set_account_status(world.buyer2, "blocked", at=later)
    with pytest.raises(CheckFailed) as e:          # history is replayed in order
        admin.set_account_status(world.buyer2, "open", at=datetime(2098, 1, 1))
    assert e.value.code == "R1006"
    raw.clock = lambda: datetime(2001, 1, 1)        # the server's clock steps back
    reg.registry.as_user(raw.trusted_actor("admin")).set_account_status(world.buyer2, "open")
    rows = raw._read(lambda c: c.exec_driver_sql(
        "SELECT at, kind, payload FROM journal ORDER BY seq").all())
    ats = [r[0] for r in rows]
    assert ats == sorted(ats)                      # monotone
    statuses = [json.loads(r[2]) for r in rows if r[1] == "account.status"]
    assert statuses[-2]["replayed"] is True and "replayed" not in statuses[-1]
    assert reg.verify() == []


APPROVED_OPS = sorted(op for op, rule in OPERATIONS.items() if rule.approval == "approve")
TRUST_OPS = sorted(op for op, rule in OPERATIONS.items() if rule.approval == "approve_trust")


def test_every_outgoing_transfer_is_under_four_eyes_with_no_opt_out() -> None:
    """Transfers out of an account and changes of its trusted list carry an approval in the
    table, and no operation switches it off (the per-account opt-in of revision 0008 is
    gone)."""
    assert APPROVED_OPS == ["transfer"] and TRUST_OPS == ["distrust", "trust"]
    assert not any("four_eyes" in op for op in OPERATIONS)
    for op in APPROVED_OPS + TRUST_OPS:
        assert OPERATIONS[OPERATIONS[op].approval].roles == {"approver"}


@pytest.mark.parametrize("op", TRUST_OPS)
def test_trust_approval_rows(op: str, reg: Acting, world: World) -> None:
    """Generated from the table: a change of the trusted list by a representative holding
    both rights only proposes (the list is unchanged); that person cannot approve it (A2006);
    a different approver of the account does."""
    rule, sample = OPERATIONS[op], SAMPLES[op]
    adm = reg.as_("admin")
    for u, role in (("ivy", "initiator_approver"), ("jon", "approver")):
        reg.user(u)
        adm.add_representative(getattr(world, sample.account), u, role)
    dst = world.gha["party_holding"]
    if op == "distrust":                     # something to remove
        first = reg.as_("ivy").trust(world.seller, dst)
        reg.as_("jon").approve_trust(first["id"])
    before = reg.trusted(world.seller, pending=True)
    ctx = Ctx(reg, world, Path("."), "initiator")
    got = sample.call(reg.as_("ivy"), ctx)
    assert got["state"] == "proposed" and got["proposer"] == "ivy"
    assert [x for x in reg.trusted(world.seller, pending=True) if "since" in x] == \
        [x for x in before if "since" in x]
    with pytest.raises(CheckFailed) as e:
        getattr(reg.as_("ivy"), rule.approval)(got["id"])
    assert e.value.code == "A2006"
    done = getattr(reg.as_("jon"), rule.approval)(got["id"])
    assert (done["state"], done["approver"]) == ("approved", "jon")
    assert reg.verify() == []


@pytest.mark.parametrize("op", APPROVED_OPS)
def test_approval_rows(op: str, reg: Acting, world: World) -> None:
    """Generated from the table: the operation by a representative holding both rights only
    proposes (nothing arrives); that person cannot run the approval (A2006, nothing moves);
    a different approver of the account does, and the units arrive."""
    rule, sample = OPERATIONS[op], SAMPLES[op]
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    adm = reg.as_("admin")
    reg.user("ivy")
    reg.user("jon")
    adm.add_representative(getattr(world, sample.account), "ivy", "initiator_approver")
    adm.add_representative(getattr(world, sample.account), "jon", "approver")
    ctx = Ctx(reg, world, Path("."), "initiator")
    dst = world.gha["party_holding"]
    before = reg.balance(dst)
    got = sample.call(reg.as_("ivy"), ctx)
    assert got.state == "proposed" and reg.balance(dst) == before
    with pytest.raises(CheckFailed) as e:
        getattr(reg.as_("ivy"), rule.approval)(got.tx_id)
    assert e.value.code == "A2006" and reg.balance(dst) == before
    done = getattr(reg.as_("jon"), rule.approval)(got.tx_id)
    assert done.state == "completed" and reg.balance(dst) == before + got.quantity
    t = reg.transaction(got.tx_id)
    assert (t["proposer"], t["approver"]) == ("ivy", "jon")
    assert reg.verify() == []


def _operations() -> list[tuple[str, inspect.Signature]]:
    out = []
    for attr in dir(Registry):
        fn = getattr(Registry, attr)
        name = getattr(fn, "__operation__", None)
        if name is not None:
            out.append((attr, inspect.signature(inspect.unwrap(fn))))
    return sorted(out, key=lambda x: x[0])


def test_fast_binder_binds_as_inspect_does() -> None:
    """``guard.binder`` (the access check's argument binding without ``inspect``'s general
    walk) gives every operation the arguments ``Signature.bind`` gives — the same names,
    values and order — for positional prefixes with every subset of the remaining parameters
    by keyword, and raises the same ``TypeError`` for an unknown, repeated, missing or extra
    argument."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from carbonlink.registry.guard import binder
    ops = _operations()
    assert len(ops) > 40

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        _, sig = data.draw(st.sampled_from(ops))
        names = list(sig.parameters)[1:]
        positional = [n for n in names if sig.parameters[n].kind
                      is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        k = data.draw(st.integers(0, len(positional) + 1))
        args = [f"p{i}" for i in range(k)]
        keywords = data.draw(st.lists(st.sampled_from([*names, "bogus"]), unique=True))
        kwargs = {n: f"k{n}" for n in keywords}
        try:
            want: Any = sig.bind("self", *args, **kwargs)
        except TypeError as e:
            want = ("TypeError", str(e))
        try:
            got: Any = binder(sig)("self", *args, **kwargs)
        except TypeError as e:
            got = ("TypeError", str(e))
        if isinstance(want, inspect.BoundArguments):
            assert isinstance(got, inspect.BoundArguments)
            assert list(got.arguments.items()) == list(want.arguments.items())
            assert (got.args, got.kwargs) == (want.args, want.kwargs)
        else:
            assert got == want
    check()
