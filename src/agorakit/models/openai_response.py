"""What an OpenAI-compatible endpoint answers, read into a :class:`Completion`.

A whole body goes through :func:`completion_from_body`; a stream is read
event by event with :func:`sse_events` into a :class:`StreamState`. Both end
in the same place, so a reply reads the same whether it was streamed or not.

Decisions worth knowing:

* Tool calls whose arguments are not a JSON object are kept, with arguments
  ``{INVALID_JSON_KEY: "<raw text>"}`` (see :mod:`agorakit.models.json_reply`);
  the dispatcher turns them into a tool error the model can read.
* A ``200`` whose body is not a chat completion (not JSON, or no ``choices``)
  raises :class:`~agorakit.core.errors.ModelServerError` (``status=200``):
  such bodies come from proxies and overloaded servers and usually pass, so
  the kernel retries them.
* A stream that ends before a ``finish_reason`` arrived, or whose connection
  breaks, raises :class:`~agorakit.core.errors.StreamInterrupted`. A server
  that sends no usage in a stream (it ignored ``stream_options``) yields
  ``input_tokens = output_tokens = 0``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai

from agorakit.core import errors
from agorakit.core.ids import new_call_id
from agorakit.core.messages import Message, ToolCall
from agorakit.core.usage import Usage
from agorakit.models.base import Completion, FinishReason, ModelRequest
from agorakit.models.json_reply import parse_arguments, parse_reply
from agorakit.models.openai_errors import describe_error_body, transport_error
from agorakit.models.openai_request import RequestPlan

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "content_filter": "error",
    "error": "error",
}


# --- a whole body ---------------------------------------------------------------


async def read_body(response: Any, *, base_url: str, timeout: float | None) -> bytes:
    """The body of a ``with_streaming_response`` response; a broken transport becomes a typed error."""
    try:
        body: bytes = await response.read()
    except openai.APIError:
        raise
    except Exception as error:  # the transport failed while reading the body
        raise transport_error(error, base_url=base_url, timeout=timeout, streaming=False) from error
    return body


def completion_from_body(
    body: bytes,
    status: int,
    request: ModelRequest,
    plan: RequestPlan,
    latency: float,
    *,
    base_url: str,
    model_name: str,
) -> Completion:
    """The completion in a chat-completions body, or a retryable error if it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        raise _malformed(base_url, status, "not JSON", body) from None
    if not isinstance(data, dict):
        raise _malformed(base_url, status, "not a JSON object", body)
    choices = data.get("choices")
    if not choices:
        if data.get("error"):
            raise errors.ModelServerError(
                f"{base_url} answered {status} with an error: {describe_error_body(data)}", status=status
            )
        raise _malformed(base_url, status, "no choices", body)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise _malformed(base_url, status, "no message in the first choice", body)
    content = _content_text(message.get("content"))
    raw_calls = list(message.get("tool_calls") or [])
    legacy = message.get("function_call")
    if not raw_calls and isinstance(legacy, dict):
        raw_calls = [{"function": legacy}]
    calls = [_tool_call(item) for item in raw_calls if isinstance(item, dict)]
    return _finish(
        content,
        calls,
        choice.get("finish_reason"),
        data.get("usage"),
        data.get("model"),
        request,
        plan,
        latency,
        model_name=model_name,
    )


def _malformed(base_url: str, status: int, why: str, body: bytes) -> errors.ModelServerError:
    preview = body[:200].decode("utf-8", "replace")
    return errors.ModelServerError(
        f"{base_url} answered {status} with a body that is not a chat completion ({why}): {preview!r}",
        status=status,
        hint="a proxy or an overloaded server sent a broken body; it is retried; if it repeats, check the server",
    )


# --- a stream -------------------------------------------------------------------


async def sse_events(response: Any, *, base_url: str, timeout: float | None) -> AsyncIterator[Any]:
    """The JSON payloads of a server-sent-events stream, ending at ``[DONE]`` or at the end of the body."""
    lines = response.iter_lines().__aiter__()
    data: list[str] = []
    while True:
        try:
            line = await lines.__anext__()
        except StopAsyncIteration:
            break
        except openai.APIError:
            raise
        except Exception as error:  # the connection broke or timed out mid-stream
            raise transport_error(error, base_url=base_url, timeout=timeout, streaming=True) from error
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
            continue
        if line.strip() or not data:
            continue  # comments (":"), event names, ids, blank keep-alives
        payload, data = "\n".join(data), []
        if payload.strip() == "[DONE]":
            return
        yield _decode_event(payload, base_url)
    if data:
        payload = "\n".join(data)
        if payload.strip() != "[DONE]":
            yield _decode_event(payload, base_url)


