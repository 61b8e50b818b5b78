"""An agreement document may carry an ``assessment:`` section (the assumption overrides of
``carbonlink assess``): ``check`` and ``assess`` accept and reject the same documents."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbonlink.agreements import load_agreement
from carbonlink.cli import main

REPO = Path(__file__).resolve().parents[2]
EU_CH = REPO / "examples" / "agreements" / "eu-switzerland.yaml"


def doc_with(tmp_path: Path, assessment: Any) -> Path:
    doc = yaml.safe_load(EU_CH.read_text(encoding="utf-8"))
    doc["assessment"] = assessment
    path = tmp_path / "agreement.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def run(*args: str) -> int:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), \
            pytest.raises(SystemExit) as exc:
        main(list(args))
    code = exc.value.code
    return int(code) if isinstance(code, int) else 1


GOOD = [
    {"abatement_share": 0.2, "mac_scale": {"CH_ETS": 1.5}},
    {"abatement_share": {"EU_ETS": 0.15}, "price": {"CH_ETS": 30}, "cap": {"CH_ETS": 5.0},
     "fx": {"CHF": 1.1}, "currency": "EUR", "price_basis": "current"},
    {"assumptions": {"abatement_share": 0.2}},
]
BAD = [{"abatement_share": 1.5}, {"nonsense": 3}, {"price": {"CH_ETS": -1}},
       {"price_basis": "yesterday"}]


@pytest.mark.parametrize("section", GOOD)
def test_typed_assessment_section_accepted_by_check_and_assess(
        tmp_path: Path, section: dict[str, Any]) -> None:
    path = doc_with(tmp_path, section)
    agreement = load_agreement(path)
    assert agreement.assessment is not None
    checked = run("check", str(path))
    assert checked in (0, 1)  # findings, not an invalid document
    # assess exits as check does (1 when the agreement has error findings)
    assert run("assess", str(path), "--out", str(tmp_path / "r.json"), "--no-sensitivity",
               "--quiet") == checked


@pytest.mark.parametrize("section", BAD)
def test_bad_assessment_section_rejected_by_both(tmp_path: Path, section: dict[str, Any]) -> None:
    path = doc_with(tmp_path, section)
    assert run("check", str(path)) == 2
    assert run("assess", str(path), "--out", str(tmp_path / "r.json"), "--no-sensitivity",
               "--quiet") == 2
    assert not (tmp_path / "r.json").exists()
