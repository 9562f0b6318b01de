"""The runs a server started (the runs API): each runs an entry in a task of its own, and keeps
its events numbered 1, 2, ... so that clients can follow it, leave, and come back for exactly
the events they missed.

A run is ``queued``, then ``running``, and ends ``succeeded`` (it answered), ``failed`` (it
raised, or stopped without an answer), ``cancelled`` or ``interrupted`` (the server stopped).
A durable run whose policy asks a human pauses as ``awaiting_approval``; once its calls are
decided it runs again under the same id, its events numbered on from where they stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.core.stream import StreamEvent, UsageEvent
from agorakit.core.usage import Usage
from agorakit.kernel.journal import decide, pending_approvals
from agorakit.server.entries import Answer, Entry
from agorakit.server.errors import error_body
from agorakit.server.keys import KeyStore
from agorakit.server.running import as_api_error
from agorakit.server.runs_events import WORK_EVENTS, event_json, replayed_again

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted", "awaiting_approval"]
#: A run in one of these may still produce events.
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
#: A run in one of these is over for good.
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
MAX_EVENTS = 10_000
MAX_RUNS = 1_000

Events = AsyncGenerator[StreamEvent | Answer, None]


@dataclass(frozen=True, slots=True)
class RunEvent:
    id: int
    #: JSON-ready: ``{"type": ..., <fields>}``.
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data["type"])


@dataclass(slots=True, eq=False)
class RunRecord:
    """One run: its state, its answer, and its latest events (at most ``MAX_EVENTS``)."""

    run_id: str
    entry: Entry
    #: The name of the key that started it (None when the server has no auth).
    key: str | None
    status: RunStatus = "queued"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    answer: str | None = None
    stop_reason: str | None = None
    error: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    events: deque[RunEvent] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    last_event_id: int = 0
    task: asyncio.Task[None] | None = None
    #: What a cancellation of ``task`` means: ``cancelled`` (asked) or ``interrupted`` (shutdown).
    stopping: RunStatus = "cancelled"
    charged: Usage = field(default_factory=Usage)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def dropped(self) -> int:
        """How many of the oldest events were let go to keep the run's memory bounded."""
        return self.last_event_id - len(self.events)

    def add(self, data: dict[str, Any]) -> RunEvent:
        self.last_event_id += 1
        event = RunEvent(self.last_event_id, data)
        self.events.append(event)
        self._wake()
        return event

    def events_after(self, after: int) -> list[RunEvent]:
        """The kept events numbered above ``after``, oldest first."""
        first = self.last_event_id - len(self.events) + 1
        return list(islice(self.events, max(0, after + 1 - first), None))

    async def wait(self, after: int) -> None:
        """Return once there is an event after ``after``, or the run no longer runs."""
        while self.last_event_id <= after and self.status in ACTIVE:
            await self._changed.wait()

    def set_status(self, status: RunStatus) -> None:
        self.status = status
        self._wake()

    def _wake(self) -> None:
        """Something changed: wake those waiting (each waits on the event of its time)."""
        self.updated = time.time()
        self._changed.set()
        self._changed = asyncio.Event()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "entry": self.entry.name,
            "kind": self.entry.kind,
            "status": self.status,
            "created": round(self.created, 3),
            "updated": round(self.updated, 3),
            "answer": self.answer,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "usage": self.usage.to_dict(),
            "events": {"last_id": self.last_event_id, "dropped": self.dropped},
        }


