"""Markets for the simulator from the shipped ETS reference data plus labelled assumptions.

Calibration (one linear MAC per ETS, quantities in MtCO2e, money in millions of the reporting
currency, prices per tCO2e):

* ``cap`` — the ETS's annual cap from the reference data (``cap.<ETS>`` overrides it);
* ``price`` — the observed price from the reference data, converted to the reporting currency
  (``price.<ETS>`` overrides it, in the ETS's own currency);
* ``abatement_share`` s — **assumption**: at the observed price, abatement is the share s of
  business-as-usual emissions, and emissions equal the cap (no banking). Hence
  ``bau = cap / (1 − s)``, required abatement ``R = bau − cap`` and the MAC slope
  ``c = price / R``, so the calibrated autarky price equals the observed price.

Every value used is returned as an :class:`Assumption` with where it came from, so the report
can list it. Overrides come, weakest first, from defaults, the agreement document's optional
``assessment:`` section, an assumptions file, and ``--assume key=value`` on the command line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carbonlink.errors import DocumentError
from carbonlink.model.scenario import Link, Market, Scenario

DEFAULT_ABATEMENT_SHARE = 0.10

#: Approximate 2024 annual-average exchange rates, US$ per unit of currency. They are
#: **assumptions** (not verified reference data), only used when linked ETSs price in different
#: currencies; override each with ``fx.<CUR>=…``.
DEFAULT_FX_USD: dict[str, float] = {
    "USD": 1.0, "EUR": 1.08, "CHF": 1.14, "GBP": 1.28, "CAD": 0.73, "NZD": 0.61,
    "KRW": 0.00073, "CNY": 0.139, "JPY": 0.0066,
}

MT = 1e6  # tCO2e per MtCO2e


@dataclass(frozen=True)
class Assumption:
    """One value the assessment relies on that is not shipped reference data."""

    key: str
    value: float | str
    description: str
    origin: str = "default"  # default | agreement document | assumptions file | command line

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "description": self.description,
                "origin": self.origin}


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
    head = key.split(".", 1)[0]
    if head not in ("abatement_share", "price", "cap", "fx", "mac_scale"):
        raise DocumentError(f"assessment.{key}", "unknown assumption (known: "
                            "abatement_share[.ETS], price.ETS, cap.ETS, mac_scale.ETS, fx.CUR, currency)",
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
              get_ets: Callable[[str], Any] | None = None) -> Calibration:
    """Markets for ``ets_ids`` (in order) from reference data, overrides and defaults.

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

    def price_currency(eid: str) -> str:
        cur = getattr(etss[eid].price, "currency", None)
        return str(cur).upper() if cur else "USD"

    got = ov.get("currency")
    if got is not None:
        currency = str(got[0])
        assumptions.append(Assumption("currency", currency, "reporting currency of all money "
                                      "figures", got[1]))
    else:
        currency = price_currency(ets_ids[0]) if ets_ids else "USD"

    def fx(cur: str) -> float:
        """Reporting-currency units per unit of ``cur``."""
        if cur == currency:
            return 1.0
        rates: dict[str, float] = {}
        for c in (cur, currency):
            got = ov.get(f"fx.{c}")
            if got is not None:
                rates[c] = float(got[0])
                origin = got[1]
            elif c in DEFAULT_FX_USD:
                rates[c] = DEFAULT_FX_USD[c]
                origin = "default"
            else:
                raise DocumentError(f"assessment.fx.{c}", f"no exchange rate for {c}; give one "
                                    f"with --assume fx.{c}=<US$ per {c}>")
            key = f"fx.{c}"
            if c != "USD" and not any(a.key == key for a in assumptions):
                assumptions.append(Assumption(
                    key, rates[c], f"US$ per {c} (approximate 2024 average, not verified "
                    "reference data) used to convert prices to one currency", origin))
        return rates[cur] / rates[currency]

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
            cap_fig = getattr(ets, "cap", None)
            value = getattr(cap_fig, "value", None)
            if value is None:
                note = getattr(cap_fig, "note", None) or "no value in the reference data"
                gaps.append(f"{eid}: cap unknown ({note}); give --assume cap.{eid}=<MtCO2e>")
                raise DocumentError(f"cap.{eid}", f"the reference data has no cap for {eid} "
                                    f"({note}); give one with --assume cap.{eid}=<MtCO2e per year>")
            cap_mt = float(value) * _unit_factor(getattr(cap_fig, "unit", None))
            src["cap"] = {"value": float(value), "unit": getattr(cap_fig, "unit", None),
                          "year": getattr(cap_fig, "year", None),
                          "source": getattr(cap_fig, "source", None),
                          "verified": getattr(cap_fig, "verified", True), "value_mt": cap_mt}
        # price
        pcur = price_currency(eid)
        got = ov.get(f"price.{eid}")
        if got is not None:
            own_price = float(got[0])
            assumptions.append(Assumption(f"price.{eid}", own_price, f"observed price of {eid}, "
                                          f"{pcur}/tCO2e (overrides the reference data)", got[1]))
            src["price"] = {"value": own_price, "currency": pcur,
                            "source": f"assumption ({got[1]})"}
        else:
            pfig = getattr(ets, "price", None)
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
                            "verified": getattr(pfig, "verified", True)})
        cov = getattr(ets, "covered_emissions", None)
        cov_value = getattr(cov, "value", None)
        if cov_value is not None:
            src["covered_emissions"] = {
                "value_mt": float(cov_value) * _unit_factor(getattr(cov, "unit", None)),
                "year": getattr(cov, "year", None), "source": getattr(cov, "source", None)}
        rate = fx(pcur)
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
        markets.append(Market.model_validate({
            "id": eid, "name": getattr(ets, "name", None), "bau": bau, "cap": cap_mt,
            "mac": {"linear": {"slope": slope}},
            **_price_controls(ets, rate),
            "unit": "MtCO2e", "currency": currency,
        }))
        sources[eid] = src
    assumptions.append(Assumption(
        "mac_form", "linear", "marginal abatement cost rises linearly from zero at BAU; one "
                              "compliance year; no banking", "default"))
    return Calibration(markets=markets, assumptions=assumptions, currency=currency, gaps=gaps,
                       sources=sources)


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
