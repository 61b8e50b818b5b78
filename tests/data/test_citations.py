"""Sources a reader can open: no figure, fact, membership, link or source list in ets.yaml or
jurisdictions.yaml names an internal note (our own reference notes, their section numbers, the
[M]/[V]/[S] tags or "maintainer memory")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbonlink.data import ETS_FILE, JURISDICTIONS_FILE

#: What a reader cannot open: our reference notes (by file name, with or without a section
#: sign), their evidence tags, the seed digest and unwritten memory.
INTERNAL = re.compile(
    r"maintainer memory|from memory|\b(economics|article6-and-agreements|seed-digest|architecture"
    r"|python-stack|registry-anchors)(\.md)?\b|\bseed\s+S-\d|\[(M|V|S|D)\]|\.md\s*§",
    re.IGNORECASE)

#: Keys whose text is provenance: what a figure or fact stands on.
SOURCE_KEYS = {"source", "sources", "status_source"}


def _strings(node: Any, path: str, keys: set[str] | None) -> list[tuple[str, str]]:
    """(path, text) of every string under ``keys`` (all strings when ``keys`` is None)."""
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if keys is None or k in keys:
                out += _strings(v, sub, None)
            else:
                out += _strings(v, sub, keys)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _strings(v, f"{path}[{i}]", keys)
    elif isinstance(node, str) and keys is None:
        out.append((path, node))
    return out


def _internal(path: Path, keys: set[str] | None) -> list[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [f"{path.name}:{where}: {text[:100]!r}"
            for where, text in _strings(raw, "", keys) if INTERNAL.search(text)]


@pytest.mark.parametrize("path", [ETS_FILE, JURISDICTIONS_FILE], ids=lambda p: p.name)
def test_no_source_names_an_internal_note(path: Path) -> None:
    assert _internal(path, SOURCE_KEYS) == []


@pytest.mark.parametrize("path", [ETS_FILE, JURISDICTIONS_FILE], ids=lambda p: p.name)
def test_no_note_or_comment_points_to_an_internal_note(path: Path) -> None:
    assert _internal(path, None) == []
    comments = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                if ln.lstrip().startswith("#") and INTERNAL.search(ln)]
    assert comments == []


@pytest.mark.parametrize("text", [
    "economics.md §4 [V]: ~80% of state GHG", "maintainer memory", "article6-and-agreements.md §5.2",
    "ICAP 2022 via seed-digest S-5.1", "NZ MfE [M]", "seed S-5.1"])
def test_the_check_catches_internal_notes(tmp_path: Path, text: str) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(yaml.safe_dump({"ets": [{"cap": {"value": 1, "year": 2024, "source": text}}]}))
    assert _internal(f, SOURCE_KEYS)


@pytest.mark.parametrize("text", [
    "Cal. Code Regs. tit. 17 §95854(b)-(c)", "Directive 2003/87/EC Art. 16(3)",
    "CO2 Act (SR 641.71) Art. 21(1)", "ICAP ETS factsheet 'Swiss ETS'"])
def test_public_citations_pass(tmp_path: Path, text: str) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(yaml.safe_dump({"ets": [{"cap": {"value": 1, "year": 2024, "source": text}}]}))
    assert _internal(f, SOURCE_KEYS) == []


def test_verified_figures_name_something_a_reader_can_open() -> None:
    """A figure marked verified cites an instrument with its article/section, a URL, or a dated
    publication (title and date), never a bare name."""
    opener = re.compile(r"https?://|\bArt\.|\bs\.\s?\d|§|\bsection\b|\bTable\b|ELI|OJ L|SR \d|"
                        r"Order No\.|C\.N\.|\b(19|20)\d\d\b", re.IGNORECASE)
    bad: list[str] = []
    for path in (ETS_FILE, JURISDICTIONS_FILE):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        stack: list[tuple[str, Any]] = [("", raw)]
        while stack:
            where, node = stack.pop()
            if isinstance(node, dict):
                if "value" in node and node.get("value") is not None and node.get(
                        "verified", True) and not opener.search(str(node.get("source", ""))):
                    bad.append(f"{path.name}:{where}: {node.get('source')!r}")
                stack += [(f"{where}.{k}", v) for k, v in node.items()]
            elif isinstance(node, list):
                stack += [(f"{where}[{i}]", v) for i, v in enumerate(node)]
    assert bad == [], "\n".join(bad)
