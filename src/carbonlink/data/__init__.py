"""Shipped reference data: jurisdictions (parties) and emissions trading systems (ETSs).

The YAML files next to this module are the data; this module only reads and validates them
(once, cached). Every figure carries ``source`` and ``year``; unknown values are explicit nulls
with a note (see :class:`carbonlink.model.jurisdiction.Figure`).

Facts change over time (a Party withdraws from the Paris Agreement, a system ends, a state
leaves RGGI, an offset limit changes): ``get_ets``, ``get_jurisdiction`` and
``paris_party_status`` take a date ``on`` and return the state on that date (default: today, UTC).

>>> get_ets("EU_ETS").cap.value  # doctest: +SKIP
>>> get_ets("CA_CAT", on=datetime.date(2024, 6, 1)).offsets.limit_share.value  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from carbonlink.errors import DocumentError, from_validation_error
from carbonlink.model.io import load_data_file
from carbonlink.model.jurisdiction import ETS, Fact, Jurisdiction

M = TypeVar("M", bound=BaseModel)

DATA_DIR = Path(__file__).parent
JURISDICTIONS_FILE = DATA_DIR / "jurisdictions.yaml"
ETS_FILE = DATA_DIR / "ets.yaml"

__all__ = [
    "DATA_DIR", "ETS_FILE", "JURISDICTIONS_FILE", "data_files", "ets_record", "get_ets",
    "get_jurisdiction", "jurisdiction_record",
    "list_ets", "list_jurisdictions", "national_party", "paris_party_status", "parse_as_of",
    "today",
]


def today() -> dt.date:
    """The date used when none is given: today on the UTC clock."""
    return dt.datetime.now(dt.UTC).date()


def parse_as_of(value: str | dt.date | None, field: str = "--as-of") -> dt.date:
    """The reference date: ``None`` is today (UTC); a string must be an ISO date
    (``YYYY-MM-DD``), else :class:`~carbonlink.errors.DocumentError` naming ``field``. The one
    reading of ``--as-of`` / ``?as_of`` for the CLI, the API and the web pages."""
    from carbonlink.errors import DocumentError

    if value is None:
        return today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise DocumentError(field, f"must be a date YYYY-MM-DD, got {value!r}") from None


def data_files() -> list[Path]:
    """Every shipped data file (YAML)."""
    return sorted(DATA_DIR.glob("*.yaml"))


def _load_list(path: Path, model: type[M], key: str) -> list[M]:
    try:
        raw: Any = load_data_file(path)
    except yaml.YAMLError as exc:  # pragma: no cover - shipped data is tested
        raise DocumentError("<document>", f"malformed YAML: {exc}", source=str(path)) from None
    items = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise DocumentError(key, "must be a list", source=str(path))
    out: list[M] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        try:
            obj = model.model_validate(item)
        except ValidationError as exc:
            raise from_validation_error(exc, source=str(path), prefix=f"{key}[{i}]") from None
        ident = str(getattr(obj, "id"))  # noqa: B009
        if ident in seen:
            raise DocumentError(f"{key}[{i}].id", f"duplicate id {ident!r}", source=str(path))
        seen.add(ident)
        out.append(obj)
    return out


@cache
def _jurisdictions() -> dict[str, Jurisdiction]:
    items = _load_list(JURISDICTIONS_FILE, Jurisdiction, "jurisdictions")
    by_id = {j.id: j for j in items}
    for i, j in enumerate(items):
        for ref in ([j.parent] if j.parent else []) + j.members:
            if ref not in by_id:
                raise DocumentError(f"jurisdictions[{i}]", f"unknown jurisdiction {ref!r}",
                                    source=str(JURISDICTIONS_FILE))
        if j.level in ("subnational", "city") and not j.parent:
            raise DocumentError(f"jurisdictions[{i}].parent",
                                f"a {j.level} jurisdiction needs a parent", source=str(JURISDICTIONS_FILE))
        for m in j.membership:
            if m.jurisdiction not in by_id:
                raise DocumentError(f"jurisdictions[{i}].membership",
                                    f"unknown jurisdiction {m.jurisdiction!r}",
                                    source=str(JURISDICTIONS_FILE))
        if j.level in ("supranational", "national") and j.paris_party is None:
            raise DocumentError(f"jurisdictions[{i}].paris_party",
                                "required for a national or supranational jurisdiction",
                                source=str(JURISDICTIONS_FILE))
    return by_id


@cache
def _ets() -> dict[str, ETS]:
    items = _load_list(ETS_FILE, ETS, "ets")
    jur = _jurisdictions()
    for i, e in enumerate(items):
        owner = jur.get(e.jurisdiction)
        if owner is not None and owner.membership and not e.membership:
            # a programme's membership (RGGI's states) is recorded once, on the jurisdiction
            if e.participants and sorted(e.participants) != sorted(owner.members):
                raise DocumentError(f"ets[{i}].participants",
                                    f"differ from the members of {owner.id}", source=str(ETS_FILE))
            items[i] = e.model_copy(update={"membership": owner.membership,
                                            "participants": list(owner.members)})
    by_id = {e.id: e for e in items}
    for i, e in enumerate(items):
        for ref in [e.jurisdiction, *e.participants, *(m.jurisdiction for m in e.membership)]:
            if ref not in jur:
                raise DocumentError(f"ets[{i}].jurisdiction", f"unknown jurisdiction {ref!r}",
                                    source=str(ETS_FILE))
        for ref in [*e.linked_with, *(k.ets for k in e.links)]:
            if ref not in by_id:
                raise DocumentError(f"ets[{i}].linked_with", f"unknown ETS {ref!r}", source=str(ETS_FILE))
    return by_id


@lru_cache(maxsize=4096)
def _ets_on(ets_id: str, on: dt.date) -> ETS:
    return _ets()[ets_id].as_of(on)


@lru_cache(maxsize=4096)
def _jurisdiction_on(jurisdiction_id: str, on: dt.date) -> Jurisdiction:
    return _jurisdictions()[jurisdiction_id].as_of(on)


def list_jurisdictions(on: dt.date | None = None) -> list[Jurisdiction]:
    """Every shipped jurisdiction as of ``on`` (default: today), in file order."""
    day = on or today()
    return [_jurisdiction_on(jid, day) for jid in _jurisdictions()]


def get_jurisdiction(jurisdiction_id: str, on: dt.date | None = None) -> Jurisdiction:
    """One jurisdiction by id (``EU``, ``CH``, ``US-CA``, ``CA-QC`` …) as of ``on`` (default:
    today): Paris status and members valid on that date. ``KeyError`` if unknown."""
    if jurisdiction_id not in _jurisdictions():
        raise KeyError(f"unknown jurisdiction id {jurisdiction_id!r}")
    return _jurisdiction_on(jurisdiction_id, on or today())


def list_ets(on: dt.date | None = None) -> list[ETS]:
    """Every shipped ETS as of ``on`` (default: today), in file order."""
    day = on or today()
    return [_ets_on(eid, day) for eid in _ets()]


def get_ets(ets_id: str, on: dt.date | None = None) -> ETS:
    """One ETS by id (``EU_ETS``, ``CH_ETS``, ``CA_CAT``, ``QC_CAT`` …) as of ``on`` (default:
    today): every dated figure, the status, participants and links valid on that date
    (:meth:`carbonlink.model.jurisdiction.ETS.as_of`). ``KeyError`` if unknown."""
    if ets_id not in _ets():
        raise KeyError(f"unknown ETS id {ets_id!r}")
    return _ets_on(ets_id, on or today())


def ets_record(ets_id: str) -> ETS:
    """The ETS as recorded, with its whole dated history (series, membership, links)."""
    try:
        return _ets()[ets_id]
    except KeyError:
        raise KeyError(f"unknown ETS id {ets_id!r}") from None


def jurisdiction_record(jurisdiction_id: str) -> Jurisdiction:
    """The jurisdiction as recorded, with its whole dated history."""
    try:
        return _jurisdictions()[jurisdiction_id]
    except KeyError:
        raise KeyError(f"unknown jurisdiction id {jurisdiction_id!r}") from None


def national_party(jurisdiction_id: str) -> Jurisdiction:
    """The supranational or national jurisdiction whose Party acts for ``jurisdiction_id``
    (itself for a national or supranational jurisdiction; the nearest such ancestor otherwise)."""
    j = get_jurisdiction(jurisdiction_id)
    while j.level in ("subnational", "city") and j.parent:
        j = get_jurisdiction(j.parent)
    return j


def paris_party_status(jurisdiction_id: str, on: dt.date | None = None) -> Fact:
    """Whether the Party acting for ``jurisdiction_id`` (its national or supranational
    ancestor) is a Party to the Paris Agreement on ``on`` (default: today).

    ``value`` is true/false on that date (false before the Agreement entered into force for the
    Party and from a withdrawal's effective date, e.g. the United States from 2026-01-27), null
    when unknown; ``valid_from``/``valid_to`` give the period the value holds for and ``note``
    names the Party and every dated change recorded for it."""
    day = on or today()
    record = jurisdiction_record(national_party(jurisdiction_id).id)
    party = record.as_of(day)
    fact = party.paris_party
    if fact is None:  # validated on load for national/supranational
        return Fact(value=None, note=f"no Paris Agreement status recorded for {party.id}")
    history = "; ".join(
        f"{'Party' if e.value is True else 'not a Party' if e.value is False else 'unknown'}"
        f" {e.period}".rstrip() for e in record.series.paris_party)
    who = f"Party acting: {party.id} ({party.name})"
    if party.id != jurisdiction_id:
        who += f" for {jurisdiction_id}"
    parts = [f"{who}; on {day.isoformat()}: {fact.text}"]
    if history:
        parts.append(f"dates: {history}")
    if fact.note:
        parts.append(fact.note)
    return fact.model_copy(update={"note": "; ".join(parts)})
