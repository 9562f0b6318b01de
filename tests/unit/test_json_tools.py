"""The prompt-based JSON tool-call format: instructions, reply schema, parsing and validation."""

from __future__ import annotations

import itertools
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agorakit.core.messages import Message, ToolCall, assistant, system, tool_result, user
from agorakit.models.base import ToolSpec
from agorakit.models.json_prompt import prompt_messages, render_tool_calls, reply_schema, tool_instructions
from agorakit.models.json_reply import (
    INVALID_JSON_KEY,
    arguments_text,
    extract_json,
    parse_arguments,
    parse_reply,
    validate_arguments,
    validate_call,
)

ADD = ToolSpec(
    "add",
    "Add two integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
SEARCH = ToolSpec(
    "search",
    "Search the notes.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
TOOLS = [ADD, SEARCH]


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


# --- arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {}),
        ("", {}),
        ("   ", {}),
        ('{"a": 1, "b": 2}', {"a": 1, "b": 2}),
        ({"a": 1}, {"a": 1}),
        ('"{\\"a\\": 1}"', {"a": 1}),  # double-encoded
        ('{"a": 1,', {INVALID_JSON_KEY: '{"a": 1,'}),
        ("[1, 2]", {INVALID_JSON_KEY: "[1, 2]"}),
        ("add 1 and 2", {INVALID_JSON_KEY: "add 1 and 2"}),
        (42, {INVALID_JSON_KEY: "42"}),
    ],
)
def test_parse_arguments(raw: Any, expected: dict[str, Any]) -> None:
    assert parse_arguments(raw) == expected


def test_arguments_text_gives_back_the_raw_text_of_invalid_arguments() -> None:
    assert arguments_text({"a": 1}) == '{"a": 1}'
    assert arguments_text({INVALID_JSON_KEY: '{"a": 1,'}) == '{"a": 1,'


# --- validation -----------------------------------------------------------------


def test_validate_call_accepts_a_valid_call() -> None:
    assert validate_call(ToolCall("c1", "add", {"a": 1, "b": 2}), TOOLS) is None


def test_validate_call_names_an_unknown_tool_and_the_available_ones() -> None:
    problem = validate_call(ToolCall("c1", "delete_all", {}), TOOLS)
    assert problem == "unknown tool 'delete_all' (available: add, search)"


def test_validate_call_reports_the_failing_argument() -> None:
    problem = validate_call(ToolCall("c1", "add", {"a": 1, "b": "two"}), TOOLS)
    assert problem == "invalid arguments for 'add' at b: 'two' is not of type 'integer'"


def test_validate_call_reports_a_missing_argument() -> None:
    problem = validate_call(ToolCall("c1", "add", {"a": 1}), TOOLS)
    assert problem == "invalid arguments for 'add': 'b' is a required property"


def test_validate_call_reports_arguments_that_were_not_json() -> None:
    problem = validate_call(ToolCall("c1", "add", {INVALID_JSON_KEY: "a=1"}), TOOLS)
    assert problem == "arguments for 'add' are not a JSON object: 'a=1'"


def test_validate_arguments_reports_a_broken_schema() -> None:
    problem = validate_arguments({"type": "no-such-type"}, {}, tool="odd")
    assert problem is not None
    assert problem.startswith("the schema of 'odd' is not a valid JSON schema")


# --- finding JSON ---------------------------------------------------------------


def test_extract_json_whole_text() -> None:
    assert extract_json('{"content": "hi"}') == {"content": "hi"}


def test_extract_json_from_a_fenced_block_with_prose() -> None:
    text = 'Sure! Here is the call:\n```json\n{"tool_calls": [{"name": "add", "arguments": {"a": 1}}]}\n```\nDone.'
    assert extract_json(text) == {"tool_calls": [{"name": "add", "arguments": {"a": 1}}]}


def test_extract_json_from_prose_without_fences() -> None:
    assert extract_json('I will call {"name": "add", "arguments": {"a": 1, "b": 2}} now') == {
        "name": "add",
        "arguments": {"a": 1, "b": 2},
    }


def test_extract_json_prefers_a_reply_shaped_object() -> None:
    text = 'The data {"x": 1} needs {"name": "add", "arguments": {"a": 1, "b": 2}}'
    assert extract_json(text) == {"name": "add", "arguments": {"a": 1, "b": 2}}


def test_extract_json_none_without_json() -> None:
    assert extract_json("The answer is 42.") is None
    assert extract_json("") is None


# --- parsing replies ------------------------------------------------------------


