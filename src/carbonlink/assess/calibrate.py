"""Markets for the simulator from the shipped ETS reference data plus labelled assumptions.

Calibration (one linear MAC per ETS, quantities in MtCO2e, money in millions of the reporting
currency, prices per tCO2e):

* ``cap`` — the ETS's annual cap from the reference data (``cap.<ETS>`` overrides it);
* ``price`` — the observed price from the reference data, converted to the reporting currency
  (``price.<ETS>`` overrides it, in the ETS's own currency). When the systems assessed are
  **already linked** to each other, today's price is a linked price, not an autarky price, so
  the calibration uses each system's observed price **before the link** (``pre_link_prices``):
  the latest pre-link year in which every system has one, else each system's latest pre-link
  price (labelled: the years differ). If a system has none, all fall back to today's prices.
  The cap then comes from ``pre_link_caps`` (the price year, else the nearest earlier year,
  labelled when it differs). ``price_basis=current`` turns this off;
* ``abatement_share`` s — **assumption**: at the observed price, abatement is the share s of
  business-as-usual emissions, and emissions equal the cap (no banking). Hence
  ``bau = cap / (1 − s)``, required abatement ``R = bau − cap`` and the MAC slope
  ``c = price / R``, so the calibrated autarky price equals the observed price.

Every value used is returned as an :class:`Assumption` with where it came from, so the report
can list it. Overrides come, weakest first, from defaults, the agreement document's optional
``assessment:`` section, an assumptions file, and ``--assume key=value`` on the command line.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carbonlink.data.fx import rate as fx_rate
from carbonlink.data.prices import (
    PRE_LINK_RULE,
    PreLinkChoice,
    convert_price,
    price_date,
    reference_prices,
)
from carbonlink.errors import DocumentError
from carbonlink.model.scenario import Link, Market, Scenario

DEFAULT_ABATEMENT_SHARE = 0.10

MT = 1e6  # tCO2e per MtCO2e

#: ``price_basis`` values: calibrate already-linked systems to their pre-link prices (default),
#: or to today's observed prices.
PRICE_BASES = ("pre_link", "current")

PRE_LINK_SOURCE = ("reference data `pre_link_prices` / `pre_link_caps` (src/carbonlink/data/"
                   "ets.yaml; each figure with its source, date and verified flag); "
                   "docs/assess.md, Calibration")


@dataclass(frozen=True)
class Assumption:
    """One value the assessment relies on that is not shipped reference data."""

    key: str
    value: float | str
    description: str
    origin: str = "default"  # default | agreement document | assumptions file | command line
    source: str | None = None  # where the rule or value comes from, when not the user

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "value": self.value,
                               "description": self.description, "origin": self.origin}
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class Overrides:
    """User-supplied assumption values, by key (``abatement_share``, ``abatement_share.EU_ETS``,
    ``price.CH_ETS``, ``cap.EU_ETS``, ``mac_scale.CH_ETS``, ``fx.CHF``, ``currency``), with their
    origin."""

    values: dict[str, float | str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def update(self, items: Mapping[str, Any], origin: str) -> None:
        for key, raw in _flatten(items).items():
            self.values[key] = _coerce(key, raw, origin)
            self.origins[key] = origin

    def get(self, key: str) -> tuple[float | str, str] | None:
        if key in self.values:
            return self.values[key], self.origins[key]
        return None


def _flatten(items: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{abatement_share: {EU_ETS: 0.2}}`` → ``{"abatement_share.EU_ETS": 0.2}``."""
    out: dict[str, Any] = {}
    for k, v in items.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, prefix=f"{key}."))
        else:
            out[key] = v
    return out


