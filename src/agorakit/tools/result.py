"""The outcome of one tool call, as the dispatcher returns it."""

from __future__ import annotations

from dataclasses import dataclass

from agorakit.core.messages import Message, ToolCall, tool_result


@dataclass(slots=True)
class ToolResult:
    """The outcome of one tool call.

    ``content`` is what the model reads: the tool's output, or an ``Error: ...``
    observation when ``ok`` is false. ``error_type`` is then the name of the
    :mod:`agorakit.core.errors` class (``ToolNotFound``, ``ToolArgumentsError``,
    ``ToolExecutionError`` or ``ToolTimeout``), or ``PolicyDenied`` when the
    policy refused the call.
    """

    call: ToolCall
    content: str
    ok: bool
    error_type: str | None
    duration_s: float

    def to_message(self) -> Message:
        """The ``tool`` message that answers the call."""
        return tool_result(self.call, self.content)
