"""Sensitivity sweeps: the agreement's main restriction, and the MAC assumptions.

* **restriction** — the agreement's main restriction (quota, entity share, discount, border tax
  or exchange rate, in that order of precedence) swept from none to beyond its representative
  level; a full-link agreement gets a quota sweep from 0 to unrestricted;
* **abatement share** — the calibration assumption swept over 5 %…40 % (agreement design);
* **MAC slope** — one market's calibrated MAC slope (hence its autarky price) scaled ×0.5…×2
  (agreement design); the market is one whose price was derived rather than observed, else the
  smallest.

Each sweep solves scenarios through :func:`carbonlink.markets.sweep.run_scenarios`; every
number shown comes from those SimulationResults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from carbonlink.assess.designs import max_import_share
from carbonlink.model.scenario import Link, Scenario

ABATEMENT_SHARES = [0.05, 0.1, 0.2, 0.3, 0.4]
MAC_SCALES = [0.5, 0.75, 1.0, 1.5, 2.0]
QUOTA_FRACTIONS = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
DISCOUNTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
TAX_FRACTIONS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
EXCHANGE_RATES = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


@dataclass
class SweepSpec:
    """A sweep to run: scenarios with x-values (``None`` = unrestricted) and their labels."""

    id: str
    title: str
    parameter: str
    unit: str
    values: list[float | None]
    labels: list[str]
    scenarios: list[Scenario]
    note: str = ""


@dataclass
class Sweep:
    """A solved sweep: the spec, the long-format frame and the SimulationResults."""

    spec: SweepSpec
    frame: pd.DataFrame
    results: list[Any] = field(default_factory=list)

    def to_dict(self, *, with_results: bool = True) -> dict[str, Any]:
        s = self.spec
        out: dict[str, Any] = {
            "id": s.id, "title": s.title, "parameter": s.parameter, "unit": s.unit,
            "note": s.note, "values": s.values, "labels": s.labels,
        }
        if with_results:
            out["samples"] = [
                {"value": v, "label": lab,
                 "scenario": sc.model_dump(mode="json", by_alias=True, exclude_none=True),
                 "result": r.to_dict()}
                for v, lab, sc, r in zip(s.values, s.labels, s.scenarios, self.results, strict=True)
            ]
        return out


def _replace(links: list[Link], **terms: Any) -> list[Link]:
    out = []
    for lk in links:
        d = lk.model_dump(by_alias=True)
        d.update(terms)
        out.append(Link.model_validate(d))
    return out


def main_restriction(links: list[Link]) -> str:
    """Which instrument the agreement mainly relies on (``none`` for a full link)."""
    if any(lk.quota is not None for lk in links):
        return "quota"
    if any(lk.entity_share is not None for lk in links):
        return "entity_share"
    if any(lk.discount > 0 for lk in links):
        return "discount"
    if any(lk.transfer_tax > 0 for lk in links):
        return "transfer_tax"
    if any(lk.exchange_rate != 1.0 for lk in links):
        return "exchange_rate"
    return "none"


def restriction_sweep(base: Scenario, agreement_links: list[Link], full_result: Any,
                      currency: str) -> SweepSpec:
    """The agreement's main restriction swept, on the agreement's own links."""
    kind = main_restriction(agreement_links)
    qty = base.markets[0].unit
    scen = [base.model_copy(update={"name": "restriction sweep"})]

    def with_links(links: list[Link], label: str) -> Scenario:
        return scen[0].model_copy(update={"links": links, "name": f"restriction {label}"})

    flows = full_result.links
    max_flow = float(flows["flow"].abs().max()) if len(flows) else 0.0
    values: list[float | None] = []
    labels: list[str] = []
    scenarios: list[Scenario] = []
    if kind in ("quota", "none"):
        quotas = [float(lk.quota) for lk in agreement_links if lk.quota is not None]
        top = max([max_flow, *quotas])
        for f in QUOTA_FRACTIONS:
            q = f * top
            values.append(q)
            labels.append(f"{f:.0%} ({q:.3g})")
            scenarios.append(with_links(_replace(agreement_links, quota=q), labels[-1]))
        values.append(None)
        labels.append("unrestricted")
        scenarios.append(with_links(_replace(agreement_links, quota=None), "unrestricted"))
        return SweepSpec("restriction", "Quota on each link, 0 → unrestricted", "quota", qty,
                         values, labels, scenarios,
                         "quota levels are 0–100 % of the largest full-link flow "
                         f"({top:.4g} {qty})"
                         + ("" if kind == "quota" else "; the agreement itself sets no quota"))
    if kind == "entity_share":
        share = max_import_share(full_result)
        for f in QUOTA_FRACTIONS:
            v = min(1.0, f * share)
            values.append(v)
            labels.append(f"{f:.0%} ({v:.3g})")
            scenarios.append(with_links(_replace(agreement_links, entity_share=v), labels[-1]))
        values.append(None)
        labels.append("unrestricted")
        scenarios.append(with_links(_replace(agreement_links, entity_share=None), "unrestricted"))
        return SweepSpec("restriction", "Entity share, 0 → unrestricted", "entity_share",
                         "share of emissions", values, labels, scenarios,
                         f"levels are 0–100 % of the largest full-link import share ({share:.4g})")
    if kind == "discount":
        for disc in DISCOUNTS:
            values.append(disc)
            labels.append(f"discount {disc:.0%}")
            scenarios.append(with_links(_replace(agreement_links, discount=disc), labels[-1]))
        return SweepSpec("restriction", "Discount on imports, 0 → 50 %", "discount", "share",
                         values, labels, scenarios)
    if kind == "transfer_tax":
        mk = full_result.markets
        gap = float(mk["autarky_price"].max() - mk["autarky_price"].min())
        top = max(gap, *(lk.transfer_tax for lk in agreement_links))
        for f in TAX_FRACTIONS:
            t = f * top
            values.append(t)
            labels.append(f"{f:.0%} of gap ({t:.3g})")
            scenarios.append(with_links(_replace(agreement_links, transfer_tax=t), labels[-1]))
        return SweepSpec("restriction", "Border tax per unit, 0 → beyond the autarky price gap",
                         "transfer_tax", f"{currency}/t", values, labels, scenarios,
                         f"levels are 0–125 % of the largest autarky price gap ({top:.4g})")
    # exchange rate: links that discount (rate < 1) get v, their counterparts 1/v
    for r in EXCHANGE_RATES:
        links = []
        for lk in agreement_links:
            d = lk.model_dump(by_alias=True)
            if lk.exchange_rate < 1:
                d["exchange_rate"] = r
            elif lk.exchange_rate > 1:
                d["exchange_rate"] = 1.0 / r
            links.append(Link.model_validate(d))
        values.append(r)
        labels.append(f"rate {r:.2g}")
        scenarios.append(with_links(links, labels[-1]))
    return SweepSpec("restriction", "Exchange rate, 0.5 → 1", "exchange_rate", "ratio", values,
                     labels, scenarios)


def mac_sweeps(recalibrate: Callable[[dict[str, float]], Scenario], market_ids: list[str],
               scale_market: str) -> list[SweepSpec]:
    """The abatement-share sweep (all markets) and the MAC-slope sweep (``scale_market``).
    ``recalibrate(overrides)`` returns the agreement-design scenario calibrated with those
    extra assumption values."""
    shares = SweepSpec(
        "abatement_share", "Abatement share assumption (all markets), 5 % → 40 %",
        "abatement_share", "share of BAU", list(ABATEMENT_SHARES),
        [f"{s:.0%}" for s in ABATEMENT_SHARES],
        [recalibrate({f"abatement_share.{m}": s for m in market_ids}) for s in ABATEMENT_SHARES],
        "with every market's price observed, the calibrated autarky prices do not depend on "
        "this share; it sets how much is abated and traded once prices differ")
    scales = SweepSpec(
        "mac_scale", f"MAC slope of {scale_market} ×0.5 → ×2 (its autarky price scales alike)",
        f"mac_scale.{scale_market}", "multiplier", list(MAC_SCALES),
        [f"×{k:g}" for k in MAC_SCALES],
        [recalibrate({f"mac_scale.{scale_market}": k}) for k in MAC_SCALES])
    return [shares, scales]
