"""Which observed price of an ETS a figure reads, and how it is converted — one choice, shared
by the calibration (:mod:`carbonlink.assess.calibrate`) and the feasibility rules
(:mod:`carbonlink.agreements.feasibility`), so a report quotes one set of figures.

* When the systems are **already linked** to each other, today's price is a linked price, so
  each system's observed price **before the link** is read (:func:`choose_pre_link`,
  :data:`PRE_LINK_RULE`).
* Otherwise the dated price the ETS fact sheet holds (for the feasibility rules: the entry valid
  on the check's reference date).
* A price is converted at the exchange rate of its own date (:func:`convert_price`; the
  source's rate of the day when it gives one, else the dated series in ``fx.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from carbonlink.data.fx import rate as fx_rate

__all__ = ["PRE_LINK_RULE", "PreLinkChoice", "PriceChoice", "already_linked", "choose_pre_link",
           "convert_price", "price_date", "reference_prices"]

PRE_LINK_RULE = (
    "For systems that are already linked to each other, today's observed price is a linked "
    "price, so each market is calibrated to its observed price before the link (its autarky "
    "state): the latest pre-link year in which every market has an observed price, else each "
    "market's latest pre-link price (the years then differ and are labelled); caps from the "
    "same pre-link year when the reference data has them, else the nearest earlier year "
    "(labelled). Without a pre-link price for every market, today's prices are used.")


def _before(fig: Any, link_date: str | None) -> bool:
    """Whether a dated figure was observed before ``link_date`` (``YYYY[-MM[-DD]]``)."""
    if link_date is None:
        return True
    year = getattr(fig, "year", None)
    if year is None:
        return False
    try:
        link_year = int(str(link_date)[:4])
    except ValueError:
        return True
    if int(year) != link_year:
        return int(year) < link_year
    date = getattr(fig, "date", None)
    return date is not None and str(date) < str(link_date)


def _date_key(fig: Any) -> tuple[int, str]:
    return int(getattr(fig, "year", None) or 0), str(getattr(fig, "date", None) or "")


def already_linked(ets_ids: list[str], etss: Mapping[str, Any]) -> bool:
    """Every system assessed is, in the reference data, already linked to another of them."""
    if len(ets_ids) < 2:
        return False
    return all(any(p in ets_ids and p != eid for p in (getattr(etss[eid], "linked_with", None)
                                                          or []))
               for eid in ets_ids)


@dataclass
class PreLinkChoice:
    """The pre-link price (and cap, when known) chosen for each market, and how."""

    prices: dict[str, Any]
    caps: dict[str, Any]
    year: int | None  # the common price year, None when the years differ
    notes: list[str]


def choose_pre_link(ets_ids: list[str], etss: Mapping[str, Any],
                    link_date: str | None) -> PreLinkChoice | None:
    """Apply the pre-link rule (:data:`PRE_LINK_RULE`); None when some market has no pre-link
    price (then today's prices are used for all)."""
    cands: dict[str, list[Any]] = {}
    for eid in ets_ids:
        figs = [f for f in getattr(etss[eid], "pre_link_prices", None) or []
                if getattr(f, "value", None) is not None and _before(f, link_date)]
        if not figs:
            return None
        cands[eid] = sorted(figs, key=_date_key)
    common = set.intersection(*({int(f.year) for f in figs} for figs in cands.values()))
    notes: list[str] = []
    if common:
        year: int | None = max(common)
        prices = {eid: [f for f in figs if int(f.year) == year][-1] for eid, figs in cands.items()}
    else:
        year = None
        prices = {eid: figs[-1] for eid, figs in cands.items()}
        notes.append("the pre-link price years differ (" + ", ".join(
            f"{eid} {prices[eid].year}" for eid in ets_ids) + "): no year has an observed "
            "price for every market")
    caps: dict[str, Any] = {}
    for eid in ets_ids:
        py = int(prices[eid].year)
        cap_figs = sorted((c for c in getattr(etss[eid], "pre_link_caps", None) or []
                           if getattr(c, "value", None) is not None and _before(c, link_date)),
                          key=_date_key)
        if not cap_figs:
            continue
        same = [c for c in cap_figs if int(c.year) == py]
        earlier = [c for c in cap_figs if int(c.year) < py]
        cap = same[-1] if same else earlier[-1] if earlier else cap_figs[0]
        caps[eid] = cap
        if int(cap.year) != py:
            notes.append(f"{eid}: the cap is from {cap.year}, the price from {py} (no pre-link "
                         f"cap for {py} in the reference data)")
    return PreLinkChoice(prices=prices, caps=caps, year=year, notes=notes)


@dataclass
class PriceChoice:
    """The price figure read for each system; ``pre`` is the pre-link choice when one applies."""

    figures: dict[str, Any]
    linked: bool  # the systems are already linked to each other
    pre: PreLinkChoice | None

    @property
    def basis(self) -> str:
        return "pre_link" if self.pre is not None else "current"


def reference_prices(ets_ids: list[str], etss: Mapping[str, Any], link_date: str | None,
                     basis: str = "pre_link") -> PriceChoice:
    """The price each system's figures read: its pre-link price when the systems are already
    linked and every one has one (``basis="pre_link"``), else the ``price`` figure of the fact
    sheet given (for a fact sheet read as of a date, the entry valid on that date)."""
    linked = already_linked(ets_ids, etss)
    pre = choose_pre_link(ets_ids, etss, link_date) if linked and basis == "pre_link" else None
    figures = {eid: pre.prices[eid] if pre is not None else getattr(etss[eid], "price", None)
               for eid in ets_ids}
    return PriceChoice(figures=figures, linked=linked, pre=pre)


def price_date(fig: Any, default: str | None = None) -> str | None:
    """The date a price was observed (its date, else its year), for its exchange rate."""
    d = getattr(fig, "date", None) or getattr(fig, "year", None)
    return str(d) if d is not None else default


def convert_price(fig: Any, cur: str, to: str, when: str) -> tuple[float, str | None]:
    """Units of ``to`` per unit of ``cur`` for the price ``fig`` observed at ``when``, and how
    (``None`` when no conversion is needed): the source's own rate of the day when it gives one
    (``fx_usd``), else the dated reference series. Raises KeyError for a currency the reference
    data does not carry."""
    cur, to = cur.upper(), to.upper()
    if cur == to:
        return 1.0, None
    dated = getattr(fig, "fx_usd", None)
    if dated is None:
        r = fx_rate(cur, to, when)
        return r.value, r.describe()
    day = f"converted at the source's rate of the day (US$ {dated} per {cur})"
    if to == "USD":
        return float(dated), day
    b = fx_rate(to, "USD", when)
    return float(dated) / b.value, f"{day}; {b.describe()}"
