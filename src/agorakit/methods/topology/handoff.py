"""Handoffs: an agent passes control to another by calling a ``transfer_to_<name>`` tool.

``handoff(to)`` builds the tool; put it in an Agent's ``tools``. A
:class:`HandoffTeam` runs the active agent's tool loop itself (as OpenAI
Swarm does): every agent sees the one shared history under its own
instructions; when the active agent's reply calls a handoff tool, the tool
result joins the history and the target becomes the active agent; the run
ends at the first reply with no tool call.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agorakit.agents.agent import Agent
from agorakit.agents.result import RunResult, StopReason
from agorakit.agents.steps import ask_model
from agorakit.core.errors import AgorakitError, BudgetExceeded, ConfigError
from agorakit.core.messages import Message
from agorakit.methods.topology.scope import Participant, Scope
from agorakit.methods.topology.team import Team
from agorakit.models.base import ModelRequest
from agorakit.policy.errors import PolicyStopped
from agorakit.tools import Tool

_TARGETS: weakref.WeakKeyDictionary[Tool[..., Any], str] = weakref.WeakKeyDictionary()
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def handoff(to: str | Participant, description: str | None = None) -> Tool[..., Any]:
    """A ``transfer_to_<to>`` tool; calling it in a :class:`HandoffTeam` makes ``to`` the active agent."""
    target = to if isinstance(to, str) else to.name
    text = f"Transferred to {target}."

    def transfer(arguments: dict[str, Any]) -> str:
        return text

    hint = description or getattr(to, "description", None) or f"Hand the conversation over to {target}."
    made = Tool.from_schema(f"transfer_to_{target}", str(hint), NO_ARGUMENTS, transfer)
    _TARGETS[made] = target
    return made


def handoff_target(item: Tool[..., Any]) -> str | None:
    """The agent a handoff tool transfers to (``None`` for other tools)."""
    return _TARGETS.get(item)


@dataclass(slots=True)
class HandoffResult(RunResult):
    """A handoff team's outcome: the agent that answered and every transfer made."""

    active: str = ""
    handoffs: list[tuple[str, str]] = field(default_factory=list)


class HandoffTeam(Team):
    """Agents that pass control with handoff tools (see :func:`handoff`).

    Each step calls the active agent's model (its instructions, then the
    shared history) with its tools; its tool calls run through its own
    dispatcher (so its policy applies); the last successful handoff in a reply
    switches the active agent. After ``max_handoffs`` transfers the handoff
    tools are no longer offered (the active agent must answer), and
    ``max_turns`` bounds model calls in all.
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        start: str | None = None,
        max_handoffs: int = 10,
        max_turns: int = 30,
        name: str = "handoff_team",
    ) -> None:
        if not agents:
            raise ConfigError("a handoff team needs at least one agent")
        self.agents = {agent.name: agent for agent in agents}
        if len(self.agents) != len(agents):
            raise ConfigError(f"agent names must be unique, got {[a.name for a in agents]}")
        self.start = start or agents[0].name
        if self.start not in self.agents:
            raise ConfigError(f"start agent {self.start!r} is not in the team")
        if max_handoffs < 0 or max_turns < 1:
            raise ConfigError("max_handoffs must be at least 0 and max_turns at least 1")
        self.max_handoffs = max_handoffs
        self.max_turns = max_turns
        self.name = name
        self.routes: dict[str, dict[str, str]] = {}
        for agent in agents:
            routes = {t.name: target for t in agent.tools if (target := handoff_target(t)) is not None}
            unknown = sorted(set(routes.values()) - set(self.agents))
            if unknown:
                raise ConfigError(f"{agent.name} hands off to {', '.join(unknown)}, not in the team")
            self.routes[agent.name] = routes

    async def _run(self, conversation: list[Message], scope: Scope) -> HandoffResult:
        history = list(conversation)
        active = self.agents[self.start]
        transfers: list[tuple[str, str]] = []
        stop: StopReason = "max_steps"
        output: str | None = None
        error: AgorakitError | None = None
        tracer = scope.run.tracer
        turns = 0
        while turns < self.max_turns:
            turns += 1
            routes = self.routes[active.name]
            specs = active.dispatcher.specs
            if len(transfers) >= self.max_handoffs:
                specs = [spec for spec in specs if spec.name not in routes]
            request = ModelRequest(
                [Message("system", active.instructions), *history],
                specs,
                "auto" if specs else "none",
                None,
                active.sampling,
            )
            reply = await ask_model(active, active.model, scope.kernel(active), scope.run, request, history)
            if isinstance(reply, BudgetExceeded):
                stop, error = "budget_exceeded", reply
                break
            scope.record(reply)
            if not reply.tool_calls:
                stop, output = "final_answer", reply.content or ""
                break
            try:
                results = await active.dispatcher.execute_all(reply.tool_calls, tracer)
            except PolicyStopped as stopped:
                stop, error = "policy_stopped", stopped
                break
            target: str | None = None
            for outcome in results:
                scope.note(observation := outcome.to_message())
                history.append(observation)
                if outcome.ok and outcome.call.name in routes:
                    target = routes[outcome.call.name]
            if target is not None and len(transfers) < self.max_handoffs:
                transfers.append((active.name, target))
                tracer.event("handoff", {"agorakit.from": active.name, "agorakit.to": target})
                active = self.agents[target]
        return HandoffResult(
            output=output,
            messages=history,
            usage=scope.run.usage,
            run_id=scope.run.run_id,
            stop_reason=stop,
            steps=turns,
            usage_by_agent=scope.run.usage_by_agent,
            error=error,
            active=active.name,
            handoffs=transfers,
        )
