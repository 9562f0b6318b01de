"""The openai backend against a real HTTP server on loopback (tests/fault_server.py), no mocks."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from typing import Any

import pytest

from agorakit.core import errors
from agorakit.core.messages import Message, ToolCall, assistant, system, tool_result, user
from agorakit.models.base import ChatModel, Completion, ModelRequest, Sampling, StreamChunk, ToolSpec
from agorakit.models.json_reply import INVALID_JSON_KEY
from agorakit.models.openai_backend import NO_KEY, OPENAI_BASE_URL, OpenAIModel, from_uri
from agorakit.models.openai_errors import retry_after
from agorakit.models.uri import resolve_model
from fault_server import (
    FaultServer,
    completion,
    delayed,
    error,
    malformed,
    rate_limited,
    raw,
    stalled_stream,
    tool_call,
    tool_calls,
    truncated_stream,
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
SEARCH = ToolSpec("search", "Search.", {"type": "object", "properties": {"q": {"type": "string"}}})


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def model_for(server: FaultServer, **options: Any) -> OpenAIModel:
    options.setdefault("timeout", 5.0)
    return OpenAIModel("fault-model", server.base_url, **options)


def ask(text: str = "Hi", **kwargs: Any) -> ModelRequest:
    return ModelRequest([user(text)], **kwargs)


async def collect(model: OpenAIModel, request: ModelRequest) -> list[StreamChunk]:
    return [chunk async for chunk in model.stream(request)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- construction from URIs -------------------------------------------------------


def test_hosted_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = from_uri("gpt-4o-mini", None)
    assert isinstance(model, ChatModel)
    assert (model.uri, model.provider, model.model_name) == ("openai:gpt-4o-mini", "openai", "gpt-4o-mini")
    assert model.queue_key == OPENAI_BASE_URL == "https://api.openai.com/v1"
    assert model.hosted is True


def test_hosted_uri_without_a_key_raises_missing_api_key() -> None:
    with pytest.raises(errors.MissingAPIKey, match="openai:gpt-4o-mini needs an API key"):
        from_uri("gpt-4o-mini", None)


def test_custom_base_url_needs_no_key() -> None:
    model = from_uri("qwen2.5-7b", "http://localhost:8000/v1/")
    assert model.uri == "openai:qwen2.5-7b@http://localhost:8000/v1"
    assert model.queue_key == "http://localhost:8000/v1"
    assert model.hosted is False


def test_the_official_url_written_out_is_hosted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert from_uri("gpt-4o-mini", "https://api.openai.com/v1").hosted is True


async def test_a_custom_server_gets_the_placeholder_key(fault_server: FaultServer) -> None:
    fault_server.script(completion("ok"))
    await from_uri("fault-model", fault_server.base_url).complete(ask())
    assert fault_server.chat_requests[0].headers["authorization"] == f"Bearer {NO_KEY}"


async def test_a_custom_server_gets_openai_api_key_when_set(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    fault_server.script(completion("ok"))
    await from_uri("fault-model", fault_server.base_url).complete(ask())
    assert fault_server.chat_requests[0].headers["authorization"] == "Bearer sk-from-env"


def test_uri_options() -> None:
    model = from_uri("foo", "http://127.0.0.1:8080/v1", tools="prompt", schema="json_object", timeout="2.5")
    assert (model.tool_mode, model.schema_mode, model.timeout) == ("prompt", "json_object", 2.5)
    assert model.uri == "openai:foo@http://127.0.0.1:8080/v1?tools=prompt&schema=json_object&timeout=2.5"


def test_uri_query_left_on_the_base_url() -> None:
    model = from_uri("foo", "http://127.0.0.1:8080/v1?tools=prompt")
    assert model.tool_mode == "prompt"
    assert model.queue_key == "http://127.0.0.1:8080/v1"


def test_the_resolver_builds_an_openai_model() -> None:
    model = resolve_model("openai:foo@http://127.0.0.1:8080/v1?tools=prompt")
    assert isinstance(model, OpenAIModel)
    assert (model.model_name, model.queue_key, model.tool_mode) == ("foo", "http://127.0.0.1:8080/v1", "prompt")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tools": "sometimes"}, "unknown tools mode 'sometimes'"),
        ({"schema": "xml"}, "unknown schema mode 'xml'"),
        ({"timeout": "soon"}, "timeout must be a number of seconds, not 'soon'"),
        ({"colour": "blue"}, "unknown option 'colour' for an openai: model"),
    ],
)
def test_bad_uri_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidModelURI, match=message):
        from_uri("foo", "http://127.0.0.1:8080/v1", **options)


# --- plain completions ------------------------------------------------------------


async def test_complete(fault_server: FaultServer) -> None:
    fault_server.script(completion("Hello there.", usage=(12, 4)))
    result = await model_for(fault_server).complete(ask("Hi"))
    assert result.message == Message("assistant", "Hello there.")
    assert result.finish_reason == "stop"
    assert result.model == "fault-model"
    assert (result.usage.calls, result.usage.input_tokens, result.usage.output_tokens) == (1, 12, 4)
    assert 0 < result.usage.latency_s < 5
    assert fault_server.count == 1
    assert fault_server.chat_requests[0].body == {
        "model": "fault-model",
        "messages": [{"role": "user", "content": "Hi"}],
    }


async def test_request_mapping(fault_server: FaultServer) -> None:
    call = ToolCall("call_9", "add", {"a": 2, "b": 3})
    request = ModelRequest(
        [
            system("Be exact."),
            user("2+3?", name="Ada Lovelace"),
            assistant(None, [call], name="solver"),
            tool_result(call, "5"),
            assistant("It is 5."),
        ],
        tools=[ADD, SEARCH],
        tool_choice="add",
        sampling=Sampling(temperature=0.2, top_p=0.9, max_tokens=16, seed=7, stop=["END"]),
    )
    fault_server.script(completion("ok"))
    await model_for(fault_server).complete(request)
    assert fault_server.chat_requests[0].body == {
        "model": "fault-model",
        "messages": [
            {"role": "system", "content": "Be exact."},
            {"role": "user", "content": "2+3?", "name": "Ada_Lovelace"},
            {
                "role": "assistant",
                "content": "",  # not null: llama_cpp.server rejects it
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
                ],
                "name": "solver",
            },
            {"role": "tool", "tool_call_id": "call_9", "content": "5"},
            {"role": "assistant", "content": "It is 5."},
        ],
        "tools": [ADD.to_openai(), SEARCH.to_openai()],
        "tool_choice": {"type": "function", "function": {"name": "add"}},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 16,
        "seed": 7,
        "stop": ["END"],
    }


async def test_invalid_arguments_are_sent_back_verbatim(fault_server: FaultServer) -> None:
    call = ToolCall("call_1", "add", {INVALID_JSON_KEY: '{"a": 1,'})
    fault_server.script(completion("ok"))
    await model_for(fault_server).complete(ModelRequest([user("x"), assistant(None, [call])]))
    sent = fault_server.chat_requests[0].body["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert sent == '{"a": 1,'


@pytest.mark.parametrize(
    ("tools", "choice", "expected"),
    [
        ([ADD, SEARCH], "auto", "auto"),
        ([ADD, SEARCH], "none", "none"),
        ([ADD, SEARCH], "required", "required"),
        ([ADD], "required", {"type": "function", "function": {"name": "add"}}),
        ([ADD, SEARCH], "search", {"type": "function", "function": {"name": "search"}}),
    ],
)
async def test_tool_choice_mapping(
    fault_server: FaultServer, tools: list[ToolSpec], choice: str, expected: Any
) -> None:
    fault_server.script(completion("ok"))
    await model_for(fault_server).complete(ask(tools=tools, tool_choice=choice))
    assert fault_server.chat_requests[0].body["tool_choice"] == expected


async def test_a_tool_choice_that_is_not_offered_is_refused_before_sending(fault_server: FaultServer) -> None:
    with pytest.raises(errors.ModelRequestError, match="tool_choice names 'delete'"):
        await model_for(fault_server).complete(ask(tools=[ADD], tool_choice="delete"))
    assert fault_server.count == 0


async def test_response_schema_is_sent_as_json_schema(fault_server: FaultServer) -> None:
    schema = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}
    fault_server.script(completion('{"sum": 5}'))
    result = await model_for(fault_server).complete(ask(response_schema=schema))
    assert result.message.content == '{"sum": 5}'
    assert fault_server.chat_requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema, "strict": False},
    }


def test_the_hosted_api_gets_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    plan = from_uri("gpt-4o-mini", None)._plan(ask(sampling=Sampling(max_tokens=32)), stream=False)
    assert plan.params["max_completion_tokens"] == 32
    assert "max_tokens" not in plan.params


@pytest.mark.parametrize(("server_reason", "expected"), [("length", "length"), ("content_filter", "error")])
async def test_finish_reasons(fault_server: FaultServer, server_reason: str, expected: str) -> None:
    fault_server.script(completion("cut", finish_reason=server_reason))
    result = await model_for(fault_server).complete(ask())
    assert result.finish_reason == expected


async def test_a_reply_without_usage_counts_zero_tokens(fault_server: FaultServer) -> None:
    fault_server.script(completion("ok", usage=None))
    result = await model_for(fault_server).complete(ask())
    assert (result.usage.calls, result.usage.input_tokens, result.usage.output_tokens) == (1, 0, 0)


# --- tool calls -------------------------------------------------------------------


async def test_tool_call(fault_server: FaultServer) -> None:
    fault_server.script(tool_call("add", {"a": 2, "b": 3}, call_id="call_abc"))
    result = await model_for(fault_server).complete(ask(tools=[ADD]))
    assert result.message == Message("assistant", None, [ToolCall("call_abc", "add", {"a": 2, "b": 3})])
    assert result.finish_reason == "tool_calls"


async def test_several_tool_calls(fault_server: FaultServer) -> None:
    fault_server.script(tool_calls([("add", {"a": 1, "b": 2}, "c1"), ("search", {"q": "cats"}, "c2")]))
    result = await model_for(fault_server).complete(ask(tools=[ADD, SEARCH]))
    assert result.message.tool_calls == [
        ToolCall("c1", "add", {"a": 1, "b": 2}),
        ToolCall("c2", "search", {"q": "cats"}),
    ]


async def test_tool_call_with_invalid_json_arguments_is_kept(fault_server: FaultServer) -> None:
    fault_server.script(tool_call("add", '{"a": 2, "b": ', call_id="c1"))
    result = await model_for(fault_server).complete(ask(tools=[ADD]))
    assert result.message.tool_calls == [ToolCall("c1", "add", {INVALID_JSON_KEY: '{"a": 2, "b": '})]
    assert result.finish_reason == "tool_calls"


async def test_tool_call_to_an_unknown_tool_is_passed_on(fault_server: FaultServer) -> None:
    fault_server.script(tool_call("delete_everything", {"really": True}, call_id="c1"))
    result = await model_for(fault_server).complete(ask(tools=[ADD]))
    assert result.message.tool_calls == [ToolCall("c1", "delete_everything", {"really": True})]


async def test_tool_calls_reported_with_finish_reason_stop_still_finish_as_tool_calls(
    fault_server: FaultServer,
) -> None:
    fault_server.script(tool_call("add", {"a": 1, "b": 1}, finish_reason="stop"))
    result = await model_for(fault_server).complete(ask(tools=[ADD]))
    assert result.finish_reason == "tool_calls"


# --- streaming --------------------------------------------------------------------


async def test_stream(fault_server: FaultServer) -> None:
    fault_server.script(completion("Streaming works fine.", usage=(9, 5)))
    chunks = await collect(model_for(fault_server), ask())
    deltas = [c.delta for c in chunks[:-1]]
    assert deltas == ["Stre", "amin", "g wo", "rks ", "fine", "."]
    assert all(c.completion is None for c in chunks[:-1])
    final = chunks[-1].completion
    assert final is not None
    assert final.message == Message("assistant", "Streaming works fine.")
    assert final.finish_reason == "stop"
    assert (final.usage.calls, final.usage.input_tokens, final.usage.output_tokens) == (1, 9, 5)
    body = fault_server.chat_requests[0].body
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})
    assert fault_server.count == 1


async def test_stream_accumulates_tool_call_deltas(fault_server: FaultServer) -> None:
    fault_server.script(
        tool_calls([("add", {"a": 12, "b": 30}, "c1"), ("search", {"q": "long query text"}, "c2")], usage=(20, 8))
    )
    chunks = await collect(model_for(fault_server), ask(tools=[ADD, SEARCH]))
    assert len(chunks) == 1
    final = chunks[0].completion
    assert final is not None
    assert final.message.tool_calls == [
        ToolCall("c1", "add", {"a": 12, "b": 30}),
        ToolCall("c2", "search", {"q": "long query text"}),
    ]
    assert final.finish_reason == "tool_calls"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 8)


async def test_stream_without_usage_counts_zero_tokens(fault_server: FaultServer) -> None:
    fault_server.script(completion("no usage here", stream_usage=False))
    chunks = await collect(model_for(fault_server), ask())
    final = chunks[-1].completion
    assert final is not None
    assert final.message.content == "no usage here"
    assert (final.usage.calls, final.usage.input_tokens, final.usage.output_tokens) == (1, 0, 0)


async def test_stream_that_ends_cleanly_without_finish_reason_is_interrupted(fault_server: FaultServer) -> None:
    fault_server.script(truncated_stream("Hello, this is cut"))
    with pytest.raises(errors.StreamInterrupted, match="ended without a finish reason"):
        await collect(model_for(fault_server), ask())
    assert fault_server.count == 1


async def test_stream_whose_connection_breaks_is_interrupted(fault_server: FaultServer) -> None:
    fault_server.script(truncated_stream("Hello, this is cut", abrupt=True))
    with pytest.raises(errors.StreamInterrupted, match="broke off"):
        await collect(model_for(fault_server), ask())
    assert fault_server.count == 1


async def test_stream_that_stalls_past_the_timeout(fault_server: FaultServer) -> None:
    fault_server.script(stalled_stream("Hello", stall=5.0))
    started = time.monotonic()
    with pytest.raises(errors.ModelTimeout):
        await collect(model_for(fault_server, timeout=0.3), ask())
    assert time.monotonic() - started < 3.0


async def test_stream_ending_after_finish_reason_without_done_is_complete(fault_server: FaultServer) -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"content": "Done"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    fault_server.script(raw(body, content_type="text/event-stream"))
    chunks = await collect(model_for(fault_server), ask())
    final = chunks[-1].completion
    assert final is not None
    assert (final.message.content, final.finish_reason) == ("Done", "stop")


async def test_stream_error_event(fault_server: FaultServer) -> None:
    body = 'data: {"error": {"message": "out of memory", "type": "server_error"}}\n\n'
    fault_server.script(raw(body, content_type="text/event-stream"))
    with pytest.raises(errors.ModelServerError, match="reported an error mid-stream: out of memory"):
        await collect(model_for(fault_server), ask())


async def test_stream_request_answered_in_one_piece(fault_server: FaultServer) -> None:
    body = {
        "model": "fault-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    fault_server.script(raw(json.dumps(body)))
    chunks = await collect(model_for(fault_server), ask())
    assert [c.delta for c in chunks] == ["whole", ""]
    final = chunks[-1].completion
    assert final is not None
    assert (final.message.content, final.usage.input_tokens, final.usage.output_tokens) == ("whole", 3, 1)


# --- errors: exactly one request each, typed --------------------------------------


async def test_rate_limited_with_retry_after_seconds(fault_server: FaultServer) -> None:
    fault_server.script(rate_limited(retry_after="2"))
    with pytest.raises(errors.RateLimited) as caught:
        await model_for(fault_server).complete(ask())
    assert caught.value.retry_after == 2.0
    assert isinstance(caught.value, errors.TransientModelError)
    assert fault_server.count == 1


async def test_rate_limited_with_retry_after_ms(fault_server: FaultServer) -> None:
    fault_server.script(rate_limited(retry_after="9", retry_after_ms="1500"))
    with pytest.raises(errors.RateLimited) as caught:
        await model_for(fault_server).complete(ask())
    assert caught.value.retry_after == 1.5


async def test_rate_limited_while_streaming(fault_server: FaultServer) -> None:
    fault_server.script(rate_limited(retry_after="3"))
    with pytest.raises(errors.RateLimited) as caught:
        await collect(model_for(fault_server), ask())
    assert caught.value.retry_after == 3.0
    assert fault_server.count == 1


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after({"retry-after": when})
    assert seconds is not None
    assert 28.0 <= seconds <= 30.0
    assert retry_after({"retry-after": email.utils.formatdate(time.time() - 60, usegmt=True)}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


async def test_quota_exhausted_is_not_transient(fault_server: FaultServer) -> None:
    fault_server.script(rate_limited(retry_after=None, code="insufficient_quota"))
    with pytest.raises(errors.ModelRequestError, match="no quota left") as caught:
        await model_for(fault_server).complete(ask())
    assert not isinstance(caught.value, errors.TransientModelError)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(fault_server: FaultServer, status: int) -> None:
    fault_server.script(error(status, "overloaded", type="server_error"))
    with pytest.raises(errors.ModelServerError, match=f"answered {status}: overloaded") as caught:
        await model_for(fault_server).complete(ask())
    assert caught.value.status == status
    assert fault_server.count == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_api_key(fault_server: FaultServer, status: int) -> None:
    fault_server.script(error(status, "Incorrect API key provided", code="invalid_api_key"))
    with pytest.raises(errors.ModelRequestError, match="rejected the API key") as caught:
        await model_for(fault_server).complete(ask())
    assert "OPENAI_API_KEY" in caught.value.hint
    assert not isinstance(caught.value, errors.TransientModelError)
    assert fault_server.count == 1


async def test_unknown_model(fault_server: FaultServer) -> None:
    fault_server.script(error(404, "The model `nope` does not exist", code="model_not_found"))
    with pytest.raises(errors.UnknownModel, match="answered 404 for model 'fault-model'") as caught:
        await model_for(fault_server).complete(ask())
    assert f"GET {fault_server.base_url}/models" in caught.value.hint


async def test_context_window_exceeded(fault_server: FaultServer) -> None:
    message = (
        "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens "
        "(3900 in the messages, 100 in the completion). Please reduce the length of the messages or completion."
    )
    fault_server.script(error(400, message, code="context_length_exceeded"))
    with pytest.raises(errors.ContextWindowExceeded, match="maximum context length is 2048"):
        await model_for(fault_server).complete(ask())
    assert fault_server.count == 1


async def test_other_bad_request(fault_server: FaultServer) -> None:
    fault_server.script(error(400, "temperature must be at most 2"))
    with pytest.raises(errors.ModelRequestError, match="answered 400: temperature must be at most 2") as caught:
        await model_for(fault_server).complete(ask())
    assert type(caught.value) is errors.ModelRequestError
    assert fault_server.count == 1


async def test_timeout(fault_server: FaultServer) -> None:
    fault_server.script(delayed(5.0, completion("too late")))
    started = time.monotonic()
    with pytest.raises(errors.ModelTimeout, match=r"did not answer within the timeout \(0.3 s\)"):
        await model_for(fault_server, timeout=0.3).complete(ask())
    assert time.monotonic() - started < 3.0
    assert fault_server.count == 1


async def test_malformed_json_body(fault_server: FaultServer) -> None:
    fault_server.script(malformed())
    with pytest.raises(errors.ModelServerError, match="answered 200 with a body that is not a chat completion") as e:
        await model_for(fault_server).complete(ask())
    assert e.value.status == 200
    assert isinstance(e.value, errors.TransientModelError)
    assert fault_server.count == 1


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        ('{"id": "x", "object": "chat.completion"}', "application/json", "no choices"),
        ("<html>Bad gateway</html>", "text/html", "not JSON"),
        ('{"choices": [{"index": 0}]}', "application/json", "no message in the first choice"),
        ("[1, 2]", "application/json", "not a JSON object"),
    ],
)
async def test_bodies_that_are_not_completions(
    fault_server: FaultServer, body: str, content_type: str, why: str
) -> None:
    fault_server.script(raw(body, content_type=content_type))
    with pytest.raises(errors.ModelServerError, match=f"not a chat completion \\({why}\\)"):
        await model_for(fault_server).complete(ask())


async def test_unreachable_server() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    model = OpenAIModel("m", base_url, timeout=2.0)
    with pytest.raises(errors.ModelConnectionError, match=f"cannot reach {base_url}"):
        await model.complete(ask())
    with pytest.raises(errors.ModelConnectionError, match=f"cannot reach {base_url}"):
        await collect(model, ask())


# --- tool modes -------------------------------------------------------------------


async def test_prompt_mode_describes_tools_and_parses_the_json_reply(fault_server: FaultServer) -> None:
    fault_server.script(
        completion('Sure.\n```json\n{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}\n```')
    )
    model = model_for(fault_server, tool_mode="prompt")
    result = await model.complete(ModelRequest([system("Be exact."), user("2+3?")], tools=[ADD]))
    assert [(c.name, c.arguments) for c in result.message.tool_calls] == [("add", {"a": 2, "b": 3})]
    assert result.message.content is None
    assert result.finish_reason == "tool_calls"
    body = fault_server.chat_requests[0].body
    assert "tools" not in body and "tool_choice" not in body
    assert body["messages"][0]["content"].startswith(
        "Be exact.\n\nYou can call these tools:\n\n- add: Add two integers."
    )
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["anyOf"][1]["required"] == ["content"]


async def test_prompt_mode_final_answer(fault_server: FaultServer) -> None:
    fault_server.script(completion('{"content": "It is 5."}'))
    result = await model_for(fault_server, tool_mode="prompt").complete(ask(tools=[ADD]))
    assert result.message == Message("assistant", "It is 5.")
    assert result.finish_reason == "stop"


async def test_prompt_mode_keeps_the_complete_calls_of_a_cut_off_reply(fault_server: FaultServer) -> None:
    cut = '{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}, {"name": "ad'
    fault_server.script(completion(cut, finish_reason="length"))
    result = await model_for(fault_server, tool_mode="prompt").complete(ask(tools=[ADD]))
    assert [(c.name, c.arguments) for c in result.message.tool_calls] == [("add", {"a": 2, "b": 3})]
    assert result.finish_reason == "tool_calls"


async def test_prompt_mode_rewrites_the_tool_history(fault_server: FaultServer) -> None:
    call = ToolCall("call_1", "add", {"a": 2, "b": 3})
    fault_server.script(completion('{"content": "5"}'))
    request = ModelRequest([user("2+3?"), assistant(None, [call]), tool_result(call, "5")], tools=[ADD])
    await model_for(fault_server, tool_mode="prompt").complete(request)
    messages = fault_server.chat_requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == '{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}'
    assert messages[3]["content"] == "Result of tool add (call call_1):\n5"


async def test_prompt_mode_stream_hides_the_json_and_ends_with_the_calls(fault_server: FaultServer) -> None:
    fault_server.script(completion('{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}]}'))
    chunks = await collect(model_for(fault_server, tool_mode="prompt"), ask(tools=[ADD]))
    assert len(chunks) == 1
    final = chunks[0].completion
    assert final is not None
    assert [(c.name, c.arguments) for c in final.message.tool_calls] == [("add", {"a": 1, "b": 1})]


async def test_prompt_mode_stream_gives_the_final_answer_as_one_delta(fault_server: FaultServer) -> None:
    fault_server.script(completion('{"content": "It is 2."}'))
    chunks = await collect(model_for(fault_server, tool_mode="prompt"), ask(tools=[ADD]))
    assert [c.delta for c in chunks] == ["It is 2.", ""]


async def test_auto_mode_falls_back_to_prompt_tools_once(fault_server: FaultServer) -> None:
    fault_server.script(
        error(400, "this model does not support tools"),
        completion('{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}'),
        completion('{"content": "5"}'),
    )
    model = model_for(fault_server)
    first = await model.complete(ask(tools=[ADD]))
    assert [(c.name, c.arguments) for c in first.message.tool_calls] == [("add", {"a": 2, "b": 3})]
    assert model.native_tools_rejected is True
    assert fault_server.count == 2
    assert "tools" in fault_server.chat_requests[0].body
    assert "tools" not in fault_server.chat_requests[1].body
    second = await model.complete(ask(tools=[ADD]))  # straight to prompt mode: one request
    assert second.message.content == "5"
    assert fault_server.count == 3


async def test_native_mode_does_not_fall_back(fault_server: FaultServer) -> None:
    fault_server.script(error(400, "this model does not support tools"))
    with pytest.raises(errors.ModelRequestError, match="does not support tools"):
        await model_for(fault_server, tool_mode="native").complete(ask(tools=[ADD]))
    assert fault_server.count == 1


async def test_an_unrelated_400_does_not_switch_tool_mode(fault_server: FaultServer) -> None:
    fault_server.script(error(400, "temperature must be at most 2"))
    model = model_for(fault_server)
    with pytest.raises(errors.ModelRequestError):
        await model.complete(ask(tools=[ADD]))
    assert model.native_tools_rejected is False
    assert fault_server.count == 1


LLAMA_CPP_SERVER_REJECTION = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


async def test_schema_falls_back_to_json_object(fault_server: FaultServer) -> None:
    schema = {"type": "object", "properties": {"sum": {"type": "integer"}}}
    fault_server.script(error(500, LLAMA_CPP_SERVER_REJECTION, type="internal_server_error"), completion('{"sum": 5}'))
    model = model_for(fault_server)
    result = await model.complete(ask(response_schema=schema))
    assert result.message.content == '{"sum": 5}'
    assert model.schema_style == "json_object"
    assert fault_server.count == 2
    # llama.cpp turns the schema into a grammar: it goes bounded, like the embedded model's.
    bounded = {**schema, "additionalProperties": False}
    assert fault_server.chat_requests[1].body["response_format"] == {"type": "json_object", "schema": bounded}


async def test_schema_falls_back_to_the_prompt_when_no_form_is_accepted(fault_server: FaultServer) -> None:
    schema = {"type": "object", "properties": {"sum": {"type": "integer"}}}
    fault_server.script(
        error(400, "response_format json_schema is not supported"),
        error(400, "response_format json_object is not supported"),
        completion('{"sum": 5}'),
    )
    model = model_for(fault_server)
    result = await model.complete(ask("2+3?", response_schema=schema))
    assert result.message.content == '{"sum": 5}'
    assert model.schema_style == "none"
    last = fault_server.chat_requests[2].body
    assert "response_format" not in last
    assert last["messages"][0] == {
        "role": "system",
        "content": "Reply with only a JSON value matching this JSON schema:\n" + json.dumps(schema),
    }


async def test_a_plain_500_is_not_a_capability_rejection(fault_server: FaultServer) -> None:
    fault_server.script(error(500, "CUDA error", type="server_error"))
    model = model_for(fault_server)
    with pytest.raises(errors.ModelServerError):
        await model.complete(ask(response_schema={"type": "object"}))
    assert model.schema_style == "json_schema"
    assert fault_server.count == 1


async def test_fixed_schema_mode_json_object(fault_server: FaultServer) -> None:
    fault_server.script(completion("{}"))
    await model_for(fault_server, schema_mode="json_object").complete(ask(response_schema={"type": "object"}))
    assert fault_server.chat_requests[0].body["response_format"] == {
        "type": "json_object",
        "schema": {"type": "object"},
    }


# --- the client and event loops ---------------------------------------------------


def test_one_model_serves_several_event_loops(fault_server: FaultServer) -> None:
    fault_server.script(completion("one"), completion("two"))
    model = model_for(fault_server)
    first: Completion = asyncio.run(model.complete(ask()))
    second: Completion = asyncio.run(model.complete(ask()))
    assert (first.message.content, second.message.content) == ("one", "two")


async def test_aclose(fault_server: FaultServer) -> None:
    fault_server.script(completion("one"), completion("two"))
    model = model_for(fault_server)
    await model.complete(ask())
    await model.aclose()
    assert (await model.complete(ask())).message.content == "two"


async def test_a_json_object_schema_bounds_its_free_strings(fault_server: FaultServer) -> None:
    # Unbounded, a 270M model behind llama_cpp.server wrote a verdict's reason until max_tokens and never closed it.
    schema = {"type": "object", "properties": {"reason": {"type": "string"}, "side": {"enum": ["a", "b"]}}}
    fault_server.script(completion('{"reason": "r", "side": "a"}'))
    model = model_for(fault_server, schema_mode="json_object")
    await model.complete(ask(response_schema=schema))
    sent = fault_server.chat_requests[0].body["response_format"]["schema"]
    reason = {"type": "string", "maxLength": 200, "minLength": 1}
    assert sent["properties"] == {"reason": reason, "side": {"enum": ["a", "b"]}}
    assert sent["additionalProperties"] is False
