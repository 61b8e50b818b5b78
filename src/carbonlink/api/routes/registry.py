"""``/api/registry/…``: the Article 6.2 registry for logged-in users.

``POST /api/registry/login`` exchanges a user name, password (and TOTP code) for an API token;
every other route acts as the user of ``Authorization: Bearer <token>`` (or the browser
session cookie), with the roles the service layer enforces (:mod:`carbonlink.registry.access`:
403 when the role does not allow it, 401 without valid credentials). Without credentials only
``GET /api/registry/public`` answers: aggregates that name no one.
"""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from carbonlink.api import registry_reads as rr
from carbonlink.api.deps import RegistryDep
from carbonlink.api.errors import BAD_REQUEST, INVALID, NOT_FOUND, ErrorBody, NotFound
from carbonlink.api.schemas import (
    AccountOut,
    Adjustments,
    AdjustmentYear,
    BlockOut,
    CalendarItemOut,
    CorrespondingAdjustmentsOut,
    HoldingsOut,
    LedgerRow,
    OutsidePeriodEntry,
    TransactionOut,
    VerifyOut,
)
from carbonlink.errors import DocumentError
from carbonlink.registry import CheckFailed, PendingAction, Receipt, Registry
from carbonlink.registry.accounting import CAResult
from carbonlink.registry.reports.calendar import LAST_DAY

DENIED: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "no valid credentials (S7003)"},
    403: {"model": ErrorBody, "description": "the user's role does not allow it (S7001, S7002)"},
}
router = APIRouter(prefix="/registry", tags=["registry"], responses={**BAD_REQUEST, **DENIED})

#: ids are INTEGER columns (32-bit on PostgreSQL); a larger number cannot name a row
MAX_ID = 2**31 - 1
PARTY_PATTERN = r"^[A-Z]{3}$"       # ISO alpha-3, as the registry stores Parties
REGISTRY_PATTERN = r"^[A-Z]{3}\d{2}$"  # CHE01

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Party = Annotated[str, Path(pattern=PARTY_PATTERN, description="ISO alpha-3 Party, e.g. CHE")]


def accounts_out(reg: Registry, registry: str | None = None) -> list[AccountOut]:
    balances = reg.balances(registry)            # one grouped query, not one per account
    return [AccountOut(**row, balance=balances.get(int(row["id"]), 0))
            for row in reg.accounts(registry)]


def calendar_out(reg: Registry, as_of: date | None, party: str | None) -> list[CalendarItemOut]:
    return [CalendarItemOut(party=i.party, report=i.report, year=i.year, due=i.due,
                            status=i.status, source=i.source)
            for i in reg.calendar(as_of, party)]


def verify_out(reg: Registry) -> VerifyOut:
    problems = reg.verify()
    return VerifyOut(ok=not problems, problems=problems)


def _opt(x: Fraction | None) -> float | None:
    return None if x is None else float(x)


def adjustments_out(res: CAResult) -> Adjustments:
    return Adjustments(
        method=res.method, source=res.source, ndc_type=res.ndc_type, first_year=res.first_year,
        last_year=res.last_year,
        years=[AdjustmentYear(year=y.year, emissions=y.emissions,
                              first_transferred=y.first_transferred, used=y.used,
                              adjustment=float(y.adjustment), adjustment_exact=str(y.adjustment),
                              average_to_date=_opt(y.average_to_date),
                              adjusted_balance=_opt(y.adjusted_balance))
               for y in res.years],
        cumulative_adjustment=float(res.cumulative_adjustment),
        cumulative_adjustment_exact=str(res.cumulative_adjustment),
        end_of_period_adjustment=_opt(res.end_of_period_adjustment),
        adjusted_period_emissions=_opt(res.adjusted_period_emissions),
        outside_period=[OutsidePeriodEntry(year=y, kind=k, quantity=q)
                        for y, k, q in res.outside_period])


@router.get("/verify", response_model=VerifyOut, summary="Verify the journal and the ledger")
def verify(reg: RegistryDep) -> VerifyOut:
    """Recompute the hash-chained journal and the ledger invariants (``carbonlink registry
    verify``): ``problems`` lists each divergence and is empty when the registry is clean."""
    return verify_out(reg)


