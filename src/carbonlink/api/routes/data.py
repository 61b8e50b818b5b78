"""``GET /api/data/…``: the shipped reference data, every figure with its source, year and
verified flag."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from carbonlink.api.errors import INVALID, NOT_FOUND, NotFound
from carbonlink.data import get_ets, get_jurisdiction, list_ets, list_jurisdictions
from carbonlink.model.jurisdiction import ETS, Jurisdiction

router = APIRouter(prefix="/data", tags=["data"])

#: ``?as_of=YYYY-MM-DD``: the date the data is read for (dated figures, status, membership).
AsOf = Annotated[dt.date | None, Query(description="the date to read the data for (default: "
                                                   "today, UTC)")]


@router.get("/ets", response_model=list[ETS], responses=INVALID,
            summary="Emissions trading systems")
def ets_list(as_of: AsOf = None) -> list[ETS]:
    """Every shipped ETS as of a date, in file order (ids to use in agreement documents)."""
    return list_ets(as_of)


@router.get("/ets/{ets_id}", response_model=ETS, responses={**NOT_FOUND, **INVALID}, summary="One ETS")
def ets_one(ets_id: str, as_of: AsOf = None) -> ETS:
    try:
        return get_ets(ets_id, as_of)
    except KeyError:
        raise NotFound(f"unknown ETS id {ets_id!r} (known: "
                       f"{', '.join(e.id for e in list_ets())})") from None


@router.get("/jurisdictions", response_model=list[Jurisdiction], responses=INVALID,
            summary="Jurisdictions")
def jurisdictions_list(as_of: AsOf = None) -> list[Jurisdiction]:
    """Every shipped jurisdiction (party) as of a date, in file order."""
    return list_jurisdictions(as_of)


@router.get("/jurisdictions/{jurisdiction_id}", response_model=Jurisdiction,
            responses={**NOT_FOUND, **INVALID}, summary="One jurisdiction")
def jurisdiction_one(jurisdiction_id: str, as_of: AsOf = None) -> Jurisdiction:
    try:
        return get_jurisdiction(jurisdiction_id, as_of)
    except KeyError:
        raise NotFound(f"unknown jurisdiction id {jurisdiction_id!r} (known: "
                       f"{', '.join(j.id for j in list_jurisdictions())})") from None
