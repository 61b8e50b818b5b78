"""``GET /api/health``."""

from __future__ import annotations

from fastapi import APIRouter

from carbonlink import __version__
from carbonlink.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness")
def health() -> Health:
    """The app answers (it opens no database: the registry is opened on first use)."""
    return Health(version=__version__)
