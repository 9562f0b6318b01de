"""The real embedded model (Gemma 3 270M on llama.cpp), end to end."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jsonschema
import pytest

from agorakit import Agent, ReAct
from agorakit.core import errors
from agorakit.core.messages import Message
from agorakit.kernel import NO_RETRY, Kernel
from agorakit.models import ModelRequest, Sampling, resolve_model
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.tools import builtin_tools, calculator
from agorakit.trace.reader import load_run
from agorakit.trace.store import open_store

pytestmark = pytest.mark.integration

QUESTION = "What is 17 * 23?"


async def test_constrained_decoding_emits_a_valid_calculator_call(gemma: LlamaCppModel) -> None:
    request = ModelRequest(
        [Message("system", "You are a helpful assistant."), Message("user", QUESTION)],
        tools=[calculator.spec],
        tool_choice="required",
    )
    completion = await gemma.complete(request)
    assert completion.finish_reason == "tool_calls"
    (call,) = completion.message.tool_calls
    assert call.name == "calculator"
    jsonschema.validate(call.arguments, calculator.spec.parameters)
    assert set(call.arguments) == {"expression"}
    assert completion.usage.input_tokens > 50
    assert completion.usage.output_tokens > 5


async def test_auto_choice_always_yields_a_call_or_an_answer(gemma: LlamaCppModel) -> None:
    specs = [t.spec for t in builtin_tools()]
    for question in ("Who wrote Hamlet?", "What time is it in Tokyo?", QUESTION):
        request = ModelRequest([Message("user", question)], tools=specs, sampling=Sampling(max_tokens=96))
        completion = await gemma.complete(request)
        message = completion.message
        if message.tool_calls:
            (call,) = message.tool_calls
            tool = next(t for t in builtin_tools() if t.name == call.name)
            jsonschema.validate(call.arguments, tool.spec.parameters)
        else:
            assert isinstance(message.content, str)


async def test_structured_output_matches_the_schema(gemma: LlamaCppModel) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}, "population_millions": {"type": "number"}},
        "required": ["city", "population_millions"],
    }
    request = ModelRequest(
        [Message("user", "Name a large city and its population in millions.")],
        response_schema=schema,
        sampling=Sampling(max_tokens=64),
    )
    completion = await gemma.complete(request)
    value = json.loads(completion.message.content or "")
    jsonschema.validate(value, schema)


async def test_agent_run_and_its_trace_agree(gemma: LlamaCppModel, tmp_path: Path) -> None:
    db = tmp_path / "trace.db"
    agent = Agent(
        "solver",
        gemma,
        instructions="You are a careful assistant.",
        tools=[calculator],
        max_steps=3,
        strategy=ReAct(tool_first=True, answer_after_tools=True),
        trace=db,
    )
    result = await agent.run(QUESTION)

    first = result.messages[2]
    assert first.role == "assistant" and first.tool_calls[0].name == "calculator"
    observation = result.messages[3]
    assert observation.role == "tool"
    assert observation.content == calculator.fn(**first.tool_calls[0].arguments)
    assert result.stop_reason == "final_answer"
    assert result.usage.calls == result.steps

    assert open_store(db).flush(timeout=10)
    trace = load_run(db, result.run_id)
    root = next(s for s in trace.spans if s.parent_id is None)
    assert root.name == "invoke_agent solver"
    assert root.attributes["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert root.attributes["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    assert root.attributes["agorakit.stop_reason"] == result.stop_reason
    chats = [s for s in trace.spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == result.usage.calls
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in chats) == result.usage.input_tokens
    assert sum(s.attributes["gen_ai.usage.output_tokens"] for s in chats) == result.usage.output_tokens
    assert all(s.attributes["gen_ai.request.model"] == "gemma-3-270m" for s in chats)
    tools = [s for s in trace.spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert tools[0].attributes["gen_ai.tool.name"] == "calculator"
    assert tools[0].attributes["gen_ai.tool.call.id"] == first.tool_calls[0].id
    messages = [e for e in trace.events if e.name.startswith("gen_ai.") and e.name.endswith(".message")]
    assert len(messages) == len(result.messages)
    assert all(s.status == "ok" and s.end_ns is not None for s in trace.spans)


async def test_streaming_deltas_add_up_to_the_completion(gemma: LlamaCppModel) -> None:
    request = ModelRequest([Message("user", "The capital of France is")], sampling=Sampling(max_tokens=12))
    chunks = [chunk async for chunk in Kernel().stream(gemma, request)]
    final = chunks[-1].completion
    assert final is not None
    assert "".join(c.delta for c in chunks).strip() == final.message.content
    assert final.usage.output_tokens <= 12


async def test_a_timeout_stops_generation_and_the_model_stays_usable(gemma: LlamaCppModel) -> None:
    long = ModelRequest([Message("user", "Write a very long story.")], sampling=Sampling(max_tokens=2000))
    with pytest.raises(errors.ModelTimeout):
        await Kernel(retry=NO_RETRY, timeout=0.5).complete(gemma, long)
    # The worker stops within a token, so the next call does not wait for 2000 tokens.
    started = time.monotonic()
    short = ModelRequest([Message("user", "Hi")], sampling=Sampling(max_tokens=4))
    await Kernel().complete(gemma, short)
    assert time.monotonic() - started < 20


async def test_cancellation_propagates(gemma: LlamaCppModel) -> None:
    long = ModelRequest([Message("user", "Count to one thousand.")], sampling=Sampling(max_tokens=2000))
    task = asyncio.create_task(Kernel().complete(gemma, long))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_prompt_longer_than_the_context_window(model_cache: Path, tmp_path: Path) -> None:
    small = resolve_model("llamacpp:gemma-3-270m?n_ctx=256")
    agent = Agent("reader", small, trace=tmp_path / "t.db", kernel=Kernel(retry=NO_RETRY))
    with pytest.raises(errors.ContextWindowExceeded, match=r"holds 256") as caught:
        await agent.run("word " * 1000)
    assert "shorten the prompt" in caught.value.hint
    trace = load_run(tmp_path / "t.db", "last")
    chat = next(s for s in trace.spans if s.name.startswith("chat"))
    assert chat.status == "error"
    assert chat.attributes["error.type"] == "ContextWindowExceeded"


async def test_a_tool_call_cut_off_by_max_tokens_is_a_clear_error(gemma: LlamaCppModel) -> None:
    request = ModelRequest(
        [Message("user", QUESTION)], tools=[calculator.spec], tool_choice="required", sampling=Sampling(max_tokens=3)
    )
    with pytest.raises(errors.ModelResponseError, match="reached max_tokens before finishing its tool call") as caught:
        await gemma.complete(request)
    assert "max_tokens" in caught.value.hint


async def test_a_repeating_model_still_closes_its_json(gemma: LlamaCppModel) -> None:
    # Strings without a maxLength get one in the grammar, so even a model that
    # repeats itself inside an argument ends the call well before max_tokens.
    from agorakit.tools import tool

    @tool
    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())

    request = ModelRequest(
        [Message("user", "How many words are in 'the quick brown fox'?")],
        tools=[word_count.spec],
        tool_choice="required",
        sampling=Sampling(max_tokens=256),
    )
    completion = await gemma.complete(request)
    (call,) = completion.message.tool_calls
    assert call.name == "word_count"
    assert len(call.arguments["text"]) <= 200


async def test_any_gguf_file_by_path(gemma: LlamaCppModel, tmp_path: Path) -> None:
    copy = tmp_path / "my-model.gguf"
    copy.symlink_to(gemma.path)
    model = resolve_model(f"llamacpp:{copy}?n_ctx=512")
    assert (model.uri, model.model_name) == (f"llamacpp:{copy}", str(copy))
    completion = await model.complete(ModelRequest([Message("user", "Hello")], sampling=Sampling(max_tokens=4)))
    assert completion.usage.output_tokens <= 4
    assert completion.model == str(copy)


async def test_a_prompt_that_shares_a_prefix_with_the_last_one_gets_the_same_reply(gemma: LlamaCppModel) -> None:
    # The KV cache of the shared prefix is reused between calls (no reset): a
    # prompt must get the same greedy reply whatever was generated before it,
    # including a generation cut short by max_tokens.
    def ask(question: str, max_tokens: int | None = None) -> ModelRequest:
        return ModelRequest(
            [Message("system", "You are a helpful assistant."), Message("user", question)],
            tools=[tool.spec for tool in builtin_tools()],
            tool_choice="required",
            sampling=Sampling(max_tokens=max_tokens),
        )

    first = await gemma.complete(ask("What is 17 * 23?"))
    await gemma.complete(ask("What is 17 * 24?"))
    with pytest.raises(errors.ModelResponseError):
        await gemma.complete(ask("What time is it in Tokyo?", max_tokens=3))
    again = await gemma.complete(ask("What is 17 * 23?"))
    assert [(c.name, c.arguments) for c in again.message.tool_calls] == [
        (c.name, c.arguments) for c in first.message.tool_calls
    ]
    assert again.usage.input_tokens == first.usage.input_tokens
