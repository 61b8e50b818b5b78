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

if TYPE_CHECKING:
    from carbonlink.agreements import check, load_agreement
    from carbonlink.markets import SimulationResult, simulate
    from carbonlink.model import Scenario, load_scenario
    from carbonlink.registry import Registry

__all__ = ["Registry", "Scenario", "SimulationResult", "assess", "check", "load_agreement", "load_scenario",
           "simulate"]
__version__ = "0.1.0"

_LAZY = {"check": "carbonlink.agreements", "load_agreement": "carbonlink.agreements",
         "Registry": "carbonlink.registry", "SimulationResult": "carbonlink.markets.equilibrium",
         "simulate": "carbonlink.markets.equilibrium", "Scenario": "carbonlink.model.scenario",
         "load_scenario": "carbonlink.model.io"}


def __getattr__(name: str) -> Any:
    """Every name loads on first use (PEP 562): ``import carbonlink`` (and so every command's
    start-up) pulls in neither pandas, scipy and HiGHS (the simulator), nor pydantic models, nor
    SQLAlchemy and Alembic (the registry) until they are used.
    ``assess`` is a callable package: ``carbonlink.assess(path, ...)`` gives an Assessment."""
    if name == "assess":
        import importlib

        return importlib.import_module("carbonlink.assess")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'carbonlink' has no attribute {name!r}")
