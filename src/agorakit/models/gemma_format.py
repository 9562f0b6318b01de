"""Prompts and output grammars for the embedded Gemma base model.

Gemma's turn format has only ``user`` and ``model`` turns, so system text
opens the first user turn and tool results come back as user turns. With
tools, the model must answer with one JSON object that is either a tool call
or a final answer; the JSON schema below becomes a llama.cpp grammar, so even
a 270M base model can only emit a well-formed choice.
"""

from __future__ import annotations

import json
from typing import Any

from agorakit.core.errors import ModelResponseError
from agorakit.core.ids import new_call_id
from agorakit.core.messages import Message, ToolCall
from agorakit.models.base import ModelRequest, ToolSpec
from agorakit.models.grammar_schema import bounded_schema

START, END = "<start_of_turn>", "<end_of_turn>"
ANSWER_KEY = "answer"
# A base model can ramble inside a JSON string until max_tokens; this bounds it.
MAX_ANSWER_CHARS = 500


def _first_sentence(text: str) -> str:
    # Small models copy long descriptions instead of following them.
    sentence = text.strip().split(". ")[0].rstrip(".")
    return sentence + "." if sentence else ""


# JSON is shown and written without spaces after ':' and ',': Gemma's tokenizer
# merges ' "-' into one token, so after a grammar-forced ' "' the model would not
# write a minus sign (it answered "69" for -69); after '":"' it does.
SEPARATORS = (",", ":")

# How a call copies its argument out of a question and an answer copies the
# tool's result, shown with tools the agent does not have (so it copies the
# habit, not the calls): the value alone, without the words and punctuation
# around it, a minus sign kept; a text to the end of the question; an operation
# in words as symbols. Without them the 270M model ran on past the value
# ("74 + 99. denaro"), answered with its own call's argument, passed "counter"
# for "Use the word counter on: ..." and wrote "5 + 46" for "the product of 5 and 46".
CALL_DEMONSTRATIONS = """How it goes, shown with other tools:
Question: Look up the population of Berlin.
{"tool":"population","arguments":{"city":"Berlin"}}
Question: Find flight 417.
{"tool":"flight_status","arguments":{"number":"417"}}
Question: Use the spellchecker on: recieve the pakage today
{"tool":"spellcheck","arguments":{"text":"recieve the pakage today"}}
Question: How long is the word "window"?
{"tool":"length","arguments":{"text":"window"}}
Question: Can you convert -40 F to C?
{"tool":"convert","arguments":{"quantity":"-40 F"}}
Question: What is the product of 6 and 7?
{"tool":"math","arguments":{"expression":"6 * 7"}}
Question: 12 km in miles = ?
{"tool":"convert","arguments":{"quantity":"12 km"}}
Copy the argument from the question exactly, without the words and punctuation around it."""

ANSWER_INSTRUCTIONS = """Reply with your final answer as JSON: {"answer":string}
Examples with other tools:
Result of balance: -12.5
{"answer":"-12.5"}
Result of length: 6
{"answer":"6"}
Result of capital: Paris
{"answer":"Paris"}
Answer with the result of your tool."""


def _json(value: Any) -> str:
    return json.dumps(value, separators=SEPARATORS, ensure_ascii=False)


def tool_instructions(tools: list[ToolSpec], choice: str) -> str:
    """One line and one call template per tool: a base model imitates the
    template (with type names, not sample values it would copy)."""
    lines = ["Tools you can call:"]
    for spec in tools:
        arguments = ",".join(
            f'"{name}":{prop.get("type", "value")}' for name, prop in spec.parameters.get("properties", {}).items()
        )
        lines.append(f"- {spec.name}: {_first_sentence(spec.description)}")
        lines.append(f'  {{"tool":"{spec.name}","arguments":{{{arguments}}}}}')
    # Listed whatever the choice (the grammar alone enforces it): without this
    # entry the model drifts to whichever tool was listed last.
    lines.append("- answer: when you know the final answer.")
    lines.append('  {"answer":string}')
    lines.append("Pick the tool that fits the question and reply with its JSON.")
    return "\n".join(lines) + "\n\n" + CALL_DEMONSTRATIONS


