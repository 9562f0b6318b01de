"""The openai backend against a real ``python -m llama_cpp.server`` serving the embedded Gemma 3 270M.

The server runs with ``--chat_format chatml-function-calling``: it keeps
system messages (where prompt-mode tool instructions go) and, when
``tool_choice`` names a function, constrains the arguments with a grammar built
from the tool's JSON schema, so even this small base model emits a valid call.
It accepts ``response_format`` only as ``{"type": "json_object", "schema": ...}``
(``json_schema`` fails its request validation with a 500), which exercises the
backend's schema fallback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from agorakit.core import errors
from agorakit.core.messages import system, user
from agorakit.models.base import ModelRequest, Sampling, ToolSpec
from agorakit.models.json_reply import validate_call
from agorakit.models.openai_backend import OpenAIModel
from agorakit.models.uri import resolve_model
from agorakit.trace import attributes as attr
from agorakit.trace.reader import load_run

pytestmark = pytest.mark.integration

ALIAS = "gemma-3-270m"  # the name the conftest's llama_server serves the model under

ADD = ToolSpec(
    "add",
    "Add two integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)


def greedy(max_tokens: int) -> Sampling:
    return Sampling(temperature=0.0, max_tokens=max_tokens, seed=1)


# The grammar allows integers of up to 16 digits, and this small model likes long
# runs of zeros: leave room for two of them so a call is never cut mid-number.
CALL_TOKENS = 64


def test_models_endpoint(llama_server: str) -> None:
    with urllib.request.urlopen(f"{llama_server}/models", timeout=5) as response:
        assert [m["id"] for m in json.load(response)["data"]] == [ALIAS]


async def test_plain_completion(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=60)
    result = await model.complete(ModelRequest([user("The capital of France is")], sampling=greedy(8)))
    assert isinstance(result.message.content, str)
    assert result.message.tool_calls == []
    assert result.finish_reason in ("stop", "length")
    assert result.model == ALIAS
    assert result.usage.calls == 1
    assert result.usage.input_tokens > 0
    assert 0 <= result.usage.output_tokens <= 8


async def test_streaming_completion(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=60)
    chunks = [c async for c in model.stream(ModelRequest([user("Count: one, two, three,")], sampling=greedy(8)))]
    final = chunks[-1].completion
    assert final is not None
    assert all(c.completion is None for c in chunks[:-1])
    assert "".join(c.delta for c in chunks) == (final.message.content or "")
    assert final.finish_reason in ("stop", "length")
    assert final.usage.calls == 1
    # llama_cpp.server ignores stream_options and sends no usage in streams: counted as 0.
    assert (final.usage.input_tokens, final.usage.output_tokens) == (0, 0)


async def test_native_tool_call(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=120, tool_mode="native")
    request = ModelRequest(
        [system("You are a calculator."), user("What is 2 plus 3? Use the add tool.")],
        tools=[ADD],
        tool_choice="add",
        sampling=greedy(CALL_TOKENS),
    )
    result = await model.complete(request)
    assert result.finish_reason == "tool_calls"
    assert len(result.message.tool_calls) == 1
    call = result.message.tool_calls[0]
    assert call.name == "add"
    assert validate_call(call, [ADD]) is None
    assert call.id


async def test_required_with_one_tool_is_sent_as_a_named_choice(llama_server: str) -> None:
    # chatml-function-calling fails on tool_choice="required"; the backend sends the equivalent named choice.
    model = OpenAIModel(ALIAS, llama_server, timeout=120)
    request = ModelRequest([user("Add 4 and 5.")], tools=[ADD], tool_choice="required", sampling=greedy(CALL_TOKENS))
    result = await model.complete(request)
    assert [c.name for c in result.message.tool_calls] == ["add"]
    assert validate_call(result.message.tool_calls[0], [ADD]) is None


async def test_native_tool_call_streamed(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=120, tool_mode="native")
    request = ModelRequest([user("What is 2 plus 3?")], tools=[ADD], tool_choice="add", sampling=greedy(CALL_TOKENS))
    chunks = [c async for c in model.stream(request)]
    final = chunks[-1].completion
    assert final is not None
    assert final.finish_reason == "tool_calls"
    assert [c.name for c in final.message.tool_calls] == ["add"]
    assert validate_call(final.message.tool_calls[0], [ADD]) is None


async def test_prompt_mode_tool_call_with_schema_fallback(llama_server: str) -> None:
    model = resolve_model(f"openai:{ALIAS}@{llama_server}?tools=prompt&timeout=120")
    assert isinstance(model, OpenAIModel)
    request = ModelRequest(
        [system("You are a calculator."), user("What is 2 plus 3? Use the add tool.")],
        tools=[ADD],
        tool_choice="add",
        sampling=greedy(CALL_TOKENS + 32),
    )
    result = await model.complete(request)
    # The server rejected response_format json_schema; the model now asks for json_object + schema.
    assert model.schema_style == "json_object"
    assert result.finish_reason == "tool_calls"
    assert len(result.message.tool_calls) == 1
    call = result.message.tool_calls[0]
    assert call.name == "add"
    assert validate_call(call, [ADD]) is None


async def test_prompt_mode_final_answer_when_the_model_may_answer(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=120, tool_mode="prompt", schema_mode="json_object")
    request = ModelRequest([user("Say hello.")], tools=[ADD], tool_choice="auto", sampling=greedy(40))
    result = await model.complete(request)
    # The grammar allows only the reply format: either valid calls, or a final answer.
    if result.message.tool_calls:
        assert all(validate_call(c, [ADD]) is None for c in result.message.tool_calls)
        assert result.finish_reason == "tool_calls"
    else:
        assert isinstance(result.message.content, str)


async def test_structured_output(llama_server: str) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    model = OpenAIModel(ALIAS, llama_server, timeout=120)
    request = ModelRequest([user("What is 2 plus 3?")], response_schema=schema, sampling=greedy(40))
    result = await model.complete(request)
    assert model.schema_style == "json_object"
    assert result.message.content is not None
    jsonschema.validate(json.loads(result.message.content), schema)


async def test_context_window_exceeded(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=60)
    long_prompt = "word " * 3000
    with pytest.raises(errors.ContextWindowExceeded, match="maximum context length is 2048"):
        await model.complete(ModelRequest([user(long_prompt)], sampling=greedy(8)))


async def test_unknown_route_is_an_unknown_model(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server.removesuffix("/v1"), timeout=30)  # forgot the /v1
    with pytest.raises(errors.UnknownModel, match="answered 404"):
        await model.complete(ModelRequest([user("hi")], sampling=greedy(4)))


def test_agora_run_answers_through_the_openai_backend(llama_server: str, tmp_path: Path) -> None:
    # Issue 9: this command hung for over 10 minutes against llama_cpp.server. Every model call
    # must succeed at its first attempt: no retry, and --timeout bounds each call in all.
    db = tmp_path / "traces.db"
    command = [
        sys.executable, "-m", "agorakit.cli.main", "run", "What is 17 * 23?",
        "--model", f"openai:{ALIAS}@{llama_server}", "--timeout", "120",
    ]  # fmt: skip
    env = {**os.environ, "AGORAKIT_HOME": str(tmp_path / "home"), "AGORAKIT_TRACE_DB": str(db), "NO_COLOR": "1"}
    env.pop("AGORAKIT_MODEL", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run id:" in done.stdout
    trace = load_run(db, "last")
    chats = [span for span in trace.spans if span.operation == attr.OP_CHAT]
    assert chats
    assert all(span.status == "ok" for span in chats)
    assert [e for e in trace.events if e.name == "retry"] == []
    assert trace.summary.status == "ok"
