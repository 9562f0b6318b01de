"""A handoff team: agents that pass the conversation with ``transfer_to_<name>`` tools.

Each agent lists whom it may hand over to (``Agent(handoffs=[...])``, objects
or names); the team runs the start agent in the one agent loop, which makes
the target the active agent on a successful transfer, under its own
instructions, strategy, tools and limits (as OpenAI Swarm does, every agent
sees the one shared history). The run ends at the first answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agorakit.agents.agent import Agent, run_agent
from agorakit.agents.handoffs import target_name
from agorakit.agents.result import RunResult
from agorakit.agents.runner import Limits
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.topology.scope import Scope
from agorakit.methods.topology.team import Team


@dataclass(slots=True)
class HandoffResult(RunResult[str]):
    """A handoff team's outcome: the agent that answered and every transfer made."""

    active: str = ""
    handoffs: list[tuple[str, str]] = field(default_factory=list)


class HandoffTeam(Team):
    """Agents that pass control with handoffs (see :mod:`agorakit.agents.handoffs`).

    ``start`` (default: the first agent) takes the task. After
    ``max_handoffs`` transfers the handoff tools are no longer offered (the
    active agent must finish), and ``max_turns`` bounds model calls in all;
    each agent's own ``max_steps`` bounds its part.
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
        for agent in agents:
            unknown = sorted({target_name(t) for t in agent.handoffs} - set(self.agents))
            if unknown:
                raise ConfigError(f"{agent.name} hands off to {', '.join(unknown)}, not in the team")
        self.max_handoffs = max_handoffs
        self.max_turns = max_turns
        self.name = name

    async def _run(self, conversation: list[Message], scope: Scope) -> HandoffResult:
        limits = Limits(max_handoffs=self.max_handoffs, max_steps=self.max_turns)
        run = await run_agent(
            self.agents[self.start],
            conversation,
            context=scope.run,
            members=list(self.agents.values()),
            limits=limits,
        )
        history = run.result.messages[1:]  # the shared history, without the active agent's system prompt
        for message in history[len(conversation) :]:
            scope.record(message)  # traced by the loop already
        outcome = run.result
        return HandoffResult.build(
            scope.run,
            outcome.output,
            history,
            outcome.stop_reason,
            outcome.steps,
            error=outcome.error,
            active=run.last.name,
            handoffs=run.handoffs,
        )