def _coerce(key: str, raw: Any, origin: str) -> float | str:
    if key == "currency":
        if not isinstance(raw, str) or not raw.strip():
            raise DocumentError(f"assessment.{key}", f"must be a currency code, got {raw!r}",
                                source=origin)
        return raw.strip().upper()
    if key == "price_basis":
        basis = str(raw).strip().lower().replace("-", "_")
        basis = {"prelink": "pre_link", "today": "current", "observed": "current"}.get(basis, basis)
        if basis not in PRICE_BASES:
            raise DocumentError(f"assessment.{key}", f"must be one of {', '.join(PRICE_BASES)}, "
                                f"got {raw!r}", source=origin)
        return basis
    head = key.split(".", 1)[0]
    if head not in ("abatement_share", "price", "cap", "fx", "mac_scale"):
        raise DocumentError(f"assessment.{key}", "unknown assumption (known: "
                            "abatement_share[.ETS], price.ETS, cap.ETS, mac_scale.ETS, fx.CUR, currency, "
                            "price_basis)",
                            source=origin)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DocumentError(f"assessment.{key}", f"must be a number, got {raw!r}",
                            source=origin) from None
    if not math.isfinite(value):
        raise DocumentError(f"assessment.{key}", f"must be finite, got {raw!r}", source=origin)
    if head == "abatement_share" and not 0 < value < 1:
        raise DocumentError(f"assessment.{key}",
                            f"must be between 0 and 1 (exclusive), got {value}", source=origin)
    if head in ("price", "cap", "fx", "mac_scale") and not value > 0:
        raise DocumentError(f"assessment.{key}", f"must be > 0, got {value}", source=origin)
    return value


