"""The FastAPI application: the JSON API under ``/api`` and the server-rendered pages.

``create_app(database_url)`` builds one; ``carbonlink serve`` runs it with uvicorn. The
interactive documentation pages FastAPI can serve (Swagger UI, ReDoc) load their scripts from a
CDN, so they are off: the schema is at ``/openapi.json`` and the guide in docs/api.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from carbonlink import __version__
from carbonlink.api.errors import install_error_handlers
from carbonlink.api.jobs import JobStore
from carbonlink.api.routes import (
    assess,
    check,
    data,
    health,
    pages,
    registry,
    registry_pages,
    registry_work,
    simulate,
)
from carbonlink.registry import Registry

DESCRIPTION = """\
Linking carbon markets over HTTP: solve the equilibrium of linked emissions trading systems
(`POST /api/simulate`), check a linkage agreement (`POST /api/check`), assess it as a decision
report (`POST /api/assess`), read the shipped reference
data (`/api/data/…`) and the Article 6.2 registry (`/api/registry/…`).

The registry acts for logged-in users: `POST /api/registry/login` returns a token to send as
`Authorization: Bearer <token>`; each call is checked against the user's roles (401 without valid
credentials, 403 when the role does not allow it). Without a token only the public aggregates
(`GET /api/registry/public`) answer.

Every error is `{"error": message, "problems": [{"path", "reason"}]}`: 422 for an invalid document
or parameter (the path names the field, e.g. `markets[1].mac.slope`), 404 for an unknown id, 400
for any other refusal.
"""


log = logging.getLogger("carbonlink.api.settle")


async def settle_periodically(reg: Registry, seconds: float) -> None:
    """Every ``seconds``, as the system actor ``system:scheduler`` (journalled under that name):
    complete the delayed internal transfers whose delay has passed on the server's clock, then
    terminate the transfers still proposed (or approved, not accepted) past their time limit
    (``expire``) — so a delay ends and a stale proposal releases its escrow without an
    operator's cron. An error is logged with its traceback and the timer goes on; cancelling
    the task stops it after a run in progress has finished."""
    from carbonlink.registry.access import SCHEDULER

    while True:
        await asyncio.sleep(seconds)
        for name, verb in (("settle", "settled delayed transfers"),
                           ("expire", "expired transfers past their time limit")):
            # a fresh view each run: it reads the registry's clock as it is now
            run = asyncio.ensure_future(asyncio.to_thread(
                getattr(reg.as_user(SCHEDULER), name)))
            try:
                done = await asyncio.shield(run)
            except asyncio.CancelledError:
                await asyncio.gather(run, return_exceptions=True)   # let the database call end
                raise
            except Exception:
                log.exception("scheduled %s failed", name)
                continue
            if done:
                log.info("%s %s", verb, ", ".join(map(str, done)))


def create_app(database_url: str | None = None, *,
               settle_seconds: float | None = None) -> FastAPI:
    """The carbonlink web app on the registry at ``database_url`` (default:
    ``CARBONLINK_DATABASE_URL`` or the settings default). A URL no database can be opened with
    is a :class:`~carbonlink.errors.DocumentError` here (``carbonlink serve`` exits 2).
    While it runs, a background task settles due delayed transfers and expires transfers past
    their time limit every ``settle_seconds`` (default ``CARBONLINK_SETTLE_SECONDS``, 60; 0
    turns it off)."""
    from carbonlink.config import get_settings
    from carbonlink.errors import DocumentError

    if database_url is None:
        database_url = get_settings().database_url
    if settle_seconds is None:
        settle_seconds = get_settings().settle_seconds
    if not 0 <= settle_seconds <= 86_400:
        raise DocumentError("settle_seconds", f"must be between 0 (off) and 86400, got "
                            f"{settle_seconds}")
    reg = Registry(database_url)      # no I/O: each call checks the database when it runs
    every = settle_seconds

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        timer = asyncio.create_task(settle_periodically(reg, every)) if every > 0 else None
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
                await asyncio.gather(timer, return_exceptions=True)
            reg.close()

    app = FastAPI(title="carbonlink", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.registry = reg
    app.state.assess_jobs = JobStore()  # assessment jobs: bounded, expiring (api/jobs.py)
    install_error_handlers(app)
    for module in (health, simulate, check, assess, data, registry):
        app.include_router(module.router, prefix="/api")
    app.include_router(assess.pages)
    app.include_router(pages.router)
    app.include_router(registry_pages.router)
    app.include_router(registry_work.router)
    return app
