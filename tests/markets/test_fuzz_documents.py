"""Random damage to valid documents never produces a traceback: exit 0, 1 or 2 with a message."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonlink.cli import main

ROOT = Path(__file__).parents[2]
SCENARIO = yaml.safe_load((ROOT / "examples" / "scenarios" / "two-markets-discount.yaml").read_text())
AGREEMENT = yaml.safe_load((ROOT / "examples" / "agreements" / "california-quebec.yaml").read_text())

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                          st.integers(), max_size=2))


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def damaged(doc: dict[str, Any], where: tuple[Any, ...], value: Any, delete: bool) -> Any:
    new = copy.deepcopy(doc)
    if not where:
        return value
    parent = new
    for key in where[:-1]:
        parent = parent[key]
    if delete:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    return new


def run(tmp_path: Path, command: str, doc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    with pytest.raises(SystemExit) as exc:
        main([command, str(path), "--format", "json"])
    err = capsys.readouterr().err
    assert exc.value.code in (0, 1, 2), err
    assert "Traceback" not in err
    if exc.value.code == 2:
        assert err.strip(), "exit 2 must say what is wrong"


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject) -> None:
    where = data.draw(st.sampled_from(paths(SCENARIO)))
    run(tmp_path, "simulate", damaged(SCENARIO, where, data.draw(JUNK), data.draw(st.booleans()) and bool(where)),
        capsys)


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_agreements(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject) -> None:
    where = data.draw(st.sampled_from(paths(AGREEMENT)))
    run(tmp_path, "check", damaged(AGREEMENT, where, data.draw(JUNK), data.draw(st.booleans()) and bool(where)),
        capsys)


@given(data=st.data())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_agreements_assess(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject) -> None:
    doc = damaged(AGREEMENT, data.draw(st.sampled_from(paths(AGREEMENT))), data.draw(JUNK), False)
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    out = tmp_path / f"report-{uuid.uuid4().hex}.json"  # tmp_path is shared by the examples
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(path), "--out", str(out), "--no-sensitivity", "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code in (0, 1, 2), err
    assert "Traceback" not in err
    if exc.value.code == 2:
        assert not out.exists(), "a rejected document writes nothing"
