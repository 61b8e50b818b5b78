"""Reference data types: jurisdictions (parties) and emissions trading systems (ETSs).

Every number is a :class:`Figure` (or :class:`PriceFigure`) that carries its ``source`` and
``year``. An unknown value is an explicit ``value: null`` with a ``note`` saying why; a value the
maintainers could not confirm against a retrieved source ships with ``verified: false``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Level = Literal["supranational", "national", "subnational", "city"]
CapType = Literal["absolute", "intensity"]
EtsStatus = Literal["in_force", "pilot", "under_development", "ended"]


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Ref):
    """One number with its provenance. ``value: null`` means unknown (then ``note`` says why)."""

    value: float | None
    unit: str | None = None
    year: int | None = None
    source: str | None = None
    note: str | None = None
    verified: bool = True

    @model_validator(mode="after")
    def _provenance(self) -> Figure:
        if self.value is None:
            if not self.note:
                raise ValueError("an unknown value (value: null) needs a note saying why")
        else:
            if not self.source:
                raise ValueError(f"value {self.value} needs a source")
            if self.year is None:
                raise ValueError(f"value {self.value} needs a year")
        return self

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def text(self) -> str:
        """The value for people: ``1,386,000,000 t``, ``84.5 EUR``, or ``unknown``."""
        if self.value is None:
            return "unknown"
        unit = getattr(self, "currency", None) or self.unit
        return f"{self.value:,.2f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")


class PriceFigure(Figure):
    """A price (per tCO2e unless ``unit`` says otherwise) in ``currency``; ``date`` when known."""

    currency: str | None = None
    date: str | None = None
    kind: str | None = Field(default=None, description="e.g. auction clearing, annual average")
    fx_usd: float | None = Field(default=None, gt=0, description="US$ per unit of `currency` at "
                                 "`date`, as the source states it (used to convert a dated "
                                 "price instead of today's exchange rate)")


class Fact(_Ref):
    """A non-numeric design fact (yes/no or a short description) with its provenance."""

    value: bool | str | None
    source: str | None = None
    year: int | None = None
    note: str | None = None
    verified: bool = True

    @model_validator(mode="after")
    def _provenance(self) -> Fact:
        if self.value is None and not self.note:
            raise ValueError("an unknown fact (value: null) needs a note saying why")
        if self.value is not None and not self.source:
            raise ValueError(f"fact {self.value!r} needs a source")
        return self

    @property
    def text(self) -> str:
        """The value for people: ``yes``/``no``, the description, or ``unknown``."""
        if self.value is None:
            return "unknown"
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return self.value


class NdcStatus(_Ref):
    """What is known about a Party's NDC (Paris Agreement Art. 4.2)."""

    submitted: Fact | None = None
    latest: str | None = Field(default=None, description="e.g. 'updated NDC 2021', 'NDC 3.0 2025'")
    target: str | None = None
    type: Literal["single_year", "multi_year"] | None = None
    note: str | None = None


class Jurisdiction(_Ref):
    """A party (or would-be party) to a linkage agreement: supranational, national, sub-national
    or city. ``paris_party`` is about the jurisdiction's own Party (its ``parent`` for a
    sub-national or city jurisdiction)."""

    id: str = Field(min_length=1)
    name: str
    level: Level
    parent: str | None = None
    paris_party: Fact | None = Field(default=None, description="own Party status; sub-national: see parent")
    ndc: NdcStatus | None = None
    members: list[str] = Field(default_factory=list, description="e.g. RGGI's states")
    note: str | None = None


class Allocation(_Ref):
    free_share: Figure | None = None
    auctioning: Fact | None = None
    method: str | None = Field(default=None, description="e.g. benchmarks, grandparenting, output-based")
    note: str | None = None


class OffsetRules(_Ref):
    eligible: list[str] = Field(default_factory=list, description="eligible credit types")
    limit_share: Figure | None = Field(default=None, description="usage limit, share of obligation")
    international: Fact | None = None
    note: str | None = None


class Penalty(_Ref):
    """Penalty for excess emissions: a price per tonne and/or a multiple of the shortfall."""

    per_tonne: PriceFigure | None = None
    multiple: Figure | None = Field(default=None, description="allowances due per missing allowance")
    make_good: Fact | None = None
    note: str | None = None


class ETS(_Ref):
    """One emissions trading system and the design elements compared when linking it."""

    id: str = Field(min_length=1)
    name: str
    jurisdiction: str
    participants: list[str] = Field(default_factory=list,
                                    description="jurisdictions covered besides the owner")
    status: EtsStatus = "in_force"
    start_year: int | None = None
    mandatory: Fact | None = None
    sectors: list[str] = Field(default_factory=list)
    gases: list[str] = Field(default_factory=list)
    coverage_share: Figure | None = None
    cap_type: CapType | None = None
    cap: Figure
    cap_trajectory: str | None = None
    covered_emissions: Figure
    allocation: Allocation | None = None
    offsets: OffsetRules = Field(default_factory=OffsetRules)
    price: PriceFigure
    price_floor: PriceFigure | None = None
    price_ceiling: PriceFigure | None = None
    reserves: list[str] = Field(default_factory=list)
    banking: Fact | None = None
    borrowing: Fact | None = None
    compliance_period_years: Figure | None = None
    mrv: Fact | None = None
    penalty: Penalty | None = None
    registry: Fact | None = None
    market_oversight: Fact | None = None
    linked_with: list[str] = Field(default_factory=list)
    pre_link_prices: list[PriceFigure] = Field(
        default_factory=list, description="observed prices before the system linked with "
        "`linked_with` (its autarky state), each with year/date; used to calibrate an "
        "assessment of a link that is already in force")
    pre_link_caps: list[Figure] = Field(
        default_factory=list, description="annual caps in pre-link years (same use)")
    sources: list[str] = Field(default_factory=list)
    note: str | None = None