def test_parse_reply_canonical_tool_calls() -> None:
    reply = parse_reply(
        '{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}, '
        '{"name": "search", "arguments": {"query": "cats"}}]}',
        TOOLS,
        new_id=ids(),
    )
    assert reply.content is None
    assert reply.tool_calls == [
        ToolCall("call_1", "add", {"a": 2, "b": 3}),
        ToolCall("call_2", "search", {"query": "cats"}),
    ]
    assert reply.problems == []


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "add", "arguments": {"a": 2, "b": 3}}',
        '{"name": "add", "parameters": {"a": 2, "b": 3}}',
        '{"tool": "add", "args": {"a": 2, "b": 3}}',
        '{"tool_call": {"name": "add", "arguments": {"a": 2, "b": 3}}}',
        '[{"name": "add", "arguments": {"a": 2, "b": 3}}]',
        '{"type": "function", "function": {"name": "add", "arguments": "{\\"a\\": 2, \\"b\\": 3}"}}',
        '{"tool_calls": [{"name": "add", "arguments": "{\\"a\\": 2, \\"b\\": 3}"}]}',
        'Let me add.\n```\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n```',
    ],
)
def test_parse_reply_accepts_common_variants(text: str) -> None:
    reply = parse_reply(text, TOOLS, new_id=ids())
    assert reply.tool_calls == [ToolCall("call_1", "add", {"a": 2, "b": 3})]
    assert reply.content is None
    assert reply.problems == []


def test_parse_reply_keeps_the_id_a_model_gave() -> None:
    reply = parse_reply('{"tool_calls": [{"id": "x9", "name": "add", "arguments": {"a": 1, "b": 1}}]}', TOOLS)
    assert reply.tool_calls[0].id == "x9"


def test_parse_reply_final_content() -> None:
    reply = parse_reply('{"content": "The sum is 5."}', TOOLS)
    assert reply.content == "The sum is 5."
    assert reply.tool_calls == []


def test_parse_reply_structured_content_becomes_json_text() -> None:
    reply = parse_reply('{"content": {"sum": 5}}', TOOLS)
    assert reply.content == '{"sum": 5}'


def test_parse_reply_answer_key_is_content() -> None:
    assert parse_reply('{"answer": "five"}', TOOLS).content == "five"


def test_parse_reply_plain_text_is_the_answer() -> None:
    reply = parse_reply("  The sum is 5.  ", TOOLS)
    assert reply.content == "The sum is 5."
    assert reply.tool_calls == []


def test_parse_reply_unrelated_json_is_the_answer() -> None:
    reply = parse_reply('{"sum": 5}', TOOLS)
    assert reply.content == '{"sum": 5}'
    assert reply.tool_calls == []


def test_parse_reply_empty_text() -> None:
    assert parse_reply("", TOOLS).content == ""
    assert parse_reply(None, TOOLS).content is None


def test_parse_reply_keeps_an_unknown_tool_call_and_reports_it() -> None:
    reply = parse_reply('{"tool_calls": [{"name": "rm_rf", "arguments": {}}]}', TOOLS, new_id=ids())
    assert reply.tool_calls == [ToolCall("call_1", "rm_rf", {})]
    assert reply.problems == ["unknown tool 'rm_rf' (available: add, search)"]


def test_parse_reply_keeps_invalid_arguments_and_reports_them() -> None:
    reply = parse_reply('{"tool_calls": [{"name": "add", "arguments": {"a": "x", "b": 1}}]}', TOOLS, new_id=ids())
    assert reply.tool_calls == [ToolCall("call_1", "add", {"a": "x", "b": 1})]
    assert reply.problems == ["invalid arguments for 'add' at a: 'x' is not of type 'integer'"]


def test_parse_reply_reports_a_call_without_a_name() -> None:
    reply = parse_reply('{"tool_calls": [{"arguments": {"a": 1}}]}', TOOLS)
    assert reply.tool_calls == []
    assert reply.problems == ['a tool call without a tool name: {"arguments": {"a": 1}}']
    assert reply.content == '{"tool_calls": [{"arguments": {"a": 1}}]}'


def test_parse_reply_recovers_the_complete_calls_of_a_cut_off_reply() -> None:
    # What a model cut by max_tokens in the middle of its third call leaves behind.
    text = (
        '{ "tool_calls": [ { "name": "add", "arguments": { "a": 2, "b": 3 } }, '
        '{ "name": "add", "arguments": { "a": 4, "b": 5 } }, { "name'
    )
    reply = parse_reply(text, TOOLS, new_id=ids())
    assert reply.tool_calls == [
        ToolCall("call_1", "add", {"a": 2, "b": 3}),
        ToolCall("call_2", "add", {"a": 4, "b": 5}),
    ]
    assert reply.content is None


def test_parse_reply_content_alongside_calls() -> None:
    reply = parse_reply(
        '{"content": "Adding.", "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}', TOOLS, new_id=ids()
    )
    assert reply.content == "Adding."
    assert reply.tool_calls == [ToolCall("call_1", "add", {"a": 1, "b": 2})]


@given(st.text(max_size=300))
def test_parse_reply_never_raises(text: str) -> None:
    reply = parse_reply(text, TOOLS)
    assert reply.content is not None or reply.tool_calls


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "search"]), st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
        min_size=1,
        max_size=3,
    )
)
def test_render_then_parse_round_trips(calls: list[tuple[str, dict[str, Any]]]) -> None:
    originals = [ToolCall(f"call_{i}", name, args) for i, (name, args) in enumerate(calls, 1)]
    reply = parse_reply(render_tool_calls(originals), TOOLS, new_id=ids())
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [(c.name, c.arguments) for c in originals]


