"""Agents: a model + instructions + tools + a strategy (ReAct)."""

from agorakit.agents.agent import DEFAULT_INSTRUCTIONS, Agent
from agorakit.agents.result import RunResult, StopReason

__all__ = ["DEFAULT_INSTRUCTIONS", "Agent", "RunResult", "StopReason"]
