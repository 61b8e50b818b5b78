"""Markets: cost curves, the linked-market equilibrium and its solvers.

The names load on first use (PEP 562): ``import carbonlink.markets`` costs nothing until a
curve, a network or a solve is asked for (pandas, scipy and HiGHS stay off the start-up path
of commands that do not simulate).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonlink.markets.curves import Curve, build_curve
    from carbonlink.markets.equilibrium import SimulationResult, simulate
    from carbonlink.markets.network import Network, compile_network, integrity_cycles
    from carbonlink.markets.solvers import Engine, SolveStatus, solve_network

__all__ = [
    "Curve", "Engine", "Network", "SimulationResult", "SolveStatus", "build_curve",
    "compile_network", "integrity_cycles", "simulate", "solve_network",
]

_WHERE = {
    "Curve": "curves", "build_curve": "curves",
    "SimulationResult": "equilibrium", "simulate": "equilibrium",
    "Network": "network", "compile_network": "network", "integrity_cycles": "network",
    "Engine": "solvers", "SolveStatus": "solvers", "solve_network": "solvers",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"carbonlink.markets.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'carbonlink.markets' has no attribute {name!r}")
