"""Tool calls in a durable run: each result is journaled, and a resume never runs a call twice
unless its tool says that is safe.

A call whose result is in the journal is not run again: its recorded result is
returned (and traced as replayed). A call that had started when the run was
killed, with no result, is run again only if its tool is idempotent; with the
same idempotency key it got the first time if the tool takes one
(``idempotent="key"``); otherwise the run stops with
:class:`~agorakit.core.errors.NeedsConfirmation` naming the call, until the
user confirms it (``confirm=[call_id]`` on resume).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from agorakit.core.context import using_call_key
from agorakit.core.errors import NeedsConfirmation
from agorakit.core.messages import ToolCall
from agorakit.kernel.journal import RunJournal, ToolRecord
from agorakit.tools.result import ToolResult
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Tracer

if TYPE_CHECKING:
    from agorakit.tools.tool import Tool

Execute = Callable[[ToolCall, Tracer | None], Awaitable[ToolResult]]

# What to do once the policy has allowed the call and before its tool runs: commit the call's
# start. Not before the policy check: a call paused for approval, or refused, has not started.
_on_allowed: ContextVar[Callable[[], None] | None] = ContextVar("agorakit_on_allowed", default=None)


def call_allowed() -> None:
    """Called by the dispatcher between the policy check and the tool (see ``_on_allowed``)."""
    hook = _on_allowed.get()
    if hook is not None:
        hook()


async def run_journaled(
    journal: RunJournal, call: ToolCall, tool: Tool[..., Any] | None, tracer: Tracer | None, execute: Execute
) -> ToolResult:
    key = journal.tool_key(call)
    record = journal.recorded_tool(key)
    if record is not None and record.state == "done":
        journal.replayed += 1
        return _replay(call, record, tracer)
    # An unknown tool has no effect to repeat: the call only gets an error observation.
    idempotent = tool.idempotent if tool is not None else True
    if record is not None:  # started, and the run was killed before its result was recorded
        if idempotent is False and call.id not in journal.confirmed:
            raise NeedsConfirmation(
                f"tool call {call.name}({_arguments(call)}) [id {call.id}] of run {journal.run_id} had started "
                "when the run stopped and has no recorded result: it may or may not have taken effect, and "
                f"{call.name!r} is not idempotent, so it was not run again",
                call_id=call.id,
                tool=call.name,
                hint=f"check its effect, then resume with confirm=[{call.id!r}] (agora resume {journal.run_id} "
                f"--confirm {call.id}) to run it again",
            )
        idempotency_key = record.idempotency_key
    else:
        idempotency_key = f"{journal.run_id}:{key}"
    token = _on_allowed.set(
        (lambda: journal.tool_started(key, call, idempotency_key)) if idempotent is not True else None
    )
    try:
        with using_call_key(idempotency_key):
            result = await execute(call, tracer)
    finally:
        _on_allowed.reset(token)
    outcome = {"content": result.content, "ok": result.ok, "error_type": result.error_type}
    journal.tool_finished(key, call, idempotency_key, {**outcome, "duration_s": result.duration_s})
    return result


def _replay(call: ToolCall, record: ToolRecord, tracer: Tracer | None) -> ToolResult:
    data = record.data
    result = ToolResult(call, data["content"], data["ok"], data["error_type"], data["duration_s"])
    if tracer is not None and tracer.enabled:
        attributes: dict[str, Any] = {
            attr.OPERATION: attr.OP_EXECUTE_TOOL,
            attr.TOOL_NAME: call.name,
            attr.TOOL_CALL_ID: call.id,
            attr.REPLAYED: True,
            attr.TOOL_OUTCOME: "ok" if result.ok else "error",
        }
        if tracer.capture_content:
            attributes[attr.TOOL_CALL_ARGUMENTS] = _arguments(call)
            attributes[attr.TOOL_CALL_RESULT] = result.content
        with tracer.span(f"{attr.OP_EXECUTE_TOOL} {call.name}", attributes) as span:
            if not result.ok:
                span.status = "error"
                span.attributes[attr.ERROR_TYPE] = result.error_type or "ToolError"
    return result


def _arguments(call: ToolCall) -> str:
    import json

    return json.dumps(call.arguments, ensure_ascii=False, default=str)