@router.get("/accounts", response_model=list[AccountOut], responses=INVALID,
            summary="Accounts with their balances")
def accounts(
    reg: RegistryDep,
    registry: Annotated[str | None, Query(pattern=REGISTRY_PATTERN,
                                          description="only this registry's accounts, e.g. CHE01")]
    = None,
) -> list[AccountOut]:
    return accounts_out(reg, registry)


@router.get("/accounts/{account_id}/holdings", response_model=HoldingsOut,
            responses={**NOT_FOUND, **INVALID}, summary="Serial blocks of an account")
def holdings(reg: RegistryDep, account_id: RowId) -> HoldingsOut:
    """The account and its serial blocks (every status), lowest serial first."""
    rows = reg.accounts(account=account_id)
    if not rows:
        raise NotFound(f"no account {account_id}")
    blocks = [BlockOut(**b, quantity=b["serial_end"] - b["serial_start"] + 1)
              for b in reg.holdings(account_id)]
    held = sum(b.quantity for b in blocks if b.status == "held")   # the balance, from the blocks
    return HoldingsOut(account=AccountOut(**rows[0], balance=held), blocks=blocks)


@router.get("/transactions/{tx_id}", response_model=TransactionOut,
            responses={**NOT_FOUND, **INVALID}, summary="One transaction")
def transaction(reg: RegistryDep, tx_id: RowId) -> TransactionOut:
    try:
        return TransactionOut(**reg.transaction(tx_id))
    except CheckFailed as exc:
        if exc.code == "R1005":  # the referenced transaction does not exist
            raise NotFound(exc.detail) from None
        raise


class HistoryRow(BaseModel):
    """One transaction of an account's history."""

    id: int
    kind: str
    state: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    from_account: int | None
    to_account: int | None
    quantity: int
    converted_quantity: int | None
    unit_type: str | None
    vintage: int | None
    authorisation_id: str | None
    proposer: str | None
    approver: str | None
    acceptor: str | None


@router.get("/accounts/{account_id}/transactions", response_model=list[HistoryRow],
            responses={**NOT_FOUND, **INVALID}, summary="Transaction history of an account")
def account_transactions(
    reg: RegistryDep, account_id: RowId,
    q: Annotated[str, Query(max_length=64, description="text in the id, kind, state, people, "
                            "unit type, authorisation or reason")] = "",
    kind: Annotated[str, Query(pattern=r"^[a-z_]{0,24}$")] = "",
    state: Annotated[str, Query(pattern=r"^[a-z_]{0,16}$")] = "",
    date_from: Annotated[date | None, Query(ge=date(1990, 1, 1), le=LAST_DAY)] = None,
    date_to: Annotated[date | None, Query(ge=date(1990, 1, 1), le=LAST_DAY)] = None,
    limit: Annotated[int, Query(ge=1, le=rr.MAX_ROWS)] = rr.MAX_ROWS,
) -> list[HistoryRow]:
    """Transactions from or to the account, newest first, for its representatives and the
    roles that read everything (the access rule of ``balance``)."""
    try:
        rr.account(reg, account_id)    # the access check, then R1005 when there is none
        rows = rr.history(reg, account_id, rr.HistoryFilter(q=q, kind=kind, state=state,
                                                            date_from=date_from,
                                                            date_to=date_to, limit=limit))
    except CheckFailed as exc:
        if exc.code == "R1005":
            raise NotFound(exc.detail) from None
        raise
    return [HistoryRow(**{k: r[k] for k in HistoryRow.model_fields}) for r in rows]


@router.get("/calendar", response_model=list[CalendarItemOut], responses=INVALID,
            summary="Reporting calendar")
def calendar(
    reg: RegistryDep,
    party: Annotated[str | None, Query(pattern=PARTY_PATTERN, description="only this Party")]
    = None,
    as_of: Annotated[date | None, Query(le=LAST_DAY, description="the day the statuses "
                                        "(due, overdue, submitted) refer to; default today")]
    = None,
) -> list[CalendarItemOut]:
    """Initial report, annual information (AEF, by 15 April) and regular information (with each
    BTR) per Party with authorisations, with overdue items flagged (Decision 2/CMA.3 annex IV)."""
    return calendar_out(reg, as_of, party)


