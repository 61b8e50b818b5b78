"""Markets: cost curves, the linked-market equilibrium and its solvers."""

from carbonlink.markets.curves import Curve, build_curve
from carbonlink.markets.equilibrium import SimulationResult, simulate
from carbonlink.markets.network import Network, compile_network, integrity_cycles
from carbonlink.markets.solvers import Engine, SolveStatus, solve_network

__all__ = [
    "Curve", "Engine", "Network", "SimulationResult", "SolveStatus", "build_curve",
    "compile_network", "integrity_cycles", "simulate", "solve_network",
]
