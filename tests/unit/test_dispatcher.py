"""ToolDispatcher: every outcome is an observation; concurrency, cancellation, tracing."""

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from agorakit.core.errors import ConfigError
from agorakit.core.messages import INVALID_ARGUMENTS_KEY, Message, ToolCall
from agorakit.models.json_reply import INVALID_JSON_KEY, parse_arguments
from agorakit.tools import ToolDispatcher, ToolResult, calculator, tool
from agorakit.tools.dispatcher import serialize_output
from agorakit.trace import MemorySink, Tracer
from agorakit.trace import attributes as attr


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def echo(text: str) -> str:
    """Echo the text back."""
    return text


@tool
def boom(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


@tool(timeout=0.05)
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Pair:
    left: int
    right: str


def dispatcher(*extra: Any, **options: Any) -> ToolDispatcher:
    return ToolDispatcher([add, echo, boom, slow, *extra], **options)


def call(name: str, call_id: str = "c1", **arguments: Any) -> ToolCall:
    return ToolCall(call_id, name, arguments)


# --- results -------------------------------------------------------------------


async def test_successful_sync_call() -> None:
    result = await dispatcher().execute(call("add", a=2, b=3))
    assert result.content == "5"
    assert result.ok
    assert result.error_type is None
    assert result.duration_s >= 0
    assert result.call.id == "c1"


async def test_successful_async_call() -> None:
    result = await dispatcher().execute(call("echo", text="hi"))
    assert (result.content, result.ok) == ("hi", True)


async def test_lax_coercion_of_a_numeric_string() -> None:
    result = await dispatcher().execute(call("add", a="3", b=4))
    assert result.content == "7"


async def test_to_message() -> None:
    result = await dispatcher().execute(call("add", call_id="call_9", a=1, b=1))
    assert result.to_message() == Message("tool", "2", tool_call_id="call_9", name="add")


def test_tool_result_is_slotted() -> None:
    assert not hasattr(ToolResult(call("x"), "", True, None, 0.0), "__dict__")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        ("", ""),
        (None, "null"),
        (42, "42"),
        (3.5, "3.5"),
        (True, "true"),
        ({"a": 1, "b": [1, 2]}, '{"a":1,"b":[1,2]}'),
        ([1, "x", None], '[1,"x",null]'),
        ((1, 2), "[1,2]"),
        (Point(x=1, y=2), '{"x":1,"y":2}'),
        ({"p": Point(x=1, y=2)}, '{"p":{"x":1,"y":2}}'),
        (Pair(1, "r"), '{"left":1,"right":"r"}'),
        ({"when": object}, '{"when":"<class \'object\'>"}'),  # unknown objects fall back to str()
    ],
)
def test_serialize_output(value: Any, expected: str) -> None:
    assert serialize_output(value) == expected


async def test_non_string_results_reach_the_model_as_json() -> None:
    @tool
    def point() -> Point:
        return Point(x=1, y=2)

    @tool
    def nothing() -> None:
        return None

    results = await dispatcher(point, nothing).execute_all([call("point"), call("nothing")])
    assert [r.content for r in results] == ['{"x":1,"y":2}', "null"]


async def test_long_output_is_truncated_with_a_marker() -> None:
    @tool
    def big() -> str:
        return "x" * 100

    result = await dispatcher(big, max_output_chars=10).execute(call("big"))
    assert result.content == "x" * 10 + "...[truncated 90 chars]"
    assert result.ok


async def test_output_at_the_limit_is_not_truncated() -> None:
    @tool
    def exact() -> str:
        return "y" * 10

    result = await dispatcher(exact, max_output_chars=10).execute(call("exact"))
    assert result.content == "y" * 10


# --- failures become observations ------------------------------------------------


async def test_unknown_tool() -> None:
    result = await ToolDispatcher([add, echo]).execute(call("foo"))
    assert result.content == "Error: unknown tool 'foo'. Available tools: add, echo."
    assert not result.ok
    assert result.error_type == "ToolNotFound"


