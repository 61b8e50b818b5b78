"""Stateful property test (hypothesis): random sequences of registry operations keep every
invariant — balances match a simple model, and `verify` stays clean."""

from __future__ import annotations

import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from carbonlink.registry import CheckFailed, Registry
from tests.registry.conftest import acting, copy_sqlite_registry

T0 = datetime(2026, 1, 5)
CAP = 400
QUOTA = 500
#: the full ``verify()`` (a replay of the whole history, the journal chain and its signatures,
#: the custody records) runs after every VERIFY_EVERY-th step and once more at the end of every
#: run; the model (holdings per account and unit type, the CA ledger) is compared after every step
VERIFY_EVERY = 5


def build_start(url: str) -> dict[str, int]:
    """Make the registry every run starts from (always the same: two registries, a link, an
    authorisation, four accounts) at ``url``; its account ids by name. Built once per test and
    copied for each run: migrating and building it for each run took a quarter of the test."""
    with Registry(url) as raw:
        raw.init()
        r = acting(raw)
        g = r.add_registry("GHA01", at=T0)
        r.add_registry("CHE01", at=T0)
        ids = {"P": g["party_holding"], "S": r.open_account("GHA01", at=T0),
               "B": r.open_account("CHE01", at=T0), "B2": r.open_account("CHE01", at=T0)}
        r.add_link("GHA01", "CHE01", unit_types=["allowance", "itmo"], quota=QUOTA, at=T0)
        r.authorise("A", cooperative_approach="CA0002", registry="GHA01", quantity=CAP,
                    vintage_from=2026, vintage_to=2026, valid_from=date(2026, 1, 1), at=T0)
    return ids


@pytest.fixture
def start_copies(request: pytest.FixtureRequest,
                 database_url: str) -> Iterator[tuple[dict[str, int], Callable[[], str]]]:
    """The start registry (:func:`build_start`) built in this test's database, and a function
    making a fresh copy of it for one run — SQLite: a new file by the backup API, with the
    journal key file; PostgreSQL: ``CREATE DATABASE … TEMPLATE`` (the copies dropped after)."""
    ids = build_start(database_url)
    if database_url.startswith("sqlite"):
        template = Path(database_url.removeprefix("sqlite:///"))

        def copy() -> str:
            return copy_sqlite_registry(
                template, template.with_name(f"sm-{uuid.uuid4().hex[:8]}.db"))

        yield ids, copy
        return
    server = str(request.getfixturevalue("pg_server_url"))
    base, name = database_url.rsplit("/", 1)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def copy_pg() -> str:
        new = f"{name}_{len(made)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{new}" TEMPLATE "{name}"'))
        made.append(new)
        return f"{base}/{new}"

    try:
        yield ids, copy_pg
    finally:
        with admin.connect() as conn:
            for new in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)'))
        admin.dispose()


