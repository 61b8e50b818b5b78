"""``carbonlink check`` and ``carbonlink data``: exit codes, formats, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonlink.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agreements"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out.out, out.err


def test_check_ok_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(EXAMPLES / "california-quebec.yaml")], capsys)
    assert code == 0 and "CMP-REC" in out


def test_check_errors_exit_1_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(EXAMPLES / "defective-draft.yaml"), "--format", "json"],
                       capsys)
    assert code == 1
    d = json.loads(out)
    assert d["summary"]["errors"] > 0 and d["document"]["id"] == "wa-kr-draft"
    assert {"rule", "severity", "message", "subject", "source", "data_gap"} == set(d["findings"][0])


def test_check_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(EXAMPLES / "eu-switzerland.yaml"), "-f", "markdown"], capsys)
    assert code in (0, 1) and out.startswith("## ") and "| severity |" in out


def test_strict(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(["check", str(EXAMPLES / "california-quebec.yaml"), "--strict", "CMP-REC"],
                     capsys)
    assert code == 1
    code, _, err = run(["check", str(EXAMPLES / "california-quebec.yaml"), "--strict", "NOPE-1"],
                       capsys)
    assert code == 2 and "unknown rule id" in err


@pytest.mark.parametrize(("text", "expected"), [
    ("id: x\ntitle: [unclosed\n", "malformed YAML"),
    ("id: x\ntitle: t\nform: mou\ngeneration: linking\nparties:\n  - jurisdiction: ZZ\n",
     "parties[0].jurisdiction: unknown jurisdiction id 'ZZ'"),
    ("id: x\ntitle: t\nform: mou\ngeneration: linking\nparties:\n  - jurisdiction: CH\n"
     "    ets: NOPE_ETS\n", "parties[0].ets: unknown ETS id 'NOPE_ETS'"),
    ("id: x\ntitle: t\nform: pact\ngeneration: linking\nparties:\n  - jurisdiction: CH\n",
     "form: Input should be"),
    ("id: x\ntitle: t\nform: mou\ngeneration: linking\nparties: 5\n", "parties: "),
    ("id: x\ntitle: t\nform: mou\ngeneration: linking\nparties:\n  - jurisdiction: CH\n"
     "    ets: CH_ETS\nlinks:\n  - between: [CH_ETS, EU_ETS]\n",
     "is not the ETS of any party"),
    ("- just\n- a list\n", "must be a mapping"),
    ("id: x\ntitle: t\nform: mou\ngeneration: linking\nparties:\n  - jurisdiction: CH\n"
     "    ndc: {headroom: .nan}\n", "parties[0].ndc.headroom: Input should be a finite number"),
    ("id: x\ntitle: t\nform: mou\ngeneration: linking\nparties:\n  - jurisdiction: CH\n"
     "clauses:\n  - element: registry\n    parameters: {limits: [1, .inf]}\n",
     "clauses[0].parameters: limits[1] must be a finite number, got inf"),
])
def test_invalid_document_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                 expected: str) -> None:
    p = tmp_path / "a.yaml"
    p.write_text(text, encoding="utf-8")
    code, out, err = run(["check", str(p)], capsys)
    assert code == 2
    assert expected in err.replace("\n", " ")
    assert "Traceback" not in err and out == ""


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "no such file" in err


def test_data_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["data", "list"], capsys)
    assert code == 0 and "EU_ETS" in out and "US-CA" in out
    code, out, _ = run(["data", "list", "--ets", "--format", "json"], capsys)
    d = json.loads(out)
    assert code == 0 and "jurisdictions" not in d
    assert {e["id"] for e in d["ets"]} >= {"EU_ETS", "CH_ETS", "CA_CAT", "QC_CAT"}
    code, out, _ = run(["data", "show", "CA_CAT", "-f", "json", "--as-of", "2024-06-01"], capsys)
    assert code == 0 and json.loads(out)["cap"]["value"] == 280_700_000
    code, out, _ = run(["data", "show", "QC_CAT"], capsys)
    assert code == 0 and "CITSS" in out
    code, _, err = run(["data", "show", "NOPE"], capsys)
    assert code == 2 and "unknown ETS or jurisdiction id" in err
