"""Reference data types: jurisdictions (parties) and emissions trading systems (ETSs).

Every number is a :class:`Figure` (or :class:`PriceFigure`) that carries its ``source`` and
``year``. An unknown value is an explicit ``value: null`` with a ``note`` saying why; a value the
maintainers could not confirm against a retrieved source ships with ``verified: false``. A price
control a system does not have is recorded as ``absent: true`` (``value: null``) with the public
``source`` that says so: known to be absent, which is not the same as unknown.

Facts that change over time are stored as dated series (``series``: figures with ``valid_from`` /
``valid_to``; ``membership``: members with ``joined`` / ``left``; ``links``: links with their
dates). :meth:`ETS.as_of` and :meth:`Jurisdiction.as_of` return a copy holding the figures valid on
one date, with every attribute keeping its type, so consumers read ``ets.cap`` as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

Level = Literal["supranational", "national", "subnational", "city"]
CapType = Literal["absolute", "intensity"]
EtsStatus = Literal["in_force", "pilot", "under_development", "ended"]


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Ref):
    """One number with its provenance. ``value: null`` means unknown (then ``note`` says why),
    unless ``absent`` says the system has no such element (then ``source`` says so)."""

    value: float | None
    absent: bool = Field(default=False, description="the system has no such element (e.g. no "
                         "price floor), as `source` states: known to be absent, not unknown; "
                         "`value` is null")
    unit: str | None = None
    year: int | None = None
    source: str | None = None
    note: str | None = None
    verified: bool = True
    valid_from: dt.date | None = Field(default=None, description="first day the figure holds for")
    valid_to: dt.date | None = Field(default=None, description="last day the figure holds for")

    @model_validator(mode="after")
    def _provenance(self) -> Figure:
        _check_period(self.valid_from, self.valid_to)
        if self.absent:
            if self.value is not None:
                raise ValueError(f"absent: true records that there is no such element; value "
                                 f"{self.value} contradicts it (use value: null)")
            if not self.source:
                raise ValueError("absent: true needs the source that says there is none")
            if self.year is None:
                raise ValueError("absent: true needs the year its source holds for")
        elif self.value is None:
            if not self.note:
                raise ValueError("an unknown value (value: null) needs a note saying why")
        else:
            if not self.source:
                raise ValueError(f"value {self.value} needs a source")
            if self.year is None:
                raise ValueError(f"value {self.value} needs a year")
        return self

    @property
    def known(self) -> bool:
        """A value is recorded (``absent`` is not a value: see :attr:`recorded`)."""
        return self.value is not None

    @property
    def recorded(self) -> bool:
        """Known either way: a value, or recorded as absent."""
        return self.value is not None or self.absent

    @property
    def period(self) -> str:
        """The period the figure holds for, for people (``""`` when undated)."""
        return period_text(self.valid_from, self.valid_to)

    def holds_on(self, on: dt.date) -> bool:
        return _holds(self.valid_from, self.valid_to, on)

    @property
    def text(self) -> str:
        """The value for people: ``1,386,000,000 t``, ``84.5 EUR``, ``none`` (recorded as
        absent) or ``unknown``."""
        if self.absent:
            return "none"
        if self.value is None:
            return "unknown"
        unit = getattr(self, "currency", None) or self.unit
        return f"{self.value:,.2f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")


class PriceFigure(Figure):
    """A price (per tCO2e unless ``unit`` says otherwise) in ``currency``; ``date`` when known."""

    currency: str | None = None
    date: str | None = None
    kind: str | None = Field(default=None, description="e.g. auction clearing, annual average")
    fx_usd: float | None = Field(default=None, gt=0, description="US$ per unit of `currency` at "
                                 "`date`, as the source states it (used to convert a dated "
                                 "price instead of today's exchange rate)")


class Fact(_Ref):
    """A non-numeric design fact (yes/no or a short description) with its provenance."""

    value: bool | str | None
    source: str | None = None
    year: int | None = None
    note: str | None = None
    verified: bool = True
    valid_from: dt.date | None = Field(default=None, description="first day the fact holds for")
    valid_to: dt.date | None = Field(default=None, description="last day the fact holds for")

    @model_validator(mode="after")
    def _provenance(self) -> Fact:
        _check_period(self.valid_from, self.valid_to)
        if self.value is None and not self.note:
            raise ValueError("an unknown fact (value: null) needs a note saying why")
        if self.value is not None and not self.source:
            raise ValueError(f"fact {self.value!r} needs a source")
        return self

    @property
    def text(self) -> str:
        """The value for people: ``yes``/``no``, the description, or ``unknown``."""
        if self.value is None:
            return "unknown"
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return self.value

    @property
    def period(self) -> str:
        """The period the fact holds for, for people (``""`` when undated)."""
        return period_text(self.valid_from, self.valid_to)

    def holds_on(self, on: dt.date) -> bool:
        return _holds(self.valid_from, self.valid_to, on)


def _check_period(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError(f"valid_to {end} is before valid_from {start}")


def _holds(start: dt.date | None, end: dt.date | None, on: dt.date) -> bool:
    return (start is None or start <= on) and (end is None or on <= end)


def period_text(start: dt.date | None, end: dt.date | None) -> str:
    """``2021-01-01 to 2025-12-31``, ``from 2026-01-27``, ``until 2018-07-03`` or ``""``."""
    if start and end:
        return f"{start.isoformat()} to {end.isoformat()}"
    if start:
        return f"from {start.isoformat()}"
    if end:
        return f"until {end.isoformat()}"
    return ""


class Membership(_Ref):
    """A member of a programme (a state in RGGI, an EEA-EFTA state in the EU ETS) with the dates
    it took part: ``joined`` (first day) and ``left`` (first day no longer a member)."""

    jurisdiction: str = Field(min_length=1)
    joined: dt.date | None = None
    left: dt.date | None = None
    source: str
    verified: bool = True
    note: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Membership:
        if self.joined is not None and self.left is not None and self.left <= self.joined:
            raise ValueError(f"left {self.left} is not after joined {self.joined}")
        return self

    def member_on(self, on: dt.date) -> bool:
        return (self.joined is None or self.joined <= on) and (self.left is None or on < self.left)


class LinkPeriod(_Ref):
    """A link with another ETS and the dates it operated: ``start`` (first day units were mutually
    recognised) and ``end`` (first day they no longer were)."""

    ets: str = Field(min_length=1)
    start: dt.date | None = None
    end: dt.date | None = None
    source: str
    verified: bool = True
    note: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> LinkPeriod:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self

    def active_on(self, on: dt.date) -> bool:
        return (self.start is None or self.start <= on) and (self.end is None or on < self.end)


class NdcStatus(_Ref):
    """What is known about a Party's NDC (Paris Agreement Art. 4.2)."""

    submitted: Fact | None = None
    latest: str | None = Field(default=None, description="e.g. 'updated NDC 2021', 'NDC 3.0 2025'")
    target: str | None = None
    type: Literal["single_year", "multi_year"] | None = None
    note: str | None = None


