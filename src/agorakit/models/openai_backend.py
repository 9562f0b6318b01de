"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

``openai:gpt-4o-mini`` talks to OpenAI's API (key from ``OPENAI_API_KEY``);
``openai:qwen2.5-7b@http://localhost:8000/v1`` to any compatible server (vLLM,
Ollama, llama.cpp's ``llama-server``, ``python -m llama_cpp.server``, LM
Studio...). This module is imported only when such a URI is resolved, so the
module-level ``import openai`` never slows down ``import agorakit``.

The backend makes exactly one HTTP request per call: the ``openai`` client is
built with ``max_retries=0``, and failures are mapped to the typed errors of
:mod:`agorakit.core.errors` so the kernel can decide what to retry (only
:class:`~agorakit.core.errors.TransientModelError` subclasses). The one
exception is a *capability fallback*, at most once per capability and model
instance: when a server rejects a request feature (``tools``, or a
``response_format`` kind) the instance stops using it and sends the same call
again without it. That is feature detection, not a retry policy: a rejected
feature is rejected every time, and later calls go out in the working form at
once.

Decisions worth knowing:

* Tool calls whose arguments are not a JSON object are kept, with arguments
  ``{INVALID_JSON_KEY: "<raw text>"}`` (see :mod:`agorakit.models.json_tools`);
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

import asyncio
import email.utils
import json
import os
import re
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

import openai

from agorakit.core import errors
from agorakit.core.ids import new_call_id
from agorakit.core.messages import Message, ToolCall
from agorakit.core.usage import Usage
from agorakit.models.base import Completion, FinishReason, ModelRequest, StreamChunk, ToolSpec
from agorakit.models.json_tools import arguments_text, parse_arguments, parse_reply, prompt_messages, reply_schema

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "sk-no-key"
"""The API key sent to custom endpoints when ``OPENAI_API_KEY`` is not set (local servers ignore it)."""

ToolMode = Literal["native", "prompt", "auto"]
SchemaMode = Literal["json_schema", "json_object", "none", "auto"]
_SchemaStyle = Literal["json_schema", "json_object", "none"]
_SCHEMA_STYLES: tuple[_SchemaStyle, ...] = ("json_schema", "json_object", "none")

_URI_OPTIONS = {
    "tools": "tool_mode",
    "tool_mode": "tool_mode",
    "schema": "schema_mode",
    "schema_mode": "schema_mode",
    "response_format": "schema_mode",
    "timeout": "timeout",
    "api_key": "api_key",
}

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

