"""A team: several participants run as one. Any team is also a participant
(``team.as_agent()``) and a tool (``team.as_tool(name, description)``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agorakit.agents.result import RunResult
from agorakit.core.messages import Message
from agorakit.core.stream import RunFinished, StreamEvent, stream_events
from agorakit.kernel import RunLedger
from agorakit.methods.topology.scope import Context, Scope, active, as_conversation, current_scope, resolve
from agorakit.tools import Tool
from agorakit.trace.run_span import traced_run
from agorakit.trace.setup import TraceOption

TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"task": {"type": "string", "description": "what the team should do, with all it needs to know"}},
    "required": ["task"],
}


class Team(ABC):
    """Participants run together on one task; ``run`` has an agent's shape."""

    name: str = "team"
    trace: TraceOption = None

    async def run(
        self, task: str | Sequence[Message], *, history: Sequence[Message] = (), context: Context = None
    ) -> RunResult[str]:
        """Run the team on ``task`` (after ``history``), in ``context`` (see :mod:`.scope`)."""
        scope = resolve(context, self.trace)
        with active(scope), traced_run(scope.run.tracer, f"invoke_team {self.name}", {"agorakit.team": self.name}):
            return await self._run(as_conversation(task, history), scope)

    def run_stream(
        self, task: str | Sequence[Message], *, history: Sequence[Message] = (), context: Context = None
    ) -> AsyncIterator[StreamEvent | RunFinished[RunResult[str]]]:
        """``run``, yielding its agents' events as they happen, then
        :class:`~agorakit.core.stream.RunFinished` with the result."""
        return stream_events(lambda: self.run(task, history=history, context=context))

    @abstractmethod
    async def _run(self, conversation: list[Message], scope: Scope) -> RunResult[str]:
        """Run on ``conversation`` (its last message is the task)."""

    def as_agent(self, name: str | None = None) -> TeamAgent:
        """This team as a participant of another team, named ``name``."""
        return TeamAgent(self, name or self.name)

    def as_tool(
        self, name: str | None = None, description: str | None = None, *, context: Context = None
    ) -> Tool[..., Any]:
        """A tool that runs this team on its ``task`` argument and returns the team's answer.

        Called by an agent of a running team, it joins that team's run (usage,
        trace, transcript); ``context`` fixes the run otherwise.
        """

        async def call(arguments: dict[str, Any]) -> str:
            scope = current_scope()
            joined: Context = context if context is not None else (scope.run if scope is not None else None)
            outcome = await self.run(str(arguments["task"]), context=joined)
            return (
                outcome.output
                if outcome.output is not None
                else f"The team stopped without an answer: {outcome.explanation}."
            )

        return Tool.from_schema(
            name or self.name,
            description or f"Hand a task to the {self.name} team and get its answer.",
            TASK_SCHEMA,
            call,
            idempotent=True,  # the team's own model calls are journaled in a durable run
        )


class TeamAgent:
    """A team seen as one participant: same ``name`` and ``run`` as an Agent."""

    def __init__(self, team: Team, name: str) -> None:
        self.team = team
        self.name = name

    async def run(
        self, task: str | Sequence[Message], *, history: Sequence[Message] = (), context: RunLedger | None = None
    ) -> RunResult[str]:
        return await self.team.run(task, history=history, context=context)

    def __repr__(self) -> str:
        return f"TeamAgent({self.name!r}, {self.team!r})"
