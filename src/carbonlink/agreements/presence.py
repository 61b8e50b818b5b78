"""Whether a datum is known: the one helper every rule uses to read reference data.

Unknown is unknown. A figure or fact that is missing from a fact sheet (the key is absent or
``null``) and one recorded as ``value: null`` (with a note saying why) are both *unknown*: a rule
that needs it rates the dimension ``unknown`` and reports an ``info`` finding naming the data gap
— never ``aligned``, never a conflict. A price control recorded as *absent* (``absent: true``
with the source that says the system has none) is known: ``Known.absent`` is true, ``value`` is
``None`` and no gap is reported; the rule reads it as "there is none". A known figure carries
the text a finding quotes: the value with its year and, for a dated series read on the reference
date, the period it holds for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbonlink.model.jurisdiction import Fact, Figure


@dataclass(frozen=True)
class Known:
    """A datum read for a rule: its ``value`` (``None`` when unknown or absent), the ``gap``
    that makes it unknown (``None`` when known), ``text``, the value as a finding quotes it, and
    ``absent``: known to be absent (the system has no such element, as the source says)."""

    value: Any
    gap: str | None
    text: str
    absent: bool = False

    @property
    def known(self) -> bool:
        """Known either way: a value, or recorded as absent."""
        return self.gap is None

    @property
    def present(self) -> bool:
        """Known and there is one (a value to compare)."""
        return self.gap is None and not self.absent


def _period(item: Figure | Fact) -> str:
    """``valid 2021-01-01 to 2025-12-31`` when the item is one entry of a dated series."""
    period = item.period
    return f"valid {period}" if period else ""


def describe(item: Figure | Fact) -> str:
    """The value for a finding: ``6% of compliance obligation (2026, valid 2026-01-01 –
    2030-12-31)``; a share as a percentage, then the year and the period it holds for."""
    unit = item.unit or "" if isinstance(item, Figure) else ""
    if isinstance(item, Figure) and isinstance(item.value, float | int) and unit.startswith("share"):
        rest = unit.removeprefix("share").strip()
        base = f"{item.value:.0%}" + (f" {rest}" if rest else "")
    else:
        base = item.text
    inner = ", ".join(x for x in (str(item.year) if item.year is not None else "",
                                  _period(item)) if x)
    return f"{base} ({inner})" if inner else base


def datum(item: Figure | Fact | None, what: str) -> Known:
    """``item`` read as a datum named ``what`` (e.g. ``price ceiling of CA_CAT``)."""
    if item is None:
        return Known(None, f"{what} not recorded", "unknown")
    if isinstance(item, Figure) and item.absent:
        return Known(None, None, describe(item), absent=True)
    if item.value is None:
        note = f" ({item.note})" if item.note else ""
        return Known(None, f"{what} unknown{note}", "unknown")
    return Known(item.value, None, describe(item))


def listed(values: list[Any] | None, what: str) -> Known:
    """A list (sectors, gases) read as a datum: empty means not recorded."""
    if not values:
        return Known(None, f"{what} not recorded", "unknown")
    return Known(list(values), None, ", ".join(str(v) for v in values))


def gaps(*items: Known) -> list[str]:
    """The gaps of the unknown items, in order."""
    return [k.gap for k in items if k.gap is not None]
