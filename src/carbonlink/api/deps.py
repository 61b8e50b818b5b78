"""Dependencies shared by the routes: the app's registry, acting as the request's user.

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

#: the browser session: an API token in an HttpOnly, SameSite=Strict cookie
SESSION_COOKIE = "carbonlink_session"


def request_token(request: Request) -> str | None:
    """The credential of a request: ``Authorization: Bearer <token>``, else the session
    cookie."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE) or None


def get_registry(request: Request) -> Registry:
    """The app's registry acting as the request's user (FastAPI dependency): the user of the
    bearer token or session cookie; without one, the public (aggregates only). A token that
    is unknown, revoked or expired is refused (401)."""
    reg = request.app.state.registry
    assert isinstance(reg, Registry)
    token = request_token(request)
    if token is None:
        return reg
    return reg.as_user(reg.authenticate(token))


RegistryDep = Annotated[Registry, Depends(get_registry)]
