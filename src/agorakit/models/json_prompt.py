"""Prompt-mode tool calls: asking for a JSON reply, for models and servers without native tool calling.

When a backend cannot pass ``tools`` to its server (or the server ignores
them), the tools are described in the system prompt and the model is asked to
answer with one JSON object:

* ``{"tool_calls": [{"name": "<tool>", "arguments": {...}}]}`` to call tools;
* ``{"content": "<final answer>"}`` to answer.

:func:`prompt_messages` rewrites a conversation that way, :func:`reply_schema`
is the JSON schema of exactly those replies (one alternative per tool, each
tool's own argument schema inlined), for servers that can constrain decoding
with a schema (``response_format``, llama.cpp grammars). The reply is read back
by :func:`agorakit.models.json_reply.parse_reply`.

Nothing here knows about HTTP or any backend, so every backend can share it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from agorakit.core.messages import Message, ToolCall
from agorakit.models.base import ToolSpec
from agorakit.models.json_reply import INVALID_JSON_KEY

# --- describing tools and the reply format ------------------------------------


def _must_call(tool_choice: str, tools: Sequence[ToolSpec]) -> str | None:
    """``"required"``, a tool's name, or ``None`` when the model may also answer."""
    if tool_choice == "required":
        return "required"
    if tool_choice not in ("auto", "none"):
        if not any(tool.name == tool_choice for tool in tools):
            raise ValueError(f"tool_choice names {tool_choice!r}, which is not among the tools")
        return tool_choice
    return None


def tool_instructions(
    tools: Sequence[ToolSpec],
    tool_choice: str = "auto",
    response_schema: dict[str, Any] | None = None,
) -> str:
    """The system-prompt text that describes ``tools`` and the JSON reply format."""
    must = _must_call(tool_choice, tools)
    lines = ["You can call these tools:", ""]
    for tool in tools:
        lines.append(f"- {tool.name}: {tool.description.strip() or '(no description)'}")
        lines.append(f"  arguments (JSON schema): {json.dumps(tool.parameters, ensure_ascii=False)}")
    lines += [
        "",
        "To call one or more tools, reply with only this JSON object and nothing else:",
        '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments matching the tool\'s schema>}}]}',
    ]
    if must == "required":
        lines.append("You must call at least one tool now.")
    elif must is not None:
        lines.append(f"You must call the tool {must!r} now.")
    else:
        lines.append("The result of each call comes back in a later message.")
        if response_schema is None:
            lines += ["When you have the final answer, reply with only:", '{"content": "<your final answer>"}']
        else:
            lines += [
                "When you have the final answer, reply with only:",
                '{"content": <a JSON value matching this schema>}',
                f"schema: {json.dumps(response_schema, ensure_ascii=False)}",
            ]
    return "\n".join(lines)


