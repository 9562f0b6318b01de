"""Simulations of many agents: a scenario, rounds in lockstep, agents packed into groups.

    from agorakit.sim import Simulation
    from agorakit.sim.scenarios import GuessTwoThirds

    result = asyncio.run(Simulation(GuessTwoThirds(), agents=1000, rounds=5).run())

See docs/sim.md.
"""

from agorakit.sim.group import AgentGroup, Step
from agorakit.sim.instant import INSTANT
from agorakit.sim.scenario import Scenario
from agorakit.sim.simulation import SimResult, Simulation

__all__ = ["INSTANT", "AgentGroup", "Scenario", "SimResult", "Simulation", "Step"]
