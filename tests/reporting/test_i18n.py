"""Chinese and English: every string marked in the code and the templates (extracted as
``make i18n`` does, from ``babel.cfg``) is in the catalog and translated; every rule has a Chinese
title; ``--lang zh`` gives a report and ``check`` output with no English sentence left (proper
nouns, sources, codes and numbers excepted); English output is unchanged by the catalog."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from carbonlink.cli import main
from carbonlink.reporting.i18n import LANGS, Translator, catalog_path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "agreements"
#: Every shipped example: its ``check`` output is read in Chinese.
CHECKED = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """``babel.cfg`` read as pybabel reads it: [method: pattern] sections with their options."""
    method_map: list[tuple[str, str]] = []
    options: dict[str, dict[str, str]] = {}
    section: str | None = None
    for line in (REPO / "babel.cfg").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+):\s*(.+)\]", line)
        if m:
            section = m.group(2)
            method_map.append((section, m.group(1)))
            options[section] = {}
        elif section is not None and "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            options[section][k] = v
    return method_map, options


def source_messages() -> set[str]:
    method_map, options = _method_map()
    keywords = {"_": None, "N_": None, "tr": None}  # as `make i18n`
    return {msg for _, _, msg, _, _ in extract_from_dir(str(REPO), method_map, options,
                                                         keywords=keywords)
            if isinstance(msg, str) and msg}


def test_extraction_finds_the_marked_strings() -> None:
    ids = source_messages()
    # one from each kind of source: Python _(), Python N_(), the report template, check's CLI
    for mid in ("Do not link yet", "Autarky", "Link designs compared", "severity",
                "{errors} errors, {warnings} warnings, {info} info ({rules} rules applied)",
                "a legally binding treaty", "autarky compliance cost"):
        assert mid in ids, mid


@pytest.mark.parametrize("lang", [x for x in LANGS if x != "en"])
def test_every_message_is_in_the_catalog_and_translated(lang: str) -> None:
    with catalog_path(lang).open("rb") as fh:
        cat = read_po(fh, locale=lang)
    entries = {str(m.id): m for m in cat if m.id}
    missing = source_messages() - set(entries)
    assert not missing, f"run `make i18n` and translate: {sorted(missing)}"
    for mid, m in entries.items():
        assert m.string and not m.fuzzy, mid
        # the same placeholders on both sides
        assert sorted(re.findall(r"\{\w+\}", mid)) == sorted(re.findall(r"\{\w+\}", str(m.string))), mid


def test_every_rule_has_a_chinese_title() -> None:
    from carbonlink.agreements.rules import RULES

    for rid, r in RULES.items():
        assert r.title_zh and re.search(r"[\u4e00-\u9fff]", r.title_zh), rid
        assert not _english(r.title_zh), (rid, r.title_zh)


# ---------------------------------------------------------------- no English sentence left
#: Words that stay in English in Chinese output: the tool's name, codes, units and currency
#: codes. Everything else of three ASCII words in a row is an untranslated sentence.
ALLOW = {"carbonlink", "simulate", "json", "tco2e", "mtco2e", "eur", "chf", "usd", "cad", "sgd",
         "ghs", "pen", "pgk", "nzd", "cny", "ets", "ndc", "itmo", "itmos", "aef", "mou",
         "bau", "mac", "oimp", "ghg", "gwp", "mrv", "lt", "leds", "key", "value", "file",
         "assume", "assumptions", "assessment", "yr", "money", "million"}


def _english(text: str) -> list[str]:
    """Runs of three or more ASCII words (of two letters or more) not in ``ALLOW``."""
    runs = re.findall(r"[A-Za-z][A-Za-z'’-]+(?:[ \t,;:/()]+[A-Za-z][A-Za-z'’-]+){2,}", text)
    return [r for r in runs
            if sum(w.lower() not in ALLOW for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", r)) >= 3]


def _strip(text: str, keep_out: list[str]) -> str:
    """``text`` without proper nouns and sources: the document's own strings (its title, party
    names), legal sources, clause paths and ids, URLs."""
    for s in sorted(keep_out, key=len, reverse=True):
        if s:
            text = text.replace(s, " ")
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"\b[\w.\[\]-]+\.[\w.\[\]-]+\b", " ", text)   # clause paths, file names
    return text


def _without_source_column(table: str) -> str:
    """A rich table with its last column (the legal source, folded over lines) left out."""
    out = []
    for line in table.splitlines():
        cells = line.split("│")
        out.append("│".join(cells[:-2] + cells[-1:]) if len(cells) == 7 else line)
    return "\n".join(out)


def _sources() -> list[str]:
    from carbonlink.agreements.rules import RULES

    return [r.source for r in RULES.values()]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    code = exc.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().out


@pytest.mark.parametrize("example", CHECKED)
def test_check_in_chinese_leaves_no_english_sentence(
        example: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per row: a wrapped cell hides no run
    path = str(EXAMPLES / example)
    code_en, _ = _run(["check", path, "-f", "json"], capsys)
    code, out = _run(["check", path, "-f", "json", "--lang", "zh"], capsys)
    assert code == code_en  # the language changes no verdict
    rep = json.loads(out)
    assert set(rep) >= {"document", "findings", "summary", "compatibility"}  # keys stay English
    keep = [rep["document"]["title"], *rep["document"]["parties"], *_sources()]
    for f in rep["findings"]:
        assert not _english(f["message"]), (f["rule"], f["message"])
        assert re.search(r"[\u4e00-\u9fff]", f["message"]), f
    for fmt in ("table", "markdown"):
        code, out = _run(["check", path, "-f", fmt, "--lang", "zh"], capsys)
        assert code == code_en
        if fmt == "table":
            out = _without_source_column(out)
        text = _strip(out, keep + [f["source"] for f in rep["findings"]])
        assert not _english(text), (fmt, _english(text))
        assert "错误" in out and "警告" in out


def test_check_in_english_is_unchanged_by_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "eu-switzerland.yaml")
    _, default = _run(["check", path, "-f", "markdown"], capsys)
    _, en = _run(["check", path, "-f", "markdown", "--lang", "en"], capsys)
    assert en == default
    assert "errors," in en and "| severity | rule | subject | finding | source |" in en
    _, js = _run(["check", path, "-f", "json", "--lang", "en"], capsys)
    from carbonlink.agreements import check

    assert json.loads(js) == json.loads(json.dumps(check(path).to_dict()))


def test_unknown_language_exits_2_for_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(["check", str(EXAMPLES / "eu-switzerland.yaml"), "--lang", "fr"], capsys)
    assert code == 2


def _assess(path: Path, out: Path, *extra: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(path), "--out", str(out), "--quiet", "--no-fail", *extra])
    assert exc.value.code == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The EU–CH report in Chinese, with its sensitivity section."""
    return _assess(EXAMPLES / "eu-switzerland.yaml",
                   tmp_path_factory.mktemp("zh") / "zh.html", "--lang", "zh")


