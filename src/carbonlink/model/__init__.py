"""Typed documents: scenarios (markets, links, offsets) and, in sibling modules, agreements."""

from carbonlink.model.io import load_scenario, read_document, validate_document
from carbonlink.model.scenario import (
    Acceptance,
    FirmsSpec,
    LinearSpec,
    Link,
    Market,
    Offset,
    PriceCeiling,
    PriceFloor,
    Scenario,
    StepsSpec,
)

__all__ = [
    "Acceptance", "FirmsSpec", "Link", "LinearSpec", "Market", "Offset", "PriceCeiling",
    "PriceFloor", "Scenario", "StepsSpec", "load_scenario", "read_document", "validate_document",
]
