"""Chinese and English: every message of the decision box and the report's headings is in the
catalog and translated; ``--lang zh`` gives a Chinese verdict with no English sentence left."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from carbonlink.cli import main
from carbonlink.reporting.i18n import LANGS, catalog_path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "carbonlink" / "reporting"


def source_messages() -> set[str]:
    ids = {msg for _, msg, _, _ in extract_from_file("python", str(SRC / "verdict.py"),
                                                     keywords={"_": None, "N_": None})}
    for tpl in sorted((SRC / "templates").glob("*.j2")):
        with tpl.open("rb") as fh:
            ids |= {m for _, _, m, _ in babel_extract(fh, ("_",), [], {"trim_blocks": "true"})
                    if isinstance(m, str)}
    return ids


@pytest.mark.parametrize("lang", [x for x in LANGS if x != "en"])
def test_every_message_is_in_the_catalog_and_translated(lang: str) -> None:
    with catalog_path(lang).open("rb") as fh:
        cat = read_po(fh, locale=lang)
    entries = {str(m.id): m for m in cat if m.id}
    assert source_messages() <= set(entries), source_messages() - set(entries)
    for mid, m in entries.items():
        assert m.string and not m.fuzzy, mid
        # the same placeholders on both sides
        assert sorted(re.findall(r"\{\w+\}", mid)) == sorted(re.findall(r"\{\w+\}", str(m.string))), mid


def _box_text(html: str) -> str:
    box = html[html.index('<div id="decision"'):]
    box = box[:box.index("</div>")]
    box = re.sub(r"<abbr[^>]*>", "", box)  # tooltips keep the finding's source text
    return re.sub(r"<[^>]+>", " ", box)


def test_zh_report_has_a_chinese_verdict_and_no_english_sentence(tmp_path: Path) -> None:
    out = tmp_path / "zh.html"
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(REPO / "examples/agreements/eu-switzerland.yaml"), "--out", str(out),
              "--quiet", "--no-fail", "--no-sensitivity", "--lang", "zh"])
    assert exc.value.code == 0
    html = out.read_text(encoding="utf-8")
    assert '<html lang="zh">' in html
    box = _box_text(html)
    assert re.search(r"(暂不链接|按所列修改后链接|按草案原文链接)：", box), box
    assert "瑞士 每年节省 EUR" in box and "万" in box
    # no run of three English words (units, currency codes, ids and element names excepted)
    english = re.findall(r"[A-Za-z]{2,}(?:[\s,;]+[A-Za-z]{2,}){2,}", box)
    assert english == [], english
    for heading in ("审查结果", "链接方案比较", "假设"):
        assert f"<h2>{heading}" in html


def test_unknown_language_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(REPO / "examples/agreements/eu-switzerland.yaml"), "--out", str(out),
              "--lang", "fr"])
    assert exc.value.code == 2 and not out.exists()
