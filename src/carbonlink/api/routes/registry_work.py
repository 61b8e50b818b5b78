"""The registry as a place to work, in a browser: the accounts a user represents, their holdings
by unit type and vintage and their transaction history (search, filters); propose, approve,
accept and reject transfers; authorising officials propose and decide authorisations;
administrators manage users, roles and representatives; AEF download.

Every form posts ``application/x-www-form-urlencoded`` with the session's CSRF token (checked
before anything else: a form without it is refused with 403) and calls the same
:class:`~carbonlink.registry.Registry` operations as the JSON API and the CLI, acting as the
session's user, so the service layer's access table decides (a refusal is 403 and journalled).
A successful action redirects (303) to the page it came from with a one-line receipt.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carbonlink.api import registry_reads as rr
from carbonlink.api.deps import RegistryDep
from carbonlink.api.routes.pages import PageError, form_fields, render
from carbonlink.api.routes.registry_pages import csrf_for, csrf_ok
from carbonlink.errors import CarbonlinkError, DocumentError
from carbonlink.registry import PendingAction, Receipt, Registry
from carbonlink.registry.access import REP_ROLES, USER_ROLES

router = APIRouter(include_in_schema=False)

MAX_ID = 2**31 - 1
MAX_QUANTITY = 10**12
_TEXT = re.compile(r"^[\w .:/()+*-]{0,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ------------------------------------------------------------------ helpers
def _status(exc: CarbonlinkError) -> int:
    code = getattr(exc, "code", "")
    if code == "S7003":
        return 401
    if code in ("S7001", "S7002", "A2006"):    # no role; four eyes (A2006: own proposal)
        return 403
    if code == "R1005":
        return 404
    return 422 if isinstance(exc, DocumentError) else 400


def refusal(request: Request, reg: Registry, message: str | PageError, status: int,
            back: str = "/registry") -> HTMLResponse:
    error = message if isinstance(message, PageError) else PageError(
        "The request was refused", message)
    return render(request, "registry_refused.html", status=status, error=error, back=back,
                  user=reg.actor.username if reg.actor else None)


def _int(form: dict[str, str], name: str, lo: int, hi: int) -> int:
    raw = form.get(name, "").strip().replace(",", "").replace("_", "")
    if not re.fullmatch(r"-?\d{1,13}", raw):
        raise DocumentError(name, f"must be a whole number, got {raw[:20]!r}")
    value = int(raw)
    if not lo <= value <= hi:
        raise DocumentError(name, f"must be between {lo:,} and {hi:,}, got {value:,}")
    return value


def _opt_int(form: dict[str, str], name: str, lo: int, hi: int) -> int | None:
    return _int(form, name, lo, hi) if form.get(name, "").strip() else None


def _text(form: dict[str, str], name: str, *, required: bool = False) -> str | None:
    value = form.get(name, "").strip()
    if not value:
        if required:
            raise DocumentError(name, "is required")
        return None
    if not _TEXT.fullmatch(value):
        raise DocumentError(name, "at most 64 letters, digits, spaces and . : / ( ) + * - _, "
                            f"got {value[:30]!r}")
    return value


def _date(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise DocumentError(name, f"must be a date YYYY-MM-DD, got {value[:20]!r}") from None


def _logged_in(request: Request, reg: Registry) -> HTMLResponse | None:
    if reg.actor is None:
        return refusal(request, reg, "log in first (on the registry page)", 401)
    return None


async def _posted(request: Request, reg: Registry,
                  back: str) -> tuple[dict[str, str], HTMLResponse | None]:
    """The form's fields, or the refusal when there is no user or the CSRF token is wrong."""
    form = await form_fields(request)
    if not csrf_ok(request, form.get("csrf")):
        return form, refusal(request, reg, "the form's CSRF token is missing or wrong: reload "
                             "the page and submit again", 403, back)
    return form, _logged_in(request, reg)


