"""Dated exchange rates (``fx.yaml``): a price is converted at the rate of its own date.

>>> rate("CHF", "EUR", "2015-02").value  # doctest: +SKIP
0.936...   # EUR per CHF, the 2015 annual average
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from carbonlink.errors import DocumentError
from carbonlink.model.io import load_data_file

FX_FILE = Path(__file__).parent / "fx.yaml"

__all__ = ["FX_FILE", "FxRate", "currencies", "rate"]


@dataclass(frozen=True)
class FxRate:
    """``value`` units of ``to`` per unit of ``from_``, read for ``period`` (the period of the
    series used: the price's own year, else the nearest earlier year, said in ``note``)."""

    from_: str
    to: str
    value: float
    period: str
    source: str
    verified: bool
    note: str | None = None

    def describe(self) -> str:
        text = (f"converted at {self.value:.4g} {self.to} per {self.from_} "
                f"({self.period} average; {self.source})")
        if self.note:
            text += f"; {self.note}"
        if not self.verified:
            text += "; rate not verified"
        return text


@dataclass(frozen=True)
class _Series:
    source: str
    verified: bool
    rates: dict[str, float]  # period (YYYY or YYYY-MM) -> units per 1 base


@cache
def _load() -> tuple[str, dict[str, _Series]]:
    raw: Any = load_data_file(FX_FILE)
    fx = raw.get("fx") if isinstance(raw, dict) else None
    if not isinstance(fx, dict) or not isinstance(fx.get("series"), dict):
        raise DocumentError("fx.series", "must be a mapping of currency to series", source=str(FX_FILE))
    base = str(fx.get("base") or "")
    out: dict[str, _Series] = {}
    for cur, s in fx["series"].items():
        where = f"fx.series.{cur}"
        if not isinstance(s, dict) or not s.get("source") or not isinstance(s.get("rates"), dict):
            raise DocumentError(where, "needs a source and a mapping of rates", source=str(FX_FILE))
        rates: dict[str, float] = {}
        for period, value in s["rates"].items():
            if not isinstance(value, int | float) or not value > 0:
                raise DocumentError(f"{where}.rates.{period}", f"must be a positive number, got {value!r}",
                                    source=str(FX_FILE))
            rates[str(period)] = float(value)
        out[str(cur).upper()] = _Series(str(s["source"]), bool(s.get("verified", True)), rates)
    return base, out


def currencies() -> list[str]:
    """Every currency the reference data can convert (the base included)."""
    base, series = _load()
    return sorted({base, *series})


def _per_base(cur: str, when: str) -> tuple[float, str, str, bool, str | None]:
    """Units of ``cur`` per 1 base for the period covering ``when`` (``YYYY[-MM[-DD]]`` or
    ``YYYY-Qn``): the month, else the year, else the nearest earlier year."""
    base, series = _load()
    if cur == base:
        return 1.0, when[:4], "", True, None
    s = series.get(cur)
    if s is None:
        raise KeyError(cur)
    month = when[:7] if len(when) >= 7 and when[4] == "-" and when[5:7].isdigit() else None
    if month and month in s.rates:
        return s.rates[month], month, s.source, s.verified, None
    year = when[:4]
    if year in s.rates:
        return s.rates[year], year, s.source, s.verified, None
    earlier = sorted(p for p in s.rates if len(p) == 4 and p < year)
    if earlier:
        p = earlier[-1]
        return s.rates[p], p, s.source, s.verified, f"no {cur} rate for {year}: the {p} rate is used"
    later = sorted(p for p in s.rates if len(p) == 4)
    p = later[0]
    return s.rates[p], p, s.source, s.verified, f"no {cur} rate for {year} or earlier: the {p} rate is used"


def rate(from_: str, to: str, when: str | int) -> FxRate:
    """Units of ``to`` per unit of ``from_`` at the date ``when`` (a year or an ISO date).
    Raises KeyError for a currency the reference data does not carry."""
    f, t, w = from_.upper(), to.upper(), str(when)
    if f == t:
        return FxRate(f, t, 1.0, w[:4], "same currency", True)
    vf, pf, sf, okf, nf = _per_base(f, w)
    vt, pt, st, okt, nt = _per_base(t, w)
    period = pf if pf == pt or not st else (pt if not sf else f"{pf}/{pt}")
    source = "; ".join(s for s in (sf, st) if s)
    note = "; ".join(n for n in (nf, nt) if n) or None
    return FxRate(f, t, vt / vf, period, source, okf and okt, note)
