"""carbonlink — linking carbon markets.

Model the markets and the linkage agreement, check the agreement's legality and completeness,
see what linking does to prices, costs, trade and emissions, and keep the books of the units
that cross the border without double counting.
"""

from carbonlink.markets import SimulationResult, simulate
from carbonlink.model import Scenario, load_scenario

__all__ = ["Scenario", "SimulationResult", "load_scenario", "simulate"]
__version__ = "0.1.0"
