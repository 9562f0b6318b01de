"""Where a topology runs: one run (usage, trace, budget) and, inside a method, its session.

Every primitive takes ``context=``: a :class:`RunLedger` (the run to join), a
:class:`Session` (a method's run: its transcript gets every message too), or
``None`` (join the team that is running now, if any, else start a new run).
While a primitive runs it is the *current scope*, so a team called as a tool
by one of its agents joins the same run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from agorakit.agents.events import message_event
from agorakit.agents.result import RunResult
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, RunLedger, default_kernel
from agorakit.methods.session import Session
from agorakit.trace.setup import TraceOption, tracer_for

Context: TypeAlias = RunLedger | Session | None


@runtime_checkable
class Participant(Protocol):
    """What a topology can run: an :class:`~agorakit.agents.Agent`, a team, or
    anything with a ``name`` and the same ``run`` shape."""

    @property
    def name(self) -> str: ...

    async def run(
        self, task: str | Sequence[Message], *, history: Sequence[Message] = (), context: RunLedger | None = None
    ) -> RunResult[str]: ...


@dataclass(slots=True)
class Scope:
    """The run a primitive's calls are accounted to, and the session (if any) whose transcript they join."""

    run: RunLedger
    session: Session | None = None

    def record(self, message: Message) -> None:
        """Add an already traced message to the session's transcript."""
        if self.session is not None:
            self.session.transcript.append(message)

    def note(self, message: Message) -> None:
        """Trace a message and add it to the transcript."""
        message_event(self.run.tracer, message)
        self.record(message)

    def kernel(self, participant: object = None) -> Kernel:
        """The session's kernel, else the participant's own, else the shared one."""
        if self.session is not None:
            return self.session.kernel
        own = getattr(participant, "_kernel", None)
        return own if isinstance(own, Kernel) else default_kernel()


_current: ContextVar[Scope | None] = ContextVar("agorakit_topology_scope", default=None)


def current_scope() -> Scope | None:
    """The scope of the primitive running now (in this task), if any."""
    return _current.get()


def resolve(context: Context, trace: TraceOption = None) -> Scope:
    if isinstance(context, Session):
        return Scope(context.run, context)
    running = _current.get()
    if isinstance(context, RunLedger):
        # Joining the current run by its RunLedger keeps its session.
        return running if running is not None and running.run is context else Scope(context)
    if context is not None:
        raise ConfigError(f"context must be a RunLedger or a Session, got {type(context).__name__}")
    return running if running is not None else Scope(RunLedger.create(tracer_for(trace)))


@contextmanager
def active(scope: Scope) -> Iterator[Scope]:
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def as_conversation(task: str | Sequence[Message], history: Sequence[Message] = ()) -> list[Message]:
    """``history`` then the task (a user message, or a conversation to continue)."""
    if isinstance(task, str):
        return [*history, Message("user", task, name="user")]
    if not task:
        raise ConfigError("a team needs a task: a string or a non-empty list of messages")
    return [*history, *task]


def view_for(name: str, conversation: Sequence[Message]) -> list[Message]:
    """A shared conversation as ``name`` sees it: its own messages as the
    assistant's, everyone else's as named user messages."""
    return Views().of(name, conversation)


def _seen_by(name: str, message: Message) -> Message:
    if message.role != "assistant":
        return message
    if message.name != name:
        return Message("user", message.content, name=message.name)
    return Message("assistant", message.content, name=name)


class Views:
    """Every participant's :func:`view_for` of one growing conversation, kept
    between turns and extended with only the messages added since.

    Rebuilding each view every turn made a turn O(conversation) in new
    Message objects (most of a group-chat turn at 400 messages). Converted
    messages are shared, never mutated; a view is handed out as a copy, so a
    participant that edits its input cannot corrupt the next turn. A
    conversation that was not merely appended to since (the last message a
    view was built from is no longer in its place) rebuilds that view.
    """

    __slots__ = ("_as_user", "_views")

    def __init__(self) -> None:
        # name -> (the view, the source message it was last extended with)
        self._views: dict[str, tuple[list[Message], Message | None]] = {}
        # One "user" copy per assistant message, shared by everyone but its author.
        self._as_user: dict[int, tuple[Message, Message]] = {}

    def of(self, name: str, conversation: Sequence[Message]) -> list[Message]:
        view, last = self._views.get(name) or ([], None)
        done = len(view)
        if done > len(conversation) or (done and conversation[done - 1] is not last):
            view, done = [], 0  # not the conversation this view was built from: start again
        for message in conversation[done:]:
            if message.role == "assistant" and message.name != name:
                view.append(self._user_copy(message))
            else:
                view.append(_seen_by(name, message))
        if conversation:
            self._views[name] = (view, conversation[-1])
        return list(view)

    def _user_copy(self, message: Message) -> Message:
        # Keyed by id() with the message kept alongside, so a reused id is never mistaken for it.
        entry = self._as_user.get(id(message))
        if entry is None or entry[0] is not message:
            entry = (message, Message("user", message.content, name=message.name))
            self._as_user[id(message)] = entry
        return entry[1]


R = TypeVar("R", bound=RunResult[Any])


def result(
    scope: Scope,
    output: str | None,
    messages: list[Message],
    steps: int,
    *,
    last: RunResult[Any] | None = None,
    kind: type[R] = RunResult,  # type: ignore[assignment]  # without kind, R is RunResult
    **extra: Any,
) -> R:
    """A team's :class:`RunResult` (or the subclass ``kind``, given its own
    fields in ``extra``): ``last`` (the participant run that ended the team
    early, if one did) gives the stop reason and error."""
    stop = last.stop_reason if last is not None and last.output is None else "final_answer"
    return kind.build(scope.run, output, messages, stop, steps, error=last.error if last is not None else None, **extra)
