"""``POST /api/simulate``: the linked-market equilibrium of a scenario document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from carbonlink.api.documents import admit_scenario
from carbonlink.api.errors import BAD_REQUEST, INVALID
from carbonlink.api.schemas import SimulationOut
from carbonlink.markets import Engine, simulate
from carbonlink.model.scenario import Scenario

router = APIRouter(tags=["simulate"])


@router.post("/simulate", response_model=SimulationOut, responses={**INVALID, **BAD_REQUEST},
             summary="Simulate linked markets")
def simulate_scenario(
    scenario: Annotated[Scenario, Body(description="a scenario document (the YAML of "
                                       "examples/scenarios as JSON); firm files are refused")],
    engine: Annotated[Engine, Query(description="fast (default) or plain (one HiGHS column "
                                    "per option, the reference)")] = Engine.fast,
) -> dict[str, Any]:
    """Solve the equilibrium of the scenario and its autarky. The body of the answer is what
    ``carbonlink simulate FILE --format json`` prints; an infeasible scenario is a 200 with
    ``status: infeasible``."""
    return simulate(admit_scenario(scenario), engine=engine).to_dict()
