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


def _plain_start(fig: Figure) -> dt.date | None:
    """Plain reading of when a single figure starts to hold: valid_from, else a price's date
    (day, month ``YYYY-MM``, quarter ``YYYY-Qn``), else 1 January of its year."""
    if fig.valid_from is not None:
        return fig.valid_from
    date = getattr(fig, "date", None)
    if date:
        y, _, rest = str(date).partition("-")
        if not rest:
            return D(int(y), 1, 1)
        if rest.startswith("Q"):
            return D(int(y), 3 * int(rest[1]) - 2, 1)
        if len(rest) == 2:
            return D(int(y), int(rest), 1)
        return dt.date.fromisoformat(str(date))
    return D(fig.year, 1, 1) if fig.year is not None else None


def _single_figures(e: ETS) -> dict[str, Figure]:
    """The figures of a fact sheet that no dated series of the record resolves."""
    from carbonlink.model.jurisdiction import ETS_SERIES_PATHS

    out: dict[str, Figure] = {}
    for holder, prefix in ((e, ""), (e.allocation, "allocation."), (e.offsets, "offsets."),
                           (e.penalty, "penalty.")):
        if holder is None:
            continue
        for name in type(holder).model_fields:
            value = getattr(holder, name)
            if isinstance(value, Figure):
                out[prefix + name] = value
    for name, path in ETS_SERIES_PATHS.items():
        if getattr(e.series, name):
            out.pop(".".join(path), None)
    return out


def _at(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        obj = getattr(obj, key)
    return obj


@settings(max_examples=80, deadline=None)
@given(st.dates(min_value=D(2004, 1, 1), max_value=D(2035, 12, 31)))
def test_a_single_figure_does_not_hold_before_its_own_date(day: dt.date) -> None:
    """Rule: a single figure (not a series) whose period starts after the reference date is an
    explicit unknown on that date, its note naming both dates; one that starts on or before it,
    an unknown one and an undated one are kept; the pre-link history is kept whole."""
    for rec in list_ets():
        e = ets_record(rec.id)
        got = e.as_of(day)
        assert got.pre_link_prices == e.pre_link_prices and got.pre_link_caps == e.pre_link_caps
        for path, fig in _single_figures(e).items():
            now = _at(got, path)
            start = _plain_start(fig)
            if not fig.recorded or start is None or start <= day:
                assert now == fig, (e.id, path)
            else:
                assert now.value is None and not now.absent, (e.id, path)
                assert type(now) is type(fig) and now.unit == fig.unit
                note = now.note or ""
                assert day.isoformat() in note and "after that date" in note, (e.id, path)
                assert (str(getattr(fig, "date", None) or fig.year) in note), (e.id, path, note)


def test_single_figures_by_their_own_dates() -> None:
    """The EU's 2025 average price and NZ's price of 2025-12-02 do not hold on 2024-06-01;
    NZ's holds from its own day (not 1 January of its year); a month and a quarter start on
    their first day."""
    eu, nz = get_ets("EU_ETS", D(2024, 6, 1)), get_ets("NZ_ETS", D(2024, 6, 1))
    assert eu.price.value is None and "for 2025" in (eu.price.note or "")
    assert eu.price.currency == "EUR"
    assert nz.price.value is None and "dated 2025-12-02" in (nz.price.note or "")
    assert get_ets("NZ_ETS", D(2025, 12, 1)).price.value is None
    assert get_ets("NZ_ETS", D(2025, 12, 2)).price.value == 41.7
    assert get_ets("EU_ETS", D(2025, 1, 1)).price.value == 75.0
    raw = ets_record("EU_ETS").model_dump(mode="json", exclude={"resolved_on"})
    for date, first in (("2015-Q2", D(2015, 4, 1)), ("2015-02", D(2015, 2, 1)),
                        ("2015", D(2015, 1, 1))):
        raw["price"] = {**raw["price"], "year": 2015, "date": date}
        e = ETS.model_validate(raw)
        assert e.as_of(first - dt.timedelta(days=1)).price.value is None, date
        assert e.as_of(first).price.value == raw["price"]["value"], date
    # an unknown figure stays as it is (its own note), dated or not
    from carbonlink.model.jurisdiction import not_yet_valid

    gap = Figure(value=None, unit="t", note="not published")
    assert not_yet_valid(gap, D(2000, 1, 1)) is gap
    unknown = get_ets("JP_GX_ETS", D(2020, 1, 1)).cap
    assert unknown.value is None and unknown.note == ets_record("JP_GX_ETS").cap.note
