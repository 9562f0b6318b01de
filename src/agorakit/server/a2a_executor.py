"""Running an entry for an A2A task: the official SDK's :class:`AgentExecutor` for one entry.

The message's text is the task (a user message). The task goes ``working``;
the reply's text deltas stream as chunks of the ``answer`` artifact, tool calls
and handoffs as ``working`` status updates; at the end the artifact is replaced
by the whole answer (with the run's id, stop reason and usage in its metadata)
and the task is ``completed``. A run that raises, times out or stops without an
answer leaves the task ``failed`` with the error's message and hint. A cancel
request cancels the run and marks the task ``canceled``. A task outlives the
connection that asked for it (clients get or resubscribe to it by id), so the
server's ``on_disconnect`` does not apply here; its ``run_timeout`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from a2a.helpers import new_task, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Message as A2AMessage
from a2a.types.a2a_pb2 import Part, TaskState

from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.core.stream import HandoffEvent, PolicyDecision, StreamEvent, TextDelta, ToolCallFinished, ToolCallStarted
from agorakit.server.entries import Answer, Entry
from agorakit.server.keys import KeyRecord
from agorakit.server.running import as_api_error
from agorakit.server.state import ServerState

#: The artifact that carries the answer (streamed in chunks, then replaced by the whole text).
ANSWER_ARTIFACT = "answer"
#: Where the executor finds the request's key in the SDK's call context (set by the app's context builder).
KEY_STATE = "agora_key"


@dataclass(slots=True)
class _Running:
    """A task's run, and whether ``execute`` has said how it ended."""

    run: asyncio.Future[Answer]
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class EntryExecutor(AgentExecutor):
    """Runs ``entry`` for each A2A task; ``cancel`` cancels the task's run."""

    def __init__(self, entry: Entry, state: ServerState) -> None:
        self.entry = entry
        self.state = state
        #: The runs in progress, by task id.
        self._runs: dict[str, _Running] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = _ids(context)
        if context.current_task is None:
            history = [context.message] if context.message is not None else []
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=history)
            )
        updater = TaskUpdater(event_queue, task_id, context_id)
        text = context.get_user_input().strip()
        if not text:
            await updater.failed(
                _agent_text(
                    updater, "the message has no text to answer", "send a message with a text part: it is the task"
                )
            )
            return
        run_id = new_run_id()
        await updater.update_status(TaskState.TASK_STATE_WORKING, metadata={"agorakit_run_id": run_id})
        running = _Running(asyncio.ensure_future(self._run(updater, [Message("user", text)], run_id)))
        self._runs[task_id] = running
        try:
            await self._conclude(context, updater, running.run)
        finally:
            running.settled.set()
            self._runs.pop(task_id, None)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        running = self._runs.get(_ids(context)[0])
        if running is None:
            return  # nothing running: the task already ended
        running.run.cancel()  # no effect on a run that has finished: its answer still completes the task
        await running.settled.wait()  # ``execute`` has said how the task ended

    async def _conclude(self, context: RequestContext, updater: TaskUpdater, run: asyncio.Future[Answer]) -> None:
        """Wait for the run and end the task by its outcome: completed, failed or canceled."""
        try:
            answer = await run
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the SDK cancelled this request (shutdown): not a cancel of the task
            # ``cancel`` stopped the run. Said here, before ``execute`` returns: the SDK ends
            # a request's stream when its execution returns.
            await updater.cancel(_agent_text(updater, "the task was canceled; its run was stopped"))
            return
        except Exception as error:
            failure = as_api_error(error)
            await updater.failed(_agent_text(updater, failure.message, failure.hint, {"error_type": failure.kind}))
            return
        self._charge(context, answer)
        await self._finish(updater, answer)

    async def _run(self, updater: TaskUpdater, messages: list[Message], run_id: str) -> Answer:
        """The entry's run within the server's deadline, its events sent as they come."""
        answer: Answer | None = None
        async with asyncio.timeout(self.state.settings.run_timeout):
            async with contextlib.aclosing(self.entry.stream(messages, run_id)) as events:
                first = True
                async for event in events:
                    if isinstance(event, Answer):
                        answer = event
                    elif isinstance(event, TextDelta):
                        if event.text:
                            parts = [new_text_part(event.text)]
                            await updater.add_artifact(parts, ANSWER_ARTIFACT, name=ANSWER_ARTIFACT, append=not first)
                            first = False
                    else:
                        await self._progress(updater, event)
        if answer is None:  # pragma: no cover - a stream always ends with its answer
            raise RuntimeError("the run ended without an answer")
        return answer

    async def _progress(self, updater: TaskUpdater, event: StreamEvent) -> None:
        said = describe(event)
        if said is not None:
            text, metadata = said
            await updater.update_status(TaskState.TASK_STATE_WORKING, _agent_text(updater, text, None, metadata))

    async def _finish(self, updater: TaskUpdater, answer: Answer) -> None:
        usage = answer.usage
        metadata: dict[str, Any] = {
            "agorakit_run_id": answer.run_id,
            "stop_reason": answer.stop_reason,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "calls": usage.calls,
                "cost_usd": usage.cost_usd,
            },
        }
        if not answer.answered:
            why = answer.explanation or "no explanation was given"
            message = f"the run stopped without an answer ({answer.stop_reason}): {why}"
            await updater.failed(_agent_text(updater, message, None, metadata))
            return
        await updater.add_artifact(
            [new_text_part(answer.text)],
            ANSWER_ARTIFACT,
            name=ANSWER_ARTIFACT,
            metadata=metadata,
            append=False,
            last_chunk=True,
        )
        await updater.complete()

    def _charge(self, context: RequestContext, answer: Answer) -> None:
        record = context.call_context.state.get(KEY_STATE)
        if isinstance(record, KeyRecord) and self.state.keys is not None:
            self.state.keys.charge(record.name, answer.usage)


def describe(event: StreamEvent) -> tuple[str, dict[str, Any]] | None:
    """What a progress update says about ``event`` (None for events not worth one)."""
    if isinstance(event, ToolCallStarted):
        return f"calling {event.call.name}", {
            "event": "tool_call_started",
            "tool": event.call.name,
            "arguments": dict(event.call.arguments),
        }
    if isinstance(event, ToolCallFinished):
        verb = "returned" if event.ok else "failed"
        return f"{event.call.name} {verb}", {"event": "tool_call_finished", "tool": event.call.name, "ok": event.ok}
    if isinstance(event, HandoffEvent):
        return f"{event.source} hands off to {event.target}", {
            "event": "handoff",
            "source": event.source,
            "target": event.target,
        }
    if isinstance(event, PolicyDecision) and not event.allowed:
        return f"the policy denied {event.tool}: {event.reason}", {"event": "policy_denied", "tool": event.tool}
    return None


def _ids(context: RequestContext) -> tuple[str, str]:
    if context.task_id is None or context.context_id is None:  # pragma: no cover - the SDK sets both
        raise RuntimeError("an A2A request without a task id")
    return context.task_id, context.context_id


def _agent_text(
    updater: TaskUpdater, text: str, hint: str | None = None, metadata: dict[str, Any] | None = None
) -> A2AMessage:
    parts: list[Part] = [new_text_part(text)]
    if hint:
        parts.append(new_text_part(f"hint: {hint}"))
    return updater.new_agent_message(parts, metadata=metadata)
