"""What a server serves: agents and methods behind one small interface.

An :class:`Entry` answers a conversation (OpenAI-style messages) with one
:class:`Answer`. Agents read the whole conversation; a method solves one task,
the last user message. :meth:`Entry.stream` yields the run's typed events
(text deltas, tool calls, policy decisions, usage) and ends with the answer,
so every route (OpenAI, runs API, A2A, MCP) streams the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.core.stream import RunFinished, StreamEvent, stream_event_batches, stream_events
from agorakit.core.usage import Usage

if TYPE_CHECKING:
    from agorakit.agents import Agent, RunResult
    from agorakit.methods.base import Method
    from agorakit.methods.topology.team import Team

EntryKind = Literal["agent", "method", "team"]
T = TypeVar("T")


@dataclass(slots=True)
class Answer:
    """One run's outcome as a client sees it."""

    text: str
    run_id: str
    usage: Usage
    #: ``final_answer`` when the run answered; otherwise why it stopped (``max_steps``, ``budget``, ...).
    stop_reason: str
    #: The run's own explanation when it did not answer.
    explanation: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.stop_reason == "final_answer"


@dataclass(frozen=True, slots=True)
class Entry:
    """A served agent or method: ``name`` is what clients ask for (the OpenAI ``model``)."""

    name: str
    kind: EntryKind
    description: str
    #: Runs one conversation to an answer under the given run id.
    runner: Callable[[list[Message], str], Any]
    model: str = ""
    #: Goes on with a paused durable run (one awaiting approval) by its id; None when the entry cannot.
    resumer: Callable[[str], Coroutine[Any, Any, Answer]] | None = None

    async def run(self, messages: Sequence[Message], run_id: str) -> Answer:
        answer: Answer = await self.runner(list(messages), run_id)
        return answer

    def stream(
        self, messages: Sequence[Message], run_id: str, *, timeout: float | None = None
    ) -> AsyncGenerator[StreamEvent | Answer, None]:
        """The run's events as they happen, then its :class:`Answer`. A caller that stops
        iterating (a client that went away) cancels the run; one that runs longer than
        ``timeout`` seconds is cancelled, and iterating then raises ``TimeoutError``."""
        return _events(lambda: within(self.run(messages, run_id), timeout))

    def stream_batches(
        self, messages: Sequence[Message], run_id: str, *, timeout: float | None = None
    ) -> AsyncGenerator[list[StreamEvent | RunFinished[Answer]], None]:
        """:meth:`stream`, with the events that are ready together in one list (see
        :func:`~agorakit.core.stream.stream_event_batches`); the answer comes as
        :class:`~agorakit.core.stream.RunFinished`, last."""
        return stream_event_batches(lambda: within(self.run(messages, run_id), timeout))

    async def resume_stream(self, run_id: str) -> AsyncGenerator[StreamEvent | Answer, None]:
        """:meth:`stream` for a paused durable run going on (once its approvals are decided)."""
        resumer = self.resumer
        if resumer is None:
            raise ConfigError(f"entry {self.name!r} cannot resume a run", hint="only agents resume paused runs")
        async for event in _events(lambda: resumer(run_id)):
            yield event


async def within(work: Coroutine[Any, Any, T], timeout: float | None) -> T:
    """``work`` awaited, cancelled after ``timeout`` seconds (``TimeoutError``). Run in the run's own
    task, it is one timer for a stream rather than one per event its reader awaits."""
    async with asyncio.timeout(timeout):
        return await work


async def _events(
    run: Callable[[], Coroutine[Any, Any, Answer]],
) -> AsyncGenerator[StreamEvent | Answer, None]:
    async for event in stream_events(run):
        yield event.result if isinstance(event, RunFinished) else event


def agent_entry(agent: Agent[Any, Any], *, name: str | None = None, description: str | None = None) -> Entry:
    """Serve ``agent``: it reads the client's whole conversation (system messages merge into its own)."""

    async def run(messages: list[Message], run_id: str) -> Answer:
        return _agent_answer(await agent.run(messages, run_id=run_id))

    async def resume(run_id: str) -> Answer:
        return _agent_answer(await agent.resume(run_id))

    spec = agent._model_spec
    model = spec if isinstance(spec, str) else str(getattr(spec, "uri", type(spec).__name__))
    return Entry(
        name=name or agent.name,
        kind="agent",
        description=description or agent.description or f"agent {agent.name}",
        runner=run,
        model=model,
        resumer=resume,
    )


def _agent_answer(result: RunResult[Any]) -> Answer:
    output = result.output
    text = output if isinstance(output, str) else _as_text(output)
    return Answer(
        text=text if output is not None else "",
        run_id=result.run_id,
        usage=result.usage,
        stop_reason=result.stop_reason,
        explanation=None if output is not None else result.explanation,
    )


def method_entry(make: Callable[[], Method], *, name: str, description: str | None = None, model: str = "") -> Entry:
    """Serve a method: each request builds a fresh method (``make()``) and solves the last user message."""

    async def run(messages: list[Message], run_id: str) -> Answer:
        method = make()
        result = await method.run(task_of(messages), run_id=run_id)
        return Answer(
            text=result.answer,
            run_id=result.run_id,
            usage=result.usage,
            stop_reason="final_answer",
            details={"final_answer": result.final_answer, "method": result.method},
        )

    return Entry(name=name, kind="method", description=description or f"method {name}", runner=run, model=model)


def team_entry(team: Team, *, name: str | None = None, description: str | None = None) -> Entry:
    """Serve a team (a group chat, a handoff team, ...): it reads the client's whole conversation."""

    async def run(messages: list[Message], run_id: str) -> Answer:
        from agorakit.kernel import RunLedger

        result = await team.run(messages, context=RunLedger.for_run(team.trace, None, run_id=run_id))
        return _agent_answer(result)

    return Entry(name=name or team.name, kind="team", description=description or f"team {team.name}", runner=run)


def task_of(messages: Sequence[Message]) -> str:
    """The task a method solves: the last user message's text."""
    for message in reversed(messages):
        if message.role == "user" and (message.content or "").strip():
            return message.content or ""
    raise ConfigError("the conversation has no user message to answer", hint="end it with a user message")


def _as_text(value: Any) -> str:
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    import dataclasses
    import json

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.dumps(dataclasses.asdict(value))
    return json.dumps(value) if not isinstance(value, str) else value
