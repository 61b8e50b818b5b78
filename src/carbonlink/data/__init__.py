"""Shipped reference data: jurisdictions (parties) and emissions trading systems (ETSs).

The YAML files next to this module are the data; this module only reads and validates them
(once, cached). Every figure carries ``source`` and ``year``; unknown values are explicit nulls
with a note (see :class:`carbonlink.model.jurisdiction.Figure`).

>>> get_ets("EU_ETS").cap.value  # doctest: +SKIP
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from carbonlink.errors import DocumentError, from_validation_error
from carbonlink.model.io import safe_load
from carbonlink.model.jurisdiction import ETS, Fact, Jurisdiction

M = TypeVar("M", bound=BaseModel)

DATA_DIR = Path(__file__).parent
JURISDICTIONS_FILE = DATA_DIR / "jurisdictions.yaml"
ETS_FILE = DATA_DIR / "ets.yaml"

__all__ = [
    "DATA_DIR", "ETS_FILE", "JURISDICTIONS_FILE", "data_files", "get_ets", "get_jurisdiction",
    "list_ets", "list_jurisdictions", "national_party", "paris_party_status",
]


def data_files() -> list[Path]:
    """Every shipped data file (YAML)."""
    return sorted(DATA_DIR.glob("*.yaml"))


def _load_list(path: Path, model: type[M], key: str) -> list[M]:
    try:
        raw: Any = safe_load(path.read_text(encoding="utf-8"))
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
        if j.level in ("supranational", "national") and j.paris_party is None:
            raise DocumentError(f"jurisdictions[{i}].paris_party",
                                "required for a national or supranational jurisdiction",
                                source=str(JURISDICTIONS_FILE))
    return by_id


@cache
def _ets() -> dict[str, ETS]:
    items = _load_list(ETS_FILE, ETS, "ets")
    jur = _jurisdictions()
    by_id = {e.id: e for e in items}
    for i, e in enumerate(items):
        for ref in [e.jurisdiction, *e.participants]:
            if ref not in jur:
                raise DocumentError(f"ets[{i}].jurisdiction", f"unknown jurisdiction {ref!r}",
                                    source=str(ETS_FILE))
        for ref in e.linked_with:
            if ref not in by_id:
                raise DocumentError(f"ets[{i}].linked_with", f"unknown ETS {ref!r}", source=str(ETS_FILE))
    return by_id


def list_jurisdictions() -> list[Jurisdiction]:
    """Every shipped jurisdiction, in file order."""
    return list(_jurisdictions().values())


def get_jurisdiction(jurisdiction_id: str) -> Jurisdiction:
    """One jurisdiction by id (``EU``, ``CH``, ``US-CA``, ``CA-QC`` …); ``KeyError`` if unknown."""
    try:
        return _jurisdictions()[jurisdiction_id]
    except KeyError:
        raise KeyError(f"unknown jurisdiction id {jurisdiction_id!r}") from None


def list_ets() -> list[ETS]:
    """Every shipped ETS, in file order."""
    return list(_ets().values())


def get_ets(ets_id: str) -> ETS:
    """One ETS by id (``EU_ETS``, ``CH_ETS``, ``CA_CAT``, ``QC_CAT`` …); ``KeyError`` if unknown."""
    try:
        return _ets()[ets_id]
    except KeyError:
        raise KeyError(f"unknown ETS id {ets_id!r}") from None


def national_party(jurisdiction_id: str) -> Jurisdiction:
    """The supranational or national jurisdiction whose Party acts for ``jurisdiction_id``
    (itself for a national or supranational jurisdiction; the nearest such ancestor otherwise)."""
    j = get_jurisdiction(jurisdiction_id)
    while j.level in ("subnational", "city") and j.parent:
        j = get_jurisdiction(j.parent)
    return j


def paris_party_status(jurisdiction_id: str) -> Fact:
    """Whether the Party acting for ``jurisdiction_id`` is a Party to the Paris Agreement."""
    party = national_party(jurisdiction_id)
    if party.paris_party is None:  # validated on load for national/supranational
        return Fact(value=None, note=f"no Paris Agreement status recorded for {party.id}")
    return party.paris_party