def _done(back: str, message: str) -> RedirectResponse:
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}{urlencode({'done': message[:200]})}", status_code=303)


async def _act(request: Request, reg: Registry, back: str | None,
               work: Callable[[dict[str, str]], str | Callable[[], Response]], *,
               default: str = "/registry") -> Response:
    """One form post: the CSRF token and the session checked first (nothing runs without
    them), then ``work(form)`` in a worker thread (the registry's database calls block: on the
    event loop they would stall every other request); a refusal of the registry (any
    :class:`CarbonlinkError`) is the refusal page with its status, a message is the 303 back to
    ``back`` (or the form's own ``back`` within this site when ``back`` is None) with its
    receipt line, and a page ``work`` returns (a function) is rendered here, on the loop."""
    form, no = await _posted(request, reg, back or default)
    where = back if back is not None else _back(form, default)
    if no is not None:
        return no
    try:
        out = await run_in_threadpool(work, form)
    except CarbonlinkError as exc:
        return refusal(request, reg, PageError.of(exc), _status(exc), where)
    return _done(where, out) if isinstance(out, str) else out()


def _id(value: int, name: str) -> None:
    if not 1 <= value <= MAX_ID:
        raise DocumentError(name, f"must be between 1 and {MAX_ID}")


def _receipt(r: Any) -> str:
    if isinstance(r, Receipt):
        return f"transaction {r.tx_id}: {r.kind.replace('_', ' ')} {r.state}"
    if isinstance(r, PendingAction):
        return (f"action {r.id} ({r.operation.replace('_', ' ')}) proposed: a second person "
                "approves it")
    return "done"


#: what a receipt line may contain (the redirect carries it in ``?done=``): a crafted link cannot
#: put markup or another site's address on the page (Jinja escapes it anyway)
_RECEIPT = re.compile(r"^[\w .,:;()/'*+-]{1,200}$")


def receipt_line(done: str) -> str:
    """The ``?done=`` receipt of a redirect, or nothing when it is not one."""
    return done if _RECEIPT.fullmatch(done) and "//" not in done else ""


def _back(form: dict[str, str], default: str = "/registry") -> str:
    """Where to return: a path of this site only (never another site)."""
    back = form.get("back", "")
    return back if re.fullmatch(r"/registry(/[a-z0-9/_-]*)?", back) else default


# ------------------------------------------------------------------ accounts
@router.get("/registry/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, reg: RegistryDep, account_id: int, q: str = "",
                 kind: str = "", state: str = "", date_from: str = "", date_to: str = "",
                 done: str = "") -> HTMLResponse:
    """An account: holdings by unit type and vintage, the transaction history (``q`` searches
    ids, kinds, states, people, unit types, authorisations; ``kind``, ``state``, ``date_from``,
    ``date_to`` filter) and, for its initiators, the transfer form."""
    if (no := _logged_in(request, reg)) is not None:
        return no
    actor = reg.actor
    assert actor is not None
    back = f"/registry/accounts/{account_id}"
    filters = {"q": q[:64], "kind": kind[:24], "state": state[:16], "date_from": date_from[:10],
               "date_to": date_to[:10]}
    try:
        if not 1 <= account_id <= MAX_ID:
            raise DocumentError("account", f"must be between 1 and {MAX_ID}")
        f = rr.HistoryFilter(q=filters["q"], kind=filters["kind"], state=filters["state"],
                             date_from=_date(filters["date_from"], "date_from"),
                             date_to=_date(filters["date_to"], "date_to"))
        acc = rr.account(reg, account_id)
        lines = rr.holdings_by_type(reg, account_id)
        txs = rr.history(reg, account_id, f)
        kinds, states = rr.history_values(reg, account_id)
        trust = reg.trusted(account_id, pending=True)
    except CarbonlinkError as exc:
        return refusal(request, reg, PageError.of(exc), _status(exc))
    csrf, _ = csrf_for(request)
    rows = [{**t, "actions": rr.actions_for(actor, t)} for t in txs]
    writes = actor.token_scope == "write"
    changes = [{**c, "can_approve": writes and actor.represents(account_id, "approver")
                and c["proposer"] != actor.username,
                "can_reject": writes and (actor.represents(account_id, "approver")
                                          or actor.represents(account_id, "initiator"))}
               for c in trust if "since" not in c]
    return render(request, "registry_account.html", user=actor.username, csrf=csrf, account=acc,
                  lines=lines, txs=rows, filters=filters, kinds=kinds, states=states, done=receipt_line(done),
                  back=back, limit=rr.MAX_ROWS,
                  can_transfer=actor.represents(account_id, "initiator") and writes,
                  trusted=[t for t in trust if "since" in t], trust_changes=changes,
                  role=actor.reps.get(account_id))


