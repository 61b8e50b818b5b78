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
    ValidationError,
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


class Banking(_Doc):
    """Allowances of one period kept for a later one (multi-period scenarios only).
    ``limit``: most allowances held in the bank at the end of a period (none: unlimited;
    0: no banking)."""

    limit: float | None = Field(default=None, ge=0)


class Borrowing(_Doc):
    """Allowances of a later period surrendered early (multi-period scenarios only), at most
    ``limit`` outstanding at the end of a period; everything borrowed is repaid by the last."""

    limit: float = Field(ge=0)


class ReserveTier(_Doc):
    """A price-triggered supply step of a market in a multi-period scenario
    (:mod:`carbonlink.markets.reserves`).

    * ``release``: up to ``quantity`` extra allowances sold at ``price`` (RGGI's cost
      containment reserve, California/Québec reserve tiers; no ``quantity``: unlimited, a price
      ceiling);
    * ``withhold``: up to ``quantity`` allowances kept back from the auctions while the price
      would fall below ``price`` (RGGI's emissions containment reserve; no ``quantity``: up to
      the period's cap, a price floor).

    ``price`` and ``quantity`` are one number for every period or one per period. ``source``:
    the instrument (and article) the tier comes from."""

    name: str | None = None
    kind: Literal["release", "withhold"]
    price: float | list[float]
    quantity: float | list[float] | None = None
    source: str | None = None

    @field_validator("price", "quantity")
    @classmethod
    def _non_negative_values(cls, v: float | list[float] | None) -> float | list[float] | None:
        if v is None:
            return v
        if isinstance(v, list) and not v:
            raise ValueError("must not be empty")
        for i, x in enumerate(v if isinstance(v, list) else [v]):
            if not x >= 0:
                raise ValueError(f"{'' if not isinstance(v, list) else f'[{i}] '}must be >= 0, got {x}")
        return v

    def price_in(self, period: int) -> float:
        return self.price[period] if isinstance(self.price, list) else self.price

    def quantity_in(self, period: int) -> float | None:
        q = self.quantity
        return q[period] if isinstance(q, list) else q


class MarketStabilityReserve(_Doc):
    """A TNAC-driven reserve like the EU's (Decision (EU) 2015/1814 Art. 1(5), (5a)): after a
    period whose bank (the TNAC) exceeds ``upper``, the next period's auctions shrink by
    ``rate`` × bank (by bank − ``upper`` while the bank is at most ``band_upper``); after a bank
    below ``lower``, ``release`` allowances (at most the holdings) are added; holdings above
    ``holding_limit`` are invalidated. Every number here is in allowances, as the instrument
    states it; ``scale``: allowances per model unit (1e6 when the scenario counts Mt).
    ``initial_tnac``: the TNAC of the year before the first period, which sets the first
    period's adjustment (none: no adjustment in the first period). Defaults: the rule from 2024
    (:data:`carbonlink.markets.reserves.EU_MSR_2024`). Solved as a fixed point of the
    multi-period program."""

    rate: float = Field(default=0.24, ge=0, le=1)
    upper: float = Field(default=833e6, ge=0)
    lower: float = Field(default=400e6, ge=0)
    release: float = Field(default=100e6, ge=0)
    band_upper: float | None = Field(default=1096e6, ge=0)
    holding_limit: float | None = Field(default=400e6, ge=0)
    initial_holdings: float = Field(default=0.0, ge=0, description="allowances in the reserve "
                                    "before the first period")
    initial_tnac: float | None = Field(default=None, ge=0, description="TNAC of the year "
                                       "before the first period (allowances)")
    scale: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _thresholds(self) -> MarketStabilityReserve:
        if self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) must not exceed upper ({self.upper})")
        if self.band_upper is not None and self.band_upper < self.upper:
            raise ValueError(f"band_upper ({self.band_upper}) must not be below upper ({self.upper})")
        return self


class IntensityCap(_Doc):
    """An intensity-based cap: allowances = ``intensity`` × ``output`` (e.g. tCO2e per MWh
    times MWh). ``output`` is one number, or one per period in a multi-period scenario."""

    intensity: float = Field(ge=0)
    output: float | list[float]

    @field_validator("output")
    @classmethod
    def _check_output(cls, v: float | list[float]) -> float | list[float]:
        values = v if isinstance(v, list) else [v]
        if isinstance(v, list) and not v:
            raise ValueError("must not be empty")
        for i, x in enumerate(values):
            if not x >= 0:
                raise ValueError(f"{'' if not isinstance(v, list) else f'[{i}] '}must be >= 0, got {x}")
        return v

    def allowances(self) -> list[float]:
        """Allowances per period (one entry when ``output`` is one number)."""
        out = self.output if isinstance(self.output, list) else [self.output]
        return [self.intensity * q for q in out]


