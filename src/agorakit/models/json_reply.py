"""Reading a model's JSON reply: tool calls, final content, and tool-call arguments.

:func:`parse_reply` reads a prompt-mode reply (see :mod:`agorakit.models.json_prompt`)
back into tool calls or final content, tolerant of fenced code blocks, prose
around the JSON and the usual variants small models produce (``{"name": ...,
"arguments": ...}``, ``"parameters"`` for ``"arguments"``, a bare list of
calls, ``"answer"`` for ``"content"``). Text with no JSON in it is taken as the
final answer. :func:`parse_arguments` reads the arguments of any tool call,
native ones included.

Nothing here knows about HTTP or any backend, so every backend can share it.

A tool call whose arguments are not a JSON object is kept, not dropped: its
arguments become ``{INVALID_JSON_KEY: "<the raw text>"}``. The tool dispatcher
rejects such a call with an observation the model can read and correct
(backends never raise for it: a malformed call is the model's mistake, not a
transport failure, and retrying the same request would not fix it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agorakit.core.ids import new_call_id
from agorakit.core.messages import INVALID_ARGUMENTS_KEY, ToolCall
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
