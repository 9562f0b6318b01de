"""The outcome of one tool call, as the dispatcher returns it."""

from __future__ import annotations

from dataclasses import dataclass

from agorakit.core.messages import Message, ToolCall, tool_result
from agorakit.core.provenance import Trust


@dataclass(slots=True)
class ToolResult:
    """The outcome of one tool call.

    ``content`` is what the model reads: the tool's output, or an ``Error: ...``
    observation when ``ok`` is false. ``error_type`` is then the name of the
    :mod:`agorakit.core.errors` class (``ToolNotFound``, ``ToolArgumentsError``,
    ``ToolExecutionError`` or ``ToolTimeout``), or ``PolicyDenied`` when the
    policy refused the call.

    ``trust`` is the provenance label of ``content`` (with ``call.name``, the
    tool that produced it): ``trusted`` only for a successful call to a tool
    the dispatcher's policy marks ``trust: trusted``; error observations are
    ``untrusted``.
    """

    call: ToolCall
    content: str
    ok: bool
    error_type: str | None
    duration_s: float
    trust: Trust = "untrusted"

    def to_message(self) -> Message:
        """The ``tool`` message that answers the call."""
        return tool_result(self.call, self.content)
