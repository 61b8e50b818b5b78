"""carbonlink — linking carbon markets.

Model the markets and the linkage agreement, check the agreement's legality and completeness,
see what linking does to prices, costs, trade and emissions, and keep the books of the units
that cross the border without double counting.

>>> import carbonlink
>>> result = carbonlink.simulate("examples/scenarios/two-markets-discount.yaml")  # doctest: +SKIP
>>> report = carbonlink.check("examples/agreements/eu-switzerland.yaml")          # doctest: +SKIP
>>> a = carbonlink.assess("examples/agreements/eu-switzerland.yaml")             # doctest: +SKIP
>>> a.decision["line"]; a.plot("gains"); a.save("report.xlsx")                   # doctest: +SKIP
>>> with carbonlink.Registry("sqlite:///registry.db") as reg: ...                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonlink.markets import SimulationResult, simulate
from carbonlink.model import Scenario, load_scenario

if TYPE_CHECKING:
    from carbonlink.agreements import check, load_agreement
    from carbonlink.registry import Registry

__all__ = ["Registry", "Scenario", "SimulationResult", "assess", "check", "load_agreement", "load_scenario",
           "simulate"]
__version__ = "0.1.0"

_LAZY = {"check": "carbonlink.agreements", "load_agreement": "carbonlink.agreements",
         "Registry": "carbonlink.registry"}


def __getattr__(name: str) -> Any:
    if name == "assess":  # a callable package: carbonlink.assess(path, ...) -> Assessment
        import importlib

        return importlib.import_module("carbonlink.assess")
    """The agreement checker and the registry load on first use (the registry pulls in
    SQLAlchemy and Alembic, which ``simulate`` does not need)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'carbonlink' has no attribute {name!r}")
