"""Bounds (R1008): every number a caller gives lies in its stated range, a database refusal is
one clear message (exit 2), and a serial series cannot overflow; verify's exit codes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from carbonlink.errors import DocumentError
from carbonlink.registry import CheckFailed, Registry, bounds
from tests.registry.conftest import Acting, World, tampering
from tests.registry.test_cli_reports import Cli, run


@pytest.mark.parametrize(("call", "path"), [
    (lambda r, w: r.issue(w.seller, 2**63 - 1, vintage=2026), "quantity"),
    (lambda r, w: r.issue(w.seller, 10**12 + 1, vintage=2026), "quantity"),
    (lambda r, w: r.issue(w.seller, 1, vintage=-2021), "vintage"),
    (lambda r, w: r.issue(w.seller, 1, vintage=99999), "vintage"),
    (lambda r, w: r.transfer(w.seller, w.buyer, 1, vintage=3000, by="alice"), "vintage"),
    (lambda r, w: r.report_entity_emissions(w.seller_holder, 2026, -5), "tonnes"),
    (lambda r, w: r.report_emissions("GHA", 2026, 10**11 + 1), "tonnes"),
    (lambda r, w: r.report_emissions("GHA", 1500, 10), "year"),
    (lambda r, w: r.set_ndc("GHA", "trajectory", 2026, 99999), "last_year"),
    (lambda r, w: r.finalise("GHA", -1, 2026), "first_year"),
    (lambda r, w: r.authorise("A9", cooperative_approach="CA0001", registry="GHA01",
                              quantity=10**13, vintage_from=2026, vintage_to=2026,
                              valid_from=date(2026, 1, 1)), "quantity"),
    (lambda r, w: r.add_link("GHA01", "CHE01", quota=10**15), "quota"),
    (lambda r, w: r.retire(w.seller, 1, serials=("GHA01", "allowance", 2026, 1, 2**60),
                           by="alice"), "quantity"),
])
def test_numbers_outside_their_range_are_refused(reg: Acting, world: World, call: object,
                                                 path: str) -> None:
    before = reg.verify(), len(reg.holdings())
    with pytest.raises(CheckFailed) as e:
        call(reg, world)  # type: ignore[operator]
    assert e.value.code == "R1008" and e.value.problems[0][0] == path
    assert (reg.verify(), len(reg.holdings())) == before


def test_net_removals_are_emissions_within_range(reg: Acting, world: World) -> None:
    reg.report_emissions("GHA", 2026, -3_000)         # a Party with net removals
    reg.report_entity_emissions(world.seller_holder, 2026, 0)


def test_a_serial_series_cannot_overflow(reg: Acting, world: World,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounds, "MAX_SERIAL", 100)
    reg.issue(world.seller, 60, vintage=2026)
    with pytest.raises(CheckFailed) as e:
        reg.issue(world.seller, 41, vintage=2026)
    assert e.value.code == "R1008" and "would pass 100" in e.value.detail
    assert reg.issue(world.seller, 40, vintage=2026).blocks[0][4] == 100
    assert reg.issue(world.seller, 1, vintage=2027).blocks[0][3] == 1   # another series


def test_a_database_refusal_is_one_clear_message(reg: Acting, world: World) -> None:
    with pytest.raises(DocumentError) as e:          # systems are unique (a UNIQUE index)
        reg.add_registry("GHA02", system="gh")
    assert e.value.problems[0][0] == "database" and "nothing was written" in str(e.value)


def test_cli_bad_numbers_and_verify_exit_codes(database_url: str,
                                               capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONLINK_TOKEN_FILE", str(tmp_path / "nobody.json"))
    assert run(capsys, "registry", "verify", "--db", database_url)[0] == 2   # not initialised
    cli = Cli(capsys, monkeypatch, tmp_path, database_url)
    cli.run("registry", "create", "GHA01")
    for q in ("99999999999999999999", str(2**63 - 1)):
        code, _, e = cli.run("registry", "issue", "1", q, "--vintage", "2026")
        assert code == 2 and "R1008" in e and "Traceback" not in e
    code, _, e = cli.run("registry", "issue", "1", "5", "--vintage", "-2021")
    assert code == 2 and "R1008" in e
    assert cli.run("registry", "verify")[0] == 0
    with Registry(database_url) as raw, tampering(raw.engine) as c:
        c.exec_driver_sql("UPDATE journal SET payload = '{}' WHERE seq = 2")
    assert cli.run("registry", "verify")[0] == 1


@pytest.mark.parametrize(("op", "value"), [
    ("approve", "2"), ("approve", 2.0), ("approve", True), ("accept", 0),
    ("reject", 2**40), ("transaction", "x"), ("cancel_transfer", -1),
])
def test_a_transaction_id_is_a_whole_number_in_range(reg: Acting, world: World, op: str,
                                                     value: object) -> None:
    """A transaction id is refused (R1008, path ``tx``) unless a whole number from 1 to
    2^31 − 1 — before the access check reads the database with it: a string or float was
    coerced by SQLite into an existing transaction (``approve("2")`` approved transaction 2
    and returned ``tx_id='2'``), and a bool is not an id."""
    reg.issue(world.seller, 50, vintage=2026)
    p = reg.registry.as_user(reg.registry.trusted_actor("alice")).transfer(
        world.seller, world.gha["party_holding"], 5)
    before = reg.verify(), reg.transaction(p.tx_id)["state"]
    with pytest.raises(CheckFailed) as e:
        getattr(reg.registry.as_user(reg.registry.trusted_actor("bob")), op)(value)
    assert (e.value.code, e.value.problems[0][0]) == ("R1008", "tx")
    assert (reg.verify(), reg.transaction(p.tx_id)["state"]) == before == ([], "proposed")