def _split_paths(data: Any) -> Any:
    """A market's ``bau``/``cap`` given per period (a list) or an intensity cap (a mapping with
    ``intensity``) become ``bau``/``cap`` of the first period plus ``bau_by_period``,
    ``cap_by_period`` and ``cap_intensity`` (so single-period readers keep one number)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    cap = out.get("cap")
    if isinstance(cap, dict | IntensityCap):
        try:
            ic = cap if isinstance(cap, IntensityCap) else IntensityCap.model_validate(cap)
        except ValidationError:
            out["cap_intensity"] = cap  # let the field's validation name the problem
            out["cap"] = 0.0
            return out
        out["cap_intensity"] = ic
        values = ic.allowances()
        out["cap"] = values[0]
        if isinstance(ic.output, list):
            out["cap_by_period"] = values
    for key in ("bau", "cap"):
        v = out.get(key)
        if isinstance(v, list | tuple):
            out[f"{key}_by_period"] = list(v)
            out[key] = v[0] if v else 0.0  # the list's own validation names an empty list
    return out


class Market(_Doc):
    """One emissions trading system for one compliance period (or, in a scenario with
    ``periods``, for each period: ``bau`` and ``cap`` may then be lists, one value a period)."""

    id: str = Field(min_length=1)
    name: str | None = None
    bau: float = Field(ge=0, description="business-as-usual emissions of the covered sources")
    cap: float = Field(ge=0, description="allowances issued")
    mac: CurveSpec
    price_ceiling: PriceCeiling | None = None
    price_floor: PriceFloor | None = None
    unit: str = "tCO2e"
    currency: str | None = None
    # ---- multi-period and intensity fields (optional; a scenario without them is unchanged)
    bau_by_period: list[float] | None = Field(default=None, min_length=1)
    cap_by_period: list[float] | None = Field(default=None, min_length=1)
    cap_intensity: IntensityCap | None = None
    banking: Banking | None = None
    borrowing: Borrowing | None = None
    initial_bank: float = Field(default=0.0, ge=0, description="allowances banked before the first period")
    # ---- stability mechanisms (multi-period scenarios only)
    reserves: list[ReserveTier] = Field(default_factory=list)
    msr: MarketStabilityReserve | None = None

    @model_validator(mode="before")
    @classmethod
    def _paths(cls, data: Any) -> Any:
        return _split_paths(data)

    @field_validator("bau_by_period", "cap_by_period")
    @classmethod
    def _non_negative(cls, v: list[float] | None) -> list[float] | None:
        for i, x in enumerate(v or []):
            if not x >= 0:
                raise ValueError(f"[{i}] must be >= 0, got {x}")
        return v

    def bau_in(self, period: int) -> float:
        """BAU of period number ``period`` (0-based; one value for every period if not a list)."""
        return self.bau if self.bau_by_period is None else self.bau_by_period[period]

    def cap_in(self, period: int) -> float:
        """Allowances issued in period number ``period`` (0-based)."""
        return self.cap if self.cap_by_period is None else self.cap_by_period[period]

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
    # ---- multi-period scenarios: the link operates from period ``start`` to ``end`` (years,
    # both included; none: from the first / to the last period)
    start: int | None = None
    end: int | None = None
    #: what becomes of ``from``-units banked in ``to`` when the link ends (after ``end``):
    #: ``kept`` (stay valid), ``cancelled`` (void) or ``converted`` (exchanged for ``to``'s own
    #: allowances at ``conversion_rate`` per credited unit). Entities foresee it.
    on_delink: Literal["kept", "cancelled", "converted"] = "kept"
    conversion_rate: float | None = Field(default=None, ge=0)

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
        if (self.on_delink == "converted") != (self.conversion_rate is not None):
            raise ValueError("conversion_rate: required with on_delink: converted, and only then")
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


class ShockSpec(_Doc):
    """One uncertain factor: ``market``'s ``variable`` (``output``, ``bau`` or ``slope``) is
    multiplied by a factor drawn from ``distribution``:

    * ``normal``: 1 + mean + sd·z (cut at 0);
    * ``lognormal``: exp(sigma·z − sigma²/2) (mean 1);
    * ``uniform``: low + (high − low)·Φ(z);

    with z standard normal (correlated across shocks by the ``correlation`` matrix: a Gaussian
    copula). ``period``: only that year of a multi-period scenario (default: every period)."""

    market: str = Field(min_length=1)
    variable: Literal["output", "bau", "slope"]
    distribution: Literal["normal", "lognormal", "uniform"] = "normal"
    mean: float = 0.0
    sd: float | None = Field(default=None, ge=0)
    sigma: float | None = Field(default=None, ge=0)
    low: float | None = Field(default=None, ge=0)
    high: float | None = Field(default=None, ge=0)
    period: int | None = None

    @model_validator(mode="after")
    def _parameters(self) -> ShockSpec:
        need = {"normal": ("sd",), "lognormal": ("sigma",), "uniform": ("low", "high")}[self.distribution]
        for key in need:
            if getattr(self, key) is None:
                raise ValueError(f"{key}: required for a {self.distribution} distribution")
        if self.distribution == "uniform" and self.low is not None and self.high is not None \
                and self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")
        return self


class Uncertainty(_Doc):
    """Shocks drawn per sample (``carbonlink sweep --samples N``), reproducible from ``seed``:
    sample k's draws come from ``numpy.random.SeedSequence(seed).spawn(N)[k]``, whatever the
    executor or the number of workers. ``correlation``: a matrix over the shocks, in order
    (default: independent)."""

    seed: int = Field(default=0, ge=0)
    shocks: list[ShockSpec] = Field(min_length=1)
    correlation: list[list[float]] | None = None

    @model_validator(mode="after")
    def _matrix(self) -> Uncertainty:
        c = self.correlation
        if c is None:
            return self
        k = len(self.shocks)
        if len(c) != k or any(len(row) != k for row in c):
            raise ValueError(f"correlation: must be a {k}×{k} matrix (one row and column per shock)")
        for i in range(k):
            if c[i][i] != 1.0:
                raise ValueError(f"correlation[{i}][{i}]: the diagonal must be 1, got {c[i][i]}")
            for j in range(k):
                if c[i][j] != c[j][i]:
                    raise ValueError(f"correlation[{i}][{j}]: the matrix must be symmetric")
                if not -1.0 <= c[i][j] <= 1.0:
                    raise ValueError(f"correlation[{i}][{j}]: must be within [-1, 1], got {c[i][j]}")
        import numpy as np

        if float(np.linalg.eigvalsh(np.asarray(c, dtype=np.float64)).min()) < -1e-10:
            raise ValueError("correlation: the matrix must be positive semi-definite")
        return self


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
    # ---- multi-period scenarios (optional): the years of the periods, strictly increasing,
    # and the discount rate per year that makes the Hotelling price path p(t) = p(0)·(1+r)^t
    periods: list[int] | None = Field(default=None, min_length=1)
    discount_rate: float = Field(default=0.0, ge=0, lt=1)
    uncertainty: Uncertainty | None = None

    @field_validator("periods")
    @classmethod
    def _increasing(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            for i in range(1, len(v)):
                if v[i] <= v[i - 1]:
                    raise ValueError(f"[{i}] years must increase strictly, got {v[i - 1]} then {v[i]}")
        return v

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
        self._check_periods()
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

    def _check_periods(self) -> None:
        n = len(self.periods) if self.periods is not None else None
        for i, m in enumerate(self.markets):
            for key in ("bau_by_period", "cap_by_period"):
                values = getattr(m, key)
                name = "cap (intensity output)" if key == "cap_by_period" and m.cap_intensity \
                    else key.removesuffix("_by_period")
                if values is not None and n is None:
                    raise ValueError(f"markets[{i}].{name}: one value per period needs `periods`")
                if values is not None and len(values) != n:
                    raise ValueError(f"markets[{i}].{name}: {len(values)} values for {n} periods")
            if m.initial_bank and n is None:
                raise ValueError(f"markets[{i}].initial_bank: needs `periods`")
            for key in ("banking", "borrowing", "msr"):
                if getattr(m, key) is not None and n is None:
                    raise ValueError(f"markets[{i}].{key}: needs `periods`")
            for k, tier in enumerate(m.reserves):
                if n is None:
                    raise ValueError(f"markets[{i}].reserves: needs `periods`")
                for key in ("price", "quantity"):
                    v = getattr(tier, key)
                    if isinstance(v, list) and len(v) != n:
                        raise ValueError(f"markets[{i}].reserves[{k}].{key}: {len(v)} values for "
                                         f"{n} periods")
        for i, lk in enumerate(self.links):
            for key in ("start", "end"):
                year = getattr(lk, key)
                if year is None:
                    continue
                if self.periods is None:
                    raise ValueError(f"links[{i}].{key}: needs `periods`")
                if year not in self.periods:
                    raise ValueError(f"links[{i}].{key}: {year} is not one of the periods "
                                     f"{', '.join(map(str, self.periods))}")
            if lk.start is not None and lk.end is not None and lk.end < lk.start:
                raise ValueError(f"links[{i}].end: {lk.end} is before start {lk.start}")
        ids = {m.id for m in self.markets}
        for k, sh in enumerate(self.uncertainty.shocks if self.uncertainty else []):
            if sh.market not in ids:
                raise ValueError(f"uncertainty.shocks[{k}].market: unknown market {sh.market!r}")
            if sh.period is not None and (self.periods is None or sh.period not in self.periods):
                raise ValueError(f"uncertainty.shocks[{k}].period: {sh.period} is not one of the "
                                 "periods")
            if sh.variable == "slope" and isinstance(self.market(sh.market).mac, FirmsSpec):
                raise ValueError(f"uncertainty.shocks[{k}].variable: a slope shock needs a linear "
                                 "or steps MAC (firm files are not rescaled)")

    def market(self, market_id: str) -> Market:
        for m in self.markets:
            if m.id == market_id:
                return m
        raise KeyError(market_id)

    def autarky(self) -> Scenario:
        """The same markets with no links and no offsets."""
        return self.model_copy(update={"links": [], "offsets": []})