@router.get("/ca/{party}", response_model=CorrespondingAdjustmentsOut,
            responses={**NOT_FOUND, **INVALID}, summary="Corresponding adjustments of a Party")
def corresponding_adjustments(reg: RegistryDep, party: Party) -> CorrespondingAdjustmentsOut:
    """The Party's corresponding-adjustment ledger (ITMOs first transferred and used, per metric
    and year) and, once its NDC accounting is recorded, the adjustments under its method
    (``carbonlink registry ca``)."""
    ledger = [LedgerRow(metric=metric, year=y, first_transferred=ft.get(y, 0), used=used.get(y, 0))
              for metric, (ft, used) in sorted(reg.ca_ledger_by_metric(party).items())
              for y in sorted(set(ft) | set(used))]
    adjustments: Adjustments | None = None
    note: str | None = None
    try:
        adjustments = adjustments_out(reg.corresponding_adjustments(party))
    except DocumentError as exc:  # no NDC accounting recorded for the Party yet
        note = "; ".join(reason for _, reason in exc.problems)
    if not ledger and adjustments is None:
        raise NotFound(f"no corresponding-adjustment entries and no NDC accounting recorded for "
                       f"party {party!r}")
    return CorrespondingAdjustmentsOut(party=party, ledger=ledger, adjustments=adjustments,
                                       note=note)


# ---------------------------------------------------------------- identities and actions
#: bounds of a request (a quantity is whole tonnes; ids are 32-bit INTEGER columns)
MAX_QUANTITY = 10**12
MAX_TEXT = 200


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, pattern=r"^\d{6}$",
                             description="current TOTP code when a second factor is enrolled")
    read_only: bool = Field(default=False, description="a token that can only read")


class TokenOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown once")
    username: str


class RoleOut(BaseModel):
    role: str
    scope: str = Field(description="'*', a registry id or a Party")


class MeOut(BaseModel):
    username: str
    roles: list[RoleOut]
    accounts: dict[int, str] = Field(description="account id → representative role")
    token_scope: str


class TransferIn(BaseModel):
    from_account: int = Field(ge=1, le=MAX_ID)
    to_account: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit_type: str | None = Field(default=None, max_length=16)
    vintage: int | None = Field(default=None, ge=1990, le=2100)
    authorisation: str | None = Field(default=None, max_length=64)


class ReasonIn(BaseModel):
    reason: str = Field(default="rejected", max_length=MAX_TEXT)


class RangeOut(BaseModel):
    issuing_registry: str
    unit_type: str
    vintage: int
    serial_start: int
    serial_end: int


class ReceiptOut(BaseModel):
    tx_id: int
    kind: str
    state: str
    quantity: int
    converted_quantity: int | None
    first_transferred: int
    blocks: list[RangeOut]


class PendingOut(BaseModel):
    id: int
    operation: str
    scope: str
    proposer: str
    state: str


class HoldingAggregate(BaseModel):
    registry: str
    unit_type: str
    vintage: int
    quantity: int


class TransferAggregate(BaseModel):
    from_registry: str
    to_registry: str
    transfers: int
    quantity: int


class AdjustmentAggregate(BaseModel):
    party: str
    year: int
    metric: str
    first_transferred: int
    used: int


class PublicOut(BaseModel):
    """Aggregates anyone may read: no account, holder or person is named."""

    holdings: list[HoldingAggregate]
    transfers: list[TransferAggregate]
    adjustments: list[AdjustmentAggregate]


def receipt_out(r: Receipt) -> ReceiptOut:
    return ReceiptOut(tx_id=r.tx_id, kind=r.kind, state=r.state, quantity=r.quantity,
                      converted_quantity=r.converted_quantity,
                      first_transferred=r.first_transferred,
                      blocks=[RangeOut(issuing_registry=b[0], unit_type=b[1], vintage=b[2],
                                       serial_start=b[3], serial_end=b[4]) for b in r.blocks])


