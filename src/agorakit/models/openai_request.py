"""What one call to an OpenAI-compatible endpoint sends: a :class:`ModelRequest` as chat-completions params.

:func:`plan_request` turns the request into the ``create(...)`` parameters,
in the form the backend currently uses: tools native or described in the
prompt (:mod:`agorakit.models.json_prompt`), and a response schema as
``json_schema``, as ``json_object`` or only in the system prompt. The
:class:`RequestPlan` it returns also says how to read the reply and which
features a rejection could be about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agorakit.core import errors
from agorakit.core.messages import Message
from agorakit.models.base import ModelRequest, Sampling, ToolSpec
from agorakit.models.grammar_schema import bounded_schema
from agorakit.models.json_prompt import prompt_messages, reply_schema, with_system_text
from agorakit.models.json_reply import arguments_text

SchemaStyle = Literal["json_schema", "json_object", "none"]
SCHEMA_STYLES: tuple[SchemaStyle, ...] = ("json_schema", "json_object", "none")
"""The ways to request a JSON schema, most capable first (the order the ``auto`` fallback steps down)."""

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(slots=True)
class RequestPlan:
    """What one attempt sends, and how to read what comes back."""

    params: dict[str, Any]
    prompt_tools: bool  # tools described in the prompt: the reply is JSON to parse
    uses_tools: bool  # ``tools`` sent natively
    schema_style: SchemaStyle | None  # how a schema was requested, if one was


def plan_request(
    request: ModelRequest,
    *,
    model: str,
    hosted: bool,
    tools_in_prompt: bool,
    schema_style: SchemaStyle,
    stream: bool,
) -> RequestPlan:
    """The params for ``chat.completions.create``; ``hosted`` is OpenAI's own API."""
    tools = request.tools
    choice = request.tool_choice
    if choice not in ("auto", "required", "none") and not any(tool.name == choice for tool in tools):
        raise errors.ModelRequestError(
            f"tool_choice names {choice!r}, which is not among the request's tools",
            hint="pass the tool in ModelRequest.tools, or use tool_choice='auto'",
        )
    prompt_mode = bool(tools) and tools_in_prompt
    prompt_tools = prompt_mode and choice != "none"
    schema: dict[str, Any] | None
    if prompt_mode:
        messages = prompt_messages(request.messages, tools, choice, request.response_schema)
        schema = reply_schema(tools, choice, request.response_schema) if prompt_tools else request.response_schema
    else:
        messages = list(request.messages)
        schema = request.response_schema
    if schema is not None and schema_style == "none" and not prompt_tools:
        instruction = "Reply with only a JSON value matching this JSON schema:\n" + json.dumps(
            schema, ensure_ascii=False
        )
        messages = with_system_text(messages, instruction)
    params: dict[str, Any] = {"model": model, "messages": [_to_openai_message(m) for m in messages]}
    uses_tools = bool(tools) and not prompt_mode
    if uses_tools:
        params["tools"] = [tool.to_openai() for tool in tools]
        params["tool_choice"] = _tool_choice(choice, tools)
    if schema is not None and schema_style != "none":
        if schema_style == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema, "strict": False},
            }
        else:
            # llama.cpp's dialect: the schema becomes a grammar, so bound it like the embedded model's.
            params["response_format"] = {"type": "json_object", "schema": bounded_schema(schema)}
    params.update(_sampling_params(request.sampling, hosted=hosted))
    if stream:
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
    return RequestPlan(params, prompt_tools, uses_tools, schema_style if schema is not None else None)


def _sampling_params(sampling: Sampling, *, hosted: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if sampling.temperature is not None:
        params["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        params["top_p"] = sampling.top_p
    if sampling.max_tokens is not None:
        # OpenAI's current name (its newer models reject max_tokens); other servers know max_tokens.
        params["max_completion_tokens" if hosted else "max_tokens"] = sampling.max_tokens
    if sampling.seed is not None:
        params["seed"] = sampling.seed
    if sampling.stop:
        params["stop"] = list(sampling.stop)
    return params


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
        data["content"] = message.content or ""  # llama_cpp.server rejects null content beside tool_calls
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
