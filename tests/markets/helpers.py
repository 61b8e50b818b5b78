"""Small builders for scenario documents used across the market tests."""

from __future__ import annotations

from typing import Any


def linear_market(mid: str, slope: float, bau: float, cap: float, **extra: Any) -> dict[str, Any]:
    return {"id": mid, "bau": bau, "cap": cap, "mac": {"linear": {"slope": slope}}, **extra}


def doc(*markets: dict[str, Any], links: list[dict[str, Any]] | None = None,
        offsets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": "test", "markets": list(markets), "links": links or [], "offsets": offsets or []}
