"""The parsed-YAML cache of shipped data files (issue 13 start-up): same values as parsing, a
changed file parsed again, a damaged or foreign cache ignored."""

from __future__ import annotations

import datetime as dt
import pickle
import sys
from pathlib import Path

import pytest

from carbonlink.data import DATA_DIR, data_files
from carbonlink.model import io
from carbonlink.model.io import load_data_file, safe_load

DOC = """\
a: 1
when: 2024-06-01
stamp: 2024-06-01T12:30:00+02:00
nested: &x {b: [1.5, .nan, null, true]}
again: *x
"""


@pytest.fixture
def writing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def caches(folder: Path) -> list[Path]:
    return sorted((folder / "__pycache__").glob("*.pickle"))


def same(a: object, b: object) -> bool:
    return pickle.dumps(a) == pickle.dumps(b)  # NaN-safe equality of plain data


@pytest.mark.usefixtures("writing")
def test_cached_value_equals_the_parse(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DOC, encoding="utf-8")
    first = load_data_file(f)
    assert len(caches(tmp_path)) == 1
    second = load_data_file(f)
    assert same(first, safe_load(DOC)) and same(second, first)
    assert second["when"] == dt.date(2024, 6, 1)
    assert second["stamp"].utcoffset() == dt.timedelta(hours=2)
    assert second["again"] is second["nested"]  # YAML aliases stay shared


@pytest.mark.usefixtures("writing")
def test_a_changed_file_is_parsed_again_and_old_caches_go(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("a: 1\n", encoding="utf-8")
    assert load_data_file(f) == {"a": 1}
    f.write_text("a: 2\n", encoding="utf-8")
    assert load_data_file(f) == {"a": 2}
    assert len(caches(tmp_path)) == 1


@pytest.mark.usefixtures("writing")
def test_a_damaged_or_foreign_cache_is_ignored(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("a: 1\n", encoding="utf-8")
    load_data_file(f)
    [cache] = caches(tmp_path)
    cache.write_bytes(b"\x80\x05garbage")
    assert load_data_file(f) == {"a": 1}
    cache.write_bytes(pickle.dumps(Path("/etc")))  # a global a YAML parse never yields
    with cache.open("rb") as fh, pytest.raises(pickle.UnpicklingError):
        io._ParsedYamlUnpickler(fh).load()
    assert load_data_file(f) == {"a": 1}


def test_no_cache_written_when_bytecode_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    f = tmp_path / "d.yaml"
    f.write_text("a: 1\n", encoding="utf-8")
    assert load_data_file(f) == {"a": 1}
    assert caches(tmp_path) == []


@pytest.mark.usefixtures("writing")
def test_malformed_yaml_raises_as_before_and_is_not_cached(tmp_path: Path) -> None:
    import yaml

    f = tmp_path / "d.yaml"
    f.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError):
        load_data_file(f)
    assert caches(tmp_path) == []


@pytest.mark.parametrize("path", data_files(), ids=lambda p: p.name)
def test_shipped_files_read_the_same(path: Path) -> None:
    assert path.parent == DATA_DIR
    assert same(load_data_file(path), safe_load(path.read_text(encoding="utf-8")))