async def test_unknown_tool_with_no_tools() -> None:
    result = await ToolDispatcher([]).execute(call("foo"))
    assert result.content == "Error: unknown tool 'foo'. Available tools: none."


async def test_wrong_argument_type() -> None:
    result = await dispatcher().execute(call("add", a=[1, 2], b=1))
    assert result.content == "Error: invalid arguments for tool 'add': a: Input should be a valid integer, got [1, 2]"
    assert result.error_type == "ToolArgumentsError"
    assert not result.ok


async def test_missing_and_extra_arguments() -> None:
    result = await dispatcher().execute(call("add", a=1, c=2))
    assert result.content == (
        "Error: invalid arguments for tool 'add': b: missing required argument; c: unexpected argument (expected: a, b)"
    )


async def test_arguments_that_are_not_an_object() -> None:
    bad = ToolCall("c1", "add", [1, 2])  # type: ignore[arg-type]
    result = await dispatcher().execute(bad)
    assert result.content == "Error: invalid arguments for tool 'add': arguments must be a JSON object, got list"
    assert result.error_type == "ToolArgumentsError"


async def test_arguments_are_validated_before_the_tool_runs() -> None:
    ran: list[int] = []

    @tool
    def record(n: int) -> str:
        ran.append(n)
        return "ok"

    result = await dispatcher(record).execute(call("record", n="many"))
    assert not result.ok
    assert ran == []


async def test_tool_exception() -> None:
    result = await dispatcher().execute(call("boom", reason="disk full"))
    assert result.content == "Error: tool 'boom' failed: ValueError: disk full"
    assert result.error_type == "ToolExecutionError"
    assert "Traceback" not in result.content


async def test_tool_exception_without_a_message() -> None:
    @tool
    async def fail() -> str:
        raise RuntimeError

    result = await dispatcher(fail).execute(call("fail"))
    assert result.content == "Error: tool 'fail' failed: RuntimeError"


async def test_calculator_error_reaches_the_model() -> None:
    result = await dispatcher(calculator).execute(call("calculator", expression="1/0"))
    assert result.content == "Error: tool 'calculator' failed: ValueError: division by zero"


async def test_per_tool_timeout() -> None:
    result = await dispatcher().execute(call("slow", seconds=10))
    assert result.content == "Error: tool 'slow' timed out after 0.05s"
    assert result.error_type == "ToolTimeout"
    assert not result.ok


async def test_default_timeout() -> None:
    @tool
    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    result = await dispatcher(hang, default_timeout=0.1).execute(call("hang"))
    assert result.content == "Error: tool 'hang' timed out after 0.1s"
    assert result.error_type == "ToolTimeout"


async def test_sync_tool_timeout_does_not_wait_for_the_thread() -> None:
    release = threading.Event()

    @tool(timeout=0.05)
    def blocking() -> str:
        release.wait(5)
        return "late"

    try:
        result = await dispatcher(blocking).execute(call("blocking"))
        assert result.error_type == "ToolTimeout"
        assert result.duration_s < 5
    finally:
        release.set()  # let the abandoned worker thread finish


async def test_timeout_error_raised_by_the_tool_is_an_execution_error() -> None:
    @tool
    async def upstream() -> str:
        raise TimeoutError("upstream did not answer")

    result = await dispatcher(upstream).execute(call("upstream"))
    assert result.content == "Error: tool 'upstream' failed: TimeoutError: upstream did not answer"
    assert result.error_type == "ToolExecutionError"


async def test_errors_are_truncated_too() -> None:
    result = await dispatcher(max_output_chars=30).execute(call("boom", reason="r" * 100))
    assert result.content == "Error: tool 'boom' failed: Val...[truncated 109 chars]"


# --- construction and lookup -------------------------------------------------------


def test_specs_names_and_get() -> None:
    tools = dispatcher()
    assert [spec.name for spec in tools.specs] == ["add", "echo", "boom", "slow"]
    assert tools.specs[0] == add.spec
    assert tools.names == ["add", "echo", "boom", "slow"]
    assert tools.get("add") is add
    assert tools.get("nope") is None
    tools.specs.clear()  # a copy: the dispatcher's own list is untouched
    assert len(tools.specs) == 4


