"""Streaming: the typed events a run emits while it works, and how a caller listens.

Whoever produces an event (the kernel for text deltas and usage, the tool
dispatcher for tool calls, the policy gate for its decisions, the runner for
handoffs) calls :func:`emit`; nothing is built unless someone listens, so runs
that are not streamed pay one context-variable lookup per event site.
:func:`stream_events` runs a coroutine with a listener and yields its events
as they come, then the final result. Events are named tuples: typed, immutable and cheap to define
(this module is imported by every run, streamed or not).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar

from agorakit.core.messages import ToolCall
from agorakit.core.usage import Usage

R = TypeVar("R")


class TextDelta(NamedTuple):
    """Text of ``agent``'s reply as the model produces it."""

    agent: str | None
    text: str


class ToolCallStarted(NamedTuple):
    agent: str | None
    call: ToolCall


class ToolCallFinished(NamedTuple):
    """A call's outcome: ``content`` is what the model will read, ``ok`` false for an error observation."""

    agent: str | None
    call: ToolCall
    content: str
    ok: bool


class PolicyDecision(NamedTuple):
    """The policy's verdict on a tool call, before the tool runs (``reason`` says why)."""

    tool: str
    allowed: bool
    reason: str


class HandoffEvent(NamedTuple):
    source: str
    target: str


class UsageEvent(NamedTuple):
    """One model call's usage (``call``) and the run's total after it (``total``)."""

    agent: str | None
    call: Usage
    total: Usage


class RunFinished(NamedTuple, Generic[R]):
    """The last event: the run's result, as ``run()`` would have returned it."""

    result: R


StreamEvent: TypeAlias = TextDelta | ToolCallStarted | ToolCallFinished | PolicyDecision | HandoffEvent | UsageEvent
Listener = Callable[[StreamEvent], None]

_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar("agorakit_stream", default=None)


def listening() -> bool:
    """Whether the run in progress is being streamed (so deltas are worth producing)."""
    return _listener.get() is not None


def emit(event: StreamEvent) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(event)


async def stream_events(
    run: Callable[[], Coroutine[Any, Any, R]],
) -> AsyncGenerator[StreamEvent | RunFinished[R], None]:
    """Run ``run()`` in its own task with a listener; yield its events, then :class:`RunFinished`.

    The run's exception, if any, is raised here after the events before it. A
    caller that stops iterating early cancels the run.
    """
    queue, task = _listened(run)
    try:
        while (event := await queue.get()) is not None:
            yield event
        yield RunFinished(await task)  # done: its last step put the end in
    finally:
        await _stopped(task)


async def stream_event_batches(
    run: Callable[[], Coroutine[Any, Any, R]],
) -> AsyncGenerator[list[StreamEvent | RunFinished[R]], None]:
    """:func:`stream_events`, with the events that are ready together in one list: a reader that
    writes events out (a server) makes one write for them rather than one each."""
    queue, task = _listened(run)
    try:
        while True:
            batch: list[Any] = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            if batch[-1] is not None:  # the end marker comes last, once the run is done
                yield batch
                continue
            batch.pop()
            try:
                result = await task  # done: its last step put the end in
            except BaseException:
                if batch:
                    yield batch
                raise
            batch.append(RunFinished(result))
            yield batch
            return
    finally:
        await _stopped(task)


def _listened(run: Callable[[], Coroutine[Any, Any, R]]) -> tuple[asyncio.Queue[Any], asyncio.Task[R]]:
    """``run()`` started in a task whose events go to the returned queue, ending with None."""
    queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
    context = contextvars.copy_context()
    context.run(_listener.set, queue.put_nowait)

    async def ending_with_none() -> R:
        # The end goes in from the run's own last step rather than a done callback (a turn of
        # the loop later): a reader woken by a fast run's last events finds the end with them,
        # so a server writes the rest of the reply at once, not in two pieces.
        try:
            return await run()
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(ending_with_none(), context=context)
    return queue, task


async def _stopped(task: asyncio.Task[Any]) -> None:
    # A reader that stopped early cancels the run, and waits for it to unwind.
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
