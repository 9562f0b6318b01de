"""The scripted model: scripts in Python and in YAML files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agorakit.core import errors
from agorakit.core.messages import Message
from agorakit.models import Delay, ModelRequest, ScriptedModel, call, load_script


def req(text: str) -> ModelRequest:
    return ModelRequest([Message("user", text)])


async def test_answers_in_order_and_records_requests() -> None:
    model = ScriptedModel(["one two", call("calc", expression="1+1"), [call("a"), call("b", x=1)]])
    first = await model.complete(req("hello world again"))
    assert (first.message.content, first.finish_reason) == ("one two", "stop")
    assert (first.usage.input_tokens, first.usage.output_tokens) == (3, 2)
    second = await model.complete(req("x"))
    assert second.finish_reason == "tool_calls"
    assert second.message.tool_calls[0].name == "calc"
    assert second.message.tool_calls[0].arguments == {"expression": "1+1"}
    third = await model.complete(req("y"))
    assert [c.name for c in third.message.tool_calls] == ["a", "b"]
    assert [r.messages[0].content for r in model.requests] == ["hello world again", "x", "y"]
    assert model.remaining == 0
    with pytest.raises(errors.ScriptExhausted, match="the script has 3"):
        await model.complete(req("z"))


async def test_errors_and_delays() -> None:
    model = ScriptedModel([errors.RateLimited("429", retry_after=1.5), Delay(0.05, "late")])
    with pytest.raises(errors.RateLimited) as caught:
        await model.complete(req("a"))
    assert caught.value.retry_after == 1.5
    started = time.monotonic()
    assert (await model.complete(req("b"))).message.content == "late"
    assert time.monotonic() - started >= 0.05


async def test_callable_responder_sees_the_request() -> None:
    model = ScriptedModel(lambda r: f"you said {r.messages[-1].content}")
    assert (await model.complete(req("hi"))).message.content == "you said hi"


async def test_yaml_script(tmp_path: Path) -> None:
    script = tmp_path / "demo.yaml"
    script.write_text(
        "responses:\n"
        "  - tool_call: {name: calculator, arguments: {expression: '17*23'}}\n"
        "  - {error: rate_limit, retry_after: 2}\n"
        "  - {error: server, status: 503}\n"
        "  - {text: done, delay: 0.01}\n"
        "  - plain text\n"
    )
    model = load_script(script)
    assert model.model_name == "demo"
    assert (await model.complete(req("q"))).message.tool_calls[0].arguments == {"expression": "17*23"}
    with pytest.raises(errors.RateLimited) as limited:
        await model.complete(req("q"))
    assert limited.value.retry_after == 2
    with pytest.raises(errors.ModelServerError) as server:
        await model.complete(req("q"))
    assert server.value.status == 503
    assert (await model.complete(req("q"))).message.content == "done"
    assert (await model.complete(req("q"))).message.content == "plain text"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {error: explode}\n", "unknown error kind 'explode'"),
        ("- {nothing: 1}\n", "needs one of text, tool_call"),
        ("- 42\n", "expected a string or a mapping"),
        ("just: a mapping\n", "must be a list of responses"),
        ("- {tool_call: {arguments: {}}}\n", "needs a name"),
        ("- [unclosed\n", "cannot parse script"),
    ],
)
def test_bad_scripts_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text(text)
    with pytest.raises(errors.ConfigError, match=message):
        load_script(script)


async def test_stream_yields_words_then_completion() -> None:
    model = ScriptedModel(["a b c"])
    chunks = [c async for c in model.stream(req("x"))]
    assert "".join(c.delta for c in chunks) == "a b c"  # the deltas add up to the content exactly
    assert chunks[-1].completion is not None


async def test_a_model_told_not_to_record_keeps_no_requests() -> None:
    model = ScriptedModel(lambda request: "ok", record=False)
    for _ in range(3):
        completion = await model.complete(ModelRequest([Message("user", "hi")]))
        assert completion.message.content == "ok"
    assert model.requests == []
