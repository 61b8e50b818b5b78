"""The compiled network of markets, links and offsets that the solvers work on.

A :class:`Network` holds plain arrays (no documents): each market's BAU, cap, aggregated MAC
curve and price controls; each link's endpoints, credit factor and restrictions; each offset's
supply curve and acceptances. :func:`compile_network` builds it from a :class:`Scenario`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from carbonlink.markets.curves import Curve, build_curve
from carbonlink.model.scenario import Scenario


@dataclass(frozen=True)
class MarketData:
    id: str
    bau: float
    cap: float
    curve: Curve  # MAC curve, capacity ≤ bau
    ceiling_price: float | None = None
    ceiling_max: float = math.inf
    floor_price: float | None = None
    floor_max: float = 0.0


@dataclass(frozen=True)
class LinkData:
    src: int  # index of `from`
    dst: int  # index of `to`
    factor: float  # to-units credited per from-unit
    quota: float = math.inf
    entity_share: float | None = None
    tax: float = 0.0
    rent_holder: str = "importer"


@dataclass(frozen=True)
class Acceptance:
    market: int
    limit: float = math.inf
    limit_share: float | None = None
    factor: float = 1.0  # 1 − discount


@dataclass(frozen=True)
class OffsetData:
    id: str
    curve: Curve
    accepted: tuple[Acceptance, ...]


@dataclass(frozen=True)
class NetworkArrays:
    """The network's numbers as flat arrays (one entry per market, link or acceptance), from
    which the solvers assemble their programs without a Python loop per link."""

    bau: npt.NDArray[np.float64]
    cap: npt.NDArray[np.float64]
    ceiling_price: npt.NDArray[np.float64]  # nan: no ceiling
    ceiling_max: npt.NDArray[np.float64]
    floor_price: npt.NDArray[np.float64]  # nan: no floor
    floor_max: npt.NDArray[np.float64]
    src: npt.NDArray[np.int64]
    dst: npt.NDArray[np.int64]
    factor: npt.NDArray[np.float64]
    quota: npt.NDArray[np.float64]
    entity_share: npt.NDArray[np.float64]  # nan: no entity-level limit
    tax: npt.NDArray[np.float64]
    rent_to_exporter: npt.NDArray[np.bool_]
    acc_offset: npt.NDArray[np.int64]  # per acceptance: the offset, market, limit, share, factor
    acc_market: npt.NDArray[np.int64]
    acc_limit: npt.NDArray[np.float64]
    acc_share: npt.NDArray[np.float64]  # nan: no limit share
    acc_factor: npt.NDArray[np.float64]


def _floats(values: list[float | None]) -> npt.NDArray[np.float64]:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True)
class Network:
    markets: tuple[MarketData, ...]
    links: tuple[LinkData, ...] = ()
    offsets: tuple[OffsetData, ...] = ()
    ids: tuple[str, ...] = field(default=())

    def index(self, market_id: str) -> int:
        return self.ids.index(market_id)

    @cached_property
    def arrays(self) -> NetworkArrays:
        ms, lks = self.markets, self.links
        accs = [(k, a) for k, off in enumerate(self.offsets) for a in off.accepted]
        return NetworkArrays(
            bau=_floats([m.bau for m in ms]), cap=_floats([m.cap for m in ms]),
            ceiling_price=_floats([m.ceiling_price for m in ms]),
            ceiling_max=_floats([m.ceiling_max for m in ms]),
            floor_price=_floats([m.floor_price for m in ms]),
            floor_max=_floats([m.floor_max for m in ms]),
            src=np.array([lk.src for lk in lks], dtype=np.int64),
            dst=np.array([lk.dst for lk in lks], dtype=np.int64),
            factor=_floats([lk.factor for lk in lks]), quota=_floats([lk.quota for lk in lks]),
            entity_share=_floats([lk.entity_share for lk in lks]),
            tax=_floats([lk.tax for lk in lks]),
            rent_to_exporter=np.array([lk.rent_holder == "exporter" for lk in lks], dtype=bool),
            acc_offset=np.array([k for k, _ in accs], dtype=np.int64),
            acc_market=np.array([a.market for _, a in accs], dtype=np.int64),
            acc_limit=_floats([a.limit for _, a in accs]),
            acc_share=_floats([a.limit_share for _, a in accs]),
            acc_factor=_floats([a.factor for _, a in accs]),
        )

    def without_links(self) -> Network:
        """Autarky: the same markets, no links, no offsets."""
        return Network(markets=self.markets, ids=self.ids)


def compile_network(scenario: Scenario, *, keep_options: bool = True) -> Network:
    """Aggregate every curve (merit order) and index the links; errors name the field.
    ``keep_options``: curves keep their raw options (only the plain formulation uses them)."""
    markets = []
    for i, m in enumerate(scenario.markets):
        curve = build_curve(m.mac, f"markets[{i}].mac", capacity=m.bau, keep_options=keep_options)
        markets.append(MarketData(
            id=m.id, bau=m.bau, cap=m.cap, curve=curve,
            ceiling_price=m.price_ceiling.price if m.price_ceiling else None,
            ceiling_max=(m.price_ceiling.max_release if m.price_ceiling
                         and m.price_ceiling.max_release is not None else math.inf),
            floor_price=m.price_floor.price if m.price_floor else None,
            floor_max=(m.price_floor.max_withheld if m.price_floor
                       and m.price_floor.max_withheld is not None else m.cap),
        ))
    ids = tuple(m.id for m in scenario.markets)
    pos = {mid: i for i, mid in enumerate(ids)}
    links = tuple(
        LinkData(src=pos[lk.from_], dst=pos[lk.to], factor=lk.factor,
                 quota=math.inf if lk.quota is None else lk.quota,
                 entity_share=lk.entity_share, tax=lk.transfer_tax, rent_holder=lk.rent_holder)
        for lk in scenario.links
    )
    offsets = []
    for k, off in enumerate(scenario.offsets):
        curve = build_curve(off.supply, f"offsets[{k}].supply", keep_options=keep_options)
        acc = tuple(
            Acceptance(market=pos[mid], limit=math.inf if a.limit is None else a.limit,
                       limit_share=a.limit_share, factor=1.0 - a.discount)
            for mid, a in off.accepted_by.items()
        )
        offsets.append(OffsetData(id=off.id, curve=curve, accepted=acc))
    return Network(markets=tuple(markets), links=links, offsets=tuple(offsets), ids=ids)


def integrity_cycles(scenario: Scenario) -> list[list[str]]:
    """Cycles of links whose credit factors multiply to more than 1 (allowances made out of
    nothing). Bellman–Ford on weights −log(factor) finds a negative cycle; each one found is
    reported once, as the list of markets along it (first market repeated at the end)."""
    ids = [m.id for m in scenario.markets]
    pos = {mid: i for i, mid in enumerate(ids)}
    edges = [(pos[lk.from_], pos[lk.to], -math.log(lk.factor)) for lk in scenario.links]
    if all(w >= 0.0 for _, _, w in edges):  # no factor above 1: no cycle can multiply above 1
        return []
    found: list[list[str]] = []
    seen: set[frozenset[int]] = set()
    n = len(ids)
    for _attempt in range(max(len(edges), 1)):
        dist = [0.0] * n  # virtual source to every node
        pred = [-1] * n
        last = -1
        for _ in range(n):
            last = -1
            for u, v, w in edges:
                if dist[u] + w < dist[v] - 1e-12:
                    dist[v] = dist[u] + w
                    pred[v] = u
                    last = v
            if last == -1:
                break
        if last == -1:
            break
        v = last
        for _ in range(n):
            v = pred[v]
        cycle = [v]
        u = pred[v]
        while u != v:
            cycle.append(u)
            u = pred[u]
        cycle.reverse()
        key = frozenset(cycle)
        if key in seen:
            break
        seen.add(key)
        found.append([ids[c] for c in cycle] + [ids[cycle[0]]])
        # remove one edge of this cycle and look for another
        a, b = cycle[0], cycle[1 % len(cycle)]
        edges = [e for e in edges if not (e[0] == a and e[1] == b)]
    return found
