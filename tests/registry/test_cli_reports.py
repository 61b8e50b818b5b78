"""CLI end to end, AEF export with pre-consistency checks, calendar, report outlines."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from carbonlink.cli import main
from carbonlink.registry import CheckFailed, Registry
from carbonlink.registry.db import journal
from carbonlink.registry.reports.aef import AEF_COLUMNS, consistency_checks
from tests.registry.conftest import World, full_transfer

T1 = datetime(2026, 3, 1)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    cap = capsys.readouterr()
    return int(e.value.code or 0), cap.out, cap.err


class Cli:
    """The CLI as several logged-in users (one token file each, as on separate machines)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                 tmp_path: Path, url: str) -> None:
        self.capsys, self.mp, self.tmp, self.db = capsys, monkeypatch, tmp_path, ["--db", url]
        code, o, e = run(capsys, "registry", "init", *self.db)
        assert code == 0, e
        self.login("admin", o.split("(shown once): ")[1].split()[0])
        for user, roles in [("admin2", ["administrator:*"]),
                            ("officer", ["authorising_official:GHA",
                                         "authorising_official:CHE"]),
                            ("officer2", ["authorising_official:GHA",
                                          "authorising_official:CHE"]),
                            ("ann", []), ("ben", []), ("carol", []), ("dan", [])]:
            self.act("admin")
            code, o, e = self.run("registry", "user", "add", user,
                                  *[x for r in roles for x in ("--role", r)])
            assert code == 0, e
            self.login(user, o.split("(shown once): ")[1].split()[0])
        self.act("admin")

    def login(self, user: str, password: str) -> None:
        """Log in with the one-time password; the second line is the new one (a one-time
        password is changed at first login)."""
        self.act(user)
        self.mp.setattr("sys.stdin", io.StringIO(f"{password}\n{user} changed password 2026\n"))
        code, o, e = self.run("login", "--user", user, "--password-stdin")
        assert code == 0 and f"logged in as {user}" in o, e

    def act(self, user: str) -> None:
        self.mp.setenv("CARBONLINK_TOKEN_FILE", str(self.tmp / f"tokens-{user}.json"))

    def run(self, *args: str) -> tuple[int, str, str]:
        return run(self.capsys, *args, *self.db)

    def four_eyes(self, first: str, second: str, *args: str) -> tuple[int, str, str]:
        """``args`` as ``first`` (proposed), then approved by ``second``."""
        self.act(first)
        code, o, e = self.run(*args)
        assert code == 0 and "proposed" in o, e
        outs = []
        for action in re.findall(r"^action (\d+) proposed", o, re.M):
            self.act(second)
            outs.append(self.run("registry", "action", "approve", action))
        self.act(first)
        return outs[-1]