def _decode_event(payload: str, base_url: str) -> Any:
    try:
        value = json.loads(payload)
    except ValueError:
        raise errors.ModelServerError(
            f"{base_url} sent a stream event that is not JSON: {payload[:200]!r}",
            hint="the server or a proxy garbled the stream; retry, or check the server's logs",
        ) from None
    if isinstance(value, dict) and value.get("error") and not value.get("choices"):
        raise errors.ModelServerError(
            f"{base_url} reported an error mid-stream: {describe_error_body(value)}",
            hint="the server failed while generating; check its logs",
        )
    return value


@dataclass(slots=True)
class _CallAccumulator:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamState:
    """What a stream from ``base_url`` has delivered so far."""

    __slots__ = ("base_url", "calls", "content", "events", "finish_reason", "model", "usage")

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.content: list[str] = []
        self.calls: dict[int, _CallAccumulator] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: Any = None
        self.events = 0

    def add(self, data: Any) -> str:
        """Take one chunk in; return its new content text."""
        self.events += 1
        if not isinstance(data, dict):
            raise errors.ModelServerError(f"{self.base_url} sent a stream event that is not an object: {data!r:.200}")
        if data.get("usage"):
            self.usage = data["usage"]
        if data.get("model"):
            self.model = data["model"]
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            return ""
        for item in delta.get("tool_calls") or []:
            if isinstance(item, dict):
                self._add_call(item)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict) and not delta.get("tool_calls"):
            self._add_call({"index": 0, "function": legacy})
        text = _content_text(delta.get("content"))
        if text:
            self.content.append(text)
        return text or ""

    def completion(self, request: ModelRequest, plan: RequestPlan, latency: float, *, model_name: str) -> Completion:
        """The completion the stream delivered; :class:`~agorakit.core.errors.StreamInterrupted` if it ended early."""
        if self.finish_reason is None:
            got = f"{len(''.join(self.content))} characters, {len(self.calls)} tool calls"
            raise errors.StreamInterrupted(
                f"the stream from {self.base_url} ended without a finish reason (after {self.events} events: {got})"
            )
        calls = [
            ToolCall(acc.id or new_call_id(), acc.name, parse_arguments("".join(acc.arguments)))
            for _, acc in sorted(self.calls.items())
        ]
        content = "".join(self.content) if self.content else None
        return _finish(
            content,
            calls,
            self.finish_reason,
            self.usage,
            self.model,
            request,
            plan,
            latency,
            model_name=model_name,
        )

    def _add_call(self, item: dict[str, Any]) -> None:
        index = item.get("index")
        if not isinstance(index, int):
            # No index: a new id starts a new call, otherwise it continues the last one.
            if item.get("id") and all(acc.id != item["id"] for acc in self.calls.values()):
                index = len(self.calls)
            else:
                index = max(self.calls, default=0)
        acc = self.calls.setdefault(index, _CallAccumulator())
        if item.get("id") and not acc.id:
            acc.id = str(item["id"])
        function = item.get("function") or {}
        if isinstance(function, dict):
            if function.get("name") and not acc.name:
                acc.name = str(function["name"])
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                acc.arguments.append(arguments)
            elif isinstance(arguments, dict):
                acc.arguments.append(json.dumps(arguments))


# --- both -----------------------------------------------------------------------


def _finish(
    content: str | None,
    calls: list[ToolCall],
    finish_reason: Any,
    usage: Any,
    model: Any,
    request: ModelRequest,
    plan: RequestPlan,
    latency: float,
    *,
    model_name: str,
) -> Completion:
    """The completion of a reply read from either form; ``model_name`` stands in when the server names no model."""
    finish: FinishReason = _FINISH.get(str(finish_reason), "stop") if finish_reason else "stop"
    if plan.prompt_tools:
        parsed = parse_reply(content, request.tools)
        content = parsed.content
        calls = calls + parsed.tool_calls
        if parsed.tool_calls:
            # Complete calls read from a reply cut off by max_tokens: what was
            # cut is what came after them, the calls themselves can run.
            finish = "tool_calls"
    if calls and finish == "stop":
        finish = "tool_calls"
    elif not calls and finish == "tool_calls":
        finish = "stop"
    usage_dict = usage if isinstance(usage, dict) else {}
    return Completion(
        message=Message("assistant", content, calls),
        usage=Usage(
            calls=1,
            input_tokens=_int(usage_dict.get("prompt_tokens")),
            output_tokens=_int(usage_dict.get("completion_tokens")),
            latency_s=latency,
        ),
        finish_reason=finish,
        model=str(model) if isinstance(model, str) and model else model_name,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _content_text(content: Any) -> str | None:
    """Message content as text (servers may send a list of content parts)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        return "".join(parts)
    return str(content)


def _tool_call(item: dict[str, Any]) -> ToolCall:
    function = item.get("function") or {}
    if not isinstance(function, dict):
        function = {}
    call_id = item.get("id")
    return ToolCall(
        str(call_id) if call_id else new_call_id(),
        str(function.get("name") or ""),
        parse_arguments(function.get("arguments")),
    )
