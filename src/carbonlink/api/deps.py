"""Dependencies shared by the routes: the app's registry.

One :class:`~carbonlink.registry.Registry` per app, made by :func:`carbonlink.api.create_app`
(so a URL that cannot name a database fails when the app is made, not on a request) and closed
when the app shuts down. Making it does no I/O — its SQLAlchemy engine is a connection pool, safe
to share between the request threads, and each call checks the database first — so an app whose
registry database does not exist yet still serves simulate, check and the data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from carbonlink.registry import Registry


def get_registry(request: Request) -> Registry:
    """The app's registry (FastAPI dependency)."""
    reg = request.app.state.registry
    assert isinstance(reg, Registry)
    return reg


RegistryDep = Annotated[Registry, Depends(get_registry)]
