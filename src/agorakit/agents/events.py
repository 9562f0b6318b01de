"""Trace events the agent loops share."""

from __future__ import annotations

from typing import Any

from agorakit.core.messages import Message
from agorakit.trace.tracer import Tracer


def message_event(tracer: Tracer, message: Message) -> None:
    """One ``gen_ai.<role>.message`` event for a message the run adds."""
    if not tracer.enabled:
        return
    attributes: dict[str, Any] = {"agorakit.author": message.name} if message.name else {}
    if tracer.capture_content:
        attributes["agorakit.message"] = message
    tracer.event(f"gen_ai.{message.role}.message", attributes)