def test_cli_flow(database_url: str, capsys: pytest.CaptureFixture[str],
                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(capsys, monkeypatch, tmp_path, database_url)
    code, o, _ = cli.run("registry", "create", "GHA01", "--system", "gh")
    assert code == 0 and "party_holding" in o
    gha = int(o.split("account ")[1].split(":")[0])
    cli.run("registry", "create", "CHE01", "--system", "ch")
    _, o, _ = cli.run("registry", "account", "CHE01", "--rep", "carol")
    buyer = int(o.split()[1])
    for u in ("ann", "ben"):
        assert cli.run("registry", "user", "rep", str(gha), u)[0] == 0
    f = tmp_path / "links.yaml"
    f.write_text("links:\n  - from: gh\n    to: ch\n    unit_types: [itmo]\n")
    assert cli.four_eyes("admin", "admin2", "registry", "link", "add", str(f))[0] == 0
    code, o, e = cli.four_eyes("officer", "officer2", "registry", "authorise", "A1",
                               "--approach", "CA0007", "--registry", "GHA01", "--quantity",
                               "100", "--vintages", "2026-2027", "--valid-from", "2026-01-01")
    assert code == 0, e
    assert cli.four_eyes("admin", "admin2", "registry", "issue", str(gha), "60", "--vintage",
                         "2026", "--unit-type", "itmo", "--authorisation", "A1")[0] == 0
    cli.act("ann")
    code, o, _ = cli.run("registry", "transfer", str(gha), str(buyer), "25")
    assert "proposed" in o
    tx = o.split()[1].rstrip(":")
    code, _, e = cli.run("registry", "approve", tx)
    assert code == 2 and "A2006" in e and "Traceback" not in e
    cli.act("ben")
    cli.run("registry", "approve", tx)
    cli.act("carol")
    code, o, _ = cli.run("registry", "accept", tx)
    assert code == 0 and "25 first transferred" in o
    code, _, e = cli.run("registry", "issue", str(gha), "1", "--vintage", "2031",
                         "--unit-type", "itmo", "--authorisation", "A1")
    assert code == 2 and "S7001" in e          # carol is no administrator
    cli.act("admin")            # a proposal that fails its checks today is refused at once
    code, _, e = cli.run("registry", "issue", str(gha), "1", "--vintage", "2031", "--unit-type",
                         "itmo", "--authorisation", "A1")
    assert code == 2 and "U5004" in e
    cli.act("officer")
    code, o, _ = cli.run("registry", "report", "aef", "GHA", "2026", "--out",
                         str(tmp_path / "aef"))
    assert code == 0 and "aef-GHA-2026.xlsx" in o
    code, _, e = cli.run("registry", "calendar", "--as-of", "9999-06-01")
    assert code == 2 and "as_of: must be on or before 9998-12-31" in e   # items of 10000 are no dates
    code, o, _ = cli.run("registry", "calendar", "--as-of", "2027-05-01")
    assert code == 0 and "overdue" in o
    assert cli.run("registry", "verify")[0] == 0
    code, o, _ = run(capsys, "registry", "checks")
    assert "D6003" in o and "S7001" in o
    cli.act("ann")              # the time of an action is the server's (S7004 in Python)
    code, _, e = cli.run("registry", "transfer", str(gha), str(buyer), "1", "--at",
                         "2026-02-02")
    assert code == 2 and "replay mode" in e and "S7001" in e
    cli.act("admin")            # a global administrator may replay history, in order
    code, _, e = cli.run("registry", "transfer", str(gha), str(buyer), "1", "--at", "yesterday")
    assert code == 2 and "--at" in e


def test_cli_without_login_is_refused_and_journalled(
        database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No token: every operation is refused (S7001), and the refusal is in the journal."""
    monkeypatch.setenv("CARBONLINK_TOKEN_FILE", str(tmp_path / "none.json"))
    monkeypatch.delenv("CARBONLINK_TOKEN", raising=False)
    db = ["--db", database_url]
    assert run(capsys, "registry", "init", *db)[0] == 0
    code, _, e = run(capsys, "registry", "create", "GHA01", *db)
    assert code == 2 and "S7003" in e and "logged-in user" in e
    code, _, e = run(capsys, "registry", "verify", *db)
    assert code == 2 and "S7003" in e
    with Registry(database_url) as r:
        kinds = r._read(lambda c: [k for (k,) in c.exec_driver_sql(
            "SELECT kind FROM journal ORDER BY seq")])
    assert kinds.count("access.denied") == 2
    monkeypatch.setenv("CARBONLINK_TOKEN", "clk_not-a-token")
    code, _, e = run(capsys, "registry", "holdings", *db)
    assert code == 2 and "S7003" in e


def test_aef_tables_and_counterpart_overlap(reg: Registry, world: World,
                                            tmp_path: Path) -> None:
    reg.record_report("GHA", "initial", at=datetime(2026, 1, 4))
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, world.seller, world.buyer, 40, T1)
    reg.use(world.buyer, 10, year=2026, by="carol", at=datetime(2026, 12, 30))
    full_transfer(reg, world.seller, world.buyer, 5, datetime(2027, 1, 10))  # next year
    g = reg.aef("GHA", 2026, at=datetime(2027, 1, 10))      # the server's clock says 10 Jan
    assert g["Submission"][0]["Submission date"] == "2027-01-10"
    reg.record_report("GHA", "annual", 2026, at=datetime(2027, 3, 1))
    assert reg.aef("GHA", 2026)["Submission"][0]["Submission date"] == "2027-03-01"  # recorded
    # a first transfer is one action, not also a "Transfer" with the same ids (6/CMA.4 annex)
    assert [r["Action type"] for r in g["Actions"]] == ["First transfer"]
    assert (g["Actions"][0]["Transferring Party"], g["Actions"][0]["Acquiring Party"]) == (
        "GHA", "CHE")
    assert g["Authorizations"][0]["Authorized Parties"] == "GHA"
    assert g["Actions"][0]["First ID"] == "CA0002-GHA01-GHA-1-2026"
    assert g["Actions"][0]["Last ID"] == "CA0002-GHA01-GHA-40-2026"
    assert [(r["First ID"], r["Quantity (t CO2 eq)"]) for r in g["Holdings"]] == [
        ("CA0002-GHA01-GHA-41-2026", 60)]  # as of 31 December 2026
    c = reg.aef("CHE", 2026)
    assert [(r["Action type"], r["Action subtype"]) for r in c["Actions"]] == [
        ("Acquisition", ""), ("Use", "NDC")]
    assert c["Actions"][1]["Calendar year of NDC use"] == 2026
    assert [(r["First ID"], r["Last ID"]) for r in c["Holdings"]] == [
        ("CA0002-GHA01-GHA-11-2026", "CA0002-GHA01-GHA-40-2026")]
    assert consistency_checks(g) == [] and consistency_checks(c) == []
    # a second Party authorising under the same cooperative approach is an Authorized Party
    reg.authorise("CHE-A1", cooperative_approach="CA0002", registry="CHE01", quantity=500,
                  purposes="NDC", vintage_from=2025, vintage_to=2030,
                  valid_from=date(2026, 1, 1), at=datetime(2027, 3, 2))
    assert [a["Authorized Parties"] for a in reg.aef("GHA", 2026)["Authorizations"]] == [
        "CHE; GHA"]
    assert [a["Authorized Parties"] for a in reg.aef("CHE", 2026)["Authorizations"]] == [
        "CHE; GHA"]
    files = reg.write_aef("CHE", 2026, tmp_path)
    assert {p.name for p in files} >= {"aef-CHE-2026.xlsx", "aef-CHE-2026-holdings.csv"}
    wb = load_workbook(tmp_path / "aef-CHE-2026.xlsx")
    assert wb.sheetnames == list(AEF_COLUMNS)
    assert [c.value for c in wb["Actions"][1]] == AEF_COLUMNS["Actions"]
    wb.close()
    with open(tmp_path / "aef-CHE-2026-holdings.csv", newline="") as fh:
        assert next(csv.reader(fh)) == AEF_COLUMNS["Holdings"]
    # a counterpart that still reports units we hold: units in two registries
    bad = tmp_path / "other.csv"
    with open(bad, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=AEF_COLUMNS["Holdings"])
        w.writeheader()
        w.writerow({"First ID": "CA0002-GHA01-GHA-30-2026", "Last ID": "CA0002-GHA01-GHA-50-2026",
                    "Quantity (t CO2 eq)": 21, "Vintage": 2026})
    from carbonlink.errors import DocumentError
    with pytest.raises(DocumentError) as e:
        reg.write_aef("CHE", 2026, tmp_path / "x", counterparts=[bad])
    assert "D6002" in str(e.value) and "[30, 40]" in str(e.value)
    assert not (tmp_path / "x").exists()


def test_calendar_lists_the_acquiring_party(reg: Registry, world: World) -> None:
    """Every participating Party reports (Decision 2/CMA.3 annex paras 18, 20, 21), the
    acquiring Party of an ITMO transfer included, from its first acquisition."""
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    assert {i.party for i in reg.calendar(date(2027, 5, 1))} == {"GHA"}   # nothing acquired yet
    full_transfer(reg, world.seller, world.buyer, 40, T1)
    items = reg.calendar(date(2027, 5, 1))
    assert {i.party for i in items} == {"GHA", "CHE"}
    che = {(i.report, i.year): i for i in reg.calendar(date(2027, 5, 1), "CHE")}
    assert che[("initial", 0)].status == "overdue"
    assert che[("annual", 2026)].due == date(2027, 4, 15)
    assert che[("annual", 2026)].status == "overdue"
    assert che[("regular", 2026)].due == date(2026, 12, 31)
    reg.record_report("CHE", "annual", 2026, at=datetime(2027, 4, 1))
    che = {(i.report, i.year): i for i in reg.calendar(as_of=date(2027, 5, 1), party="CHE")}
    assert che[("annual", 2026)].status == "submitted"


def test_calendar_and_outlines(reg: Registry, world: World) -> None:
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, world.seller, world.buyer, 40, T1)
    reg.record_report("GHA", "annual", 2026, at=datetime(2027, 4, 1))
    items = {(i.report, i.year): i for i in reg.calendar(date(2027, 5, 1), "GHA")}
    assert items[("initial", 0)].status == "overdue"
    assert items[("annual", 2026)].status == "submitted"
    assert items[("annual", 2026)].due == date(2027, 4, 15)
    assert items[("regular", 2026)].due == date(2026, 12, 31)
    assert items[("regular", 2026)].status == "overdue"
    assert items[("annual", 2027)].status == "due"
    reg.set_ndc("GHA", "trajectory", 2026, 2030, at=T1)
    text = reg.initial_report("GHA")
    assert "CA0002" in text and "GHA-A1" in text and "trajectory" in text
    reg.report_emissions("GHA", 2026, 1000, at=T1)
    reg_info = reg.regular_information("GHA")
    assert "| 2026 | 1000 | 40 | 0 | 40 | 1040 |" in reg_info


def test_cli_other_commands(database_url: str, capsys: pytest.CaptureFixture[str],
                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(capsys, monkeypatch, tmp_path, database_url)
    cli.run("registry", "create", "GHA01")
    cli.run("registry", "create", "CHE01")
    _, o, _ = cli.run("registry", "holder", "CHE01", "Buyer AG", "--country", "CHE")
    holder = o.split()[1]
    _, o, _ = cli.run("registry", "account", "CHE01", "--holder", holder, "--rep", "carol",
                      "--rep", "dan:approver")
    buyer = o.split()[1]
    for u in ("ann", "ben"):
        cli.run("registry", "user", "rep", "1", u)
    cli.four_eyes("officer", "officer2", "registry", "authorise", "A1", "--approach", "CA0007",
                  "--registry", "GHA01", "--quantity", "100", "--vintages", "2026-2027",
                  "--valid-from", "2026-01-01", "--entity", holder)
    link = tmp_path / "l.yaml"
    link.write_text("links:\n  - from: GHA01\n    to: CHE01\n    unit_types: [itmo, allowance]\n")
    cli.four_eyes("admin", "admin2", "registry", "link", "add", str(link))
    for args in (["issue", "1", "50", "--vintage", "2026", "--unit-type", "itmo",
                  "--authorisation", "A1"], ["issue", "1", "20", "--vintage", "2026"]):
        assert cli.four_eyes("admin", "admin2", "registry", *args)[0] == 0
    cli.act("ann")
    _, o, _ = cli.run("registry", "transfer", "1", buyer, "0", "--serials",
                      "GHA01:itmo:2026:1-30")
    tx = o.split()[1].rstrip(":")
    cli.act("carol")
    assert cli.run("registry", "reject", tx)[0] == 0
    cli.act("ann")
    _, o, _ = cli.run("registry", "transfer", "1", buyer, "30", "--unit-type", "itmo")
    tx = o.split()[1].rstrip(":")
    cli.act("ben")
    assert cli.run("registry", "approve", tx)[0] == 0
    cli.act("dan")                                   # an approver only: may accept
    assert cli.run("registry", "accept", tx)[0] == 0
    cli.act("ann")
    _, o, _ = cli.run("registry", "transfer", "1", buyer, "5", "--unit-type", "allowance")
    cli.act("admin")
    assert cli.run("registry", "expire")[0] == 0
    steps = [("carol", ["use", buyer, "10", "--year", "2026"]),
             ("carol", ["cancel", buyer, "5", "--purpose", "omge"]),
             ("ann", ["surrender", "1", "5", "--year", "2026", "--unit-type", "allowance"]),
             ("ann", ["retire", "1", "1"]), ("ann", ["cancel", "1", "1"]),
             ("admin", ["compact"]), ("admin", ["holdings"]), ("officer", ["ca", "CHE"]),
             ("officer", ["report", "initial", "GHA"]), ("officer", ["report", "regular", "CHE"]),
             ("officer", ["calendar", "--party", "GHA"]), ("auditor", ["verify"]),
             ("officer", ["report", "record", "GHA", "initial"]),
             ("admin", ["user", "list"]), ("admin", ["action", "list"])]
    cli.act("admin")
    cli.run("registry", "user", "add", "auditor", "--role", "auditor:*")
    for args in (["ndc", "CHE", "--method", "averaging", "2026", "2028"],
                 ["emissions", "CHE", "2026", "4000"], ["finalise", "GHA", "2020", "2021"]):
        code, o, e = cli.four_eyes("officer", "officer2", "registry", *args)
        assert code == 0, (args, e)
    for user, args in steps:
        if user == "auditor":
            continue
        cli.act(user)
        code, o, e = cli.run("registry", *args)
        assert code == 0, (args, e)
    cli.act("dan")
    code, o, e = cli.run("registry", "retire", buyer, "1")
    assert code == 2 and "S7001" in e                # an approver cannot initiate
    cli.act("carol")
    code, o, e = cli.run("registry", "cancel", buyer, "5", "--purpose", "oimp")
    assert code == 2 and "U5006" in e  # A1 authorises NDC only
    cli.act("officer")
    code, o, e = cli.run("registry", "calendar", "--party", "GHA", "--as-of", "2027-05-01")
    assert code == 0 and "initial" in o and "submitted" in o
    code, _, e = cli.run("registry", "report", "aef", "CHE", "2026", "--format", "pdf")
    assert code == 2 and "--format" in e


@pytest.mark.parametrize(("url", "code", "expected"), [
    ("garbage://x", 2, "url: not a database URL the registry can open"),
    ("postgresql+psycopg://u:s3cret@127.0.0.1:1/x", 1, "cannot open the registry database "
     "'postgresql+psycopg://u:***@127.0.0.1:1/x': connection failed"),
])
@pytest.mark.parametrize("command", [["verify"], ["init"]])
def test_unusable_database_url_is_one_clear_error(capsys: pytest.CaptureFixture[str], url: str,
                                                 code: int, expected: str,
                                                 command: list[str]) -> None:
    """A URL SQLAlchemy cannot open, or a server that does not answer, is one line naming it
    (password hidden), never a driver traceback."""
    got, out, err = run(capsys, "registry", *command, "--db", url)
    if command == ["verify"]:
        code = 2                # verify: 0 clean, 1 divergence, 2 cannot verify
    assert got == code and out == ""
    assert expected in err.replace("\n", " ") and "Traceback" not in err and "s3cret" not in err


def test_a_one_time_password_is_changed_at_first_login(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """The first administrator's one-time password lets them do nothing but change it: every
    operation and a token are refused (S7003, journalled); the CLI asks for the new one."""
    url = f"sqlite:///{tmp_path / 'otp.db'}"
    code, o, _ = run(capsys, "registry", "init", "--db", url)
    otp = o.split("(shown once): ")[1].split()[0]
    with Registry(url) as r:
        actor = r.login("admin", otp)
        assert actor.must_change_password
        with pytest.raises(CheckFailed) as e:
            r.as_user(actor).users()
        assert e.value.code == "S7003"
        with pytest.raises(CheckFailed) as e:
            r.as_user(actor).issue_token()
        assert e.value.code == "S7003"
        with r.engine.connect() as c:      # closed here: left open, its read transaction
            denied = [json.loads(x.payload) for x in c.execute(   # blocked the logins below
                sa.select(journal.c.payload).where(journal.c.kind == "access.denied"))]
        assert [d["operation"] for d in denied] == ["users", "issue_token"]
    monkeypatch.setenv("CARBONLINK_TOKEN_FILE", str(tmp_path / "tokens.json"))
    monkeypatch.setattr("sys.stdin", io.StringIO(otp + "\n"))      # no new password given
    code, _, err = run(capsys, "login", "--user", "admin", "--password-stdin", "--db", url)
    assert code == 2 and "must be changed" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{otp}\nadmin's own password 2026\n"))
    code, o, _ = run(capsys, "login", "--user", "admin", "--password-stdin", "--db", url)
    assert code == 0 and "password changed" in o and "logged in as admin" in o
    assert run(capsys, "registry", "user", "list", "--db", url)[0] == 0
    with Registry(url) as r:           # the one-time password no longer works; the new one does
        with pytest.raises(CheckFailed):
            r.login("admin", otp)
        assert not r.login("admin", "admin's own password 2026").must_change_password