_CONTEXT_WINDOW = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|exceeds? the (available )?context"
    r"|prompt is too long|input is too long|reduce the length of the messages",
    re.IGNORECASE,
)
_TOOLS_WORDS = re.compile(r"\btools?\b|tool_choice|tool[ _-]call|function[ _-]?call|\bfunctions?\b", re.IGNORECASE)
_SCHEMA_WORDS = re.compile(r"response_format|json_schema|json_object|structured output", re.IGNORECASE)
# A 500 counts as a rejected feature only when it reads like request validation
# (``python -m llama_cpp.server`` answers 500 to a request its pydantic model rejects).
_REJECTION_WORDS = re.compile(
    r"not supported|unsupported|does not support|requires|validation error|literal_error|extra_forbidden"
    r"|unrecognized|unknown|not allowed|invalid",
    re.IGNORECASE,
)
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def from_uri(model: str, base_url: str | None = None, **options: Any) -> OpenAIModel:
    """Build the backend for ``openai:MODEL[@BASE_URL][?option=value...]``.

    ``options`` come from the URI's query (strings) or from Python (typed):
    ``tools`` / ``tool_mode`` (``native``, ``prompt`` or ``auto``), ``schema``
    / ``schema_mode`` / ``response_format`` (``json_schema``,
    ``json_object``, ``none`` or ``auto``), ``timeout`` (seconds) and
    ``api_key``. A query left on ``base_url`` (``http://h:8080/v1?tools=prompt``)
    is read too.
    """
    if model.startswith("openai:"):
        model = model[len("openai:") :]
        if base_url is None and "@" in model:
            model, _, base_url = model.partition("@")
    query: list[tuple[str, str]] = []
    for part in ("model", "base_url"):
        text = model if part == "model" else base_url
        if text and "?" in text:
            text, _, raw_query = text.partition("?")
            query += parse_qsl(raw_query, keep_blank_values=True)
            if part == "model":
                model = text
            else:
                base_url = text
    given: dict[str, Any] = dict(query)
    given.update(options)
    kwargs: dict[str, Any] = {}
    for key, value in given.items():
        target = _URI_OPTIONS.get(key)
        if target is None:
            raise errors.InvalidModelURI(
                f"unknown option {key!r} for an openai: model",
                hint="options are tools=native|prompt|auto, schema=json_schema|json_object|none|auto, timeout=SECONDS",
            )
        kwargs[target] = value
    if "tool_mode" in kwargs and kwargs["tool_mode"] not in get_args(ToolMode):
        raise errors.InvalidModelURI(
            f"unknown tools mode {kwargs['tool_mode']!r}", hint="use tools=native, tools=prompt or tools=auto"
        )
    if "schema_mode" in kwargs and kwargs["schema_mode"] not in get_args(SchemaMode):
        raise errors.InvalidModelURI(
            f"unknown schema mode {kwargs['schema_mode']!r}",
            hint="use schema=json_schema, schema=json_object, schema=none or schema=auto",
        )
    if kwargs.get("timeout") is not None:
        try:
            kwargs["timeout"] = float(kwargs["timeout"])
        except (TypeError, ValueError):
            raise errors.InvalidModelURI(
                f"timeout must be a number of seconds, not {kwargs['timeout']!r}", hint="e.g. ?timeout=30"
            ) from None
    shown = [(key, str(value)) for key, value in given.items() if _URI_OPTIONS[key] != "api_key"]
    return OpenAIModel(model, base_url, query=urlencode(shown), **kwargs)


def _normalize_base_url(base_url: str | None) -> str:
    return (base_url or OPENAI_BASE_URL).strip().rstrip("/")


@dataclass(slots=True)
class _Plan:
    """What one attempt sends, and how to read what comes back."""

    params: dict[str, Any]
    prompt_tools: bool  # tools described in the prompt: the reply is JSON to parse
    uses_tools: bool  # ``tools`` sent natively
    schema_style: _SchemaStyle | None  # how a schema was requested, if one was