def _section(page: str, sid: str) -> str:
    part = page[page.index(f'<section id="{sid}"'):]
    return part[:part.index("</section>")]


def report_text(page: str) -> str:
    """A Chinese report's visible text without what keeps its own language: the document's own
    strings (its title, file name, notes on its encoding, its sources, status and common unit),
    the source cells (legal sources and reference-data citations, with their notes) and
    tooltips. Chart texts are SVG ``<text>`` and stay in."""
    page = re.sub(r"<(style|head)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'<p class="sub">.*?</p>|<h1>.*?</h1>', " ", page, flags=re.S)
    page = re.sub(r"协议编码无法确认的内容：.*?</p>", " ", page, flags=re.S)
    page = re.sub(r"<dt>(来源|状态)</dt><dd>.*?</dd>|共同单位：[^<]*", " ", page, flags=re.S)
    page = re.sub(r'<span class="note">来源：.*?</span>', " ", page, flags=re.S)
    page = re.sub(r'<td class="src">.*?</td>', " ", page, flags=re.S)
    page = re.sub(r"<(abbr|td)[^>]*title=\"[^\"]*\"", "<x", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _box_text(page: str) -> str:
    box = page[page.index('<div id="decision"'):]
    box = box[:box.index("</div>")]
    box = re.sub(r"<abbr[^>]*>", "", box)  # tooltips keep the finding's source text
    return re.sub(r"<[^>]+>", " ", box)


def test_zh_report_has_a_chinese_verdict(zh_report: str) -> None:
    page = zh_report
    assert '<html lang="zh">' in page
    box = _box_text(page)
    assert re.search(r"(暂不链接|按所列修改后链接|按草案原文链接)：", box), box
    assert "瑞士 每年节省 EUR" in box and "万" in box
    assert _english(box) == [], _english(box)
    for heading in ("审查结果", "链接方案比较", "敏感性分析", "假设"):
        assert f"<h2>{heading}" in page


def test_zh_report_leaves_no_english_sentence(zh_report: str) -> None:
    """Every section of the EU–CH report (findings, compatibility, designs, charts, sensitivity,
    assumptions, glossary)."""
    for sid in ("framing", "findings", "compatibility", "designs", "sensitivity", "assumptions",
                "glossary"):
        _section(zh_report, sid)  # each is there
    text = report_text(zh_report)
    assert not _english(text), _english(text)
    assert "<text" in _section(zh_report, "designs")  # the charts' own texts were read too


@pytest.mark.parametrize("example", [
    "switzerland-ghana-overselling.yaml", "sweden-ghana.yaml",
    # no simulation (the reference data lacks a cap), blocking defects, a one-way link
    "defective-draft.yaml", "california-quebec-ontario-2017.yaml", "eu-new-zealand-one-way.yaml"])
def test_zh_report_of_other_examples_leaves_no_english_sentence(example: str,
                                                                tmp_path: Path) -> None:
    page = _assess(EXAMPLES / example, tmp_path / "zh.html", "--lang", "zh", "--no-sensitivity")
    assert not _english(report_text(page)), _english(report_text(page))


def test_zh_report_framing_labels_and_dates(zh_report: str) -> None:
    framing = _section(zh_report, "framing")
    for label in ("形式", "代际", "链接类型", "缔约方"):
        assert label in framing
    assert "具有法律约束力的条约" in framing and "（）" not in framing
    assert "<dt>链接条款中的主要限制</dt><dd>无</dd>" in framing  # the main restriction: none
    assert "百万 EUR" in _section(zh_report, "designs") and "million" not in zh_report
    sub = zh_report[zh_report.index('<p class="sub">'):]
    assert re.search(r"生成于 \d{4}年\d{1,2}月\d{1,2}日", sub[:sub.index("</p>")])


def test_english_report_is_unchanged_by_the_catalog(tmp_path: Path) -> None:
    """The same English text with and without --lang en (the generation time aside)."""
    a = _assess(EXAMPLES / "sweden-ghana.yaml", tmp_path / "a.html", "--no-sensitivity")
    b = _assess(EXAMPLES / "sweden-ghana.yaml", tmp_path / "b.html", "--no-sensitivity",
                "--lang", "en")
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
    assert stamp.sub("T", a) == stamp.sub("T", b)
    assert not re.search(r"[\u4e00-\u9fff]", a)
    assert "Findings: legality, completeness, feasibility" in a


def test_numbers_and_dates_per_locale() -> None:
    zh, en = Translator("zh"), Translator("en")
    assert zh.date("2024-01-01") == "2024年1月1日"
    assert en.date("2024-01-01") == "2024-01-01"          # English output unchanged
    assert zh.number(1234567.891) == "1,234,568" == en.number(1234567.891)
    assert zh.number(0.5) == en.number(0.5) == "0.5000"
    assert zh.number(None) == "–"


def test_unknown_language_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(EXAMPLES / "eu-switzerland.yaml"), "--out", str(out),
              "--lang", "fr"])
    assert exc.value.code == 2 and not out.exists()


