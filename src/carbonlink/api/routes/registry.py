"""``GET /api/registry/…``: the Article 6.2 registry, read-only.

There is no authentication in the web app, so nothing here issues, moves, cancels or authorises
units: every route is a query (``Registry.verify``, ``accounts``, ``balance``, ``holdings``,
``transaction``, ``calendar``, ``ca_ledger_by_metric``, ``corresponding_adjustments``). Changes
go through ``carbonlink registry …`` on the command line.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Annotated

from fastapi import APIRouter, Path, Query

from carbonlink.api.deps import RegistryDep
from carbonlink.api.errors import BAD_REQUEST, INVALID, NOT_FOUND, NotFound
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
from carbonlink.registry import CheckFailed, Registry
from carbonlink.registry.accounting import CAResult
from carbonlink.registry.reports.calendar import LAST_DAY

router = APIRouter(prefix="/registry", tags=["registry"], responses=BAD_REQUEST)

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
