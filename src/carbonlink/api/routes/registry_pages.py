"""The registry in a browser: log in and out (sessions in HttpOnly, SameSite=Strict cookies,
CSRF tokens on every form).

A session is an API token of the user (:meth:`Registry.issue_token`), kept in the
``carbonlink_session`` cookie, which scripts cannot read (HttpOnly) and other sites cannot
send (SameSite=Strict). Every form that changes something carries a CSRF token as well: before
login a double-submit token (cookie ``carbonlink_csrf`` = hidden field), after login a token
derived from the session (a page of another site can read neither).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carbonlink.api.deps import SESSION_COOKIE, RegistryDep, request_token
from carbonlink.errors import CarbonlinkError

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "carbonlink_csrf"
SESSION_HOURS = 8


def session_csrf(token: str) -> str:
    """The CSRF token of a session (forms of a logged-in user carry it)."""
    return hashlib.sha256(f"carbonlink-csrf|{token}".encode()).hexdigest()[:32]


def csrf_for(request: Request) -> tuple[str, str | None]:
    """(token the page's forms carry, value for a new ``carbonlink_csrf`` cookie or None)."""
    session = request_token(request)
    if session is not None:
        return session_csrf(session), None
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing, None
    fresh = secrets.token_urlsafe(24)
    return fresh, fresh


def csrf_ok(request: Request, sent: str | None) -> bool:
    """Does form field ``csrf`` match the session's (or, before login, the cookie's)?"""
    if not sent:
        return False
    session = request.cookies.get(SESSION_COOKIE)
    expected = session_csrf(session) if session else request.cookies.get(CSRF_COOKIE)
    return bool(expected) and hmac.compare_digest(sent, str(expected))


def set_csrf_cookie(response: Response, value: str | None, request: Request) -> None:
    if value is not None:
        response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")


def refused(request: Request, message: str, status: int = 403) -> HTMLResponse:
    from carbonlink.api.routes.pages import PageError, render
    return render(request, "registry.html", status=status, loaded=False, public=None,
                  user=None, csrf="", party="", as_of="", verify=None, accounts=[], calendar=[],
                  error=PageError("The request was refused", message))


@router.post("/registry/login", response_class=HTMLResponse)
async def login(request: Request, reg: RegistryDep) -> Response:
    from carbonlink.api.routes.pages import form_fields
    form = await form_fields(request)
    if not csrf_ok(request, form.get("csrf")):
        return refused(request, "the form's CSRF token is missing or wrong: reload the page "
                       "and submit again")
    password, totp = form.get("password", "")[:256], form.get("totp") or None
    new = form.get("new_password", "")[:256]
    try:
        actor = reg.login(form.get("username", "")[:64], password, totp)
        if actor.must_change_password:
            # a one-time password (``registry init``, a user created on the users page) is
            # changed at first login, before any session exists — as ``carbonlink login`` does
            if not new:
                return refused(request, "this is a one-time password: it must be changed at "
                               "first login — log in again with a new password in the field "
                               "'new password'", status=401)
            if new != form.get("new_password_again", "")[:256]:
                return refused(request, "new password: the two entries differ", status=422)
            reg.as_user(actor).change_password(password, new, totp)
            actor = replace(actor, must_change_password=False)
        from datetime import timedelta
        token = reg.as_user(actor).issue_token("write", name="web",
                                               ttl=timedelta(hours=SESSION_HOURS))
    except CarbonlinkError as exc:
        return refused(request, str(exc), status=401)
    response = RedirectResponse("/registry", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/",
                        max_age=SESSION_HOURS * 3600)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/registry/logout", response_class=HTMLResponse)
async def logout(request: Request, reg: RegistryDep) -> Response:
    from carbonlink.api.routes.pages import form_fields
    form = await form_fields(request)
    if not csrf_ok(request, form.get("csrf")):
        return refused(request, "the form's CSRF token is missing or wrong")
    token = request.cookies.get(SESSION_COOKIE)
    if token and reg.actor is not None:
        reg.revoke_token(token)
    response = RedirectResponse("/registry", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
