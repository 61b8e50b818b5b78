"""Notebook use: ``carbonlink.assess(...)`` at the top level, the decision box as
``_repr_html_``, charts from ``.plot()``, ``.save()`` in any report format."""

from __future__ import annotations

from pathlib import Path

import pytest

import carbonlink
from tests.assess.conftest import EXAMPLES


def test_top_level_assess_repr_plot_and_save(tmp_path: Path) -> None:
    a = carbonlink.assess(EXAMPLES / "eu-switzerland.yaml", with_sensitivity=False)
    assert type(a).__name__ == "Assessment"
    html = a._repr_html_()
    assert 'id="decision"' in html and a.decision["line"].split(":")[0] in html
    assert "<script" not in html and "<html" not in html  # a fragment for a notebook cell
    charts = a.plot()
    assert {"prices", "gains"} <= {c.id for c in charts}
    assert a.plot("gains")._repr_svg_().startswith("<svg")
    with pytest.raises(KeyError):
        a.plot("nope")
    out = a.save(tmp_path / "r.xlsx")
    assert out.read_bytes()[:2] == b"PK"
    # the subpackage stays importable next to the callable
    from carbonlink.assess.pipeline import Assessment

    assert isinstance(a, Assessment) and callable(carbonlink.assess)