@router.post("/registry/accounts/{account_id}/transfer", response_class=HTMLResponse)
async def transfer(request: Request, reg: RegistryDep, account_id: int) -> Response:
    def work(form: dict[str, str]) -> str:
        _id(account_id, "account")
        return _receipt(reg.transfer(account_id, _int(form, "to_account", 1, MAX_ID),
                                     _int(form, "quantity", 1, MAX_QUANTITY),
                                     unit_type=_text(form, "unit_type"),
                                     vintage=_opt_int(form, "vintage", 1990, 2100),
                                     authorisation=_text(form, "authorisation")))
    return await _act(request, reg, f"/registry/accounts/{account_id}", work)


@router.post("/registry/accounts/{account_id}/trusted", response_class=HTMLResponse)
async def propose_trust(request: Request, reg: RegistryDep, account_id: int) -> Response:
    """A representative proposes adding an account to this account's trusted list, or
    removing one (Reg. (EU) 2019/1122 Art 23(4)); a second representative approves."""
    def work(form: dict[str, str]) -> str:
        _id(account_id, "account")
        other = _int(form, "trusted_account", 1, MAX_ID)
        action = form.get("action", "")
        if action == "add":
            c = reg.trust(account_id, other)
        elif action == "remove":
            c = reg.distrust(account_id, other)
        else:
            raise DocumentError("action", f"must be add or remove, got {action[:20]!r}")
        return f"trusted-list change {c['id']} proposed: a second representative approves it"
    return await _act(request, reg, f"/registry/accounts/{account_id}", work)


@router.post("/registry/trusted/{change_id}/{decision}", response_class=HTMLResponse)
async def decide_trust(request: Request, reg: RegistryDep, change_id: int,
                       decision: str) -> Response:
    """A second representative approves a trusted-list change; its proposer withdraws it or
    another representative refuses it (reject)."""
    def work(form: dict[str, str]) -> str:
        _id(change_id, "change")
        if decision == "approve":
            c = reg.approve_trust(change_id)
            return (f"trusted-list change {change_id} approved: in force from "
                    f"{c['effective_at']:%Y-%m-%d %H:%M} UTC")
        if decision == "reject":
            reg.reject_trust(change_id)
            return f"trusted-list change {change_id} rejected"
        raise DocumentError("decision", f"must be approve or reject, got {decision[:20]!r}")
    return await _act(request, reg, None, work)


@router.post("/registry/transactions/{tx_id}/{action}", response_class=HTMLResponse)
async def decide_transfer(request: Request, reg: RegistryDep, tx_id: int,
                          action: str) -> Response:
    """Approve (a second representative of the sending account), accept (a representative
    of the receiving account) or reject (either side) an external transfer; approve or cancel
    (proposed or during its delay, a representative of the sending account) an internal
    transfer (every one is under four eyes)."""
    def work(form: dict[str, str]) -> str:
        _id(tx_id, "transaction")
        r: Any
        if action == "approve":
            r = reg.approve(tx_id)
        elif action == "accept":
            r = reg.accept(tx_id)
        elif action == "reject":
            reason = form.get("reason", "").strip()[:200] or "rejected"
            r = reg.reject(tx_id, reason=reason)
        elif action == "cancel":
            reason = form.get("reason", "").strip()[:200] or "cancelled"
            r = reg.cancel_transfer(tx_id, reason=reason)
        else:
            raise DocumentError("action", f"must be approve, accept, reject or cancel, got "
                                f"{action!r}")
        return _receipt(r)
    return await _act(request, reg, None, work)


