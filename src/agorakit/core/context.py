"""``RunContext[Deps]``: what a tool or a dynamic instruction gets to know about the run it serves.

A tool asks for it by annotating its first parameter ``RunContext[MyDeps]``
(that parameter is not shown to the model); instructions given as a callable
receive it too. ``deps`` is whatever the caller passed as ``agent.run(...,
deps=...)``: a database handle, a user id, an HTTP client.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any, Generic, TypeVar

from agorakit.core.messages import Message
from agorakit.core.usage import Usage

Deps = TypeVar("Deps")


class RunContext(Generic[Deps]):
    """The run a tool call or an instruction belongs to.

    ``agent`` is the name of the agent acting now (it changes on a handoff),
    ``step`` its step number in this run, ``messages`` the conversation so far
    (read it, do not change it), ``usage`` the run's usage so far.
    """

    __slots__ = ("agent", "deps", "handoff_to", "messages", "run_id", "step", "usage")

    def __init__(
        self,
        deps: Deps,
        agent: str,
        run_id: str,
        usage: Usage | None = None,
        messages: list[Message] | None = None,
        step: int = 0,
    ) -> None:
        self.deps = deps
        self.agent = agent
        self.run_id = run_id
        self.usage = usage if usage is not None else Usage()
        self.messages = messages if messages is not None else []
        self.step = step
        # A handoff tool names the agent to take over here; the runner reads it after the step.
        self.handoff_to: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        """The key of the tool call running now: the same on every attempt at this call, across
        resumes of a durable run, so a tool with side effects can make them once (``None``
        outside a tool call)."""
        return _call_key.get()

    def __repr__(self) -> str:
        return f"RunContext(agent={self.agent!r}, run_id={self.run_id!r}, step={self.step}, deps={self.deps!r})"


_current: ContextVar[RunContext[Any] | None] = ContextVar("agorakit_run_context", default=None)
_call_key: ContextVar[str | None] = ContextVar("agorakit_idempotency_key", default=None)


class using_call_key:  # used like a function: ``with using_call_key(key):``
    """Make ``key`` the idempotency key of the tool call that runs inside."""

    __slots__ = ("key", "token")
    token: Token[str | None]

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        self.token = _call_key.set(self.key)

    def __exit__(self, *exc: object) -> None:
        _call_key.reset(self.token)


def current_context() -> RunContext[Any] | None:
    """The context of the agent run in progress in this task, if any."""
    return _current.get()


class using_context:  # used like a function: ``with using_context(ctx):``
    """Make ``context`` current while an agent run is in progress (tasks started inside inherit it)."""

    __slots__ = ("context", "token")
    token: Token[RunContext[Any] | None]

    def __init__(self, context: RunContext[Any]) -> None:
        self.context = context

    def __enter__(self) -> None:
        self.token = _current.set(self.context)

    def __exit__(self, *exc: object) -> None:
        _current.reset(self.token)