def test_duplicate_names_are_refused() -> None:
    def plus(a: int) -> int:
        return a

    with pytest.raises(ConfigError, match="two tools are named 'add'"):
        ToolDispatcher([add, tool(name="add")(plus)])


def test_non_tools_are_refused() -> None:
    def plain(a: int) -> int:
        return a

    with pytest.raises(ConfigError, match="takes Tool objects, got function"):
        ToolDispatcher([plain])  # type: ignore[list-item]


@pytest.mark.parametrize("options", [{"default_timeout": 0}, {"default_timeout": -1}, {"max_output_chars": 0}])
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ToolDispatcher([add], **options)


async def test_no_default_timeout() -> None:
    result = await ToolDispatcher([add], default_timeout=None).execute(call("add", a=1, b=2))
    assert result.content == "3"


# --- concurrency and cancellation ---------------------------------------------------


async def test_execute_all_runs_calls_concurrently_and_keeps_order() -> None:
    log: list[str] = []

    @tool
    async def nap(label: str) -> str:
        log.append(f"start {label}")
        await asyncio.sleep(0.3)
        log.append(f"end {label}")
        return label

    results = await dispatcher(nap).execute_all(
        [call("nap", "1", label="a"), call("nap", "2", label="b"), call("add", "3", a=1, b=1)]
    )
    assert [r.content for r in results] == ["a", "b", "2"]
    assert [r.call.id for r in results] == ["1", "2", "3"]
    # Both started before either finished: they overlapped (so the total is about 0.3s, not 0.6s).
    assert log[:2] == ["start a", "start b"]
    assert sorted(log[2:]) == ["end a", "end b"]


async def test_execute_all_overlaps_sync_tools_in_threads() -> None:
    # A barrier for two parties passes only if both threads are inside it at the same time.
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def meet(label: str) -> str:
        barrier.wait()
        return label

    results = await dispatcher(meet).execute_all([call("meet", "1", label="x"), call("meet", "2", label="y")])
    assert [r.content for r in results] == ["x", "y"]


async def test_execute_all_mixes_failures_and_successes() -> None:
    results = await dispatcher().execute_all(
        [call("add", "1", a=1, b=2), call("nope", "2"), call("boom", "3", reason="x"), call("slow", "4", seconds=5)]
    )
    assert [r.ok for r in results] == [True, False, False, False]
    assert [r.error_type for r in results] == [None, "ToolNotFound", "ToolExecutionError", "ToolTimeout"]


async def test_execute_all_of_nothing_and_of_one() -> None:
    tools = dispatcher()
    assert await tools.execute_all([]) == []
    [only] = await tools.execute_all([call("add", a=1, b=1)])
    assert only.content == "2"


