"""Article 6 accounting: corresponding adjustments per Party and year (Decision 2/CMA.3 annex III).

The ledger (table ``ca_entries``) holds one row per event that moves a Party's emissions balance:

* ``first_transfer`` — the first-transferring Party **adds** the quantity, counted for the
  vintage year (the calendar year in which the mitigation outcome occurred), para 8;
* ``use`` — the using Party **subtracts** the quantity, counted for the calendar year of use,
  para 8. Acquisitions are recorded by the registry but are *not* an adjustment trigger.

:func:`corresponding_adjustments` applies the method the Party chose under para 7 to those
annual sums and its reported emissions:

* ``trajectory`` — single-year NDC with an indicative multi-year trajectory/budget, 7(a)(i):
  an annual adjustment ``first transferred − used`` every year, and the cumulative total;
* ``averaging`` — single-year NDC, 7(a)(ii): the adjustment applied in the NDC year is the
  average annual amount = cumulative (first transferred − used) ÷ the number of **elapsed**
  years of the implementation period; earlier years show the running average, indicatively;
* ``multi_year`` — multi-year NDC, 7(b): annual adjustments every year and cumulatively at the
  end of the implementation period.

The NDC type decides which methods apply (para 7): a ``single_year`` NDC uses 7(a) —
``trajectory`` or ``averaging``; a ``multi_year`` NDC uses 7(b) — ``multi_year`` (or an
equivalent ``trajectory``), never ``averaging``. For a multi-year NDC the cumulative adjustment
is applied at the end of the period: :attr:`CAResult.end_of_period_adjustment` and
:attr:`CAResult.adjusted_period_emissions` (emissions of the whole period + cumulative CA).

Adjusted emissions balance (para 8) = emissions + adjustment. Numbers are exact
(:class:`fractions.Fraction`): averaging can produce a non-integer tonnage. The balance is kept
in the NDC's metric: entries in any other metric (non-GHG, para 9, reversed signs) are never
summed into it. Ledger entries dated outside the implementation period are not in any year of
the balance; they are listed in :attr:`CAResult.outside_period`, not dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

METHODS = ("trajectory", "averaging", "multi_year")
NDC_TYPES = ("single_year", "multi_year")
#: para 7(a) methods for a single-year NDC, 7(b) for a multi-year NDC
NDC_TYPE_METHODS = {"single_year": ("trajectory", "averaging"),
                    "multi_year": ("multi_year", "trajectory")}
METHOD_SOURCE = {
    "trajectory": "Decision 2/CMA.3 annex para 7(a)(i)",
    "averaging": "Decision 2/CMA.3 annex para 7(a)(ii)",
    "multi_year": "Decision 2/CMA.3 annex para 7(b)",
}


@dataclass(frozen=True)
class CAYear:
    year: int
    emissions: int | None
    first_transferred: int
    used: int
    #: the corresponding adjustment applied for this year (0 outside the NDC year for averaging)
    adjustment: Fraction
    #: running average (averaging only): cumulative net ÷ elapsed years
    average_to_date: Fraction | None
    #: emissions + adjustment (None when emissions are not reported)
    adjusted_balance: Fraction | None


@dataclass(frozen=True)
class CAResult:
    party: str
    method: str
    first_year: int
    last_year: int
    years: list[CAYear] = field(default_factory=list)
    ndc_type: str = "single_year"
    #: ledger entries dated outside first_year..last_year: (year, kind, quantity), kind
    #: ``first_transfer`` or ``use`` — they are in no year of this balance
    outside_period: list[tuple[int, str, int]] = field(default_factory=list)

    @property
    def cumulative_first_transferred(self) -> int:
        return sum(y.first_transferred for y in self.years)

    @property
    def cumulative_used(self) -> int:
        return sum(y.used for y in self.years)

    @property
    def cumulative_adjustment(self) -> Fraction:
        """Sum of adjustments applied (for multi-year NDCs: the end-of-period cumulative CA)."""
        return sum((y.adjustment for y in self.years), Fraction(0))

    @property
    def end_of_period_adjustment(self) -> Fraction | None:
        """Multi-year NDC (para 7(b)): the cumulative adjustment applied at the end of the
        implementation period; None for a single-year NDC."""
        return self.cumulative_adjustment if self.ndc_type == "multi_year" else None

    @property
    def adjusted_period_emissions(self) -> Fraction | None:
        """Multi-year NDC: emissions of the whole period + the end-of-period cumulative
        adjustment (None for a single-year NDC or when a year's emissions are missing)."""
        if self.ndc_type != "multi_year" or any(y.emissions is None for y in self.years):
            return None
        return sum((Fraction(y.emissions or 0) for y in self.years), Fraction(0)) \
            + self.cumulative_adjustment

    @property
    def ndc_year(self) -> CAYear:
        return self.years[-1]

    @property
    def source(self) -> str:
        return METHOD_SOURCE[self.method]


def corresponding_adjustments(
    party: str, method: str, first_year: int, last_year: int,
    first_transferred: Mapping[int, int], used: Mapping[int, int],
    emissions: Mapping[int, int] | None = None, ndc_type: str | None = None,
) -> CAResult:
    """Apply ``method`` over ``first_year..last_year`` (see the module docstring).
    ``ndc_type`` defaults to ``multi_year`` for the ``multi_year`` method, else
    ``single_year``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    ndc_type = ndc_type or ("multi_year" if method == "multi_year" else "single_year")
    if ndc_type not in NDC_TYPES:
        raise ValueError(f"ndc_type must be one of {', '.join(NDC_TYPES)}, got {ndc_type!r}")
    if method not in NDC_TYPE_METHODS[ndc_type]:
        raise ValueError(f"a {ndc_type} NDC applies {' or '.join(NDC_TYPE_METHODS[ndc_type])} "
                         f"(para 7), not {method}")
    if last_year < first_year:
        raise ValueError(f"last_year ({last_year}) is before first_year ({first_year})")
    emissions = emissions or {}
    out: list[CAYear] = []
    cumulative_net = 0
    for i, y in enumerate(range(first_year, last_year + 1)):
        ft, u = int(first_transferred.get(y, 0)), int(used.get(y, 0))
        cumulative_net += ft - u
        avg: Fraction | None = None
        if method == "averaging":
            avg = Fraction(cumulative_net, i + 1)  # elapsed years, para 7(a)(ii)
            adj = avg if y == last_year else Fraction(0)
        else:
            adj = Fraction(ft - u)
        e = emissions.get(y)
        out.append(CAYear(y, e, ft, u, adj, avg, None if e is None else e + adj))
    outside = sorted(
        [(int(y), "first_transfer", int(q)) for y, q in first_transferred.items()
         if q and not first_year <= y <= last_year]
        + [(int(y), "use", int(q)) for y, q in used.items()
           if q and not first_year <= y <= last_year])
    return CAResult(party, method, first_year, last_year, out, ndc_type, outside)


def fmt(x: Fraction | int | None) -> str:
    """Render an exact quantity: integers as such, fractions to two decimals."""
    if x is None:
        return "—"
    if isinstance(x, int) or x.denominator == 1:
        return str(int(x))
    return f"{float(x):.2f}"