@dataclass(slots=True)
class _CallAccumulator:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIModel:
    """A chat model behind an OpenAI-compatible endpoint. Implements ``ChatModel``.

    ``tool_mode``: ``"native"`` sends ``tools``; ``"prompt"`` describes the
    tools in the system prompt and parses a JSON reply (for servers and models
    without tool calling); ``"auto"`` (default) is native until the server
    rejects ``tools``, then prompt for the life of this instance.

    ``schema_mode``: how a JSON schema (``ModelRequest.response_schema``, or
    the prompt-mode reply schema) is sent: ``"json_schema"`` (the OpenAI
    form), ``"json_object"`` (``{"type": "json_object", "schema": ...}``, the
    form ``python -m llama_cpp.server`` understands), ``"none"`` (the schema
    goes into the system prompt only), or ``"auto"`` (default): json_schema,
    stepping down once per rejection.

    ``timeout`` is the HTTP timeout in seconds (connect, and each read);
    ``None`` keeps the ``openai`` client's default of 600 s as a safety net,
    the kernel enforces the real deadline.
    """

    provider = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        tool_mode: ToolMode = "auto",
        schema_mode: SchemaMode = "auto",
        query: str = "",
    ) -> None:
        if not model:
            raise errors.InvalidModelURI("an openai: model URI needs a model name")
        self.model_name = model
        self.base_url = _normalize_base_url(base_url)
        self.hosted = self.base_url == OPENAI_BASE_URL
        self.queue_key = self.base_url
        self.uri = (
            f"openai:{model}" + ("" if base_url is None else f"@{self.base_url}") + (f"?{query}" if query else "")
        )
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if key is None:
            if self.hosted:
                raise errors.MissingAPIKey(f"{self.uri} needs an API key and OPENAI_API_KEY is not set")
            key = NO_KEY
        self._api_key = key
        self.timeout = timeout
        self.tool_mode: ToolMode = tool_mode
        self.schema_mode: SchemaMode = schema_mode
        # Capabilities learnt from the server's rejections (see the module docstring).
        self.native_tools_rejected = False
        self._schema_level = {"json_schema": 0, "json_object": 1, "none": 2, "auto": 0}[schema_mode]
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def __repr__(self) -> str:
        return f"OpenAIModel({self.uri!r})"

    @property
    def schema_style(self) -> _SchemaStyle:
        """How a JSON schema is requested now (``auto`` steps down as the server rejects forms)."""
        return _SCHEMA_STYLES[self._schema_level]

    # --- the client -----------------------------------------------------------

    def _get_client(self) -> openai.AsyncOpenAI:
        """The client for the running event loop (an HTTP connection pool cannot move between loops)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is None or self._client_loop() is not loop:
            extra: dict[str, Any] = {} if self.timeout is None else {"timeout": self.timeout}
            self._client = openai.AsyncOpenAI(api_key=self._api_key, base_url=self.base_url, max_retries=0, **extra)
            self._client_loop = weakref.ref(loop)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections (optional: they are also released when the model is dropped)."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
            await client.close()

    # --- the protocol ---------------------------------------------------------

    async def complete(self, request: ModelRequest) -> Completion:
        started = time.perf_counter()
        while True:
            plan = self._plan(request, stream=False)
            try:
                async with self._get_client().chat.completions.with_streaming_response.create(
                    **plan.params
                ) as response:
                    body = await self._read_body(response)
                    status = response.status_code
            except openai.APIStatusError as error:
                if self._learn_from_rejection(error, plan):
                    continue
                raise self._map_status_error(error) from error
            except openai.APIError as error:
                raise self._map_error(error) from error
            return self._completion_from_body(body, status, request, plan, time.perf_counter() - started)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        started = time.perf_counter()
        while True:
            plan = self._plan(request, stream=True)
            try:
                async with self._get_client().chat.completions.with_streaming_response.create(
                    **plan.params
                ) as response:
                    content_type = response.headers.get("content-type", "")
                    if "text/event-stream" not in content_type:
                        # The server ignored ``stream`` and answered in one piece.
                        body = await self._read_body(response)
                        completion = self._completion_from_body(
                            body, response.status_code, request, plan, time.perf_counter() - started
                        )
                        if completion.message.content:
                            yield StreamChunk(delta=completion.message.content)
                        yield StreamChunk(completion=completion)
                        return
                    state = _StreamState()
                    async for data in self._sse_events(response):
                        delta = state.add(data, self)
                        if delta and not plan.prompt_tools:
                            yield StreamChunk(delta=delta)
                    completion = self._completion_from_stream(state, request, plan, time.perf_counter() - started)
            except openai.APIStatusError as error:
                if self._learn_from_rejection(error, plan):
                    continue
                raise self._map_status_error(error) from error
            except openai.APIError as error:
                raise self._map_error(error) from error
            if plan.prompt_tools and completion.message.content:
                yield StreamChunk(delta=completion.message.content)
            yield StreamChunk(completion=completion)
            return

    # --- building requests ----------------------------------------------------

    def _plan(self, request: ModelRequest, *, stream: bool) -> _Plan:
        tools = request.tools
        choice = request.tool_choice
        if choice not in ("auto", "required", "none") and not any(tool.name == choice for tool in tools):
            raise errors.ModelRequestError(
                f"tool_choice names {choice!r}, which is not among the request's tools",
                hint="pass the tool in ModelRequest.tools, or use tool_choice='auto'",
            )
        prompt_mode = bool(tools) and (
            self.tool_mode == "prompt" or (self.tool_mode == "auto" and self.native_tools_rejected)
        )
        prompt_tools = prompt_mode and choice != "none"
        style = self.schema_style
        schema: dict[str, Any] | None
        if prompt_mode:
            messages = prompt_messages(request.messages, tools, choice, request.response_schema)
            schema = reply_schema(tools, choice, request.response_schema) if prompt_tools else request.response_schema
        else:
            messages = list(request.messages)
            schema = request.response_schema
        if schema is not None and style == "none" and not prompt_tools:
            messages = _with_schema_instruction(messages, schema)
        params: dict[str, Any] = {"model": self.model_name, "messages": [_to_openai_message(m) for m in messages]}
        uses_tools = bool(tools) and not prompt_mode
        if uses_tools:
            params["tools"] = [tool.to_openai() for tool in tools]
            params["tool_choice"] = _tool_choice(choice, tools)
        if schema is not None and style != "none":
            if style == "json_schema":
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": schema, "strict": False},
                }
            else:
                params["response_format"] = {"type": "json_object", "schema": schema}
        sampling = request.sampling
        if sampling.temperature is not None:
            params["temperature"] = sampling.temperature
        if sampling.top_p is not None:
            params["top_p"] = sampling.top_p
        if sampling.max_tokens is not None:
            # OpenAI's current name (its newer models reject max_tokens); other servers know max_tokens.
            params["max_completion_tokens" if self.hosted else "max_tokens"] = sampling.max_tokens
        if sampling.seed is not None:
            params["seed"] = sampling.seed
        if sampling.stop:
            params["stop"] = list(sampling.stop)
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return _Plan(params, prompt_tools, uses_tools, style if schema is not None else None)

    def _learn_from_rejection(self, error: openai.APIStatusError, plan: _Plan) -> bool:
        """Switch off a feature the server rejected; ``True`` if the call should go out again without it."""
        status = error.status_code
        if status not in (400, 404, 422, 500, 501):
            return False
        text = _error_text(error)
        if status in (404, 500, 501) and not _REJECTION_WORDS.search(text):
            return False
        if _CONTEXT_WINDOW.search(text):
            return False
        if (
            plan.schema_style is not None
            and self.schema_mode == "auto"
            and self._schema_level < len(_SCHEMA_STYLES) - 1
            and _SCHEMA_WORDS.search(text)
        ):
            self._schema_level += 1
            return True
        if plan.uses_tools and self.tool_mode == "auto" and _TOOLS_WORDS.search(text):
            self.native_tools_rejected = True
            return True
        return False

    # --- reading responses ----------------------------------------------------

    async def _read_body(self, response: Any) -> bytes:
        try:
            body: bytes = await response.read()
        except openai.APIError:
            raise
        except Exception as error:  # the transport failed while reading the body
            raise self._transport_error(error, streaming=False) from error
        return body

    async def _sse_events(self, response: Any) -> AsyncIterator[Any]:
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
                raise self._transport_error(error, streaming=True) from error
            if line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
                continue
            if line.strip() or not data:
                continue  # comments (":"), event names, ids, blank keep-alives
            payload, data = "\n".join(data), []
            if payload.strip() == "[DONE]":
                return
            yield self._decode_event(payload)
        if data:
            payload = "\n".join(data)
            if payload.strip() != "[DONE]":
                yield self._decode_event(payload)

    def _decode_event(self, payload: str) -> Any:
        try:
            value = json.loads(payload)
        except ValueError:
            raise errors.ModelServerError(
                f"{self.base_url} sent a stream event that is not JSON: {payload[:200]!r}",
                hint="the server or a proxy garbled the stream; retry, or check the server's logs",
            ) from None
        if isinstance(value, dict) and value.get("error") and not value.get("choices"):
            raise errors.ModelServerError(
                f"{self.base_url} reported an error mid-stream: {_describe_error_body(value)}",
                hint="the server failed while generating; check its logs",
            )
        return value

    def _transport_error(self, error: Exception, *, streaming: bool) -> errors.ModelError:
        names = {cls.__name__ for cls in type(error).__mro__}
        if any("Timeout" in name for name in names):
            return errors.ModelTimeout(f"{self.base_url} stopped sending within the timeout ({self.timeout or 600} s)")
        if streaming:
            return errors.StreamInterrupted(
                f"the stream from {self.base_url} broke off: {type(error).__name__}: {error}".rstrip(": ")
            )
        return errors.ModelConnectionError(f"the connection to {self.base_url} broke: {type(error).__name__}: {error}")

    def _malformed(self, status: int, why: str, body: bytes) -> errors.ModelServerError:
        preview = body[:200].decode("utf-8", "replace")
        return errors.ModelServerError(
            f"{self.base_url} answered {status} with a body that is not a chat completion ({why}): {preview!r}",
            status=status,
            hint="a proxy or an overloaded server sent a broken body; it is retried; if it repeats, check the server",
        )

    def _completion_from_body(
        self, body: bytes, status: int, request: ModelRequest, plan: _Plan, latency: float
    ) -> Completion:
        try:
            data = json.loads(body)
        except ValueError:
            raise self._malformed(status, "not JSON", body) from None
        if not isinstance(data, dict):
            raise self._malformed(status, "not a JSON object", body)
        choices = data.get("choices")
        if not choices:
            if data.get("error"):
                raise errors.ModelServerError(
                    f"{self.base_url} answered {status} with an error: {_describe_error_body(data)}", status=status
                )
            raise self._malformed(status, "no choices", body)
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise self._malformed(status, "no message in the first choice", body)
        content = _content_text(message.get("content"))
        raw_calls = list(message.get("tool_calls") or [])
        legacy = message.get("function_call")
        if not raw_calls and isinstance(legacy, dict):
            raw_calls = [{"function": legacy}]
        calls = [_tool_call(item) for item in raw_calls if isinstance(item, dict)]
        return self._finish(
            content, calls, choice.get("finish_reason"), data.get("usage"), data.get("model"), request, plan, latency
        )

    def _completion_from_stream(
        self, state: _StreamState, request: ModelRequest, plan: _Plan, latency: float
    ) -> Completion:
        if state.finish_reason is None:
            got = f"{len(''.join(state.content))} characters, {len(state.calls)} tool calls"
            raise errors.StreamInterrupted(
                f"the stream from {self.base_url} ended without a finish reason (after {state.events} events: {got})"
            )
        calls = [
            ToolCall(acc.id or new_call_id(), acc.name, parse_arguments("".join(acc.arguments)))
            for _, acc in sorted(state.calls.items())
        ]
        content = "".join(state.content) if state.content else None
        return self._finish(content, calls, state.finish_reason, state.usage, state.model, request, plan, latency)

    def _finish(
        self,
        content: str | None,
        calls: list[ToolCall],
        finish_reason: Any,
        usage: Any,
        model: Any,
        request: ModelRequest,
        plan: _Plan,
        latency: float,
    ) -> Completion:
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
            model=str(model) if isinstance(model, str) and model else self.model_name,
        )

    # --- errors ---------------------------------------------------------------

    def _map_error(self, error: openai.APIError) -> errors.ModelError:
        if isinstance(error, openai.APITimeoutError):
            return errors.ModelTimeout(f"{self.base_url} did not answer within the timeout ({self.timeout or 600} s)")
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__
            detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
            return errors.ModelConnectionError(f"cannot reach {self.base_url}{detail}")
        if isinstance(error, openai.APIStatusError):
            return self._map_status_error(error)
        return errors.ModelServerError(f"{self.base_url}: {error}")

    def _map_status_error(self, error: openai.APIStatusError) -> errors.ModelError:
        status = error.status_code
        text = _error_text(error)
        where = f"{self.base_url} answered {status}"
        if status == 429:
            if _error_code(error) == "insufficient_quota":
                return errors.ModelRequestError(
                    f"{where}: the account has no quota left: {text}",
                    hint="check the plan and billing of this API key; waiting will not help",
                )
            return errors.RateLimited(f"{where}: rate limited: {text}", retry_after=retry_after(error.response.headers))
        if status in (401, 403):
            return errors.ModelRequestError(
                f"the endpoint {self.base_url} rejected the API key ({status}): {text}",
                hint="set OPENAI_API_KEY to a key this endpoint accepts; this error is not retried",
            )
        if status == 404:
            return errors.UnknownModel(
                f"{where} for model {self.model_name!r}: {text}",
                hint=f"check the model name (GET {self.base_url}/models lists what the server serves) "
                "and that the base URL ends in /v1",
            )
        if status in (400, 413, 422) and _CONTEXT_WINDOW.search(text):
            return errors.ContextWindowExceeded(f"{where}: {text}")
        if status == 408:
            return errors.ModelTimeout(f"{where} (request timeout): {text}")
        if status == 409 or status >= 500:
            return errors.ModelServerError(f"{where}: {text}", status=status)
        return errors.ModelRequestError(f"{where}: {text}")


class _StreamState:
    """What a stream has delivered so far."""

    __slots__ = ("calls", "content", "events", "finish_reason", "model", "usage")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.calls: dict[int, _CallAccumulator] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: Any = None
        self.events = 0

    def add(self, data: Any, owner: OpenAIModel) -> str:
        """Take one chunk in; return its new content text."""
        self.events += 1
        if not isinstance(data, dict):
            raise errors.ModelServerError(f"{owner.base_url} sent a stream event that is not an object: {data!r:.200}")
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


# --- helpers ------------------------------------------------------------------


def retry_after(headers: Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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


def _tool_choice(choice: str, tools: Sequence[ToolSpec]) -> Any:
    if choice == "required" and len(tools) == 1:
        # The same constraint, in the form every server understands
        # (llama_cpp.server's function-calling formats fail on "required").
        choice = tools[0].name
    if choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _name(name: str) -> str:
    """A message author name as OpenAI accepts it (``^[A-Za-z0-9_-]{1,64}$``)."""
    return _NAME_CHARS.sub("_", name)[:64]


def _to_openai_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content or ""}
    data: dict[str, Any] = {"role": message.role}
    if message.role == "assistant" and message.tool_calls:
        data["content"] = message.content
        data["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments_text(call.arguments)},
            }
            for call in message.tool_calls
        ]
    else:
        data["content"] = message.content or ""
    if message.name and message.role in ("user", "assistant"):
        data["name"] = _name(message.name)
    return data


def _with_schema_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    instruction = "Reply with only a JSON value matching this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)
    if messages and messages[0].role == "system":
        head = messages[0].content or ""
        return [Message("system", f"{head}\n\n{instruction}" if head else instruction), *messages[1:]]
    return [Message("system", instruction), *messages]


def _error_code(error: openai.APIStatusError) -> str | None:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
        if body.get("code"):
            return str(body["code"])
    return error.code


def _describe_error_body(body: dict[str, Any]) -> str:
    inner = body.get("error", body)
    if isinstance(inner, dict):
        return str(inner.get("message") or inner.get("detail") or json.dumps(inner)[:300])
    return str(inner)[:300]


def _error_text(error: openai.APIStatusError) -> str:
    """The server's own words about an error response, on one line."""
    body = error.body
    if isinstance(body, dict):
        text = _describe_error_body(body)
        code = _error_code(error)
        if code and code not in text:
            text = f"{text} [{code}]"
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    else:
        try:
            text = error.response.text.strip()
        except Exception:  # the body was never read
            text = ""
        text = text or error.message
    return " ".join(text.split())[:500]
