"""The link designs an assessment compares side by side.

* **autarky** — no link;
* **agreement** — the agreement's own link terms;
* **full** — two-way, no conditions, between every pair the agreement links;
* **one-way A→B** — only units of A usable in B (for each direction of a two-way agreement);
* one design per restricted-linking instrument (seed S-7.2), applied alone, two-way, at a
  *representative level* chosen so that the instrument matters when linking moves units:

  ========================  ==================================================================
  quota                     half of the largest full-link flow (jurisdiction-level; binds)
  entity share              half of the largest full-link import share of the importer's
                            emissions (entity-level limit)
  border tax                half of the largest autarky price gap (per unit, paid by buyer);
                            with linear MACs this halves the flow, the tariff–quota twin of the
                            quota design
  exchange rate             units of the lower-priced market count 0.8 in the other, 1/0.8 the
                            other way (a rating-based conversion, World Bank NCM style)
  discount                  20 % on imports both ways — the seed's own example (S-7.2)
  ========================  ==================================================================

The levels depend on the full-link result, so :func:`build_designs` takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carbonlink.model.scenario import Link, Scenario

QUOTA_FRACTION = 0.5
ENTITY_SHARE_FRACTION = 0.5
TAX_GAP_FRACTION = 0.5
EXCHANGE_RATE = 0.8
DISCOUNT = 0.2


@dataclass
class Design:
    """One link design: an id, a title, what it means and the scenario that encodes it."""

    id: str
    title: str
    description: str
    scenario: Scenario
    level: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": self.description,
                "level": self.level,
                "scenario": self.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)}


def link_pairs(links: list[Link]) -> list[tuple[str, str]]:
    """The unordered market pairs the links connect, in first-seen order (as sorted tuples)."""
    out: list[tuple[str, str]] = []
    for lk in links:
        a, b = lk.from_, lk.to
        pair = (a, b) if a <= b else (b, a)
        if pair not in out:
            out.append(pair)
    return out


def is_two_way(links: list[Link]) -> bool:
    directed = {(lk.from_, lk.to) for lk in links}
    return bool(directed) and all((b, a) in directed for a, b in directed)


def _both_ways(pairs: list[tuple[str, str]], **terms: Any) -> list[Link]:
    out: list[Link] = []
    for a, b in pairs:
        out.append(Link.model_validate({"from": a, "to": b, **terms}))
        out.append(Link.model_validate({"from": b, "to": a, **terms}))
    return out


def _with_links(base: Scenario, links: list[Link], name: str) -> Scenario:
    return base.model_copy(update={"links": links, "name": name})


def max_import_share(full_result: Any) -> float:
    """The largest share of an importer's emissions covered by units credited on one link
    (in a full-link result): the scale for entity-share levels."""
    mk = full_result.markets
    share = 0.0
    for _, row in full_result.links.iterrows():
        emis = float(mk.loc[row["to"], "emissions"])
        if emis > 0:
            share = max(share, float(row["credited"]) / emis)
    return share


def full_link_design(base: Scenario, agreement_links: list[Link]) -> Design:
    pairs = link_pairs(agreement_links)
    return Design("full", "Full link", "Two-way link with no conditions between every pair the "
                  "agreement links.", _with_links(base, _both_ways(pairs), "full"))


def build_designs(base: Scenario, agreement_links: list[Link],
                  full_result: Any) -> list[Design]:
    """Every design for ``base`` markets; ``full_result`` is the full-link SimulationResult
    (representative restriction levels are read from it)."""
    pairs = link_pairs(agreement_links)
    designs: list[Design] = [
        Design("autarky", "Autarky", "No link: each market clears on its own.",
               _with_links(base, [], "autarky")),
        Design("agreement", "Agreement as drafted", "The link terms in the agreement document.",
               _with_links(base, list(agreement_links), "agreement")),
        full_link_design(base, agreement_links),
    ]
    if is_two_way(agreement_links):
        for a, b in pairs:
            for src, dst in ((a, b), (b, a)):
                links = [lk for p in pairs if p != (a, b) for lk in _both_ways([p])]
                links.append(Link.model_validate({"from": src, "to": dst}))
                designs.append(Design(
                    f"one-way:{src}>{dst}", f"One-way {src} → {dst}",
                    f"Entities in {dst} may use {src} units, not the other way round "
                    "(unilateral link, S-1.3).", _with_links(base, links, f"one-way {src}>{dst}")))

    flows = full_result.links
    max_flow = float(flows["flow"].abs().max()) if len(flows) else 0.0
    if max_flow <= 1e-9:
        max_flow = 0.0
    idle = "" if max_flow > 1e-9 else (
        "; the full link moves nothing at the calibration, so the level is 0 and the instrument "
        "has no effect here (see the sensitivity section)")
    quota = QUOTA_FRACTION * max_flow
    designs.append(Design(
        "quota", "Quota", "Jurisdiction-level cap on units moved on each link (S-7.2).",
        _with_links(base, _both_ways(pairs, quota=quota), "quota"),
        {"quota": quota, "why": f"{QUOTA_FRACTION:.0%} of the largest full-link flow "
                                f"({max_flow:.6g}), so the quota binds" + idle}))

    mk = full_result.markets
    share = max_import_share(full_result)
    entity_share = min(1.0, ENTITY_SHARE_FRACTION * share)
    designs.append(Design(
        "entity_share", "Entity share",
        "Each entity may cover at most this share of its emissions with foreign units (S-7.2).",
        _with_links(base, _both_ways(pairs, entity_share=entity_share), "entity share"),
        {"entity_share": entity_share,
         "why": f"{ENTITY_SHARE_FRACTION:.0%} of the largest full-link import share of the "
                f"importer's emissions ({share:.4g})" + idle}))

    gap = 0.0
    for a, b in pairs:
        gap = max(gap, abs(float(mk.loc[a, "autarky_price"]) - float(mk.loc[b, "autarky_price"])))
    price_scale = float(mk["autarky_price"].abs().max()) if len(mk) else 0.0
    if gap <= 1e-9 * max(1.0, price_scale):  # solver noise, not a price gap
        gap = 0.0
    tax = TAX_GAP_FRACTION * gap
    designs.append(Design(
        "border_tax", "Border tax", "Per-unit tax on cross-border transfers, paid by the buyer, "
        "kept by the importing jurisdiction (S-7.2).",
        _with_links(base, _both_ways(pairs, transfer_tax=tax), "border tax"),
        {"transfer_tax": tax, "why": f"{TAX_GAP_FRACTION:.0%} of the largest autarky price gap "
                                     f"({gap:.6g})" + idle}))

    # one rating per market (its rank among the distinct autarky prices), and a link's rate the
    # ratio of the two ratings: with two markets 0.8 one way and 1.25 the other; with three or
    # more the rates multiply to 1 round every cycle, so no chain of links credits more units
    # than it moves (pairwise 0.8/1.25 would, e.g. CA -> ON -> QC -> CA at 1.25)
    levels = sorted({float(mk.loc[m, "autarky_price"]) for pair in pairs for m in pair})
    rank = {m: levels.index(float(mk.loc[m, "autarky_price"])) for pair in pairs for m in pair}
    rate_links: list[Link] = []
    for a, b in pairs:
        low, high = (a, b) if rank[a] <= rank[b] else (b, a)
        rate = EXCHANGE_RATE ** (rank[high] - rank[low]) if rank[high] > rank[low] else 1.0
        rate_links.append(Link.model_validate({"from": low, "to": high, "exchange_rate": rate}))
        rate_links.append(Link.model_validate({"from": high, "to": low,
                                               "exchange_rate": 1.0 / rate}))
    designs.append(Design(
        "exchange_rate", "Exchange rate",
        "Units of the lower-priced market count less in the higher-priced one, the reciprocal the "
        "other way (S-7.2).", _with_links(base, rate_links, "exchange rate"),
        {"exchange_rate": EXCHANGE_RATE,
         "why": f"a rating-based conversion: a unit of the lower-autarky-price market counts "
                f"{EXCHANGE_RATE} in the other, {1 / EXCHANGE_RATE:.4g} the other way"
                + ("" if len(levels) <= 2 else
                   f" (per step between the {len(levels)} markets ranked by autarky price, so "
                   "the rates multiply to 1 round every cycle of links)")}))
    designs.append(Design(
        "discount", "Discount", "Each side counts imported units at a discount (S-7.2).",
        _with_links(base, _both_ways(pairs, discount=DISCOUNT), "discount"),
        {"discount": DISCOUNT, "why": "the seed's own example: a 20 % discount, so 1.25 foreign "
                                      "units per domestic unit"}))
    return designs
