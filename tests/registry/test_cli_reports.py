"""CLI end to end, AEF export with pre-consistency checks, calendar, report outlines."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from carbonlink.cli import main
from carbonlink.registry import Registry
from carbonlink.registry.reports.aef import AEF_COLUMNS, consistency_checks
from tests.registry.conftest import World, full_transfer

T1 = datetime(2026, 3, 1)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    cap = capsys.readouterr()
    return int(e.value.code or 0), cap.out, cap.err


def test_cli_flow(database_url: str, capsys: pytest.CaptureFixture[str],
                  tmp_path: Path) -> None:
    db = ["--db", database_url]
    assert run(capsys, "registry", "init", *db)[0] == 0
    code, o, _ = run(capsys, "registry", "create", "GHA01", "--system", "gh", *db,
                     "--at", "2026-01-02")
    assert code == 0 and "party_holding" in o
    gha = int(o.split("account ")[1].split(":")[0])
    run(capsys, "registry", "create", "CHE01", "--system", "ch", *db, "--at", "2026-01-02")
    _, o, _ = run(capsys, "registry", "account", "CHE01", "--rep", "carol", *db)
    buyer = int(o.split()[1])
    f = tmp_path / "links.yaml"
    f.write_text("links:\n  - from: gh\n    to: ch\n    unit_types: [itmo]\n")
    assert run(capsys, "registry", "link", "add", str(f), *db)[0] == 0
    code, o, e = run(capsys, "registry", "authorise", "A1", "--approach", "CA0007",
                     "--registry", "GHA01", "--quantity", "100", "--vintages", "2026-2027",
                     "--valid-from", "2026-01-01", *db, "--at", "2026-01-03")
    assert code == 0, e
    assert run(capsys, "registry", "issue", str(gha), "60", "--vintage", "2026",
               "--unit-type", "itmo", "--authorisation", "A1", *db, "--at",
               "2026-02-01")[0] == 0
    code, o, _ = run(capsys, "registry", "transfer", str(gha), str(buyer), "25", "--by", "ann",
                     *db, "--at", "2026-02-02")
    assert "proposed" in o
    tx = o.split()[1].rstrip(":")
    code, _, e = run(capsys, "registry", "approve", tx, "--by", "ann", *db, "--at",
                     "2026-02-02")
    assert code == 2 and "A2006" in e and "Traceback" not in e
    run(capsys, "registry", "approve", tx, "--by", "ben", *db, "--at", "2026-02-02")
    code, o, _ = run(capsys, "registry", "accept", tx, "--by", "carol", *db, "--at",
                     "2026-02-03")
    assert code == 0 and "25 first transferred" in o
    code, _, e = run(capsys, "registry", "issue", str(gha), "1", "--vintage", "2031",
                     "--unit-type", "itmo", "--authorisation", "A1", *db)
    assert code == 2 and "U5004" in e
    code, o, _ = run(capsys, "registry", "report", "aef", "GHA", "2026", "--out",
                     str(tmp_path / "aef"), *db)
    assert code == 0 and "aef-GHA-2026.xlsx" in o
    code, _, e = run(capsys, "registry", "calendar", "--today", "9999-06-01", *db)
    assert code == 2 and "today: must be on or before 9998-12-31" in e   # items of 10000 are no dates
    code, o, _ = run(capsys, "registry", "calendar", "--today", "2027-05-01", *db)
    assert code == 0 and "overdue" in o
    assert run(capsys, "registry", "verify", *db)[0] == 0
    code, o, _ = run(capsys, "registry", "checks")
    assert "D6003" in o
    code, _, e = run(capsys, "registry", "transfer", str(gha), str(buyer), "1", *db, "--at",
                     "yesterday")
    assert code == 2 and "--at" in e


def test_aef_tables_and_counterpart_overlap(reg: Registry, world: World,
                                            tmp_path: Path) -> None:
    reg.record_report("GHA", "initial", at=datetime(2026, 1, 4))
    reg.issue(world.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1", at=T1)
    full_transfer(reg, world.seller, world.buyer, 40, T1)
    reg.use(world.buyer, 10, year=2026, by="carol", at=datetime(2026, 12, 30))
    full_transfer(reg, world.seller, world.buyer, 5, datetime(2027, 1, 10))  # next year
    g = reg.aef("GHA", 2026)
    assert [r["Action type"] for r in g["Actions"]] == ["First transfer", "Transfer"]
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
                            tmp_path: Path) -> None:
    db = ["--db", database_url]
    at = ["--at", "2026-03-01T10:00:00"]
    run(capsys, "registry", "init", *db)
    run(capsys, "registry", "create", "GHA01", *db, "--at", "2026-01-02")
    run(capsys, "registry", "create", "CHE01", *db, "--at", "2026-01-02")
    _, o, _ = run(capsys, "registry", "holder", "CHE01", "Buyer AG", "--country", "CHE", *db)
    holder = o.split()[1]
    _, o, _ = run(capsys, "registry", "account", "CHE01", "--holder", holder, *db)
    buyer = o.split()[1]
    run(capsys, "registry", "authorise", "A1", "--approach", "CA0007", "--registry", "GHA01",
        "--quantity", "100", "--vintages", "2026-2027", "--valid-from", "2026-01-01",
        "--entity", holder, *db, "--at", "2026-01-03")
    link = tmp_path / "l.yaml"
    link.write_text("links:\n  - from: GHA01\n    to: CHE01\n    unit_types: [itmo, allowance]\n")
    run(capsys, "registry", "link", "add", str(link), *db)
    for args in (["issue", "1", "50", "--vintage", "2026", "--unit-type", "itmo",
                  "--authorisation", "A1"], ["issue", "1", "20", "--vintage", "2026"]):
        assert run(capsys, "registry", *args, *db, *at)[0] == 0
    _, o, _ = run(capsys, "registry", "transfer", "1", buyer, "0", "--serials",
                  "GHA01:itmo:2026:1-30", *db, *at)
    tx = o.split()[1].rstrip(":")
    assert run(capsys, "registry", "reject", tx, *db, *at)[0] == 0
    _, o, _ = run(capsys, "registry", "transfer", "1", buyer, "30", "--unit-type", "itmo", *db,
                  *at)
    tx = o.split()[1].rstrip(":")
    assert run(capsys, "registry", "approve", tx, "--by", "x", *db, *at)[0] == 0
    assert run(capsys, "registry", "accept", tx, *db, *at)[0] == 0
    _, o, _ = run(capsys, "registry", "transfer", "1", buyer, "5", "--unit-type", "allowance",
                  "--by", "p", *db, *at)
    assert run(capsys, "registry", "expire", *db, "--at", "2026-04-01")[0] == 0
    ok = [["use", buyer, "10", "--year", "2026"], ["cancel", buyer, "5", "--purpose", "omge"],
          ["surrender", "1", "5", "--year", "2026", "--unit-type", "allowance"],
          ["retire", "1", "1"], ["cancel", "1", "1"], ["compact"], ["holdings"],
          ["ndc", "CHE", "--method", "averaging", "2026", "2028"],
          ["emissions", "CHE", "2026", "4000"], ["ca", "CHE"], ["finalise", "GHA", "2020", "2021"],
          ["report", "initial", "GHA"], ["report", "regular", "CHE"],
          ["calendar", "--party", "GHA"], ["verify"]]
    for args in ok:
        code, o, e = run(capsys, "registry", *args, *db)
        assert code == 0, (args, e)
    code, o, e = run(capsys, "registry", "cancel", buyer, "5", "--purpose", "oimp", *db)
    assert code == 2 and "U5006" in e  # A1 authorises NDC only
    code, _, e = run(capsys, "registry", "report", "aef", "CHE", "2026", "--format", "pdf", *db)
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
    assert got == code and out == ""
    assert expected in err.replace("\n", " ") and "Traceback" not in err and "s3cret" not in err