@router.post("/login", response_model=TokenOut, responses=INVALID, summary="Log in")
def login(reg: RegistryDep, body: LoginIn) -> TokenOut:
    """Check the password (and TOTP code); returns a new API token. The sixth wrong attempt
    in a row locks the login for 30 minutes; every failure is journalled."""
    actor = reg.login(body.username, body.password, body.totp)
    token = reg.as_user(actor).issue_token("read" if body.read_only else "write", name="api")
    return TokenOut(token=token, username=actor.username)


class Done(BaseModel):
    result: str


@router.post("/logout", response_model=Done, summary="Revoke the request's token")
def logout(reg: RegistryDep, request: Request) -> Done:
    from carbonlink.api.deps import request_token
    token = request_token(request)
    if token is not None and reg.actor is not None:
        reg.revoke_token(token)
        return Done(result="logged out")
    return Done(result="not logged in")


@router.get("/me", response_model=MeOut, summary="The logged-in user")
def me(reg: RegistryDep) -> MeOut:
    if reg.actor is None:
        from carbonlink.registry.checks import fail
        fail("S7003", "token", "log in first (POST /api/registry/login)")
    a = reg.actor
    return MeOut(username=a.username, roles=[RoleOut(role=r, scope=sc) for r, sc in sorted(a.roles)],
                 accounts=dict(sorted(a.reps.items())),
                 token_scope=a.token_scope)


@router.get("/public", response_model=PublicOut, summary="Public aggregates")
def public(reg: RegistryDep) -> PublicOut:
    """Units held per registry, unit type and vintage; completed external transfers per link;
    corresponding adjustments per Party and year (Decision 2/CMA.3 annex para 35)."""
    return PublicOut(**reg.public_aggregates())


@router.post("/transfers", response_model=ReceiptOut, responses={**INVALID, **NOT_FOUND},
             summary="Transfer units")
def transfer(reg: RegistryDep, body: TransferIn) -> ReceiptOut:
    """As an initiator of ``from_account``: propose a transfer (every one is under four
    eyes): a second representative approves it; an internal one then completes (after the
    delay to an account off the trusted list), one to a linked registry is then accepted by
    the receiving account."""
    return receipt_out(reg.transfer(body.from_account, body.to_account, body.quantity,
                                    unit_type=body.unit_type, vintage=body.vintage,
                                    authorisation=body.authorisation))


@router.post("/transactions/{tx_id}/approve", response_model=ReceiptOut,
             responses={**INVALID, **NOT_FOUND}, summary="Approve a proposed transfer")
def approve(reg: RegistryDep, tx_id: RowId) -> ReceiptOut:
    return receipt_out(reg.approve(tx_id))


@router.post("/transactions/{tx_id}/accept", response_model=ReceiptOut,
             responses={**INVALID, **NOT_FOUND}, summary="Accept an approved transfer")
def accept(reg: RegistryDep, tx_id: RowId) -> ReceiptOut:
    return receipt_out(reg.accept(tx_id))


@router.post("/transactions/{tx_id}/reject", response_model=ReceiptOut,
             responses={**INVALID, **NOT_FOUND}, summary="Reject a pending transfer")
def reject(reg: RegistryDep, tx_id: RowId, body: ReasonIn) -> ReceiptOut:
    return receipt_out(reg.reject(tx_id, reason=body.reason))


@router.get("/actions", response_model=list[PendingOut], summary="Actions awaiting approval")
def actions(reg: RegistryDep) -> list[PendingOut]:
    return [PendingOut(id=p["id"], operation=p["operation"], scope=p["scope"],
                       proposer=p["proposer"], state=p["state"]) for p in reg.pending()]


@router.post("/actions/{action_id}/approve", response_model=Done,
             responses={**INVALID, **NOT_FOUND}, summary="Approve an administrative action")
def approve_action(reg: RegistryDep, action_id: RowId) -> Done:
    """A second person with the required role approves (and so runs) the action."""
    out = reg.approve_action(action_id)
    if isinstance(out, Receipt):
        return Done(result=f"transaction {out.tx_id}: {out.kind} {out.state}")
    if isinstance(out, PendingAction):   # not expected: an approved action runs
        return Done(result=f"action {out.id} pending")
    return Done(result=repr(out))
