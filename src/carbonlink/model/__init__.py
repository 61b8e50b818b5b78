"""Typed documents: scenarios (markets, links, offsets) and, in sibling modules, agreements."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_IO = {"load_scenario", "read_document", "validate_document"}


def __getattr__(name: str) -> Any:
    """Names load on first use (PEP 562): the pydantic models are built only when needed."""
    if name in __all__:
        module = "carbonlink.model.io" if name in _IO else "carbonlink.model.scenario"
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'carbonlink.model' has no attribute {name!r}")
