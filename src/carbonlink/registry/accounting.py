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

Adjusted emissions balance (para 8) = emissions + adjustment. Numbers are exact
(:class:`fractions.Fraction`): averaging can produce a non-integer tonnage. Non-GHG metrics
(para 9) reverse signs relative to the indicator; they are recorded but not balanced here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

METHODS = ("trajectory", "averaging", "multi_year")
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
    def ndc_year(self) -> CAYear:
        return self.years[-1]

    @property
    def source(self) -> str:
        return METHOD_SOURCE[self.method]


def corresponding_adjustments(
    party: str, method: str, first_year: int, last_year: int,
    first_transferred: Mapping[int, int], used: Mapping[int, int],
    emissions: Mapping[int, int] | None = None,
) -> CAResult:
    """Apply ``method`` over ``first_year..last_year`` (see the module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
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
    return CAResult(party, method, first_year, last_year, out)


def fmt(x: Fraction | int | None) -> str:
    """Render an exact quantity: integers as such, fractions to two decimals."""
    if x is None:
        return "—"
    if isinstance(x, int) or x.denominator == 1:
        return str(int(x))
    return f"{float(x):.2f}"