# --- the reply schema -----------------------------------------------------------


def valid(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def test_reply_schema_auto_allows_calls_or_content() -> None:
    schema = reply_schema(TOOLS)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert valid(schema, {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]})
    assert valid(schema, {"tool_calls": [{"name": "search", "arguments": {"query": "x"}}]})
    assert valid(schema, {"content": "done"})
    assert not valid(schema, {"tool_calls": [{"name": "add", "arguments": {"a": "1", "b": 2}}]})
    assert not valid(schema, {"tool_calls": [{"name": "nope", "arguments": {}}]})
    assert not valid(schema, {"tool_calls": []})
    assert not valid(schema, {})


def test_reply_schema_required_allows_only_calls() -> None:
    schema = reply_schema(TOOLS, "required")
    assert valid(schema, {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]})
    assert not valid(schema, {"content": "done"})


def test_reply_schema_named_tool_allows_one_call_of_that_tool() -> None:
    schema = reply_schema(TOOLS, "search")
    assert schema["properties"]["tool_calls"]["maxItems"] == 1
    assert valid(schema, {"tool_calls": [{"name": "search", "arguments": {"query": "x"}}]})
    assert not valid(schema, {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]})
    assert not valid(schema, {"content": "done"})


def test_reply_schema_max_calls() -> None:
    schema = reply_schema(TOOLS, "auto", max_calls=1)
    one = {"name": "add", "arguments": {"a": 1, "b": 2}}
    assert valid(schema, {"tool_calls": [one]})
    assert not valid(schema, {"tool_calls": [one, one]})
    assert "maxItems" not in reply_schema(TOOLS)["anyOf"][0]["properties"]["tool_calls"]


def test_reply_schema_rejects_a_tool_choice_that_is_not_offered() -> None:
    with pytest.raises(ValueError, match="tool_choice names 'delete', which is not among the tools"):
        reply_schema(TOOLS, "delete")


def test_reply_schema_with_response_schema_constrains_the_content() -> None:
    answer = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}
    schema = reply_schema(TOOLS, "auto", answer)
    assert valid(schema, {"content": {"sum": 5}})
    assert not valid(schema, {"content": "five"})


def test_reply_schema_hoists_defs_so_references_resolve() -> None:
    point = ToolSpec(
        "plot",
        "Plot a point.",
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/Point"}},
            "required": ["p"],
            "$defs": {
                "Point": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                    "required": ["x", "y"],
                }
            },
        },
    )
    schema = reply_schema([point, ADD])
    assert set(schema["$defs"]) == {"plot__Point"}
    assert valid(schema, {"tool_calls": [{"name": "plot", "arguments": {"p": {"x": 1, "y": 2}}}]})
    assert not valid(schema, {"tool_calls": [{"name": "plot", "arguments": {"p": {"x": 1}}}]})


# --- instructions and the conversation ------------------------------------------


def test_tool_instructions_describe_tools_and_the_format() -> None:
    text = tool_instructions(TOOLS)
    assert "- add: Add two integers." in text
    assert json.dumps(ADD.parameters) in text
    assert '{"tool_calls": [{"name": "<tool name>", "arguments":' in text
    assert '{"content": "<your final answer>"}' in text


def test_tool_instructions_for_a_named_tool() -> None:
    text = tool_instructions(TOOLS, "add")
    assert "You must call the tool 'add' now." in text
    assert '{"content"' not in text


def test_tool_instructions_with_a_response_schema() -> None:
    text = tool_instructions(TOOLS, "auto", {"type": "integer"})
    assert 'schema: {"type": "integer"}' in text


def test_prompt_messages_appends_instructions_to_the_system_message() -> None:
    out = prompt_messages([system("Be brief."), user("2+3?")], TOOLS)
    assert [m.role for m in out] == ["system", "user"]
    assert out[0].content is not None
    assert out[0].content.startswith("Be brief.\n\nYou can call these tools:")
    assert out[1] == Message("user", "2+3?")


def test_prompt_messages_adds_a_system_message_when_there_is_none() -> None:
    out = prompt_messages([user("2+3?")], TOOLS)
    assert out[0].role == "system"
    assert out[0].content == tool_instructions(TOOLS)


def test_prompt_messages_rewrites_tool_calls_and_results() -> None:
    call = ToolCall("call_7", "add", {"a": 2, "b": 3})
    history = [
        user("2+3?"),
        assistant(None, [call]),
        tool_result(call, "5"),
        user("and now say it"),
    ]
    out = prompt_messages(history, TOOLS, "none")
    assert out == [
        Message("user", "2+3?"),
        Message("assistant", '{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}'),
        Message("user", "Result of tool add (call call_7):\n5\n\nand now say it"),
    ]


def test_prompt_messages_without_tools_only_converts() -> None:
    assert prompt_messages([system("S"), user("U")], []) == [Message("system", "S"), Message("user", "U")]