def make_machine(ids: dict[str, int],
                 fresh: Callable[[], str]) -> type[RuleBasedStateMachine]:
    class RegistryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.raw = Registry(fresh())      # a copy of build_start's registry
            self.reg = acting(self.raw)
            self.P, self.S, self.B, self.B2 = ids["P"], ids["S"], ids["B"], ids["B2"]
            self.steps = 0
            self.held: dict[tuple[int, str], int] = defaultdict(int)
            self.open: dict[int, tuple[int, int, str, int, str]] = {}  # tx → (src, dst, ut, q, state)
            self.itmo_issued = 0
            self.moved = 0
            self.first_transferred = 0
            self.used = 0
            self.now = T0

        def teardown(self) -> None:
            try:
                # the end of a run: verify() once more, unless the run is already failing
                # (the first failure is the one hypothesis shrinks and reports)
                if sys.exc_info()[1] is None and self.steps % VERIFY_EVERY != 1:
                    assert self.reg.verify() == []
            finally:
                self.raw.close()

        def _tick(self) -> datetime:
            self.now += timedelta(minutes=1)
            return self.now

        @rule(acc=st.sampled_from(["P", "S"]), q=st.integers(1, 80), itmo=st.booleans())
        def issue(self, acc: str, q: int, itmo: bool) -> None:
            a = getattr(self, acc)
            ut = "itmo" if itmo else "allowance"
            try:
                self.reg.issue(a, q, unit_type=ut, vintage=2026,
                               authorisation="A" if itmo else None, at=self._tick())
            except CheckFailed as e:
                assert itmo and e.code == "U5003" and self.itmo_issued + q > CAP
                return
            assert not itmo or self.itmo_issued + q <= CAP
            self.itmo_issued += q if itmo else 0
            self.held[(a, ut)] += q

        @rule(pair=st.sampled_from([("P", "S"), ("S", "P"), ("B", "B2"), ("B2", "B")]),
              q=st.integers(1, 60), ut=st.sampled_from(["allowance", "itmo"]))
        def internal(self, pair: tuple[str, str], q: int, ut: str) -> None:
            s, d = getattr(self, pair[0]), getattr(self, pair[1])
            try:
                self.reg.transfer(s, d, q, unit_type=ut, at=self._tick())
            except CheckFailed as e:
                assert e.code == "H3001" and self.held[(s, ut)] < q
                return
            self.held[(s, ut)] -= q
            self.held[(d, ut)] += q

        @rule(src=st.sampled_from(["P", "S"]), dst=st.sampled_from(["B", "B2"]),
              q=st.integers(1, 60), ut=st.sampled_from(["allowance", "itmo"]))
        def propose(self, src: str, dst: str, q: int, ut: str) -> None:
            s, d = getattr(self, src), getattr(self, dst)
            try:
                r = self.reg.transfer(s, d, q, unit_type=ut, by="rep", at=self._tick())
            except CheckFailed as e:
                assert (e.code == "H3001" and self.held[(s, ut)] < q) or (
                    e.code == "L4003" and self.moved + q > QUOTA)
                return
            assert self.held[(s, ut)] >= q and self.moved + q <= QUOTA
            self.held[(s, ut)] -= q
            self.moved += q
            self.open[r.tx_id] = (s, d, ut, q, "proposed")

        @precondition(lambda self: any(v[4] == "proposed" for v in self.open.values()))
        @rule(data=st.data())
        def approve(self, data: st.DataObject) -> None:
            tx = data.draw(st.sampled_from(sorted(
                t for t, v in self.open.items() if v[4] == "proposed")))
            self.reg.approve(tx, by="rep2", at=self._tick())
            self.open[tx] = (*self.open[tx][:4], "approved")

        @precondition(lambda self: any(v[4] == "approved" for v in self.open.values()))
        @rule(data=st.data())
        def accept(self, data: st.DataObject) -> None:
            tx = data.draw(st.sampled_from(sorted(
                t for t, v in self.open.items() if v[4] == "approved")))
            r = self.reg.accept(tx, by="rep", at=self._tick())
            s, d, ut, q, _ = self.open.pop(tx)
            self.held[(d, ut)] += q
            self.first_transferred += r.first_transferred
            assert r.first_transferred == (q if ut == "itmo" else 0)

        @precondition(lambda self: bool(self.open))
        @rule(data=st.data())
        def reject(self, data: st.DataObject) -> None:
            tx = data.draw(st.sampled_from(sorted(self.open)))
            self.reg.reject(tx, at=self._tick())
            s, d, ut, q, _ = self.open.pop(tx)
            self.held[(s, ut)] += q
            self.moved -= q

        @rule(acc=st.sampled_from(["B", "B2"]), q=st.integers(1, 40))
        def use(self, acc: str, q: int) -> None:
            a = getattr(self, acc)
            try:
                self.reg.use(a, q, authorisation="A", year=2026, at=self._tick())
            except CheckFailed as e:
                assert e.code == "H3001" and self.held[(a, "itmo")] < q
                return
            self.held[(a, "itmo")] -= q
            self.used += q

        @rule(acc=st.sampled_from(["P", "S", "B", "B2"]), q=st.integers(1, 40),
              op=st.sampled_from(["surrender", "voluntary", "retire"]))
        def terminal(self, acc: str, q: int, op: str) -> None:
            a = getattr(self, acc)
            try:
                if op == "surrender":
                    self.reg.surrender(a, q, year=2026, unit_type="allowance", at=self._tick())
                elif op == "voluntary":
                    self.reg.cancel(a, q, unit_type="allowance", at=self._tick())
                else:
                    self.reg.retire(a, q, unit_type="allowance", at=self._tick())
            except CheckFailed as e:
                assert e.code == "H3001" and self.held[(a, "allowance")] < q
                return
            self.held[(a, "allowance")] -= q

        @invariant()
        def ledger_matches_model_and_verifies(self) -> None:
            for a in (self.P, self.S, self.B, self.B2):
                got: dict[str, int] = defaultdict(int)
                for b in self.reg.holdings(a):
                    if b["status"] == "held":
                        got[b["unit_type"]] += b["serial_end"] - b["serial_start"] + 1
                for ut in ("allowance", "itmo"):
                    assert got[ut] == self.held[(a, ut)], (a, ut)
            assert self.reg.ca_ledger("GHA")[0].get(2026, 0) == self.first_transferred
            assert self.reg.ca_ledger("CHE")[1].get(2026, 0) == self.used
            # tables and journal persist, so a divergence verify() finds after step k it still
            # finds at the next sampled step or at the end of the run (teardown)
            if self.steps % VERIFY_EVERY == 0:
                assert self.reg.verify() == []
            self.steps += 1

    return RegistryMachine


@pytest.mark.slow
def test_random_operation_sequences_keep_invariants(
        database_url: str, start_copies: tuple[dict[str, int], Callable[[], str]]) -> None:
    n = 30 if database_url.startswith("sqlite") else 12
    run_state_machine_as_test(
        make_machine(*start_copies),
        settings=settings(max_examples=n, stateful_step_count=25, deadline=None,
                          derandomize=True))