# ------------------------------------------------------------------ authorisations
@router.get("/registry/authorisations", response_class=HTMLResponse)
def authorisations_page(request: Request, reg: RegistryDep, done: str = "") -> HTMLResponse:
    """Authorisations (latest versions), the administrative actions waiting for a second
    person, and for authorising officials the forms to propose or revoke an authorisation."""
    if (no := _logged_in(request, reg)) is not None:
        return no
    actor = reg.actor
    assert actor is not None
    try:
        auths = rr.authorisation_list(reg)
        pending = reg.pending()
        regs = rr.registry_ids(reg)
    except CarbonlinkError as exc:
        return refusal(request, reg, PageError.of(exc), _status(exc))
    csrf, _ = csrf_for(request)
    official = actor.has("authorising_official") and actor.token_scope == "write"
    decides = (actor.has("authorising_official") or actor.has("administrator")) \
        and actor.token_scope == "write"
    return render(request, "registry_authorisations.html", user=actor.username, csrf=csrf,
                  auths=auths, pending=pending, registries=regs, official=official,
                  decides=decides, done=receipt_line(done), back="/registry/authorisations")


@router.post("/registry/authorisations", response_class=HTMLResponse)
async def propose_authorisation(request: Request, reg: RegistryDep) -> Response:
    def work(form: dict[str, str]) -> str:
        valid_from = _date(form.get("valid_from", ""), "valid_from")
        if valid_from is None:
            raise DocumentError("valid_from", "is required")
        purposes = form.get("purposes", "NDC")
        r = reg.authorise(
            _text(form, "id", required=True) or "",
            cooperative_approach=_text(form, "cooperative_approach", required=True) or "",
            registry=_text(form, "registry", required=True) or "",
            quantity=_int(form, "quantity", 1, MAX_QUANTITY), purposes=purposes,
            vintage_from=_int(form, "vintage_from", 1990, 2100),
            vintage_to=_int(form, "vintage_to", 1990, 2100), valid_from=valid_from,
            valid_to=_date(form.get("valid_to", ""), "valid_to"))
        return _receipt(r)
    return await _act(request, reg, "/registry/authorisations", work)


@router.post("/registry/authorisations/revoke", response_class=HTMLResponse)
async def revoke_authorisation(request: Request, reg: RegistryDep) -> Response:
    def work(form: dict[str, str]) -> str:
        effective = _date(form.get("effective_from", ""), "effective_from")
        if effective is None:
            raise DocumentError("effective_from", "is required")
        return _receipt(reg.revoke(_text(form, "id", required=True) or "", effective))
    return await _act(request, reg, "/registry/authorisations", work)


@router.post("/registry/actions/{action_id}/{decision}", response_class=HTMLResponse)
async def decide_action(request: Request, reg: RegistryDep, action_id: int,
                        decision: str) -> Response:
    """A second person approves (and so runs) or rejects an administrative action."""
    def work(form: dict[str, str]) -> str:
        _id(action_id, "action")
        if decision == "approve":
            return f"action {action_id} approved; " + _receipt(reg.approve_action(action_id))
        if decision == "reject":
            reg.reject_action(action_id)
            return f"action {action_id} rejected"
        raise DocumentError("decision", f"must be approve or reject, got {decision!r}")
    return await _act(request, reg, None, work, default="/registry/authorisations")


