"""Response models of the JSON API: the documented shape of what the engines return.

The simulation and check bodies are exactly ``SimulationResult.to_dict()`` and
``CheckReport.to_dict()`` (what ``carbonlink simulate|check --format json`` print); these models
describe them for the OpenAPI schema, and tests keep the two in step. Registry rows are the
ledger's own columns.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from carbonlink.agreements.findings import Rating, Severity
from carbonlink.model.agreement import Form, Generation, LinkType

Number = float | None  # the engines write a non-finite result (e.g. of an infeasible run) as null


def _utc(value: Any) -> Any:
    """The registry stores naive UTC times; RFC 3339 (OpenAPI ``date-time``) needs the offset."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


#: a registry time, written as RFC 3339 in UTC (``2026-06-01T09:00:00Z``)
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_utc)]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


# ---------------------------------------------------------------------------------- simulate
class MarketResult(BaseModel):
    """One market of the equilibrium beside its autarky (README, *What is computed*)."""

    price: Number
    mac: Number
    emissions: Number
    abatement: Number
    abatement_cost: Number
    net_imports: Number
    offsets_used: Number
    ceiling_released: Number
    floor_withheld: Number
    compliance_cost: Number
    tax_revenue: Number
    autarky_price: Number
    autarky_compliance_cost: Number
    gain: Number


class LinkResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    flow: Number = Field(description="from-units moved")
    credited: Number = Field(description="to-units credited")
    tax_revenue: Number
    quota_rent: Number
    binding: bool


class OffsetResult(BaseModel):
    price: Number
    used: Number


class Totals(BaseModel):
    emissions: Number
    autarky_emissions: Number
    emissions_change: Number
    abatement_cost: Number
    gain: Number


class SimulationOut(BaseModel):
    """``SimulationResult.to_dict()``: what ``carbonlink simulate --format json`` prints."""

    status: Literal["optimal", "infeasible", "error"]
    markets: dict[str, MarketResult]
    links: list[LinkResult]
    offsets: dict[str, OffsetResult]
    totals: Totals
    warnings: list[str]


# ------------------------------------------------------------------------------------ check
class CheckedDocument(BaseModel):
    id: str
    title: str
    form: Form
    generation: Generation
    link_type: LinkType
    parties: list[str]
    as_of: str = Field(description="the reference date the agreement was judged on (YYYY-MM-DD)")
    path: str | None = Field(description="the file checked; null for a document sent over HTTP")


class FindingOut(BaseModel):
    rule: str
    severity: Severity
    message: str
    subject: str
    source: str = Field(description="the legal or analytical source of the rule")
    data_gap: bool = Field(default=False, description="true when the rule could not decide "
                           "because reference data is missing (an info finding naming the gap)")


class CompatibilityOut(BaseModel):
    dimension: str
    subject: str = Field(description="a pair of ETSs (``A|B``), a direction of a link "
                         "(``A->B``: units of A surrendered in B) or one party")
    rating: Rating
    reason: str
    severity: Literal["MUST", "SHOULD", "MAY"]


class CheckSummary(BaseModel):
    errors: int
    warnings: int
    info: int
    by_group: dict[str, int]
    compatibility: dict[str, int]
    rules_run: int
    ok: bool = Field(description="no error-level finding (`carbonlink check` exit 0)")


class CheckReportOut(BaseModel):
    """``CheckReport.to_dict()``: what ``carbonlink check --format json`` prints."""

    document: CheckedDocument
    findings: list[FindingOut]
    summary: CheckSummary
    compatibility: list[CompatibilityOut]
    simulation: SimulationOut | None = Field(
        default=None, description="present when the agreement carries markets (the simulated link)")


# --------------------------------------------------------------------------------- registry
class VerifyOut(BaseModel):
    ok: bool
    problems: list[str] = Field(description="one message per divergence; empty when clean")


class AccountOut(BaseModel):
    id: int
    registry_id: str
    holder_id: int | None
    type: str
    status: str
    name: str
    balance: int = Field(description="units held (not pending export, surrendered, used, "
                         "cancelled or retired)")


class BlockOut(BaseModel):
    """One serial block: units ``serial_start..serial_end`` of one issuing registry, type and
    vintage."""

    id: int
    account_id: int
    issuing_registry: str
    unit_type: str
    vintage: int
    serial_start: int
    serial_end: int
    quantity: int
    status: str
    authorisation_id: str | None
    first_transferred: bool
    pending_tx: int | None


class HoldingsOut(BaseModel):
    account: AccountOut
    blocks: list[BlockOut]


class TransactionOut(BaseModel):
    id: int
    kind: str
    state: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    expires_at: UtcDatetime | None = Field(description="when an open external transfer lapses")
    completes_at: UtcDatetime | None = Field(
        default=None, description="when a delayed internal transfer (to an account off the "
        "trusted list) completes")
    from_account: int | None
    to_account: int | None
    quantity: int
    converted_quantity: int | None
    unit_type: str | None
    vintage: int | None
    link_id: int | None
    authorisation_id: str | None
    purpose: str | None
    year: int | None
    proposer: str | None
    approver: str | None
    acceptor: str | None
    reason: str | None


class CalendarItemOut(BaseModel):
    party: str
    report: Literal["initial", "annual", "regular"]
    year: int = Field(description="reported year (0 for the initial report)")
    due: date
    status: Literal["submitted", "overdue", "due"]
    source: str


class LedgerRow(BaseModel):
    """ITMOs first transferred (added) and used (subtracted) by the Party in one metric and year."""

    metric: str
    year: int
    first_transferred: int
    used: int


class AdjustmentYear(BaseModel):
    year: int
    emissions: int | None
    first_transferred: int
    used: int
    adjustment: float
    adjustment_exact: str = Field(description="the exact adjustment as a fraction (``500/3``)")
    average_to_date: float | None
    adjusted_balance: float | None


class OutsidePeriodEntry(BaseModel):
    year: int
    kind: Literal["first_transfer", "use"]
    quantity: int


class Adjustments(BaseModel):
    """The Party's corresponding adjustments under its method (Decision 2/CMA.3 annex para 7)."""

    method: str
    source: str
    ndc_type: str
    first_year: int
    last_year: int
    years: list[AdjustmentYear]
    cumulative_adjustment: float
    cumulative_adjustment_exact: str
    end_of_period_adjustment: float | None
    adjusted_period_emissions: float | None
    outside_period: list[OutsidePeriodEntry]


class CorrespondingAdjustmentsOut(BaseModel):
    party: str
    ledger: list[LedgerRow]
    adjustments: Adjustments | None = Field(
        description="null until the Party's NDC accounting is recorded (`carbonlink registry ndc`)")
    note: str | None = None
