"""Agents: a model + instructions + tools + a strategy, run by one loop."""

from agorakit.agents.agent import DEFAULT_INSTRUCTIONS, Agent
from agorakit.agents.codeact import CodeAct
from agorakit.agents.handoffs import Handoff
from agorakit.agents.react import ReAct
from agorakit.agents.result import RunResult, StopReason
from agorakit.agents.strategy import Outcome, Play, Reading, Setup, Strategy, Turn
from agorakit.core.context import RunContext

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "Agent",
    "CodeAct",
    "Handoff",
    "Outcome",
    "Play",
    "ReAct",
    "Reading",
    "RunContext",
    "RunResult",
    "Setup",
    "StopReason",
    "Strategy",
    "Turn",
]
