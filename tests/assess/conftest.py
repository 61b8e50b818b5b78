"""Shared fixtures for assess tests: small agreement documents written to a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "agreements"


def write_agreement(path: Path, *, links: list[dict[str, object]] | None = None,
                    assessment: dict[str, object] | None = None) -> Path:
    doc: dict[str, object] = {
        "id": "test-eu-ch", "title": "Test EU–CH link", "form": "treaty",
        "generation": "linking",
        "parties": [{"jurisdiction": "EU", "ets": "EU_ETS"}, {"jurisdiction": "CH", "ets": "CH_ETS"}],
        "mode": {"direction": "bilateral", "directness": "direct", "breadth": "full"},
        "links": links if links is not None else [{"between": ["EU_ETS", "CH_ETS"]}],
    }
    if assessment is not None:
        doc["assessment"] = assessment
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def gap_agreement(tmp_path: Path) -> Path:
    """EU–CH with the Swiss MAC scaled ×1.5, so the autarky prices differ and units move."""
    return write_agreement(tmp_path / "gap.yaml", assessment={"mac_scale": {"CH_ETS": 1.5}})
