"""The one model protocol: a request in, a completion out, optional streaming.

Backends never retry or sleep; the kernel does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agorakit.core.messages import Message
from agorakit.core.usage import Usage

ToolChoice = Literal["auto", "required", "none"]
FinishReason = Literal["stop", "tool_calls", "length", "error"]


@dataclass(slots=True, frozen=True)
class ToolSpec:
    """What a model is told about a tool: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(slots=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None


@dataclass(slots=True)
class ModelRequest:
    """Everything a backend needs for one completion.

    ``tool_choice`` may also be the name of one tool, which the model must call.
    ``response_schema`` asks for a JSON object matching that schema as content.
    ``describe_schema`` false says the messages already tell the model what to reply:
    a backend that spells the schema out in the prompt (the embedded Gemma format) then
    does not, and the prompt begins as the conversation's earlier free-text calls did.
    """

    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice | str = "auto"
    response_schema: dict[str, Any] | None = None
    sampling: Sampling = field(default_factory=Sampling)
    describe_schema: bool = True


@dataclass(slots=True)
class Completion:
    message: Message
    usage: Usage
    finish_reason: FinishReason = "stop"
    model: str = ""


@dataclass(slots=True)
class StreamChunk:
    """A piece of a streamed completion. The last chunk carries ``completion``."""

    delta: str = ""
    completion: Completion | None = None


@runtime_checkable
class ChatModel(Protocol):
    """What every backend implements.

    ``uri`` is the full model URI; ``provider`` the OpenTelemetry
    ``gen_ai.provider.name``; ``model_name`` the ``gen_ai.request.model``;
    ``queue_key`` groups models that share a concurrency limit (one server);
    ``hosted`` says whether a price table applies.
    """

    uri: str
    provider: str
    model_name: str
    queue_key: str
    hosted: bool

    async def complete(self, request: ModelRequest) -> Completion: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]: ...
