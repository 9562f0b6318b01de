"""The built-in scenarios, by name."""

from __future__ import annotations

from typing import Any

from agorakit.sim.scenario import Scenario
from agorakit.sim.scenarios.guess import GuessTwoThirds
from agorakit.sim.scenarios.spread import MessageSpread

SCENARIOS: dict[str, type[Scenario[Any, Any]]] = {cls.name: cls for cls in (GuessTwoThirds, MessageSpread)}

__all__ = ["SCENARIOS", "GuessTwoThirds", "MessageSpread"]
