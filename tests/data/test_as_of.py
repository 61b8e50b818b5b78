"""Dated reference data: ``as_of`` resolves each series, membership and link for one date, and
every attribute keeps its type (so today's consumers read the resolved copy as before)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from carbonlink.data import (
    ets_record,
    get_ets,
    get_jurisdiction,
    list_ets,
    list_jurisdictions,
    paris_party_status,
)
from carbonlink.model.jurisdiction import ETS, Fact, Figure, Jurisdiction, PriceFigure

D = dt.date


def test_us_paris_status_before_and_after_the_2026_withdrawal() -> None:
    before = paris_party_status("US-CA", D(2025, 6, 1))
    after = paris_party_status("US-CA", D(2026, 6, 1))
    assert before.value is True and after.value is False
    assert after.valid_from == D(2026, 1, 27) and before.valid_to == D(2026, 1, 26)
    for fact in (before, after):
        assert "US" in (fact.note or "") and "2026-01-27" in (fact.note or "")
    # the first withdrawal (4 Nov 2020) and the return (19 Feb 2021)
    assert paris_party_status("US", D(2020, 12, 1)).value is False
    assert paris_party_status("US", D(2021, 2, 19)).value is True
    assert paris_party_status("US", D(2021, 2, 18)).value is False
    # the day before and the day the withdrawal took effect
    assert paris_party_status("US-NY", D(2026, 1, 26)).value is True
    assert paris_party_status("US-NY", D(2026, 1, 27)).value is False


def test_not_yet_a_party_before_entry_into_force() -> None:
    ch = paris_party_status("CH", D(2017, 6, 1))
    assert ch.value is False and "2017-11-05" in (ch.note or "")
    assert paris_party_status("CH", D(2017, 11, 5)).value is True
    assert paris_party_status("CA-QC", D(2016, 1, 1)).value is False
    assert paris_party_status("CA-QC", D(2016, 11, 4)).value is True
    assert get_jurisdiction("US", D(2025, 6, 1)).paris_party.value is True  # type: ignore[union-attr]
    assert get_jurisdiction("US", D(2026, 6, 1)).paris_party.value is False  # type: ignore[union-attr]


def test_ontario_ended_in_2018() -> None:
    in_2018 = get_ets("ON_CAT", D(2018, 3, 1))
    assert in_2018.status == "in_force" and sorted(in_2018.linked_with) == ["CA_CAT", "QC_CAT"]
    after = get_ets("ON_CAT", D(2019, 1, 1))
    assert after.status == "ended" and after.linked_with == []
    assert get_ets("ON_CAT", D(2018, 7, 3)).status == "ended"
    assert get_ets("ON_CAT", D(2018, 7, 2)).status == "in_force"
    assert get_ets("ON_CAT", D(2016, 6, 1)).status == "under_development"
    assert "ON_CAT" in get_ets("CA_CAT", D(2018, 3, 1)).linked_with
    assert "ON_CAT" not in get_ets("CA_CAT", D(2019, 1, 1)).linked_with
    assert get_ets("CA_CAT", D(2013, 6, 1)).linked_with == []
    assert get_ets("EU_ETS", D(2019, 6, 1)).linked_with == []
    assert get_ets("EU_ETS", D(2020, 1, 1)).linked_with == ["CH_ETS"]


def test_rggi_members_by_date() -> None:
    def members(day: dt.date) -> set[str]:
        ets = set(get_ets("RGGI", day).participants)
        assert ets == set(get_jurisdiction("RGGI", day).members)
        return ets

    assert "US-VA" not in members(D(2020, 6, 1))
    assert "US-VA" in members(D(2021, 6, 1)) and "US-VA" in members(D(2023, 12, 31))
    assert "US-VA" not in members(D(2024, 1, 1))
    assert "US-NJ" in members(D(2010, 1, 1)) and "US-NJ" not in members(D(2015, 1, 1))
    assert "US-NJ" in members(D(2020, 1, 1))
    assert "US-PA" not in members(D(2023, 6, 1))  # enjoined, never took part
    assert len(members(D(2025, 6, 1))) == 10


def test_california_offset_limit_and_cap_series() -> None:
    ca24, ca27 = get_ets("CA_CAT", D(2024, 6, 1)), get_ets("CA_CAT", D(2027, 6, 1))
    assert ca24.offsets.limit_share is not None and ca24.offsets.limit_share.value == 0.04
    assert ca27.offsets.limit_share is not None and ca27.offsets.limit_share.value == 0.06
    assert get_ets("CA_CAT", D(2015, 6, 1)).offsets.limit_share.value == 0.08  # type: ignore[union-attr]
    assert ca24.cap.value == 280_700_000 and ca24.cap.valid_from == D(2024, 1, 1)
    assert ca27.cap.value == 240_600_000
    assert "2027-01-01" in ca27.cap.period


def test_a_date_outside_a_series_is_an_explicit_unknown() -> None:
    early = get_ets("CA_CAT", D(2005, 1, 1))
    assert early.cap.value is None and "no figure" in (early.cap.note or "")
    assert early.status == "under_development"


def _same_types(a: object, b: object, where: str) -> None:
    """Every attribute of ``b`` has the type it has in ``a`` (or is None where ``a`` allows)."""
    from pydantic import BaseModel

    assert isinstance(a, BaseModel) and isinstance(b, BaseModel)
    for name in type(a).model_fields:
        va, vb = getattr(a, name), getattr(b, name)
        if va is None or vb is None:
            continue
        if isinstance(va, Figure | Fact):
            assert isinstance(vb, type(va)), (where, name)
        elif isinstance(va, BaseModel):
            _same_types(va, vb, f"{where}.{name}")
        else:
            assert isinstance(vb, type(va)), (where, name, type(va), type(vb))


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=D(2000, 1, 1), max_value=D(2040, 12, 31)))
def test_as_of_keeps_every_attribute_type(day: dt.date) -> None:
    for rec in list_ets():
        e = ets_record(rec.id)
        resolved = e.as_of(day)
        assert isinstance(resolved, ETS)
        _same_types(e, resolved, e.id)
        assert isinstance(resolved.price, PriceFigure)
        ETS.model_validate(resolved.model_dump())  # the resolved copy is itself valid data
    for j in list_jurisdictions():
        assert isinstance(j.as_of(day), Jurisdiction)


def test_series_must_be_ordered_and_not_overlap() -> None:
    base = get_ets("CA_CAT").model_dump()
    base["series"] = {"offset_limit": [
        {"value": 0.08, "year": 2013, "source": "x", "valid_from": "2013-01-01",
         "valid_to": "2021-06-30"},
        {"value": 0.04, "year": 2021, "source": "x", "valid_from": "2021-01-01"}]}
    with pytest.raises(ValidationError, match="overlap"):
        ETS.model_validate(base)
    with pytest.raises(ValidationError, match="before valid_from"):
        Figure(value=1, year=2020, source="x", valid_from=D(2021, 1, 1), valid_to=D(2020, 1, 1))


def test_default_is_today() -> None:
    from carbonlink.data import today

    assert get_ets("CA_CAT") == get_ets("CA_CAT", today())
    assert paris_party_status("US") == paris_party_status("US", today())


def _plain_entry(entries: list[Any], day: dt.date) -> Any:
    """The entry whose period contains ``day``, by a plain scan of the raw dates."""
    hits = [e for e in entries
            if (e.valid_from is None or e.valid_from <= day)
            and (e.valid_to is None or day <= e.valid_to)]
    assert len(hits) <= 1  # periods do not overlap
    return hits[0] if hits else None


@settings(max_examples=80, deadline=None)
@given(st.dates(min_value=D(2004, 1, 1), max_value=D(2035, 12, 31)))
def test_as_of_agrees_with_a_plain_scan(day: dt.date) -> None:
    """Cross-check: every series attribute, participants, links and status of ``as_of`` equal
    what a plain reading of the recorded dates gives; resolving twice changes nothing."""
    from carbonlink.model.jurisdiction import ETS_SERIES_PATHS

    for rec in list_ets():
        e = ets_record(rec.id)
        got = e.as_of(day)
        assert got.as_of(day) == got
        for name, path in ETS_SERIES_PATHS.items():
            entries = getattr(e.series, name)
            if not entries:
                continue
            value: Any = got
            for key in path:
                value = getattr(value, key)
            want = _plain_entry(entries, day)
            if want is None:
                assert value.value is None and day.isoformat() in (value.note or ""), (e.id, name)
            else:
                assert value == want, (e.id, name)
        if e.membership:
            assert got.participants == [
                m.jurisdiction for m in e.membership
                if (m.joined is None or m.joined <= day) and (m.left is None or day < m.left)]
        if e.links:
            assert got.linked_with == [k.ets for k in e.links
                                       if (k.start is None or k.start <= day)
                                       and (k.end is None or day < k.end)]
        if e.end is not None and day >= e.end:
            assert got.status == "ended"
        elif e.start is not None and day < e.start:
            assert got.status == "under_development"
        assert got.resolved_on == day


def test_a_dated_absent_entry_resolves_as_absent_and_a_gap_as_unknown() -> None:
    src = {"currency": "NZD", "source": "test instrument"}
    raw = ets_record("NZ_ETS").model_dump(mode="json", exclude={"resolved_on", "price_floor"})
    raw["series"]["price_floor"] = [
        {"value": None, "absent": True, "year": 2019, "valid_from": "2019-01-01",
         "valid_to": "2020-12-31", **src},
        {"value": 20.0, "year": 2021, "valid_from": "2021-01-01", "valid_to": "2021-12-31", **src},
    ]
    e = ETS.model_validate(raw)
    before, during, after = (e.as_of(D(y, 6, 1)).price_floor for y in (2020, 2021, 2023))
    assert before is not None and before.absent and before.text == "none"
    assert during is not None and during.value == 20.0 and not during.absent
    assert after is not None and not after.absent and after.value is None  # not recorded: unknown
    assert "no figure in the reference data" in (after.note or "")