# ------------------------------------------------------------------ users
@router.get("/registry/users", response_class=HTMLResponse)
def users_page(request: Request, reg: RegistryDep, done: str = "") -> HTMLResponse:
    """Users with their roles and accounts; for administrators the forms to create users,
    grant and revoke roles, (de)activate users and add representatives."""
    if (no := _logged_in(request, reg)) is not None:
        return no
    actor = reg.actor
    assert actor is not None
    try:
        people = reg.users()
        pending = reg.pending()
    except CarbonlinkError as exc:
        return refusal(request, reg, PageError.of(exc), _status(exc))
    csrf, _ = csrf_for(request)
    return render(request, "registry_users.html", user=actor.username, csrf=csrf, users=people,
                  pending=pending, roles=USER_ROLES, rep_roles=REP_ROLES, done=receipt_line(done),
                  admin=actor.has("administrator") and actor.token_scope == "write",
                  decides=(actor.has("administrator") or actor.has("authorising_official"))
                  and actor.token_scope == "write",
                  back="/registry/users")


@router.post("/registry/users/{what}", response_class=HTMLResponse)
async def manage_users(request: Request, reg: RegistryDep, what: str) -> Response:
    """``create`` (username, role, scope; a one-time password is shown once), ``grant`` and
    ``revoke`` (username, role, scope), ``active`` (username, active), ``representative``
    (account, username, rep_role)."""
    back = "/registry/users"

    def work(form: dict[str, str]) -> str | Callable[[], Response]:
        username = (_text(form, "username", required=True) or "").lower()
        if what == "create":
            role, scope = form.get("role", ""), (_text(form, "scope") or "*")
            roles = [(role, scope)] if role else []
            otp = reg.create_user(username, roles=roles)
            user = reg.actor.username if reg.actor else None
            return lambda: render(request, "registry_refused.html", status=201, back=back,
                                  user=user, error=None, created=username, otp=otp)
        if what == "grant":
            reg.grant_role(username, form.get("role", ""), _text(form, "scope") or "*")
            message = f"{username}: role granted"
        elif what == "revoke":
            reg.revoke_role(username, form.get("role", ""), _text(form, "scope") or "*")
            message = f"{username}: role revoked"
        elif what == "active":
            active = form.get("active", "") == "1"
            reg.set_user_active(username, active)
            message = f"{username}: {'active' if active else 'deactivated'}"
        elif what == "representative":
            account = _int(form, "account", 1, MAX_ID)
            reg.add_representative(account, username, form.get("rep_role", "initiator_approver"))
            message = f"{username} represents account {account}"
        else:
            raise DocumentError("action", "must be create, grant, revoke, active or "
                                f"representative, got {what!r}")
        return message
    return await _act(request, reg, back, work)


# ------------------------------------------------------------------ AEF
@router.get("/registry/aef", response_model=None)
def aef_download(request: Request, reg: RegistryDep, party: str = "",
                 year: str = "") -> Response:
    """The Party's AEF for the year as an XLSX workbook (Decision 6/CMA.4 annex), after the
    pre-consistency checks (refused with their problems when they fail)."""
    if (no := _logged_in(request, reg)) is not None:
        return no
    try:
        problems = []
        if not re.fullmatch(r"[A-Z]{3}", party):
            problems.append(("party", f"must be an ISO alpha-3 Party (e.g. CHE), got {party!r}"))
        if not re.fullmatch(r"\d{4}", year) or not 2021 <= int(year) <= 2100:
            problems.append(("year", f"must be a year between 2021 and 2100, got {year!r}"))
        if problems:
            raise DocumentError(problems)
        with tempfile.TemporaryDirectory(prefix="carbonlink-aef-") as tmp:
            [path] = reg.write_aef(party, int(year), tmp, formats=("xlsx",))
            content = Path(path).read_bytes()
    except CarbonlinkError as exc:
        return refusal(request, reg, PageError.of(exc), _status(exc))
    return Response(content, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition":
                             f'attachment; filename="aef-{party}-{year}.xlsx"'})
