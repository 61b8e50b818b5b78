"""``carbonlink data show`` / ``data list`` print the reference data as a reader would: values with
units and the period each figure holds for, sources, "[unverified]" where not checked, and no
Python representations; ``--as-of DATE`` reads the data for that date."""

from __future__ import annotations

import json
import re

import pytest

from carbonlink.cli import main
from carbonlink.data import list_ets, list_jurisdictions

REPR = re.compile(r"datetime\.date\(|\bvalue=|\bFigure\(|\bFact\(|\bNone\b|\{'|\['|\bTrue\b|\bFalse\b")


def run(args: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", "400")  # one line per row: assertions read whole cells
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out.out, out.err


def test_show_prints_the_figure_valid_on_the_date_with_its_period(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(["data", "show", "CA_CAT", "--as-of", "2024-06-01"], capsys, monkeypatch)
    assert code == 0
    assert "as of 2024-06-01" in out
    assert "0.04 share of compliance obligation (2021-01-01 to 2025-12-31)" in out
    assert "280,700,000 tCO2e/yr (2024-01-01 to 2024-12-31)" in out
    assert "§95854" in out
    # the dated history lists the other periods too
    assert "0.06 share of compliance obligation (from 2026-01-01)" in out
    code, out, _ = run(["data", "show", "CA_CAT", "--as-of", "2027-06-01"], capsys, monkeypatch)
    assert re.search(r"│ offsets limit share\s+│ 0.06 share of compliance obligation \(from 2026-01-01\)", out)


def test_show_marks_unverified_figures_in_plain_text(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(["data", "show", "EU_ETS", "--as-of", "2024-06-01"], capsys, monkeypatch)
    assert code == 0  # "[unverified]" must not be eaten as rich markup
    assert "1,386,051,745 tCO2e/yr (2024-01-01 to 2024-12-31) [unverified]" in out
    assert "IS (from 2008-01-01) [unverified]" in out  # a dated membership left unverified
    code, out, _ = run(["data", "show", "RGGI", "--as-of", "2024-06-01"], capsys, monkeypatch)
    assert "US-VA (2021-01-01 to 2023-12-31)" in out  # verified: no mark
    assert "US-VA (2021-01-01 to 2023-12-31) [unverified]" not in out


def test_show_status_and_links_on_the_date(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, out, _ = run(["data", "show", "ON_CAT", "--as-of", "2018-03-01"], capsys, monkeypatch)
    assert "│ status " in out and "in force" in out and "CA_CAT, QC_CAT" in out
    _, out, _ = run(["data", "show", "ON_CAT", "--as-of", "2019-01-01"], capsys, monkeypatch)
    assert re.search(r"│ status\s+│ ended", out)
    _, out, _ = run(["data", "show", "US", "--as-of", "2026-06-01"], capsys, monkeypatch)
    assert "no (from 2026-01-27)" in out
    _, out, _ = run(["data", "show", "US-CA", "--as-of", "2025-06-01"], capsys, monkeypatch)
    assert "yes (2021-02-19 to 2026-01-26)" in out


@pytest.mark.parametrize("day", ["2017-06-01", "2026-06-01"])
def test_no_python_reprs_anywhere(day: str, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [e.id for e in list_ets()]
    if day.startswith("2026"):
        ids += [j.id for j in list_jurisdictions()]
    for ident in ids:
        code, out, _ = run(["data", "show", ident, "--as-of", day], capsys, monkeypatch)
        assert code == 0, ident
        assert not REPR.search(out), (ident, REPR.search(out))
    code, out, _ = run(["data", "list", "--as-of", day], capsys, monkeypatch)
    assert code == 0 and not REPR.search(out)


def test_as_of_json_and_bad_dates(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(["data", "show", "RGGI", "-f", "json", "--as-of", "2022-06-01"],
                       capsys, monkeypatch)
    d = json.loads(out)
    assert code == 0 and "US-VA" in d["participants"] and d["resolved_on"] == "2022-06-01"
    code, out, _ = run(["data", "list", "--ets", "-f", "json", "--as-of", "2019-01-01"],
                       capsys, monkeypatch)
    d = json.loads(out)
    assert d["as_of"] == "2019-01-01"
    assert {e["id"]: e["status"] for e in d["ets"]}["ON_CAT"] == "ended"
    for bad in ("2024-13-01", "yesterday", ""):
        code, _, err = run(["data", "show", "CA_CAT", "--as-of", bad], capsys, monkeypatch)
        assert code == 2 and "--as-of" in err and "YYYY-MM-DD" in err


def test_show_prints_an_absent_control_as_none_not_unknown(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(["data", "show", "EU_ETS", "--as-of", "2026-06-01"], capsys, monkeypatch)
    assert code == 0
    assert re.search(r"│ price floor\s+│ none \(2023\) \[unverified\]\s+│ Directive 2003/87/EC", out)
    assert re.search(r"│ price ceiling\s+│ none \(2023\)", out)
    code, out, _ = run(["data", "show", "CH_ETS"], capsys, monkeypatch)
    assert re.search(r"│ price floor\s+│ none \(2024\)", out)
    assert not re.search(r"│ price (floor|ceiling)\s+│ unknown", out)
