"""The shipped reference data: every file parses, every figure has source + year or is an
explicit null with a note, ids resolve, and the systems of seed S-5.1 are present."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from carbonlink.data import (
    data_files,
    get_ets,
    get_jurisdiction,
    list_ets,
    list_jurisdictions,
    national_party,
    paris_party_status,
)
from carbonlink.model.jurisdiction import ETS, Fact, Figure, PriceFigure

NUMERIC_KEYS = {"value"}


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every mapping in the raw YAML that holds a ``value`` key (a figure or a fact)."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "value" in node:
            out.append((path, node))
        for k, v in node.items():
            out += _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _walk(v, f"{path}[{i}]")
    return out


@pytest.mark.parametrize("path", data_files(), ids=[p.name for p in data_files()])
def test_every_figure_has_provenance(path: Any) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    for where, fig in _walk(raw):
        v = fig["value"]
        if fig.get("absent"):   # known to be absent: the source that says so, and its year
            assert v is None and fig.get("source") and fig.get("year"), f"{path.name}:{where}"
        elif v is None:
            assert fig.get("note"), f"{path.name}:{where}: null without a note"
        elif isinstance(v, int | float) and not isinstance(v, bool):
            assert fig.get("source") and fig.get("year"), f"{path.name}:{where}: no source/year"
        else:
            assert fig.get("source"), f"{path.name}:{where}: fact without a source"


def test_models_load() -> None:
    assert len(list_jurisdictions()) > 40 and len(list_ets()) > 25
    for e in list_ets():
        for name in type(e).model_fields:
            v = getattr(e, name)
            if isinstance(v, Figure | Fact) and v.value is not None:
                assert v.source


def test_seed_s51_systems_present() -> None:
    """Seed S-5.1: supranational EU (+IS/LI/NO), national systems, 19 provincial/state and
    6 city systems (as jurisdictions), plus RGGI, Kazakhstan and Mexico's pilot."""
    eu = get_ets("EU_ETS")
    assert set(eu.participants) == {"IS", "LI", "NO"}
    for jid in ("CN", "DE", "KZ", "MX", "NZ", "KR", "CH", "GB"):
        assert get_jurisdiction(jid).level == "national"
    states = ["US-CA", "US-CT", "US-DE", "CN-FJ", "CN-GD", "CN-HB", "US-ME", "US-MD", "US-MA",
              "US-NH", "US-NJ", "US-NY", "CA-NS", "US-OR", "CA-QC", "US-RI", "JP-11", "US-VT",
              "US-VA"]
    assert len(states) == 19
    for jid in states:
        assert get_jurisdiction(jid).level == "subnational"
    cities = ["CN-BJ", "CN-CQ", "CN-SH", "CN-GD-SZ", "CN-TJ", "JP-13"]
    for jid in cities:
        assert get_jurisdiction(jid).level == "city"
    for ets_id in ("RGGI", "KZ_ETS", "MX_ETS", "CN_ETS", "KR_ETS", "NZ_ETS", "UK_ETS", "DE_NEHS",
                   "TOKYO_CAT", "SAITAMA_ETS", "BJ_ETS", "SZ_ETS"):
        get_ets(ets_id)
    assert get_ets("MX_ETS", datetime.date(2021, 6, 1)).status == "pilot"  # ended 2023 (issue 9)
    assert get_ets("MX_ETS", datetime.date(2024, 6, 1)).status == "ended"


def test_contract_fields_for_simulated_partners() -> None:
    for ets_id in ("EU_ETS", "CH_ETS", "CA_CAT", "QC_CAT"):
        e = get_ets(ets_id)
        assert e.cap_type == "absolute"
        for fig in (e.cap, e.covered_emissions, e.price):
            assert fig.value is not None or fig.note
    ca24 = get_ets("CA_CAT", datetime.date(2024, 6, 1))  # the cap is a dated series since issue 9
    assert ca24.cap.value == 280_700_000 and ca24.cap.verified
    assert get_ets("QC_CAT", datetime.date(2024, 6, 1)).cap.value == 51_550_000
    eu = get_ets("EU_ETS")  # refreshed for issue 9: 2025 average (Veyt), was the 2024 one
    assert eu.price.value == 75.0 and eu.price.currency == "EUR" and eu.price.year == 2025
    assert get_ets("CN_ETS").cap_type == "intensity"


def test_party_resolution() -> None:
    assert national_party("CN-GD-SZ").id == "CN"
    assert paris_party_status("CA-QC").value is True
    assert paris_party_status("US-CA", datetime.date(2026, 6, 1)).value is False  # withdrawal 2026-01-27
    with pytest.raises(KeyError, match="unknown ETS id"):
        get_ets("NOPE")
    with pytest.raises(KeyError, match="unknown jurisdiction id"):
        get_jurisdiction("NOPE")


def test_unknown_value_without_note_is_rejected() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a note"):
        Figure(value=None)
    with pytest.raises(ValidationError, match="needs a source"):
        Figure(value=1.0, year=2024)
    with pytest.raises(ValidationError, match="needs a year"):
        Figure(value=1.0, source="x")


def test_pre_link_figures_are_sourced_and_dated_before_the_link() -> None:
    from carbonlink.data import get_ets

    link_year = {"EU_ETS": 2020, "CH_ETS": 2020, "CA_CAT": 2014, "QC_CAT": 2014}
    for eid, year in link_year.items():
        e = get_ets(eid)
        assert e.pre_link_prices, eid
        for f in [*e.pre_link_prices, *e.pre_link_caps]:
            assert f.year is not None and f.year < year, (eid, f)
            if f.value is not None:
                assert f.source and (f.verified or f.note), (eid, f)
        assert any(f.value is not None for f in e.pre_link_caps), eid


def test_absent_is_known_none_not_unknown() -> None:
    from pydantic import ValidationError

    none = PriceFigure(value=None, absent=True, currency="EUR", year=2023, source="Directive X")
    assert none.recorded and not none.known and none.text == "none"
    unknown = PriceFigure(value=None, currency="EUR", note="not retrieved")
    assert not unknown.recorded and unknown.text == "unknown"
    with pytest.raises(ValidationError, match="needs the source"):
        PriceFigure(value=None, absent=True, year=2023)
    with pytest.raises(ValidationError, match="needs the year"):
        PriceFigure(value=None, absent=True, source="Directive X")
    with pytest.raises(ValidationError, match="contradicts"):
        PriceFigure(value=5.0, absent=True, year=2023, source="Directive X")


def test_absent_is_only_for_price_controls() -> None:
    from pydantic import ValidationError

    raw = get_ets("EU_ETS").model_dump(mode="json", exclude={"resolved_on"})
    raw["cap"] = {"value": None, "absent": True, "year": 2024, "source": "x"}
    with pytest.raises(ValidationError, match=r"cap: absent: true is only for price_floor"):
        ETS.model_validate(raw)


def test_eu_and_swiss_systems_record_no_price_floor_or_ceiling_with_a_source() -> None:
    for eid in ("EU_ETS", "CH_ETS"):
        e = get_ets(eid, datetime.date(2026, 6, 1))
        for f in (e.price_floor, e.price_ceiling):
            assert f is not None and f.absent and f.value is None, eid
            assert f.source and f.year, eid
    eu = get_ets("EU_ETS")
    assert eu.price_ceiling is not None and "Art. 29a" in (eu.price_ceiling.source or "")
    assert "Market Stability Reserve" in (eu.price_ceiling.source or "")