async def test_cancellation_propagates_out_of_execute() -> None:
    started = asyncio.Event()
    cleaned_up = asyncio.Event()

    @tool
    async def wait_forever() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()
        return "never"

    task = asyncio.create_task(dispatcher(wait_forever).execute(call("wait_forever")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up.is_set()


async def test_cancellation_propagates_out_of_execute_all() -> None:
    started: list[str] = []
    both_started = asyncio.Event()
    cancelled: list[str] = []

    @tool
    async def wait_forever(label: str) -> str:
        started.append(label)
        if len(started) == 2:
            both_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(label)
            raise
        return "never"

    tools = dispatcher(wait_forever)
    task = asyncio.create_task(
        tools.execute_all([call("wait_forever", "1", label="a"), call("wait_forever", "2", label="b")])
    )
    await both_started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["a", "b"]


# --- tracing -------------------------------------------------------------------------


def spans(sink: MemorySink) -> dict[str, dict[str, Any]]:
    """span_id -> {name, parent, start attributes, end attributes, status}."""
    result: dict[str, dict[str, Any]] = {}
    for record in sink.records:
        if record[0] == "span_start":
            _, _, span_id, parent_id, name, _, attributes = record
            result[span_id] = {"name": name, "parent": parent_id, "start": attributes}
        elif record[0] == "span_end":
            _, _, span_id, _, status, attributes = record
            result[span_id].update(status=status, end=attributes)
    return result


async def test_span_of_a_successful_call() -> None:
    sink = MemorySink()
    tracer = Tracer("run1", sink)
    await dispatcher().execute(call("add", call_id="call_1", a=2, b=3), tracer)
    [span] = spans(sink).values()
    assert span["name"] == "execute_tool add"
    assert span["status"] == "ok"
    assert span["start"] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": '{"a":2,"b":3}',
    }
    end = span["end"]
    assert end[attr.OPERATION] == attr.OP_EXECUTE_TOOL
    assert end[attr.TOOL_CALL_ARGUMENTS] == json.dumps({"a": 2, "b": 3}, separators=(",", ":"))
    assert end["gen_ai.tool.call.result"] == "5"
    assert end[attr.TOOL_OUTCOME] == "ok"
    assert attr.ERROR_TYPE not in end


async def test_span_without_content_capture() -> None:
    sink = MemorySink()
    await dispatcher().execute(call("add", a=2, b=3), Tracer("run1", sink, capture_content=False))
    [span] = spans(sink).values()
    assert attr.TOOL_CALL_ARGUMENTS not in span["end"]
    assert attr.TOOL_CALL_RESULT not in span["end"]
    assert span["end"][attr.TOOL_NAME] == "add"


@pytest.mark.parametrize(
    ("tool_call", "error_type"),
    [
        (call("nope"), "ToolNotFound"),
        (call("add", a="x", b=1), "ToolArgumentsError"),
        (call("boom", reason="r"), "ToolExecutionError"),
        (call("slow", seconds=5), "ToolTimeout"),
    ],
)
async def test_span_of_a_failed_call(tool_call: ToolCall, error_type: str) -> None:
    sink = MemorySink()
    result = await dispatcher().execute(tool_call, Tracer("run1", sink))
    [(span_id, span)] = spans(sink).items()
    assert span["status"] == "error"
    assert span["end"]["error.type"] == error_type
    assert span["end"][attr.TOOL_OUTCOME] == "error"
    assert span["end"][attr.TOOL_CALL_RESULT] == result.content
    # The tool span's own events (the run also gets one "policy.none": no policy is configured).
    events = [r for r in sink.records if r[0] == "event" and r[2] == span_id]
    assert [e[4] for e in events] == ["exception"]


async def test_span_is_ended_on_cancellation() -> None:
    sink = MemorySink()
    started = asyncio.Event()

    @tool
    async def wait_forever() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(dispatcher(wait_forever).execute(call("wait_forever"), Tracer("run1", sink)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [span] = spans(sink).values()
    assert span["status"] == "cancelled"
    assert "error.type" not in span["end"]


async def test_concurrent_spans_are_children_of_the_callers_span() -> None:
    sink = MemorySink()
    tracer = Tracer("run1", sink)
    with tracer.span("agent_turn") as turn:
        await dispatcher().execute_all([call("add", "1", a=1, b=1), call("echo", "2", text="t")], tracer)
    recorded = spans(sink)
    children = {s["name"]: s for s in recorded.values() if s["parent"] == turn.span_id}
    assert set(children) == {"execute_tool add", "execute_tool echo"}
    assert children["execute_tool echo"]["end"][attr.TOOL_CALL_ID] == "2"


# --- arguments that were not valid JSON ----------------------------------------------

RAW_BAD_JSON = '{"expression": "17 * 23",'


def invalid_json_call(name: str, raw: Any = RAW_BAD_JSON) -> ToolCall:
    return ToolCall("c1", name, {INVALID_ARGUMENTS_KEY: raw})


def test_the_reserved_key_is_shared_with_the_json_tools() -> None:
    assert INVALID_ARGUMENTS_KEY == "__invalid_json__"
    assert INVALID_JSON_KEY is INVALID_ARGUMENTS_KEY


async def test_invalid_json_arguments_become_a_readable_observation() -> None:
    result = await ToolDispatcher([calculator]).execute(invalid_json_call("calculator"))
    assert result.content == (
        "Error: the arguments for tool 'calculator' are not valid JSON: "
        '{"expression": "17 * 23",. Send the arguments as a JSON object.'
    )
    assert not result.ok
    assert result.error_type == "ToolArgumentsError"


async def test_invalid_json_is_reported_before_schema_validation() -> None:
    # Without the check, the schema would complain about a missing `a`/`b` and an unexpected key.
    result = await dispatcher().execute(ToolCall("c1", "add", {INVALID_ARGUMENTS_KEY: "a=1, b=2", "a": 1}))
    assert result.content == (
        "Error: the arguments for tool 'add' are not valid JSON: a=1, b=2. Send the arguments as a JSON object."
    )
    assert "missing required argument" not in result.content
    assert result.error_type == "ToolArgumentsError"


async def test_invalid_json_for_a_tool_without_required_arguments_does_not_run_it() -> None:
    ran: list[str] = []

    @tool
    def ping(target: str = "localhost") -> str:
        """Ping a host."""
        ran.append(target)
        return "pong"

    @tool
    def tick() -> str:
        """No arguments at all."""
        ran.append("tick")
        return "tock"

    dispatch = ToolDispatcher([ping, tick])
    for name in ("ping", "tick"):
        result = await dispatch.execute(invalid_json_call(name, "not json"))
        assert result.content == (
            f"Error: the arguments for tool {name!r} are not valid JSON: not json. Send the arguments as a JSON object."
        )
        assert result.error_type == "ToolArgumentsError"
        assert not result.ok
    assert ran == []
    # The same tools run with proper (empty) arguments.
    assert (await dispatch.execute(call("tick"))).content == "tock"


async def test_invalid_json_raw_text_is_truncated() -> None:
    raw = "x" * 1000
    result = await ToolDispatcher([calculator]).execute(invalid_json_call("calculator", raw))
    assert result.content == (
        f"Error: the arguments for tool 'calculator' are not valid JSON: {'x' * 200}…. "
        "Send the arguments as a JSON object."
    )


async def test_invalid_json_raw_text_of_exactly_the_limit_is_kept_whole() -> None:
    result = await ToolDispatcher([calculator]).execute(invalid_json_call("calculator", "y" * 200))
    assert f"not valid JSON: {'y' * 200}. Send" in result.content
    assert "…" not in result.content


async def test_invalid_json_with_a_non_string_raw_value() -> None:
    result = await ToolDispatcher([calculator]).execute(invalid_json_call("calculator", [1, 2]))
    assert result.content == (
        "Error: the arguments for tool 'calculator' are not valid JSON: [1,2]. Send the arguments as a JSON object."
    )


async def test_unknown_tool_is_still_reported_before_invalid_json() -> None:
    result = await ToolDispatcher([calculator]).execute(invalid_json_call("calc"))
    assert result.error_type == "ToolNotFound"


async def test_invalid_json_arguments_from_the_json_tools_parser() -> None:
    arguments = parse_arguments('{"expression": "2+2"')  # what the OpenAI backend does with a broken call
    result = await ToolDispatcher([calculator]).execute(ToolCall("c1", "calculator", arguments))
    assert result.content == (
        "Error: the arguments for tool 'calculator' are not valid JSON: "
        '{"expression": "2+2". Send the arguments as a JSON object.'
    )


async def test_span_of_an_invalid_json_call() -> None:
    sink = MemorySink()
    result = await ToolDispatcher([calculator]).execute(invalid_json_call("calculator"), Tracer("run1", sink))
    [span] = spans(sink).values()
    assert span["status"] == "error"
    assert span["end"]["error.type"] == "ToolArgumentsError"
    assert span["end"][attr.TOOL_CALL_RESULT] == result.content
    assert json.loads(span["start"][attr.TOOL_CALL_ARGUMENTS]) == {INVALID_ARGUMENTS_KEY: RAW_BAD_JSON}
