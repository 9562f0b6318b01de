"""Prompt-based tool calls, for models and servers without native tool calling.

When a backend cannot pass ``tools`` to its server (or the server ignores
them), the tools are described in the system prompt and the model is asked to
answer with one JSON object:

* ``{"tool_calls": [{"name": "<tool>", "arguments": {...}}]}`` to call tools;
* ``{"content": "<final answer>"}`` to answer.

:func:`reply_schema` is the JSON schema of exactly those replies (one
alternative per tool, each tool's own argument schema inlined), for servers
that can constrain decoding with a schema (``response_format``, llama.cpp
grammars). :func:`parse_reply` reads a reply back, tolerant of fenced code
blocks, prose around the JSON and the usual variants small models produce
(``{"name": ..., "arguments": ...}``, ``"parameters"`` for ``"arguments"``, a
bare list of calls, ``"answer"`` for ``"content"``). Text with no JSON in it is
taken as the final answer.

Nothing here knows about HTTP or any backend, so every backend can share it.

A tool call whose arguments are not a JSON object is kept, not dropped: its
arguments become ``{INVALID_JSON_KEY: "<the raw text>"}``. The tool dispatcher
rejects such a call with an observation the model can read and correct
(backends never raise for it: a malformed call is the model's mistake, not a
transport failure, and retrying the same request would not fix it).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agorakit.core.ids import new_call_id
from agorakit.core.messages import INVALID_ARGUMENTS_KEY, Message, ToolCall
from agorakit.models.base import ToolSpec

INVALID_JSON_KEY = INVALID_ARGUMENTS_KEY
"""Alias of :data:`agorakit.core.messages.INVALID_ARGUMENTS_KEY` (the call's arguments were not a
JSON object; the value is the raw text)."""

_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input", "tool_input")
_NAME_KEYS = ("name", "tool", "tool_name", "function")
_CONTENT_KEYS = ("content", "answer", "final_answer", "response", "final")
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


@dataclass(slots=True)
class ParsedReply:
    """A model's prompt-mode reply read back.

    ``problems`` lists what is wrong with the tool calls (unknown tool,
    arguments not matching the schema), one line each. The calls are kept
    anyway: the dispatcher turns them into tool errors the model can read.
    """

    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- arguments ----------------------------------------------------------------


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict, from the JSON text (or object) a model produced.

    Empty text means no arguments. Text that is not a JSON object (also a
    JSON string holding an object, as some servers double-encode) becomes
    ``{INVALID_JSON_KEY: raw_text}``.
    """
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return {INVALID_JSON_KEY: json.dumps(raw, default=str)}
    text = raw.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
        if isinstance(value, str):  # double-encoded: "{\"a\": 1}"
            value = json.loads(value)
    except ValueError:
        return {INVALID_JSON_KEY: raw}
    if isinstance(value, dict):
        return value
    return {INVALID_JSON_KEY: raw}


def arguments_text(arguments: dict[str, Any]) -> str:
    """The JSON text to send back for a call's arguments (the raw text if it was not valid JSON)."""
    if set(arguments) == {INVALID_JSON_KEY} and isinstance(arguments[INVALID_JSON_KEY], str):
        return str(arguments[INVALID_JSON_KEY])
    return json.dumps(arguments, ensure_ascii=False)


def validate_call(call: ToolCall, tools: Sequence[ToolSpec]) -> str | None:
    """What is wrong with ``call`` given the tools on offer, or ``None`` if it is valid."""
    spec = next((tool for tool in tools if tool.name == call.name), None)
    if spec is None:
        known = ", ".join(tool.name for tool in tools) or "none"
        return f"unknown tool {call.name!r} (available: {known})"
    if INVALID_JSON_KEY in call.arguments:
        return f"arguments for {call.name!r} are not a JSON object: {call.arguments[INVALID_JSON_KEY]!r}"
    return validate_arguments(spec.parameters, call.arguments, tool=call.name)


def validate_arguments(schema: dict[str, Any], arguments: dict[str, Any], *, tool: str = "tool") -> str | None:
    """Check ``arguments`` against a JSON schema with ``jsonschema``; a one-line problem or ``None``."""
    import jsonschema  # deferred: only prompt-mode replies and dispatchers need it

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as error:
        return f"the schema of {tool!r} is not a valid JSON schema: {error.message}"
    found = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(arguments))
    if found is None:
        return None
    where = "/".join(str(part) for part in found.absolute_path)
    return f"invalid arguments for {tool!r}" + (f" at {where}" if where else "") + f": {found.message}"


# --- finding JSON in text -----------------------------------------------------


