"""Prompts and output grammars for the embedded Gemma model (no model needed)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agorakit.core.errors import ModelResponseError
from agorakit.core.messages import Message, ToolCall
from agorakit.models import ModelRequest, ToolSpec
from agorakit.models import gemma_format as fmt
from agorakit.models.grammar_schema import MAX_STRING_CHARS

CALC = ToolSpec(
    "calculator",
    "Evaluate arithmetic.",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
)
CLOCK = ToolSpec("current_time", "Current time.", {"type": "object", "properties": {}})


def test_plain_conversation_uses_gemma_turns_with_system_text_in_the_first_user_turn() -> None:
    request = ModelRequest([Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello")])
    assert fmt.format_prompt(request) == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    assert fmt.output_schema(request) is None


def test_tool_calls_and_results_are_rendered_as_json_and_user_turns() -> None:
    call = ToolCall("c1", "calculator", {"expression": "17*23"})
    request = ModelRequest(
        [
            Message("user", "What is 17*23?"),
            Message("assistant", None, [call]),
            Message("tool", "391", tool_call_id="c1", name="calculator"),
        ],
        tools=[CALC],
    )
    prompt = fmt.format_prompt(request)
    # Compact JSON: Gemma merges ' "-' into one token, so a space before a value hid minus signs.
    assert '<start_of_turn>model\n{"tool":"calculator","arguments":{"expression":"17*23"}}<end_of_turn>' in prompt
    assert "<start_of_turn>user\nResult of calculator: 391<end_of_turn>\n<start_of_turn>model\n" in prompt
    assert '- calculator: Evaluate arithmetic.\n  {"tool":"calculator","arguments":{"expression":string}}' in prompt
    assert '- answer: when you know the final answer.\n  {"answer":string}' in prompt
    # The user's words are labelled as in the demonstrations, which use tools the agent lacks.
    assert "\n\nQuestion: What is 17*23?<end_of_turn>" in prompt
    assert fmt.CALL_DEMONSTRATIONS in prompt
    assert '{"tool":"convert","arguments":{"quantity":"-40 F"}}' in fmt.CALL_DEMONSTRATIONS
    assert prompt.endswith("<start_of_turn>model\n")


def test_auto_choice_schema_accepts_each_tool_and_an_answer_and_nothing_else() -> None:
    schema = fmt.output_schema(ModelRequest([Message("user", "x")], tools=[CALC, CLOCK]))
    assert schema is not None
    good = [
        {"tool": "calculator", "arguments": {"expression": "1+1"}},
        {"tool": "current_time", "arguments": {}},
        {"answer": "42"},
    ]
    for value in good:
        jsonschema.validate(value, schema)
    bad = [
        {"tool": "calculator", "arguments": {}},
        {"tool": "rm", "arguments": {}},
        {"tool": "calculator", "arguments": {"expression": "1", "extra": 2}},
        {"answer": 42},
    ]
    for value in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, schema)


def test_required_and_named_choice_exclude_the_answer() -> None:
    required = fmt.output_schema(ModelRequest([], tools=[CALC, CLOCK], tool_choice="required"))
    assert required is not None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"answer": "x"}, required)
    named = fmt.output_schema(ModelRequest([], tools=[CALC, CLOCK], tool_choice="current_time"))
    assert named is not None and named["properties"]["tool"] == {"const": "current_time"}
    with pytest.raises(ModelResponseError, match="not among the request's tools"):
        fmt.output_schema(ModelRequest([], tools=[CALC], tool_choice="nope"))


def test_response_schema_without_tools() -> None:
    schema = {"type": "object", "properties": {"vote": {"type": "integer"}}, "required": ["vote"]}
    request = ModelRequest([Message("user", "vote")], response_schema=schema)
    constrained = fmt.output_schema(request)
    assert constrained == {**schema, "additionalProperties": False}
    assert json.dumps(schema) in fmt.format_prompt(request)


def test_parse_output() -> None:
    request = ModelRequest([], tools=[CALC])
    call = fmt.parse_output('{"tool": "calculator", "arguments": {"expression": "2+2"}}', request)
    assert call.tool_calls[0].name == "calculator"
    assert call.tool_calls[0].arguments == {"expression": "2+2"}
    assert call.tool_calls[0].id.startswith("call_")
    assert fmt.parse_output('{"answer": "4"}', request).content == "4"
    with pytest.raises(ModelResponseError, match="invalid JSON"):
        fmt.parse_output('{"tool": ', request)
    assert fmt.parse_output("  free text \n", ModelRequest([])).content == "free text"


def test_tools_that_may_not_be_called_now_constrain_the_reply_to_an_answer() -> None:
    request = ModelRequest([Message("user", "x")], tools=[CALC], tool_choice="none")
    schema = fmt.output_schema(request)
    assert schema == fmt.ANSWER_SCHEMA
    prompt = fmt.format_prompt(request)
    assert 'Reply with your final answer as JSON: {"answer":string}' in prompt
    assert '{"answer":"-12.5"}' in prompt  # answer demonstrations, with a kept minus sign
    assert "Tools you can call" not in prompt and fmt.CALL_DEMONSTRATIONS not in prompt
    assert "Question:" not in prompt  # no calls offered: the user's words stay as they are
    assert schema["properties"]["answer"]["minLength"] == 1
    assert fmt.parse_output('{"answer": "12"}', request).content == "12"


def test_strings_without_a_bound_get_one_and_raw_newlines_parse() -> None:
    schema = fmt.output_schema(ModelRequest([], tools=[CALC], tool_choice="required"))
    assert schema is not None
    assert schema["properties"]["arguments"]["properties"]["expression"]["maxLength"] == MAX_STRING_CHARS
    assert "maxLength" not in CALC.parameters["properties"]["expression"]  # the tool's own schema is untouched
    raw_newline = '{"answer": "two\nlines"}'  # a real newline inside the JSON string
    parsed = fmt.parse_output(raw_newline, ModelRequest([], tools=[CALC]))
    assert parsed.content == "two\nlines"


def test_a_structured_call_whose_messages_say_what_to_reply_keeps_the_free_text_calls_prefix() -> None:
    # A judge lists candidates (free text), then decides (structured, its prompt naming the keys):
    # without the schema spelled out first, the second prompt begins with the first prompt and
    # reply, byte for byte, which the engine's prefix cache serves.
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    first = [Message("system", "You judge."), Message("user", "List the candidates.")]
    free = fmt.format_prompt(ModelRequest(first))
    second = [*first, Message("assistant", "3 or 4"), Message("user", 'Decide: {"answer": ...}')]
    described = fmt.format_prompt(ModelRequest(second, response_schema=schema))
    quiet = fmt.format_prompt(ModelRequest(second, response_schema=schema, describe_schema=False))
    assert not described.startswith(free) and json.dumps(schema) in described
    assert quiet.startswith(free + "3 or 4<end_of_turn>\n") and json.dumps(schema) not in quiet
    assert fmt.output_schema(ModelRequest(second, response_schema=schema, describe_schema=False)) is not None
