"""A run's events as JSON, and how a resumed run's replay is told from its new work."""

from __future__ import annotations

from collections import deque
from typing import Any

from agorakit.core.stream import (
    HandoffEvent,
    PolicyDecision,
    StreamEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageEvent,
)

#: The events a run's work produces (the others say what happened to the run itself).
WORK_EVENTS = frozenset(
    {"text_delta", "tool_call_started", "tool_call_finished", "policy_decision", "handoff", "usage"}
)


def event_json(event: StreamEvent) -> dict[str, Any]:
    """A stream event as JSON: its ``type`` and its fields."""
    if isinstance(event, TextDelta):
        return {"type": "text_delta", "agent": event.agent, "text": event.text}
    if isinstance(event, ToolCallStarted):
        return {"type": "tool_call_started", "agent": event.agent, "call": event.call.to_dict()}
    if isinstance(event, ToolCallFinished):
        return {"type": "tool_call_finished", "agent": event.agent, "call": event.call.to_dict(),
                "content": event.content, "ok": event.ok}  # fmt: skip
    if isinstance(event, PolicyDecision):
        return {"type": "policy_decision", "tool": event.tool, "allowed": event.allowed, "reason": event.reason}
    if isinstance(event, HandoffEvent):
        return {"type": "handoff", "source": event.source, "target": event.target}
    if isinstance(event, UsageEvent):
        return {"type": "usage", "agent": event.agent, "call": event.call.to_dict(), "total": event.total.to_dict()}
    raise TypeError(f"not a stream event: {event!r}")  # pragma: no cover - the union is covered above


def replayed_again(data: dict[str, Any], sent: deque[dict[str, Any]]) -> bool:
    """Whether ``data``, from a resumed run's replay, is one of the events ``sent`` before (then taken
    off ``sent``). A replayed reply comes whole, as one text delta, after its usage: the model had
    streamed it in several deltas, then its usage. At the first event that differs the replay is
    over, and ``sent`` is emptied."""
    if data["type"] == "text_delta":
        joined, count = "", 0
        for old in sent:
            if old["type"] != "text_delta" or old["agent"] != data["agent"]:
                break
            joined, count = joined + old["text"], count + 1
            if not data["text"].startswith(joined):
                break
            if joined == data["text"]:
                for _ in range(count):
                    sent.popleft()
                return True
    else:
        at = 0
        if data["type"] == "usage":  # a reply's usage was sent after its text: look past that text
            at = next((i for i, old in enumerate(sent) if old["type"] != "text_delta"), len(sent))
        if at < len(sent) and sent[at] == data:
            del sent[at]
            return True
    sent.clear()
    return False