def _candidates(text: str) -> Iterable[Any]:
    """JSON values in ``text``, most likely first: the whole text, fenced blocks, then embedded values."""
    stripped = text.strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except ValueError:
        pass
    else:
        yield whole
    for match in _FENCE.finditer(text):
        try:
            fenced = json.loads(match.group(1).strip())
        except ValueError:
            continue
        yield fenced
    yield from _embedded(text)


def _embedded(text: str) -> Iterable[Any]:
    """Objects and arrays that decode in ``text``, left to right; inside a broken one, its complete parts."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(value, (dict, list)):
            yield value
        position = end


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (whole, fenced, or among prose); ``None`` if there is none.

    An object or list that looks like a prompt-mode reply (has ``tool_calls``,
    ``name``, ``content``...) is preferred over other JSON in the text.
    """
    first: Any = None
    for value in _candidates(text):
        if not isinstance(value, (dict, list)):
            continue
        if _looks_like_reply(value):
            return value
        if first is None:
            first = value
    return first


def _looks_like_reply(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, dict) and _call_name(item) is not None for item in value)
    if not isinstance(value, dict):
        return False
    return (
        "tool_calls" in value
        or "tool_call" in value
        or _call_name(value) is not None
        or _content_key(value) is not None
    )


def _content_key(value: dict[str, Any]) -> str | None:
    return next((key for key in _CONTENT_KEYS if key in value), None)


def _call_name(item: dict[str, Any]) -> str | None:
    """The tool name of a call-like object, or ``None`` if it does not look like a call."""
    function = item.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    has_arguments = any(key in item for key in _ARGUMENT_KEYS)
    for key in _NAME_KEYS:
        name = item.get(key)
        if isinstance(name, str) and (has_arguments or len(item) == 1):
            return name
    return None


def _call_arguments(item: dict[str, Any]) -> Any:
    function = item.get("function")
    if isinstance(function, dict) and "name" in function:
        item = function
    for key in _ARGUMENT_KEYS:
        if key in item:
            return item[key]
    return None


# --- reading a reply ----------------------------------------------------------


def parse_reply(
    text: str | None,
    tools: Sequence[ToolSpec],
    *,
    new_id: Callable[[], str] = new_call_id,
) -> ParsedReply:
    """Read a prompt-mode reply into tool calls or final content, validating each call.

    Never raises: text that is not a recognisable reply is the final answer.
    """
    if text is None or not text.strip():
        return ParsedReply(content=text)
    value = extract_json(text)
    raw_calls: list[dict[str, Any]] = []
    content: str | None = None
    if isinstance(value, dict) and _call_name(value) is not None and _content_key(value) is None:
        # A bare call. When the reply was cut off (max tokens) inside a list of
        # calls, the text holds several complete ones: take them all.
        found = [item for item in _embedded(text) if isinstance(item, dict) and _call_name(item) is not None]
        if value in found:
            value = found
    if isinstance(value, list) and _looks_like_reply(value):
        raw_calls = value
    elif isinstance(value, dict):
        listed = value.get("tool_calls", value.get("tool_call"))
        if isinstance(listed, dict):
            listed = [listed]
        if isinstance(listed, list) and all(isinstance(item, dict) for item in listed):
            raw_calls = listed
        elif _call_name(value) is not None and _content_key(value) is None:
            raw_calls = [value]
        key = _content_key(value)
        if key is not None:
            answer = value[key]
            content = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        elif not raw_calls:
            content = text.strip()
    else:
        content = text.strip()
    calls: list[ToolCall] = []
    problems: list[str] = []
    for item in raw_calls:
        name = _call_name(item)
        if name is None:
            problems.append(f"a tool call without a tool name: {json.dumps(item, ensure_ascii=False)[:200]}")
            continue
        call_id = item.get("id")
        call = ToolCall(
            call_id if isinstance(call_id, str) and call_id else new_id(),
            name,
            parse_arguments(_call_arguments(item)),
        )
        problem = validate_call(call, tools)
        if problem is not None:
            problems.append(problem)
        calls.append(call)
    if not calls and content is None:
        content = text.strip()
    return ParsedReply(content=content, tool_calls=calls, problems=problems)


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
    describe = bool(tools) and tool_choice != "none"
    out: list[Message] = []
    if describe:
        instructions = tool_instructions(tools, tool_choice, response_schema)
        if messages and messages[0].role == "system":
            head = messages[0].content or ""
            out.append(Message("system", f"{head}\n\n{instructions}" if head else instructions))
            messages = messages[1:]
        else:
            out.append(Message("system", instructions))
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
