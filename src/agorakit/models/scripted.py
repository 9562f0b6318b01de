"""A deterministic model for tests and replay.

``ScriptedModel(["hi", call("calculator", expression="1+1"), RateLimited(...)])``
answers each request with the next item; a callable computes the answer from
the request instead. Every request is recorded in ``model.requests`` so tests
can assert what a model was shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agorakit.core import errors
from agorakit.core.ids import new_call_id
from agorakit.core.messages import Message, ToolCall
from agorakit.core.usage import Usage
from agorakit.models.base import Completion, ModelRequest, StreamChunk


@dataclass(slots=True)
class Delay:
    """Wait ``seconds`` (as a slow server would), then answer with ``then``."""

    seconds: float
    then: ScriptItem


ScriptItem = str | ToolCall | list[ToolCall] | Completion | BaseException | Delay
Responder = Callable[[ModelRequest], ScriptItem]


def call(name: str, /, **arguments: Any) -> ToolCall:
    """A tool call item for a script: ``call("calculator", expression="2+2")``."""
    return ToolCall(new_call_id(), name, arguments)


def _count_tokens(text: str | None) -> int:
    # A stable stand-in for a tokenizer: whitespace-separated words.
    return len(text.split()) if text else 0


def _prompt_tokens(request: ModelRequest) -> int:
    return sum(_count_tokens(m.content) for m in request.messages)


class ScriptedModel:
    """Answers from a script. Implements the ``ChatModel`` protocol.

    ``sleep`` is how a :class:`Delay` waits (default ``asyncio.sleep``); pass a
    test clock's, such as ``ManualClock().sleep``, to make a slow model take
    virtual time instead of real time. Every request is kept in ``requests``
    for a test to inspect; ``record=False`` keeps none, for a responder that
    answers without end (a server, a benchmark).
    """

    provider = "scripted"
    hosted = False

    def __init__(
        self,
        responses: Sequence[ScriptItem] | Responder,
        *,
        name: str = "scripted",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        record: bool = True,
    ) -> None:
        self.model_name = name
        self._record = record
        self._sleep = sleep
        self.uri = f"scripted:{name}"
        self.queue_key = self.uri
        self.requests: list[ModelRequest] = []
        self._responder: Responder | None = responses if callable(responses) else None
        self._script: list[ScriptItem] = [] if callable(responses) else list(responses)
        self._position = 0

    @property
    def remaining(self) -> int:
        return len(self._script) - self._position

    def _next_item(self, request: ModelRequest) -> ScriptItem:
        if self._responder is not None:
            return self._responder(request)
        if self._position >= len(self._script):
            raise errors.ScriptExhausted(
                f"scripted model {self.model_name!r} has no response left for request {len(self.requests)}"
                f" (the script has {len(self._script)})"
            )
        item = self._script[self._position]
        self._position += 1
        return item

    async def complete(self, request: ModelRequest) -> Completion:
        if self._record:  # a snapshot: the caller goes on appending to its conversation list
            self.requests.append(replace(request, messages=list(request.messages)))
        item = self._next_item(request)
        while isinstance(item, Delay):
            await self._sleep(item.seconds)
            item = item.then
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        if isinstance(item, str):
            message = Message("assistant", item)
            finish = "stop"
        else:
            calls = [item] if isinstance(item, ToolCall) else list(item)
            message = Message("assistant", None, calls)
            finish = "tool_calls"
        output_tokens = _count_tokens(message.content) + sum(len(c.arguments) + 1 for c in message.tool_calls)
        usage = Usage(1, _prompt_tokens(request), output_tokens)
        return Completion(message, usage, finish, self.model_name)  # type: ignore[arg-type]

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        completion = await self.complete(request)
        words = (completion.message.content or "").split(" ") if completion.message.content else []
        for index, word in enumerate(words):
            yield StreamChunk(delta=word if index == len(words) - 1 else word + " ")
        yield StreamChunk(completion=completion)


# --- script files -----------------------------------------------------------

_ERRORS: dict[str, Callable[[dict[str, Any]], BaseException]] = {
    "rate_limit": lambda d: errors.RateLimited("scripted 429", retry_after=d.get("retry_after")),
    "server": lambda d: errors.ModelServerError("scripted server error", status=int(d.get("status", 500))),
    "timeout": lambda d: errors.ModelTimeout("scripted timeout"),
    "connection": lambda d: errors.ModelConnectionError("scripted connection error"),
    "context_window": lambda d: errors.ContextWindowExceeded("scripted context window exceeded"),
    "bad_request": lambda d: errors.ModelRequestError("scripted bad request"),
}


def _parse_item(raw: Any, where: str) -> ScriptItem:
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, dict):
        raise errors.ConfigError(f"{where}: expected a string or a mapping, got {type(raw).__name__}")
    item: ScriptItem
    if "text" in raw:
        item = str(raw["text"])
    elif "tool_call" in raw:
        item = _parse_call(raw["tool_call"], where)
    elif "tool_calls" in raw:
        item = [_parse_call(c, where) for c in raw["tool_calls"]]
    elif "error" in raw:
        kind = raw["error"]
        if kind not in _ERRORS:
            raise errors.ConfigError(f"{where}: unknown error kind {kind!r}", hint=f"use one of {sorted(_ERRORS)}")
        item = _ERRORS[kind](raw)
    else:
        raise errors.ConfigError(f"{where}: a response needs one of text, tool_call, tool_calls or error")
    if "delay" in raw:
        item = Delay(float(raw["delay"]), item)
    return item


def _parse_call(raw: Any, where: str) -> ToolCall:
    if not isinstance(raw, dict) or "name" not in raw:
        raise errors.ConfigError(f"{where}: a tool call needs a name and arguments")
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, dict):
        raise errors.ConfigError(f"{where}: tool call arguments must be a mapping")
    return ToolCall(str(raw.get("id") or new_call_id()), str(raw["name"]), arguments)


def load_script(path: str | Path) -> ScriptedModel:
    """Build a model from a YAML or JSON script: a list of responses, or ``{responses: [...]}``."""
    import yaml  # deferred: only script files need it

    file = Path(path)
    if not file.is_file():
        raise errors.UnknownModel(f"script file not found: {file}", hint="scripted:PATH must name a YAML or JSON file")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise errors.ConfigError(f"cannot parse script {file}: {error}") from error
    raw_items = data.get("responses") if isinstance(data, dict) else data
    if not isinstance(raw_items, list):
        raise errors.ConfigError(f"script {file} must be a list of responses or a mapping with 'responses'")
    items = [_parse_item(raw, f"{file}, response {i + 1}") for i, raw in enumerate(raw_items)]
    model = ScriptedModel(items, name=file.stem)
    model.uri = f"scripted:{file}"
    model.queue_key = model.uri
    return model