@pytest.mark.parametrize("example", ["eu-switzerland.yaml", "switzerland-ghana-overselling.yaml",
                                     "defective-draft.yaml"])
def test_assessment_progress_steps_are_translated(example: str) -> None:
    """The steps the web's assessment job page shows while it runs (checking, calibrating, each
    design solved, each sweep): in Chinese none is left in English."""
    from carbonlink.assess.pipeline import assess
    from carbonlink.reporting.sentences import translate_sentence

    steps: list[str] = []
    assess(EXAMPLES / example, progress=lambda desc, n: steps.append(desc),
           with_sensitivity=example == "eu-switzerland.yaml")
    if example == "eu-switzerland.yaml":
        assert {s.split(":")[0] for s in steps} >= {"solved design", "sweeping", "swept"}, steps
    tr = Translator("zh")
    for step in steps:
        zh = translate_sentence(step, tr)
        assert zh != step and not _english(zh), (step, zh)


def test_zh_markdown_report_leaves_no_english_sentence(tmp_path: Path) -> None:
    """The Markdown report in Chinese: headings, tables, findings and sensitivity in Chinese;
    the English Markdown keeps its headings."""
    zh = _assess(EXAMPLES / "eu-switzerland.yaml", tmp_path / "zh.md", "--lang", "zh")
    assert zh.index("## 决策") < zh.index("## 结论")
    # kept in their own language, as in the HTML report: the document's title, the sources
    # (the findings' last column, an assumption's "来源：…", the reference-data table's cells)
    body, refs = zh.split("\n所用参考数据:\n")
    assert "总量来源" in refs  # the reference-data table's header is translated
    text = re.sub(r"^# .*$|来源：[^|]*|`[^`]*`", " ", body, flags=re.M)  # and file names
    text = "\n".join(line.rsplit("|", 2)[0] if line.startswith("| ") else line
                     for line in _strip(text, _sources()).splitlines())
    assert not _english(text), _english(text)
    en = _assess(EXAMPLES / "eu-switzerland.yaml", tmp_path / "en.md", "--no-sensitivity")
    assert en.index("## Decision") < en.index("## Verdict") and "## Findings" in en


