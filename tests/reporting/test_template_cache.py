"""The report's compiled templates kept between runs (:class:`TemplateCache`, issue 13): the page
is the same with a cold, warm, stale, corrupt or unwritable cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jinja2
import pytest

from carbonlink.reporting import render
from carbonlink.reporting.render import TemplateCache, template_cache_dir


def _env(cache: TemplateCache, templates: dict[str, str]) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.DictLoader(templates), bytecode_cache=cache)


def test_cache_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(render.CACHE_DIR_VAR, str(tmp_path / "c"))
    assert template_cache_dir() == tmp_path / "c" / "templates"
    monkeypatch.delenv(render.CACHE_DIR_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert template_cache_dir() == tmp_path / "x" / "carbonlink" / "templates"


def test_written_once_then_read_and_recompiled_when_the_source_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = TemplateCache(tmp_path / "t")
    assert _env(cache, {"a.j2": "A {{ x }}"}).get_template("a.j2").render(x=1) == "A 1"
    files = list((tmp_path / "t").iterdir())
    assert len(files) == 1 and files[0].name.startswith("carbonlink-")
    if os.name == "posix":
        assert (tmp_path / "t").stat().st_mode & 0o077 == 0  # the user's alone
    # a new environment reads the compiled template back, without compiling it
    env = _env(cache, {"a.j2": "A {{ x }}"})
    env.compile = None  # type: ignore[method-assign]  # compiling would fail
    assert env.get_template("a.j2").render(x=2) == "A 2"
    # the source changed: its checksum no longer matches, it is compiled again
    assert _env(cache, {"a.j2": "B {{ x }}"}).get_template("a.j2").render(x=3) == "B 3"


@pytest.mark.parametrize("damage", [b"", b"j2", b"garbage" * 10])
def test_a_truncated_or_corrupt_file_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               damage: bytes) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = TemplateCache(tmp_path)
    _env(cache, {"a.j2": "A {{ x }}"}).get_template("a.j2")
    (path,) = tmp_path.iterdir()
    good = path.read_bytes()
    path.write_bytes(good[:len(damage)] if damage == b"j2" else damage or good[: len(good) // 2])
    assert _env(cache, {"a.j2": "A {{ x }}"}).get_template("a.j2").render(x=4) == "A 4"
    assert path.read_bytes() == good  # written again


def test_unwritable_folder_and_no_bytecode_mean_no_cache(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert _env(TemplateCache(blocker / "t"), {"a.j2": "{{ 1 + 1 }}"}).get_template(
        "a.j2").render() == "2"
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    _env(TemplateCache(tmp_path / "d"), {"a.j2": "x"}).get_template("a.j2")
    assert not (tmp_path / "d").exists()


def test_the_file_name_depends_on_the_environment_options(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Jinja2's checksum covers the source, not the options it was compiled with (a template
    compiled without ``trim_blocks`` differs): the options are in the file name."""
    a = TemplateCache(tmp_path)
    monkeypatch.setattr(render, "_ENV_OPTIONS", {**render._ENV_OPTIONS, "trim_blocks": False})
    b = TemplateCache(tmp_path)
    assert a.pattern != b.pattern


def test_report_page_identical_with_cold_warm_and_no_cache(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole report page (an Article 6.2 agreement: no charts to draw) from a cold cache,
    from the files it wrote, and with no usable cache folder."""
    from carbonlink.assess.pipeline import assess
    from carbonlink.reporting.render import render_html
    from carbonlink.reporting.report import build_report

    examples = Path(__file__).resolve().parents[2] / "examples" / "agreements"
    rep = build_report(assess(examples / "switzerland-ghana-overselling.yaml", as_of="2026-06-01"),
                       tool_version="test")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setenv(render.CACHE_DIR_VAR, str(tmp_path))
    cold = render_html(rep)
    written = sorted(p.name for p in (tmp_path / "templates").iterdir())
    assert len(written) >= 2  # the page and the parts it includes
    warm = render_html(rep)
    assert sorted(p.name for p in (tmp_path / "templates").iterdir()) == written
    (tmp_path / "blocked").write_text("a file where the folder would be")
    monkeypatch.setenv(render.CACHE_DIR_VAR, str(tmp_path / "blocked"))
    assert cold == warm == render_html(rep)