class JurisdictionSeries(_Ref):
    """Dated facts of a jurisdiction: each list is ordered, its periods do not overlap."""

    paris_party: list[Fact] = Field(
        default_factory=list, description="Party to the Paris Agreement (value true/false) per "
        "period: true from the Agreement's entry into force for the Party, false from a "
        "withdrawal's effective date")

    @model_validator(mode="after")
    def _ordered(self) -> JurisdictionSeries:
        _check_series("paris_party", self.paris_party)
        return self


class Jurisdiction(_Ref):
    """A party (or would-be party) to a linkage agreement: supranational, national, sub-national
    or city. ``paris_party`` is about the jurisdiction's own Party (its ``parent`` for a
    sub-national or city jurisdiction). ``series`` and ``membership`` hold the dated facts;
    :meth:`as_of` resolves them for one date."""

    id: str = Field(min_length=1)
    name: str
    level: Level
    parent: str | None = None
    paris_party: Fact | None = Field(default=None, description="own Party status; sub-national: see parent")
    ndc: NdcStatus | None = None
    members: list[str] = Field(default_factory=list, description="e.g. RGGI's states")
    membership: list[Membership] = Field(
        default_factory=list, description="members with the dates they took part; `members` is "
        "the list on the date the jurisdiction is read for")
    series: JurisdictionSeries = Field(default_factory=JurisdictionSeries)
    note: str | None = None
    resolved_on: dt.date | None = Field(
        default=None, description="the date this copy holds the facts for (set by `as_of`); "
        "null for the record with its whole history")

    @model_validator(mode="before")
    @classmethod
    def _fill_current(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("membership") and not data.get("members"):
            data["members"] = [_item(m, "jurisdiction") for m in data["membership"]
                               if _item(m, "left") is None]
        series = data.get("series")
        if isinstance(series, dict) and series.get("paris_party") and not data.get("paris_party"):
            data["paris_party"] = series["paris_party"][-1]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Jurisdiction:
        if self.membership and self.resolved_on is None:
            current = [m.jurisdiction for m in self.membership if m.left is None]
            if sorted(current) != sorted(self.members):
                raise ValueError(f"members {self.members} differ from the current members of "
                                 f"membership {current}")
        return self

    def as_of(self, on: dt.date) -> Jurisdiction:
        """A copy holding the facts valid on ``on``: ``paris_party`` from its dated series (false
        before the Agreement entered into force for the Party), ``members`` on that date."""
        update: dict[str, Any] = {"resolved_on": on}
        if self.series.paris_party:
            update["paris_party"] = _paris_on(self.series.paris_party, on, self.id)
        if self.membership:
            update["members"] = [m.jurisdiction for m in self.membership if m.member_on(on)]
        return self.model_copy(update=update)


def _paris_on(entries: list[Fact], on: dt.date, party: str) -> Fact:
    hit = _entry_on(entries, on)
    if hit is not None:
        return hit
    first = entries[0]
    if first.valid_from is not None and on < first.valid_from and first.value is True:
        return Fact(value=False, source=first.source, year=on.year, verified=first.verified,
                    valid_to=first.valid_from - dt.timedelta(days=1),
                    note=f"not yet a Party on {on.isoformat()}: the Paris Agreement entered into "
                         f"force for {party} on {first.valid_from.isoformat()}")
    return Fact(value=None, note=f"no Paris Agreement status recorded for {party} on "
                                 f"{on.isoformat()} ({_coverage(entries)})")


_T = TypeVar("_T", Figure, Fact)


def _entry_on(entries: list[_T], on: dt.date) -> _T | None:
    for e in entries:
        if e.holds_on(on):
            return e
    return None


def _coverage(entries: Sequence[Figure | Fact]) -> str:
    return "the series covers " + "; ".join(e.period or "an undated period" for e in entries)


def _check_series(name: str, entries: Sequence[Figure | Fact]) -> None:
    for e in entries:
        if e.valid_from is None and e.valid_to is None and len(entries) > 1:
            raise ValueError(f"series {name}: an entry of a series with several entries needs "
                             "valid_from or valid_to")
    for a, b in zip(entries, entries[1:], strict=False):
        if a.valid_to is None or b.valid_from is None or b.valid_from <= a.valid_to:
            raise ValueError(f"series {name}: periods must be in order and not overlap "
                             f"({a.period or 'undated'} then {b.period or 'undated'})")


class Allocation(_Ref):
    free_share: Figure | None = None
    auctioning: Fact | None = None
    method: str | None = Field(default=None, description="e.g. benchmarks, grandparenting, output-based")
    note: str | None = None


class OffsetRules(_Ref):
    eligible: list[str] = Field(default_factory=list, description="eligible credit types")
    limit_share: Figure | None = Field(default=None, description="usage limit, share of obligation")
    international: Fact | None = None
    note: str | None = None


class Penalty(_Ref):
    """Penalty for excess emissions: a price per tonne and/or a multiple of the shortfall."""

    per_tonne: PriceFigure | None = None
    multiple: Figure | None = Field(default=None, description="allowances due per missing allowance")
    make_good: Fact | None = None
    note: str | None = None


#: Dated series of an ETS: series name -> the attribute path it resolves to.
ETS_SERIES_PATHS: dict[str, tuple[str, ...]] = {
    "cap": ("cap",),
    "covered_emissions": ("covered_emissions",),
    "coverage_share": ("coverage_share",),
    "price": ("price",),
    "price_floor": ("price_floor",),
    "price_ceiling": ("price_ceiling",),
    "offset_limit": ("offsets", "limit_share"),
    "free_share": ("allocation", "free_share"),
}


class EtsSeries(_Ref):
    """Figures of an ETS that change over time, each a list of dated entries (``valid_from`` /
    ``valid_to``) in order and without overlap. :meth:`ETS.as_of` puts the entry valid on a date
    in the matching attribute (``offset_limit`` -> ``offsets.limit_share``, ``free_share`` ->
    ``allocation.free_share``)."""

    cap: list[Figure] = Field(default_factory=list)
    covered_emissions: list[Figure] = Field(default_factory=list)
    coverage_share: list[Figure] = Field(default_factory=list)
    price: list[PriceFigure] = Field(default_factory=list)
    price_floor: list[PriceFigure] = Field(default_factory=list)
    price_ceiling: list[PriceFigure] = Field(default_factory=list)
    offset_limit: list[Figure] = Field(default_factory=list)
    free_share: list[Figure] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> EtsSeries:
        for name in ETS_SERIES_PATHS:
            _check_series(name, getattr(self, name))
        return self


class ETS(_Ref):
    """One emissions trading system and the design elements compared when linking it.

    The attributes hold one state of the system; dated facts live in ``start``/``end``,
    ``series``, ``membership`` and ``links``, and :meth:`as_of` returns the state on a date
    (``carbonlink.data.get_ets`` returns the state as of today unless told otherwise)."""

    id: str = Field(min_length=1)
    name: str
    jurisdiction: str
    participants: list[str] = Field(default_factory=list,
                                    description="jurisdictions covered besides the owner")
    status: EtsStatus = "in_force"
    start_year: int | None = None
    start: dt.date | None = Field(default=None, description="first day of operation (compliance "
                                  "obligations), when known to the day")
    end: dt.date | None = Field(default=None, description="the day the system ended (e.g. the "
                                "revocation of its regulation took effect); `ended` from then on")
    status_source: str | None = Field(default=None, description="the public source of start/end")
    operating_status: Literal["in_force", "pilot"] = Field(
        default="in_force", description="the status while the system operated, for a system "
        "recorded as ended (e.g. Mexico's pilot)")
    mandatory: Fact | None = None
    sectors: list[str] = Field(default_factory=list)
    gases: list[str] = Field(default_factory=list)
    coverage_share: Figure | None = None
    cap_type: CapType | None = None
    cap: Figure
    cap_trajectory: str | None = None
    covered_emissions: Figure
    allocation: Allocation | None = None
    offsets: OffsetRules = Field(default_factory=OffsetRules)
    price: PriceFigure
    price_floor: PriceFigure | None = None
    price_ceiling: PriceFigure | None = None
    reserves: list[str] = Field(default_factory=list)
    banking: Fact | None = None
    borrowing: Fact | None = None
    compliance_period_years: Figure | None = None
    mrv: Fact | None = None
    penalty: Penalty | None = None
    registry: Fact | None = None
    market_oversight: Fact | None = None
    linked_with: list[str] = Field(default_factory=list)
    pre_link_prices: list[PriceFigure] = Field(
        default_factory=list, description="observed prices before the system linked with "
        "`linked_with` (its autarky state), each with year/date; used to calibrate an "
        "assessment of a link that is already in force")
    pre_link_caps: list[Figure] = Field(
        default_factory=list, description="annual caps in pre-link years (same use)")
    series: EtsSeries = Field(default_factory=EtsSeries)
    membership: list[Membership] = Field(
        default_factory=list, description="participating jurisdictions with dates; "
        "`participants` is the list on the date the system is read for")
    links: list[LinkPeriod] = Field(
        default_factory=list, description="links with other ETSs with dates; `linked_with` is "
        "the list on the date the system is read for")
    sources: list[str] = Field(default_factory=list)
    note: str | None = None
    resolved_on: dt.date | None = Field(
        default=None, description="the date this copy holds the state for (set by `as_of`); "
        "null for the record with its whole history")

    @model_validator(mode="before")
    @classmethod
    def _fill_current(cls, data: Any) -> Any:
        """Attributes a dated series or list already gives may be left out of the data: they
        are filled with the latest entry (``as_of`` picks the entry for a date anyway)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        start = data.get("start")
        if isinstance(start, dt.date) and data.get("start_year") is None:
            data["start_year"] = start.year
        series = data.get("series")
        if isinstance(series, dict):
            for name, path in ETS_SERIES_PATHS.items():
                entries = series.get(name)
                if not entries:
                    continue
                holder: dict[str, Any] = data
                for key in path[:-1]:
                    sub = holder.get(key)
                    sub = dict(sub) if isinstance(sub, dict) else ({} if sub is None else sub)
                    if not isinstance(sub, dict):
                        break
                    holder[key] = sub
                    holder = sub
                else:
                    if holder.get(path[-1]) is None:
                        holder[path[-1]] = entries[-1]
        for key, attr, gone in (("membership", "participants", "left"),
                                ("links", "linked_with", "end")):
            items = data.get(key)
            if items and not data.get(attr):
                data[attr] = [_item(m, "jurisdiction") or _item(m, "ets") for m in items
                              if _item(m, gone) is None]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ETS:
        _absent_only_for_price_controls(self)
        if self.start and self.start_year is not None and self.start.year != self.start_year:
            raise ValueError(f"start {self.start} disagrees with start_year {self.start_year}")
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        if self.resolved_on is not None:
            return self
        if self.end is not None and self.status != "ended":
            raise ValueError(f"status is {self.status!r} but the system ended on {self.end}")
        if self.membership:
            current = sorted(m.jurisdiction for m in self.membership if m.left is None)
            if current != sorted(self.participants):
                raise ValueError(f"participants {self.participants} differ from the current "
                                 f"members of membership {current}")
        if self.links and self.status != "ended":
            current = sorted(k.ets for k in self.links if k.end is None)
            if current != sorted(self.linked_with):
                raise ValueError(f"linked_with {self.linked_with} differs from the current "
                                 f"links {current}")
        return self

    def status_on(self, on: dt.date) -> EtsStatus:
        """``ended`` from ``end`` on, ``under_development`` before ``start`` (or before 1 January
        of ``start_year`` when only the year is known), else the recorded status
        (``operating_status`` for a system recorded as ended)."""
        if self.end is not None and on >= self.end:
            return "ended"
        if self.start is not None:
            if on < self.start:
                return "under_development"
        elif self.start_year is not None and on.year < self.start_year:
            return "under_development"
        return self.operating_status if self.status == "ended" else self.status

    def as_of(self, on: dt.date) -> ETS:
        """A copy holding the state on ``on``: each dated series' entry valid on that date (an
        explicit unknown, value null with a note, when the series has none), the status on
        that date, the participants that were members and the links in operation then.

        A single figure (not a series) whose period starts after ``on`` (:func:`figure_start`:
        its ``valid_from``, else a price's ``date``, else 1 January of its ``year``) does not
        hold on ``on`` either: it becomes an explicit unknown whose note names the figure's
        date and ``on``. A figure without any date is kept as it is. ``pre_link_prices`` and
        ``pre_link_caps`` are dated history read by the calibration and are kept whole."""
        obj: ETS = self
        for name, path in ETS_SERIES_PATHS.items():
            entries = getattr(self.series, name)
            if not entries:
                continue
            hit = _entry_on(entries, on)
            if hit is None:
                hit = _unknown_on(entries, on)
            obj = _replace(obj, path, hit)
        obj = _not_yet(obj, on)
        update: dict[str, Any] = {"status": self.status_on(on), "resolved_on": on}
        if self.membership:
            update["participants"] = [m.jurisdiction for m in self.membership if m.member_on(on)]
        if self.links:
            update["linked_with"] = [k.ets for k in self.links if k.active_on(on)]
        return obj.model_copy(update=update)


#: Where a figure may be recorded as absent: the price controls (a system without a price floor
#: or ceiling is common and matters for a link); elsewhere the rules read a figure as a number.
ABSENT_ALLOWED = ("price_floor", "price_ceiling")


def _absent_only_for_price_controls(e: ETS) -> None:
    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, Figure):
            if obj.absent and path.split(".")[-1].split("[")[0] not in ABSENT_ALLOWED:
                raise ValueError(f"{path}: absent: true is only for {' and '.join(ABSENT_ALLOWED)}"
                                 " (a system without a price control); record an unknown "
                                 "figure as value: null with a note")
        elif isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), f"{path}.{name}" if path else name)
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                walk(item, f"{path}[{i}]")

    walk(e, "")


def _item(m: Any, key: str) -> Any:
    """``key`` of a raw mapping or of a model (the data may be either before validation)."""
    return m.get(key) if isinstance(m, dict) else getattr(m, key, None)


def _unknown_on(entries: list[Figure] | list[PriceFigure], on: dt.date) -> Figure:
    last = entries[-1]
    note = f"no figure in the reference data for {on.isoformat()} ({_coverage(entries)})"
    if isinstance(last, PriceFigure):
        return PriceFigure(value=None, unit=last.unit, currency=last.currency, note=note)
    return Figure(value=None, unit=last.unit, note=note)


_QUARTER_START = {"1": 1, "2": 4, "3": 7, "4": 10}


def _date_text_start(text: str) -> dt.date | None:
    """The first day of a price's ``date``: ``2025-12-02``, ``2025-12`` (1 December), ``2015-Q1``
    (1 January), ``2025`` (1 January); None when it is none of these."""
    t = text.strip()
    try:
        if len(t) == 10:
            return dt.date.fromisoformat(t)
        if len(t) == 7 and t[4] == "-" and t[5] in "Qq" and t[6] in _QUARTER_START:
            return dt.date(int(t[:4]), _QUARTER_START[t[6]], 1)
        if len(t) == 7 and t[4] == "-":
            return dt.date(int(t[:4]), int(t[5:]), 1)
        if len(t) == 4:
            return dt.date(int(t), 1, 1)
    except ValueError:
        return None
    return None


def figure_start(fig: Figure) -> tuple[dt.date, str] | None:
    """The first day a figure's period can start and how that was read: its ``valid_from``;
    else, for a price, its ``date``; else 1 January of its ``year``; None when it has no date."""
    if fig.valid_from is not None:
        return fig.valid_from, f"valid from {fig.valid_from.isoformat()}"
    date = getattr(fig, "date", None)
    if date:
        start = _date_text_start(str(date))
        if start is not None:
            return start, f"dated {date}"
    if fig.year is not None:
        return dt.date(fig.year, 1, 1), f"for {fig.year}"
    return None


def not_yet_valid(fig: Figure, on: dt.date) -> Figure:
    """``fig`` itself when it may hold on ``on``; an explicit unknown (value null, its unit and
    currency kept) whose note names the figure's date and ``on`` when its period starts after
    ``on``. An unknown figure stays as it is."""
    if not fig.recorded:
        return fig
    start = figure_start(fig)
    if start is None or start[0] <= on:
        return fig
    what = "recorded as absent" if fig.absent else "figure"
    note = (f"no figure in the reference data for {on.isoformat()}: the {what} recorded is "
            f"{start[1]}, after that date")
    if isinstance(fig, PriceFigure):
        return PriceFigure(value=None, unit=fig.unit, currency=fig.currency, kind=fig.kind,
                           note=note)
    return Figure(value=None, unit=fig.unit, note=note)


#: Figures of an ETS that are dated history, not one state: never resolved by `as_of`.
_HISTORY_FIELDS = frozenset({"series", "pre_link_prices", "pre_link_caps"})


def _not_yet(obj: BaseModel, on: dt.date) -> Any:
    """``obj`` with every single figure whose period starts after ``on`` made unknown."""
    update: dict[str, Any] = {}
    for name in type(obj).model_fields:
        if name in _HISTORY_FIELDS:
            continue
        value = getattr(obj, name)
        if isinstance(value, Figure):
            new = not_yet_valid(value, on)
            if new is not value:
                update[name] = new
        elif isinstance(value, (Allocation, OffsetRules, Penalty)):
            new_child = _not_yet(value, on)
            if new_child is not value:
                update[name] = new_child
    return obj.model_copy(update=update) if update else obj


def _replace(obj: BaseModel, path: tuple[str, ...], value: Any) -> Any:
    head = path[0]
    if len(path) == 1:
        return obj.model_copy(update={head: value})
    child = getattr(obj, head)
    if child is None:
        empty: dict[str, type[BaseModel]] = {"allocation": Allocation, "offsets": OffsetRules}
        child = empty[head]()
    return obj.model_copy(update={head: _replace(child, path[1:], value)})