def reply_schema(
    tools: Sequence[ToolSpec],
    tool_choice: str = "auto",
    response_schema: dict[str, Any] | None = None,
    *,
    max_calls: int | None = None,
) -> dict[str, Any]:
    """The JSON schema of a valid prompt-mode reply, to constrain decoding where a server can.

    Each tool is one alternative with ``name`` fixed by ``const`` and its
    argument schema inlined (``$defs`` hoisted to the root with a per-tool
    prefix, so references still resolve). ``max_calls`` caps the calls in one
    reply (small models constrained by a grammar tend to add calls until
    ``max_tokens``); a named ``tool_choice`` always allows one.
    """
    must = _must_call(tool_choice, tools)
    defs: dict[str, Any] = {}
    offered = [tool for tool in tools if must in (None, "required") or tool.name == must]
    call_alternatives = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                "arguments": _embed(tool.parameters or {"type": "object"}, f"{_safe(tool.name)}__", defs),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in offered
    ]
    items: dict[str, Any] = call_alternatives[0] if len(call_alternatives) == 1 else {"anyOf": call_alternatives}
    calls_array: dict[str, Any] = {"type": "array", "items": items, "minItems": 1}
    if must not in (None, "required"):
        calls_array["maxItems"] = 1  # a named tool_choice asks for one call of that tool
    elif max_calls is not None:
        calls_array["maxItems"] = max(1, max_calls)
    calls_reply = {
        "type": "object",
        "properties": {"tool_calls": calls_array},
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    schema: dict[str, Any]
    if must is not None:
        schema = calls_reply
    else:
        answer = {"type": "string"} if response_schema is None else _embed(response_schema, "response__", defs)
        content_reply = {
            "type": "object",
            "properties": {"content": answer},
            "required": ["content"],
            "additionalProperties": False,
        }
        schema = {"type": "object", "anyOf": [calls_reply, content_reply]}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _embed(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` for nesting in a larger one: its local definitions move into ``defs``."""
    schema = copy.deepcopy(schema)
    renames: dict[str, str] = {}
    local: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.pop(key, None)
        if isinstance(found, dict):
            for name, definition in found.items():
                renames[f"#/{key}/{name}"] = f"#/$defs/{prefix}{name}"
                local[prefix + name] = definition
    if not renames:
        return schema
    for name, definition in local.items():
        defs[name] = _rewrite_refs(definition, renames)
    rewritten: dict[str, Any] = _rewrite_refs(schema, renames)
    return rewritten


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target = next(
                    (
                        new + value[len(old) :]
                        for old, new in renames.items()
                        if value == old or value.startswith(old + "/")
                    ),
                    value,
                )
                out[key] = target
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


# --- the conversation in prompt mode ------------------------------------------


def render_tool_calls(calls: Sequence[ToolCall], content: str | None = None) -> str:
    """An assistant's tool calls written in the prompt-mode reply format."""
    reply: dict[str, Any] = {
        "tool_calls": [{"name": call.name, "arguments": _arguments_value(call.arguments)} for call in calls]
    }
    if content:
        reply = {"content": content, **reply}
    return json.dumps(reply, ensure_ascii=False)


def _arguments_value(arguments: dict[str, Any]) -> Any:
    if set(arguments) == {INVALID_JSON_KEY}:
        return arguments[INVALID_JSON_KEY]
    return arguments


def render_tool_result(message: Message) -> str:
    """A tool result written as a user turn for a model that has no tool role."""
    who = message.name or "tool"
    ref = f" (call {message.tool_call_id})" if message.tool_call_id else ""
    return f"Result of tool {who}{ref}:\n{message.content or ''}"


def prompt_messages(
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    tool_choice: str = "auto",
    response_schema: dict[str, Any] | None = None,
) -> list[Message]:
    """The conversation rewritten for a model without native tool calling.

    The tool instructions are appended to the first system message (or become
    one); assistant tool calls become assistant text in the reply format; tool
    results become user turns; adjacent user turns are merged so chat
    templates that insist on alternating roles (Gemma's) accept the result.
    With ``tool_choice="none"`` or no tools the messages are only converted,
    with no instructions.
    """
    if tools and tool_choice != "none":
        messages = with_system_text(messages, tool_instructions(tools, tool_choice, response_schema))
    out: list[Message] = []
    for message in messages:
        converted: Message
        if message.role == "tool":
            converted = Message("user", render_tool_result(message))
        elif message.role == "assistant" and message.tool_calls:
            converted = Message("assistant", render_tool_calls(message.tool_calls, message.content), name=message.name)
        else:
            converted = Message(message.role, message.content, name=message.name)
        previous = out[-1] if out else None
        if (
            previous is not None
            and converted.role == "user"
            and previous.role == "user"
            and (message.role == "tool" or previous.name == converted.name)
        ):
            out[-1] = Message("user", f"{previous.content or ''}\n\n{converted.content or ''}", name=previous.name)
        else:
            out.append(converted)
    return out


def with_system_text(messages: Sequence[Message], text: str) -> list[Message]:
    """``messages`` with ``text`` appended to the first system message (or, without one, as a new first message)."""
    if messages and messages[0].role == "system":
        head = messages[0].content or ""
        return [Message("system", f"{head}\n\n{text}" if head else text), *messages[1:]]
    return [Message("system", text), *messages]
