"""``GET /api/data/…``: the shipped reference data, every figure with its source, year and
verified flag."""

from __future__ import annotations

from fastapi import APIRouter

from carbonlink.api.errors import INVALID, NOT_FOUND, NotFound
from carbonlink.data import get_ets, get_jurisdiction, list_ets, list_jurisdictions
from carbonlink.model.jurisdiction import ETS, Jurisdiction

router = APIRouter(prefix="/data", tags=["data"])


@router.get("/ets", response_model=list[ETS], summary="Emissions trading systems")
def ets_list() -> list[ETS]:
    """Every shipped ETS, in file order (ids to use in agreement documents)."""
    return list_ets()


@router.get("/ets/{ets_id}", response_model=ETS, responses={**NOT_FOUND, **INVALID}, summary="One ETS")
def ets_one(ets_id: str) -> ETS:
    try:
        return get_ets(ets_id)
    except KeyError:
        raise NotFound(f"unknown ETS id {ets_id!r} (known: "
                       f"{', '.join(e.id for e in list_ets())})") from None


@router.get("/jurisdictions", response_model=list[Jurisdiction], summary="Jurisdictions")
def jurisdictions_list() -> list[Jurisdiction]:
    """Every shipped jurisdiction (party), in file order."""
    return list_jurisdictions()


@router.get("/jurisdictions/{jurisdiction_id}", response_model=Jurisdiction,
            responses={**NOT_FOUND, **INVALID}, summary="One jurisdiction")
def jurisdiction_one(jurisdiction_id: str) -> Jurisdiction:
    try:
        return get_jurisdiction(jurisdiction_id)
    except KeyError:
        raise NotFound(f"unknown jurisdiction id {jurisdiction_id!r} (known: "
                       f"{', '.join(j.id for j in list_jurisdictions())})") from None
