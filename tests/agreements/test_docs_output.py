"""docs/agreements.md and docs/api.md quote what the tool prints: each documented count
("`carbonlink check --as-of DATE` → **E errors, W warnings, I info**") and each finding quoted in
italics in an example's section is checked against a fresh run of the check on that date, and the
strict-rule example of docs/api.md against the same check the API runs (``POST /api/check``
answers what ``carbonlink check --format json`` prints; tests/api/test_check.py holds them equal)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from carbonlink.agreements import check

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agreements"
AGREEMENTS_MD = (ROOT / "docs" / "agreements.md").read_text(encoding="utf-8")
API_MD = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")

HEADLINE = re.compile(r"`carbonlink check --as-of (\d{4}-\d{2}-\d{2})` → \*\*(\d+) errors?,\s+(\d+)"
                      r"\s+warnings?,\s+(\d+)\s+info\*\*")


def sections() -> list[tuple[str, str]]:
    """(example file, section text) for each '### … (`examples/agreements/X.yaml`)' section."""
    out = []
    parts = re.split(r"^### ", AGREEMENTS_MD, flags=re.M)
    for part in parts:
        m = re.match(r"[^\n]*`examples/agreements/([\w.-]+\.yaml)`", part)
        if m:
            out.append((m.group(1), part))
    return out


DATED = [(name, text) for name, text in sections() if HEADLINE.search(text)]


def test_the_documented_examples_state_dated_counts() -> None:
    names = {name for name, _ in DATED}
    assert {"eu-switzerland.yaml", "california-quebec.yaml", "eu-new-zealand-one-way.yaml"} <= names


def quotes(text: str) -> list[str]:
    """Finding text quoted in italics in the tables and dated headlines: it names a system id
    (EU_ETS) or a figure (1,386,051,745); other italics (*United States v. California*, row
    labels such as *no LEG finding*) are not quotes of the tool."""
    checked = "\n\n".join(p for p in text.split("\n\n")   # the tables and the dated headlines
                           if p.startswith("|") or "`carbonlink check --as-of" in p)
    found = re.findall(r"(?<![*\w])\*([^*\n]{25,})\*(?![*\w])", checked.replace("\n", " "))
    return [q for q in found if re.search(r"\b[A-Z]{2,}_[A-Z]{2,}\b|\d,\d{3}", q)]


@pytest.mark.parametrize(("name", "text"), DATED, ids=[n for n, _ in DATED])
def test_documented_counts_and_quotes_match_the_check(name: str, text: str) -> None:
    printed: list[str] = []
    for day, errors, warnings, info in HEADLINE.findall(text.replace("\n", " ")):
        r = check(EXAMPLES / name, as_of=day)
        s = r.summary
        assert (s["errors"], s["warnings"], s["info"]) == (int(errors), int(warnings), int(info)), \
            (name, day)
        printed += [f.message for f in r.findings] + [row.reason for row in r.compatibility]
    for q in quotes(text):
        for fragment in (x.strip(" .") for x in q.split("…")):
            if len(fragment) > 10:
                assert any(fragment in m for m in printed), (name, fragment)


def test_api_strict_example_prints_what_the_check_answers() -> None:
    m = re.search(r"curl -s -X POST '(localhost:8000/api/check\?[^']+)'.*?\n((?:# \[[^\n]*\]\n)+)",
                  API_MD, re.S)
    assert m, "the strict example of docs/api.md"
    query = parse_qs(urlsplit("http://" + m.group(1)).query)
    assert "as_of" in query   # the example pins its date, so its output holds on any day
    expected = [line.removeprefix("# ") for line in m.group(2).splitlines()]
    r = check(EXAMPLES / "eu-switzerland.yaml", strict=query["strict"], as_of=query["as_of"][0])
    assert [f'["{f.severity}","{f.rule}"]' for f in r.findings] == expected
