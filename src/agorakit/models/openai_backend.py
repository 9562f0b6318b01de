"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

``openai:gpt-4o-mini`` talks to OpenAI's API (key from ``OPENAI_API_KEY``);
``openai:qwen2.5-7b@http://localhost:8000/v1`` to any compatible server (vLLM,
Ollama, llama.cpp's ``llama-server``, ``python -m llama_cpp.server``, LM
Studio...). This module is imported only when such a URI is resolved, so the
module-level ``import openai`` never slows down ``import agorakit``.

The backend makes exactly one HTTP request per call: the ``openai`` client is
built with ``max_retries=0``, and failures are mapped to the typed errors of
:mod:`agorakit.core.errors` (:mod:`agorakit.models.openai_errors`) so the
kernel can decide what to retry (only
:class:`~agorakit.core.errors.TransientModelError` subclasses). The one
exception is a *capability fallback*, at most once per capability and model
instance: when a server rejects a request feature (``tools``, or a
``response_format`` kind) the instance stops using it and sends the same call
again without it. That is feature detection, not a retry policy: a rejected
feature is rejected every time, and later calls go out in the working form at
once.

What a call sends is built in :mod:`agorakit.models.openai_request`; what
comes back is read in :mod:`agorakit.models.openai_response`.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

import openai

from agorakit.core import errors
from agorakit.models.base import Completion, ModelRequest, StreamChunk
from agorakit.models.openai_errors import map_error, rejected_features
from agorakit.models.openai_request import SCHEMA_STYLES, RequestPlan, SchemaStyle, plan_request
from agorakit.models.openai_response import StreamState, completion_from_body, read_body, sse_events

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "sk-no-key"
"""The API key sent to custom endpoints when ``OPENAI_API_KEY`` is not set (local servers ignore it)."""

ToolMode = Literal["native", "prompt", "auto"]
SchemaMode = Literal["json_schema", "json_object", "none", "auto"]

_URI_OPTIONS = {
    "tools": "tool_mode",
    "tool_mode": "tool_mode",
    "schema": "schema_mode",
    "schema_mode": "schema_mode",
    "response_format": "schema_mode",
    "timeout": "timeout",
    "api_key": "api_key",
}


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
        self.base_url = (base_url or OPENAI_BASE_URL).strip().rstrip("/")
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
    def schema_style(self) -> SchemaStyle:
        """How a JSON schema is requested now (``auto`` steps down as the server rejects forms)."""
        return SCHEMA_STYLES[self._schema_level]

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
                    body = await read_body(response, base_url=self.base_url, timeout=self.timeout)
                    status = response.status_code
            except openai.APIError as error:
                if isinstance(error, openai.APIStatusError) and self._learn_from_rejection(error, plan):
                    continue
                raise self._map_error(error) from error
            return completion_from_body(
                body,
                status,
                request,
                plan,
                time.perf_counter() - started,
                base_url=self.base_url,
                model_name=self.model_name,
            )

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
                        body = await read_body(response, base_url=self.base_url, timeout=self.timeout)
                        completion = completion_from_body(
                            body,
                            response.status_code,
                            request,
                            plan,
                            time.perf_counter() - started,
                            base_url=self.base_url,
                            model_name=self.model_name,
                        )
                        if completion.message.content:
                            yield StreamChunk(delta=completion.message.content)
                        yield StreamChunk(completion=completion)
                        return
                    state = StreamState(self.base_url)
                    async for data in sse_events(response, base_url=self.base_url, timeout=self.timeout):
                        delta = state.add(data)
                        if delta and not plan.prompt_tools:
                            yield StreamChunk(delta=delta)
                    completion = state.completion(
                        request, plan, time.perf_counter() - started, model_name=self.model_name
                    )
            except openai.APIError as error:
                if isinstance(error, openai.APIStatusError) and self._learn_from_rejection(error, plan):
                    continue
                raise self._map_error(error) from error
            if plan.prompt_tools and completion.message.content:
                yield StreamChunk(delta=completion.message.content)
            yield StreamChunk(completion=completion)
            return

    def _map_error(self, error: openai.APIError) -> errors.ModelError:
        return map_error(error, base_url=self.base_url, model_name=self.model_name, timeout=self.timeout)

    # --- building requests ----------------------------------------------------

    def _plan(self, request: ModelRequest, *, stream: bool) -> RequestPlan:
        tools_in_prompt = self.tool_mode == "prompt" or (self.tool_mode == "auto" and self.native_tools_rejected)
        return plan_request(
            request,
            model=self.model_name,
            hosted=self.hosted,
            tools_in_prompt=tools_in_prompt,
            schema_style=self.schema_style,
            stream=stream,
        )

    def _learn_from_rejection(self, error: openai.APIStatusError, plan: RequestPlan) -> bool:
        """Switch off a feature the server rejected; ``True`` if the call should go out again without it."""
        rejected = rejected_features(error)
        if (
            "response_format" in rejected
            and plan.schema_style is not None
            and self.schema_mode == "auto"
            and self._schema_level < len(SCHEMA_STYLES) - 1
        ):
            self._schema_level += 1
            return True
        if "tools" in rejected and plan.uses_tools and self.tool_mode == "auto":
            self.native_tools_rejected = True
            return True
        return False