def format_prompt(request: ModelRequest) -> str:
    """The whole conversation as Gemma turns, ending with an open model turn."""
    preamble: list[str] = []
    calls = bool(request.tools) and request.tool_choice != "none"
    if answer_only(request):
        preamble.append(ANSWER_INSTRUCTIONS)
    elif calls:
        preamble.append(tool_instructions(request.tools, str(request.tool_choice)))
    if request.response_schema is not None and request.describe_schema:
        preamble.append("Reply with one JSON object matching this schema:\n" + json.dumps(request.response_schema))
    turns: list[tuple[str, str]] = []
    for message in request.messages:
        if message.role == "system":
            preamble.insert(0, message.content or "")
            continue
        role, text = _render(message, asks=calls)
        if turns and turns[-1][0] == role:
            turns[-1] = (role, turns[-1][1] + "\n\n" + text)
        else:
            turns.append((role, text))
    if preamble:
        intro = "\n\n".join(p for p in preamble if p)
        if turns and turns[0][0] == "user":
            turns[0] = ("user", intro + "\n\n" + turns[0][1])
        else:
            turns.insert(0, ("user", intro))
    parts = [f"{START}{role}\n{text}{END}\n" for role, text in turns]
    parts.append(f"{START}model\n")
    return "".join(parts)


def _render(message: Message, *, asks: bool = False) -> tuple[str, str]:
    if message.role == "assistant":
        if message.tool_calls:
            call = message.tool_calls[0]
            return "model", _json({"tool": call.name, "arguments": call.arguments})
        return "model", message.content or ""
    if message.role == "tool":
        return "user", f"Result of {message.name or 'the tool'}: {message.content}"
    # With tools, a user's words are labelled as in the demonstrations.
    author = f"{message.name}: " if message.name else "Question: " if asks else ""
    return "user", author + (message.content or "")


def answer_only(request: ModelRequest) -> bool:
    """Tools are in play but may not be called now: the reply must be an answer.
    (Free text here would let a base model write a tool call as prose.)"""
    return bool(request.tools) and request.tool_choice == "none" and request.response_schema is None


ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {ANSWER_KEY: {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER_CHARS}},
    "required": [ANSWER_KEY],
    "additionalProperties": False,
}


def output_schema(request: ModelRequest) -> dict[str, Any] | None:
    """The JSON schema the reply is constrained to, or None for free text."""
    if answer_only(request):
        return ANSWER_SCHEMA
    choice = request.tool_choice
    if request.tools and choice != "none":
        chosen = [t for t in request.tools if choice in ("auto", "required") or t.name == choice]
        if not chosen:
            raise ModelResponseError(f"tool_choice names {choice!r}, which is not among the request's tools")
        options: list[dict[str, Any]] = []
        defs: dict[str, Any] = {}
        for spec in chosen:
            parameters = bounded_schema(spec.parameters)
            defs.update(parameters.pop("$defs", {}))
            options.append(
                {
                    "type": "object",
                    "properties": {"tool": {"const": spec.name}, "arguments": parameters},
                    "required": ["tool", "arguments"],
                    "additionalProperties": False,
                }
            )
        if choice == "auto":
            options.append(ANSWER_SCHEMA)
        schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
        if defs:
            schema = {**schema, "$defs": defs}
        return schema
    if request.response_schema is not None:
        return bounded_schema(request.response_schema)
    return None


def parse_output(text: str, request: ModelRequest) -> Message:
    """Turn constrained output back into an assistant message."""
    if not request.tools or (request.tool_choice == "none" and not answer_only(request)):
        return Message("assistant", text.strip())
    try:
        # strict=False: the grammar lets raw newlines into strings, as models write them.
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as error:
        raise ModelResponseError(f"embedded model produced invalid JSON despite the grammar: {text[:200]!r}") from error
    if isinstance(data, dict) and "tool" in data:
        return Message("assistant", None, [ToolCall(new_call_id(), str(data["tool"]), data.get("arguments") or {})])
    if isinstance(data, dict) and ANSWER_KEY in data:
        return Message("assistant", str(data[ANSWER_KEY]))
    raise ModelResponseError(f"embedded model output is neither a tool call nor an answer: {text[:200]!r}")