def test_zh_xlsx_report_is_chinese(tmp_path: Path) -> None:
    """The XLSX workbook in Chinese: sheet names, headers and texts; sources, ids and numbers
    stay as they are (the source column and the reference-data sheet are left out)."""
    import io

    from openpyxl import load_workbook

    out = tmp_path / "zh.xlsx"
    with pytest.raises(SystemExit) as exc:
        main(["assess", str(EXAMPLES / "eu-switzerland.yaml"), "--out", str(out), "--quiet",
              "--no-fail", "--no-sensitivity", "--lang", "zh"])
    assert exc.value.code == 0
    wb = load_workbook(io.BytesIO(out.read_bytes()))
    assert wb.sheetnames == ["决策", "链接方案", "审查结果", "兼容性", "假设", "参考数据"]
    cells: list[str] = []
    for ws in wb.worksheets[:-1]:
        rows = list(ws.iter_rows(values_only=True))
        src = [i for i, h in enumerate(rows[0]) if h == "来源"]
        for row in rows:
            cells += [str(v) for i, v in enumerate(row)
                      if isinstance(v, str) and i not in src and not v.endswith(".yaml")]
    text = _strip("\n".join(cells), _sources())
    assert not _english(text), _english(text)
    header = list(wb.worksheets[-1].iter_rows(values_only=True))[0]
    assert not _english(" ".join(str(h) for h in header))