def parse_assume(items: Iterable[str]) -> dict[str, str]:
    """``["abatement_share=0.2", "price.CH_ETS=60"]`` → a mapping; malformed items exit 2."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DocumentError("--assume", f"expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


@dataclass
class Calibration:
    """The calibrated scenario (links left empty), the assumptions used and any gaps."""

    markets: list[Market]
    assumptions: list[Assumption]
    currency: str
    gaps: list[str]
    sources: dict[str, dict[str, Any]]  # per ETS: cap / price values with their sources
    price_basis: str = "current"  # pre_link | current (see PRE_LINK_RULE)
    price_year: int | None = None  # the common pre-link price year, when there is one

    def scenario(self, links: list[Link], name: str = "calibrated") -> Scenario:
        return Scenario(name=name, markets=self.markets, links=links)


def _unit_factor(unit: str | None) -> float:
    """Multiplier to MtCO2e for a cap unit."""
    u = (unit or "tCO2e").replace(" ", "").lower()
    if u.startswith("mt") or "million" in u:
        return 1.0
    if u.startswith("kt"):
        return 1e-3
    if u.startswith("gt"):
        return 1e3
    if "shortton" in u or "short_ton" in u:
        return 0.90718474 / MT
    return 1.0 / MT


def calibrate(ets_ids: list[str], overrides: Overrides | None = None,
              get_ets: Callable[[str], Any] | None = None,
              link_date: str | None = None) -> Calibration:
    """Markets for ``ets_ids`` (in order) from reference data, overrides and defaults.

    ``link_date`` (``YYYY-MM-DD``, the agreement's entry into force) bounds the pre-link
    figures used when the systems are already linked (see :data:`PRE_LINK_RULE`).

    Raises :class:`DocumentError` when an ETS is unknown, or its cap or price is unknown and
    not overridden (the gap names the override to give).
    """
    if get_ets is None:
        from carbonlink.data import get_ets as _get

        get_ets = _get
    ov = overrides or Overrides()
    assumptions: list[Assumption] = []
    gaps: list[str] = []
    sources: dict[str, dict[str, Any]] = {}

    etss: dict[str, Any] = {}
    for eid in ets_ids:
        try:
            etss[eid] = get_ets(eid)
        except KeyError:
            raise DocumentError("links", f"unknown ETS {eid!r} (not in the shipped reference data)"
                                ) from None
        if etss[eid] is None:
            raise DocumentError("links", f"unknown ETS {eid!r} (not in the shipped reference data)")

    # price basis: pre-link prices for systems that are already linked (see PRE_LINK_RULE)
    got = ov.get("price_basis")
    basis_wanted = str(got[0]) if got is not None else "pre_link"
    basis_origin = got[1] if got is not None else "default"
    chosen = reference_prices(ets_ids, etss, link_date, basis_wanted)
    linked = chosen.linked
    pre: PreLinkChoice | None = chosen.pre
    if pre is not None:
        when = (f"year {pre.year}" if pre.year is not None else
                "each market's latest pre-link year (the years differ)")
        assumptions.append(Assumption(
            "price_basis", "pre_link",
            f"the systems are already linked, so each market is calibrated to its observed price "
            f"before the link ({when}"
            + (f"; link in force {link_date}" if link_date else "") + "). " + PRE_LINK_RULE,
            basis_origin, source=PRE_LINK_SOURCE))
        gaps.extend(pre.notes)
    elif linked:
        why = ("requested" if basis_wanted == "current" else
               "not every market has a pre-link observed price in the reference data")
        assumptions.append(Assumption(
            "price_basis", "current",
            f"the systems are already linked, but today's observed prices are used ({why}); "
            "they are linked prices, so the calibrated autarky prices are (nearly) equal. "
            + PRE_LINK_RULE, basis_origin, source=PRE_LINK_SOURCE))
        if basis_wanted == "pre_link":
            gaps.append("no pre-link observed price for every market in the reference data: "
                        "calibrated to today's (linked) prices")

    def price_fig(eid: str) -> Any:
        return chosen.figures[eid]

    def price_currency(eid: str) -> str:
        cur = getattr(price_fig(eid), "currency", None) or getattr(etss[eid].price, "currency",
                                                                  None)
        return str(cur).upper() if cur else "USD"

    got = ov.get("currency")
    if got is not None:
        currency = str(got[0])
        assumptions.append(Assumption("currency", currency, "reporting currency of all money "
                                      "figures", got[1]))
    else:
        currency = price_currency(ets_ids[0]) if ets_ids else "USD"

    latest = "2024"

    def when_of(fig: Any) -> str:
        """The date a figure was observed (its date, else its year), for its exchange rate."""
        d = price_date(fig)
        if d is None and pre is not None and pre.year is not None:
            d = str(pre.year)
        return d if d is not None else latest

    def usd_per(c: str, when: str) -> tuple[float, str | None]:
        """US$ per unit of ``c`` at ``when``: an ``fx.<CUR>`` override (labelled assumption),
        else the dated reference series (src/carbonlink/data/fx.yaml) at the figure's date."""
        if c == "USD":
            return 1.0, None
        got = ov.get(f"fx.{c}")
        if got is not None:
            key = f"fx.{c}"
            if not any(a.key == key for a in assumptions):
                assumptions.append(Assumption(
                    key, float(got[0]), f"US$ per {c}, used for every conversion of {c} "
                    "(overrides the dated reference rates)", got[1]))
            return float(got[0]), f"converted at the stated rate of US$ {got[0]} per {c} ({got[1]})"
        try:
            r = fx_rate(c, "USD", when)
        except KeyError:
            raise DocumentError(f"assessment.fx.{c}", f"no exchange rate for {c} in the reference "
                                f"data; give one with --assume fx.{c}=<US$ per {c}>") from None
        return r.value, r.describe()

    def fx_at(cur: str, when: str) -> tuple[float, str | None]:
        """Reporting-currency units per unit of ``cur`` at ``when``, and how it was converted."""
        if cur == currency:
            return 1.0, None
        if ov.get(f"fx.{cur}") is None and ov.get(f"fx.{currency}") is None:
            try:
                r = fx_rate(cur, currency, when)
            except KeyError:
                pass
            else:
                return r.value, r.describe()
        a, note_a = usd_per(cur, when)
        b, note_b = usd_per(currency, when)
        return a / b, "; ".join(n for n in (note_a, note_b) if n) or None

    def fx(cur: str) -> float:
        """Reporting-currency units per unit of ``cur`` at the latest reference year."""
        return fx_at(cur, latest)[0]

    def fx_dated(fig: Any, cur: str) -> tuple[float, str | None]:
        """Reporting-currency units per unit of ``cur`` at the date of the price ``fig``: the
        source's own rate of the day when it gives one (``fx_usd``), else the dated reference
        series, unless an ``fx.<CUR>`` override states the rate."""
        dated = getattr(fig, "fx_usd", None)
        when = when_of(fig)
        if cur == currency:
            return 1.0, None
        if ov.get(f"fx.{cur}") is None and ov.get(f"fx.{currency}") is None:
            try:  # the shared conversion (the feasibility rules read the same)
                return convert_price(fig, cur, currency, when)
            except KeyError:
                pass  # below: the gap names the --assume fx.<CUR> to give
        if dated is None or ov.get(f"fx.{cur}") is not None:
            return fx_at(cur, when)
        b, note_b = usd_per(currency, when)
        return float(dated) / b, "; ".join(n for n in (
            f"converted at the source's rate of the day (US$ {dated} per {cur})", note_b) if n)

    markets: list[Market] = []
    for eid in ets_ids:
        ets = etss[eid]
        src: dict[str, Any] = {}
        # cap
        got = ov.get(f"cap.{eid}")
        if got is not None:
            cap_mt = float(got[0])
            assumptions.append(Assumption(f"cap.{eid}", cap_mt, f"annual cap of {eid}, MtCO2e "
                                          "(overrides the reference data)", got[1]))
            src["cap"] = {"value_mt": cap_mt, "source": f"assumption ({got[1]})"}
        else:
            cap_fig = pre.caps.get(eid) if pre is not None else None
            basis = "pre_link" if cap_fig is not None else "current"
            if cap_fig is None:
                cap_fig = getattr(ets, "cap", None)
            value = getattr(cap_fig, "value", None)
            carried = _carried_cap(ets) if value is None and basis == "current" else None
            if carried is not None:
                on = ets.resolved_on
                cap_fig, value = carried, carried.value
                assumptions.append(Assumption(
                    f"cap.{eid}", float(value) * _unit_factor(getattr(carried, "unit", None)),
                    f"annual cap of {eid}, MtCO2e: the reference data has no cap for "
                    f"{on.isoformat()}; the latest recorded cap ({carried.year}) is carried "
                    f"forward (an assumption; give --assume cap.{eid}=<MtCO2e> to replace it)",
                    "carried forward"))
                gaps.append(f"{eid}: no cap in the reference data for {on.isoformat()}; the "
                            f"{carried.year} cap is carried forward")
            if value is None:
                note = getattr(cap_fig, "note", None) or "no value in the reference data"
                gaps.append(f"{eid}: cap unknown ({note}); give --assume cap.{eid}=<MtCO2e>")
                raise DocumentError(f"cap.{eid}", f"the reference data has no cap for {eid} "
                                    f"({note}); give one with --assume cap.{eid}=<MtCO2e per year>")
            cap_mt = float(value) * _unit_factor(getattr(cap_fig, "unit", None))
            src["cap"] = {"value": float(value), "unit": getattr(cap_fig, "unit", None),
                          "year": getattr(cap_fig, "year", None),
                          "source": getattr(cap_fig, "source", None),
                          "verified": getattr(cap_fig, "verified", True), "value_mt": cap_mt,
                          "basis": basis}
            cap_note = getattr(cap_fig, "note", None)
            if cap_note:
                src["cap"]["note"] = cap_note
            if pre is not None and basis == "current":
                gaps.append(f"{eid}: no pre-link cap in the reference data; today's cap "
                            f"({getattr(cap_fig, 'year', None)}) is used with the "
                            f"{pre.prices[eid].year} price")
        # price
        pcur = price_currency(eid)
        pfig = price_fig(eid)
        rate, rate_note = fx_dated(pfig, pcur)
        got = ov.get(f"price.{eid}")
        if got is not None:
            own_price = float(got[0])
            rate, rate_note = fx_at(pcur, when_of(None))
            assumptions.append(Assumption(f"price.{eid}", own_price, f"observed price of {eid}, "
                                          f"{pcur}/tCO2e (overrides the reference data)", got[1]))
            src["price"] = {"value": own_price, "currency": pcur,
                            "source": f"assumption ({got[1]})"}
        else:
            value = getattr(pfig, "value", None)
            if value is None:
                derived = _partner_price(eid, ets, get_ets)
                if derived is None:
                    note = getattr(pfig, "note", None) or "no value in the reference data"
                    raise DocumentError(
                        f"price.{eid}", f"the reference data has no price for {eid} ({note}); "
                        f"give one with --assume price.{eid}=<{pcur}/t>")
                partner, partner_price, partner_cur = derived
                own_price = partner_price * fx(partner_cur) / fx(pcur)
                gaps.append(f"{eid}: no observed price in the reference data; derived from the "
                            f"linked {partner} price")
                assumptions.append(Assumption(
                    f"price.{eid}", own_price,
                    f"observed price of {eid}, {pcur}/tCO2e: the reference data has none, so "
                    f"it is taken equal to the price of {partner}, to which {eid} is already "
                    "linked (a linked price, not an autarky price)", "derived"))
                src["price"] = {"value": own_price, "currency": pcur,
                                "source": f"derived from {partner} (linked price)"}
                value = own_price
            own_price = float(value)
            src.setdefault("price", {"value": own_price, "currency": pcur,
                            "year": getattr(pfig, "year", None),
                            "date": getattr(pfig, "date", None),
                            "kind": getattr(pfig, "kind", None),
                            "source": getattr(pfig, "source", None),
                            "verified": getattr(pfig, "verified", True),
                            "basis": "pre_link" if pre is not None else "current"})
            if getattr(pfig, "note", None) and pre is not None:
                src["price"]["note"] = pfig.note
        if rate_note:
            src["price"]["fx"] = rate_note
        cov = getattr(ets, "covered_emissions", None)
        cov_value = getattr(cov, "value", None)
        if cov_value is not None:
            src["covered_emissions"] = {
                "value_mt": float(cov_value) * _unit_factor(getattr(cov, "unit", None)),
                "year": getattr(cov, "year", None), "source": getattr(cov, "source", None)}
        price = own_price * rate
        src["price"]["converted"] = price
        # abatement share
        got = ov.get(f"abatement_share.{eid}") or ov.get("abatement_share")
        if got is not None:
            share, origin = float(got[0]), got[1]
        else:
            share, origin = DEFAULT_ABATEMENT_SHARE, "default"
        assumptions.append(Assumption(
            f"abatement_share.{eid}", share,
            f"abatement in {eid} at its observed price, as a share of business-as-usual "
            "emissions (emissions at that price assumed equal to the cap)", origin))
        bau = cap_mt / (1.0 - share)
        required = bau - cap_mt
        slope = price / required
        got = ov.get(f"mac_scale.{eid}")
        if got is not None:
            slope *= float(got[0])
            assumptions.append(Assumption(
                f"mac_scale.{eid}", float(got[0]), f"multiplier on the calibrated MAC slope of "
                f"{eid} (its autarky price scales by the same factor)", got[1]))
        controls = _price_controls(ets, fx(price_currency(eid))) if pre is None else {}
        markets.append(Market.model_validate({
            "id": eid, "name": getattr(ets, "name", None), "bau": bau, "cap": cap_mt,
            "mac": {"linear": {"slope": slope}},
            **controls,
            "unit": "MtCO2e", "currency": currency,
        }))
        sources[eid] = src
    assumptions.append(Assumption(
        "mac_form", "linear", "marginal abatement cost rises linearly from zero at BAU; one "
                              "compliance year; no banking", "default"))
    return Calibration(markets=markets, assumptions=assumptions, currency=currency, gaps=gaps,
                       sources=sources, price_basis="pre_link" if pre is not None else "current",
                       price_year=pre.year if pre is not None else None)


def _carried_cap(ets: Any) -> Any:
    """The latest cap of ``ets``'s dated series that started on or before the date it was
    resolved for (``ETS.as_of``), when the series has no entry for that date; else None. A
    system whose series ends before the date (reference data not yet updated) then calibrates on
    its last recorded cap, labelled as an assumption by the caller."""
    on = getattr(ets, "resolved_on", None)
    entries = getattr(getattr(ets, "series", None), "cap", None) or []
    if on is None or not entries or getattr(ets, "status", None) == "ended":
        return None
    from carbonlink.model.jurisdiction import figure_start

    def start(e: Any) -> dt.date | None:
        got = figure_start(e)
        return got[0] if got is not None else None

    before = [(d, e) for e in entries if e.value is not None
              and (d := start(e)) is not None and d <= on]
    return max(before, key=lambda de: de[0])[1] if before else None


def _partner_price(eid: str, ets: Any, get_ets: Callable[[str], Any]
                   ) -> tuple[str, float, str] | None:
    """The observed price of an ETS that ``ets`` is already linked with, if one is known."""
    for partner_id in getattr(ets, "linked_with", None) or []:
        try:
            partner = get_ets(partner_id)
        except KeyError:
            continue
        pfig = getattr(partner, "price", None)
        value = getattr(pfig, "value", None)
        if value is not None:
            cur = getattr(pfig, "currency", None)
            return str(partner_id), float(value), str(cur).upper() if cur else "USD"
    return None


def _price_controls(ets: Any, rate: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    floor = getattr(ets, "price_floor", None)
    ceiling = getattr(ets, "price_ceiling", None)
    fv = getattr(floor, "value", None)
    cv = getattr(ceiling, "value", None)
    if fv is not None:
        out["price_floor"] = {"price": float(fv) * rate}
    if cv is not None and (fv is None or float(cv) >= float(fv)):
        out["price_ceiling"] = {"price": float(cv) * rate}
    return out
