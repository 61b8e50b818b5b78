"""The scenario document: markets, links between them, and commonly accepted offsets.

A scenario is what the equilibrium engine (:mod:`carbonlink.markets`) solves. Agreements reuse
:class:`Link` for their link terms, so an agreement can be simulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveFloat,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

NonNegFloat = float


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class LinearCurve(_Doc):
    """Marginal cost rises linearly: MAC(a) = slope · a."""

    slope: PositiveFloat


class LinearSpec(_Doc):
    linear: LinearCurve


class StepsSpec(_Doc):
    """Abatement (or offset supply) options ``[[quantity, unit_cost], …]``, any order."""

    steps: list[tuple[float, float]] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (q, c) in enumerate(v):
            if not q >= 0:
                raise ValueError(f"step [{i}] quantity must be >= 0, got {q}")
            if not c >= 0:
                raise ValueError(f"step [{i}] unit_cost must be >= 0, got {c}")
        return v


class FirmsSpec(_Doc):
    """Firm-level options in a CSV or Parquet file with columns ``firm, quantity, unit_cost``.

    ``firms`` is relative to the document's folder; :func:`carbonlink.model.load_scenario`
    resolves it.
    """

    firms: str

    @field_validator("firms")
    @classmethod
    def _resolve(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir")
        p = Path(v)
        if base is not None and not p.is_absolute():
            p = Path(base) / p
        return str(p)



def _curve_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        kinds = [k for k in ("linear", "steps", "firms") if k in v]
        return f"kind:{kinds[0]}" if len(kinds) == 1 else None
    if isinstance(v, LinearSpec):
        return "kind:linear"
    if isinstance(v, StepsSpec):
        return "kind:steps"
    if isinstance(v, FirmsSpec):
        return "kind:firms"
    return None


CurveSpec = Annotated[
    Annotated[LinearSpec, Tag("kind:linear")] | Annotated[StepsSpec, Tag("kind:steps")]
    | Annotated[FirmsSpec, Tag("kind:firms")],
    Discriminator(
        _curve_kind,
        custom_error_type="curve_kind",
        custom_error_message="must have exactly one of the keys linear, steps, firms",
    ),
]


class PriceCeiling(_Doc):
    """Extra allowances sold at ``price`` (up to ``max_release`` if given)."""

    price: float = Field(ge=0)
    max_release: float | None = Field(default=None, ge=0)


class PriceFloor(_Doc):
    """Allowances withheld while the price would fall below ``price`` (up to ``max_withheld``,
    default the market's cap)."""

    price: float = Field(ge=0)
    max_withheld: float | None = Field(default=None, ge=0)


class Market(_Doc):
    """One emissions trading system for one compliance period."""

    id: str = Field(min_length=1)
    name: str | None = None
    bau: float = Field(ge=0, description="business-as-usual emissions of the covered sources")
    cap: float = Field(ge=0, description="allowances issued")
    mac: CurveSpec
    price_ceiling: PriceCeiling | None = None
    price_floor: PriceFloor | None = None
    unit: str = "tCO2e"
    currency: str | None = None

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> Market:
        if self.price_ceiling and self.price_floor and self.price_floor.price > self.price_ceiling.price:
            raise ValueError(
                f"price_floor.price ({self.price_floor.price}) must not exceed "
                f"price_ceiling.price ({self.price_ceiling.price})"
            )
        return self


class Link(_Doc):
    """Entities in ``to`` may surrender units issued by ``from``.

    One ``from``-unit counts as ``exchange_rate · (1 − discount)`` units in ``to``.
    """

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    exchange_rate: PositiveFloat = 1.0
    discount: float = Field(default=0.0, ge=0, lt=1)
    quota: float | None = Field(default=None, ge=0, description="max from-units moved (jurisdiction level)")
    entity_share: float | None = Field(
        default=None, ge=0, le=1, description="max share of an entity's emissions covered by this link"
    )
    transfer_tax: float = Field(default=0.0, ge=0, description="per from-unit, paid by the buyer, kept by `to`")
    rent_holder: Literal["importer", "exporter"] = "importer"

    @property
    def factor(self) -> float:
        """Units credited in ``to`` per ``from``-unit moved."""
        return self.exchange_rate * (1.0 - self.discount)

    @property
    def restricted(self) -> bool:
        return (
            self.quota is not None or self.entity_share is not None or self.transfer_tax > 0
            or self.discount > 0 or self.exchange_rate != 1.0
        )

    @model_validator(mode="after")
    def _not_to_itself(self) -> Link:
        if self.from_ == self.to:
            raise ValueError(f"a link cannot go from a market to itself ({self.to!r})")
        return self


class Acceptance(_Doc):
    """How one market accepts an offset: usage limit (absolute or share of emissions), discount."""

    limit: float | None = Field(default=None, ge=0)
    limit_share: float | None = Field(default=None, ge=0, le=1)
    discount: float = Field(default=0.0, ge=0, lt=1)


class Offset(_Doc):
    """Credits commonly accepted by several markets (indirect linking)."""

    id: str = Field(min_length=1)
    supply: CurveSpec
    accepted_by: dict[str, Acceptance] = Field(min_length=1)


def expand_links(raw: Any) -> Any:
    """``{between: [A, B], …}`` is shorthand for two links with the same terms."""
    if not isinstance(raw, list):
        return raw
    out: list[Any] = []
    for item in raw:
        if isinstance(item, dict) and "between" in item:
            pair = item["between"]
            terms = {k: v for k, v in item.items() if k != "between"}
            if not (isinstance(pair, list) and len(pair) == 2):
                out.append(item)  # let validation report it
                continue
            a, b = pair
            out.append({"from": a, "to": b, **terms})
            out.append({"from": b, "to": a, **terms})
        else:
            out.append(item)
    return out


class Scenario(_Doc):
    """Markets, the links between them and the offsets they accept."""

    name: str = "scenario"
    description: str | None = None
    markets: list[Market] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)
    offsets: list[Offset] = Field(default_factory=list)

    @field_validator("links", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return expand_links(v)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        ids = [m.id for m in self.markets]
        seen: set[str] = set()
        for i, mid in enumerate(ids):
            if mid in seen:
                raise ValueError(f"markets[{i}].id: duplicate market id {mid!r}")
            seen.add(mid)
        pairs: set[tuple[str, str]] = set()
        for i, link in enumerate(self.links):
            for end, mid in (("from", link.from_), ("to", link.to)):
                if mid not in seen:
                    raise ValueError(f"links[{i}].{end}: unknown market {mid!r} (known: {', '.join(ids)})")
            if (link.from_, link.to) in pairs:
                raise ValueError(f"links[{i}]: duplicate link {link.from_} -> {link.to}")
            pairs.add((link.from_, link.to))
        self._same_currency()
        oids: set[str] = set()
        for k, off in enumerate(self.offsets):
            if off.id in oids or off.id in seen:
                raise ValueError(f"offsets[{k}].id: duplicate id {off.id!r}")
            oids.add(off.id)
            for mid in off.accepted_by:
                if mid not in seen:
                    raise ValueError(f"offsets[{k}].accepted_by.{mid}: unknown market {mid!r}")
        return self

    def _same_currency(self) -> None:
        """Linked markets clear at one price, so they must price in one currency: two linked
        markets with different currencies, or one with a currency and one without, are an error
        (convert one market's curves and price controls at a stated exchange rate first)."""
        cur = {m.id: (m.currency.upper() if m.currency else None) for m in self.markets}
        for i, link in enumerate(self.links):
            a, b = cur[link.from_], cur[link.to]
            if a == b:
                continue
            if a and b:
                raise ValueError(
                    f"links[{i}]: {link.from_} prices in {a} and {link.to} in {b}; linked markets "
                    "clear at one price, so state both in one currency (convert one market's MAC "
                    "and price controls at a stated exchange rate; `carbonlink assess` does this "
                    "from dated reference rates)")
            missing, other, known = (link.to, link.from_, a) if a else (link.from_, link.to, b)
            idx = next(k for k, m in enumerate(self.markets) if m.id == missing)
            raise ValueError(
                f"markets[{idx}].currency: {missing} states no currency but is linked to {other}, "
                f"which prices in {known}; give {missing} a currency (converted to {known} if it "
                "prices in another)")

    def market(self, market_id: str) -> Market:
        for m in self.markets:
            if m.id == market_id:
                return m
        raise KeyError(market_id)

    def autarky(self) -> Scenario:
        """The same markets with no links and no offsets."""
        return self.model_copy(update={"links": [], "offsets": []})
