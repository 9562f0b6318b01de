"""Chat messages and tool calls: the values every layer passes around.

Plain slotted dataclasses rather than pydantic models: they are built on the
hot path of every turn, and the framework, not the user, constructs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

INVALID_ARGUMENTS_KEY = "__invalid_json__"
"""Reserved key of :attr:`ToolCall.arguments`: the model's arguments were not a JSON object.

A backend that cannot parse a tool call's arguments keeps the call with
``arguments={INVALID_ARGUMENTS_KEY: "<the raw text>"}``; the tool dispatcher
answers such a call with an error observation instead of validating or running it.
"""


# Built once: json.dumps with options makes a new encoder per call (loop detection signs every call).
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str).encode


@dataclass(slots=True, repr=False)
class ToolCall:
    """A model's request to run one tool with JSON arguments."""

    id: str
    name: str
    arguments: dict[str, Any]

    def signature(self) -> str:
        """Name plus canonical arguments: equal for repeated identical calls."""
        return self.name + _CANONICAL(self.arguments)

    def __repr__(self) -> str:  # as the dataclass's, without its recursion guard (see Message.__repr__)
        return f"ToolCall(id={self.id!r}, name={self.name!r}, arguments={self.arguments!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(slots=True, repr=False)
class Message:
    """One message of a conversation.

    ``name`` is the author (an agent's name for assistant messages in a shared
    conversation, the tool's name for tool results). ``tool_call_id`` links a
    tool result to the call it answers.
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def __repr__(self) -> str:
        # The dataclass repr, without its recursion guard: asyncio.run() reprs a run's result
        # (every message of it) when it restores the SIGINT handler, once per run.
        return (
            f"Message(role={self.role!r}, content={self.content!r}, tool_calls={self.tool_calls!r}, "
            f"tool_call_id={self.tool_call_id!r}, name={self.name!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content"),
            tool_calls=[ToolCall(c["id"], c["name"], c["arguments"]) for c in data.get("tool_calls", [])],
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


def system(content: str) -> Message:
    return Message("system", content)


def user(content: str, name: str | None = None) -> Message:
    return Message("user", content, name=name)


def assistant(content: str | None, tool_calls: list[ToolCall] | None = None, name: str | None = None) -> Message:
    return Message("assistant", content, tool_calls or [], name=name)


def tool_result(call: ToolCall, content: str) -> Message:
    return Message("tool", content, tool_call_id=call.id, name=call.name)