class RunRegistry:
    """The runs of one server, newest last; finished ones beyond ``max_runs`` are forgotten."""

    def __init__(self, *, keys: KeyStore | None, timeout: float, max_runs: int = MAX_RUNS) -> None:
        self.keys = keys
        self.timeout = timeout
        self.max_runs = max_runs
        self._runs: dict[str, RunRecord] = {}

    def start(self, entry: Entry, messages: Sequence[Message], key_name: str | None) -> RunRecord:
        """Start ``entry`` on ``messages`` in the background; its record at once (``queued``)."""
        record = RunRecord(new_run_id(), entry, key_name)
        self._runs[record.run_id] = record
        self._forget_old()
        record.task = asyncio.create_task(self._drive(record, entry.stream(messages, record.run_id), deque()))
        return record

    def get(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    def find(
        self, *, key: str | None = None, status: str | None = None, entry: str | None = None, limit: int = 20
    ) -> list[RunRecord]:
        """Newest first. ``key`` (when not None) keeps the runs that key started."""
        found = []
        for record in reversed(self._runs.values()):
            if key is not None and record.key != key:
                continue
            if (status is None or record.status == status) and (entry is None or record.entry.name == entry):
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    async def cancel(self, record: RunRecord, *, status: RunStatus = "cancelled") -> None:
        """Stop ``record`` (running or paused) and mark it ``status``."""
        task = record.task
        if task is not None and not task.done():
            record.stopping = status
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if record.status in ACTIVE or record.status == "awaiting_approval":  # cancelled before it began, or paused
            self._end(record, status, {"type": f"run_{status}"})

    async def decide(
        self, record: RunRecord, call_id: str, *, approved: bool, by: str, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """Record a decision on a call ``record`` waits for (in its journal, ``by`` and ``reason`` as who
        decided); resume it once none waits. Returns the calls still waiting. Raises
        :class:`~agorakit.core.errors.ResumeError` for a call that is not waiting."""
        who = f"{by}: {reason}" if reason else by
        decided = await asyncio.to_thread(decide, record.run_id, approved=approved, call_id=call_id, by=who)
        record.add({"type": "approval_decided", "call": decided["call"], "approved": approved, "by": by,
                    "reason": reason})  # fmt: skip
        waiting = await asyncio.to_thread(pending_approvals, record.run_id)
        if not waiting and record.status == "awaiting_approval":
            self._resume(record)
        return waiting

    async def shutdown(self) -> None:
        """Stop the runs still going: they end ``interrupted`` (a durable one can be resumed later)."""
        going = [r for r in self._runs.values() if r.status in ACTIVE]
        await asyncio.gather(*(self.cancel(r, status="interrupted") for r in going))

    # -- internals -----------------------------------------------------------------------------

    def _resume(self, record: RunRecord) -> None:
        # The resumed run replays its journal first: the events of the replayed steps were sent
        # already, so the ones equal to those sent before, in order, are not sent again.
        sent = deque(e.data for e in record.events if e.type in WORK_EVENTS) if record.dropped == 0 else deque()
        record.set_status("queued")
        record.add({"type": "run_resumed"})
        record.stopping = "cancelled"
        record.task = asyncio.create_task(self._drive(record, record.entry.resume_stream(record.run_id), sent))

    async def _drive(self, record: RunRecord, events: Events, replayed: deque[dict[str, Any]]) -> None:
        record.set_status("running")
        answer: Answer | None = None
        try:
            async with aclosing(events), asyncio.timeout(self.timeout):
                async for item in events:
                    if isinstance(item, Answer):
                        answer = item
                        continue
                    data = event_json(item)
                    if replayed and replayed_again(data, replayed):
                        continue
                    if isinstance(item, UsageEvent):
                        record.usage = dataclasses.replace(item.total)
                    record.add(data)
            if answer is None:  # pragma: no cover - an entry's stream always ends with its answer
                raise RuntimeError("the run ended without an answer")
            await self._answered(record, answer)
        except asyncio.CancelledError:
            self._end(record, record.stopping, {"type": f"run_{record.stopping}"})
            raise
        except Exception as error:  # the run's failure is the run's outcome, kept for its clients
            failure = as_api_error(error)
            record.error = error_body(failure.message, kind=failure.kind, hint=failure.hint)["error"]
            self._end(record, "failed", {"type": "run_failed", "error": record.error})

    async def _answered(self, record: RunRecord, answer: Answer) -> None:
        record.answer = answer.text if answer.answered or answer.text else None
        record.stop_reason, record.usage = answer.stop_reason, answer.usage
        if answer.answered:
            done = {"type": "run_finished", "answer": answer.text, "stop_reason": answer.stop_reason}
            self._end(record, "succeeded", {**done, "usage": answer.usage.to_dict()})
        elif answer.stop_reason == "awaiting_approval":
            waiting = await asyncio.to_thread(pending_approvals, record.run_id)
            self._end(record, "awaiting_approval", {"type": "awaiting_approval", "approvals": waiting})
        else:
            message = answer.explanation or f"the run stopped without an answer ({answer.stop_reason})"
            record.error = error_body(message, kind="run_stopped", code=answer.stop_reason)["error"]
            failed = {"type": "run_failed", "error": record.error, "stop_reason": answer.stop_reason}
            self._end(record, "failed", failed)

    def _end(self, record: RunRecord, status: RunStatus, event: dict[str, Any]) -> None:
        """``record`` stops running: its status, its last event, and its key charged for what it
        used since it was last charged (a run charges once, and once more each time it resumes)."""
        record.status = status
        record.add(event)
        used = _minus(record.usage, record.charged)
        if record.key is not None and self.keys is not None and (used.calls or used.total_tokens or used.cost_usd):
            self.keys.charge(record.key, used)
        record.charged = dataclasses.replace(record.usage)

    def _forget_old(self) -> None:
        if len(self._runs) <= self.max_runs:
            return
        over = len(self._runs) - self.max_runs
        for run_id in [i for i, r in self._runs.items() if r.status in FINAL][:over]:
            del self._runs[run_id]


def _minus(now: Usage, before: Usage) -> Usage:
    fields = dataclasses.fields(Usage)
    return Usage(**{f.name: max(0, getattr(now, f.name) - getattr(before, f.name)) for f in fields})
