"""Sync tools that provably cannot block run on the loop; every other sync tool in a thread."""

from __future__ import annotations

import threading
import time

from agorakit.core.messages import ToolCall
from agorakit.tools import ToolDispatcher, tool
from agorakit.tools.inline import runs_inline


def add(a: int, b: int) -> int:
    return a + b


def label(n: int, unit: str = "ms") -> str:
    if n > 1000:
        return f"{n / 1000:.1f}s"
    return f"{n}{unit}"


def power(a: int, b: int) -> int:
    return a**b % 1000


def countdown(n: int) -> int:
    while n:
        n -= 1
    return n


def shout(text: str) -> str:
    return text.upper()  # a method call: could be anything


def nap(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


def test_only_straight_line_operator_code_runs_inline() -> None:
    assert runs_inline(add) and runs_inline(label) and runs_inline(power)
    assert not runs_inline(countdown)  # a loop
    assert not runs_inline(shout) and not runs_inline(nap)  # calls
    assert not runs_inline(print)  # not a Python function
    offset = 3
    assert not runs_inline(lambda a: a + offset)  # a closure


def test_inline_needs_scalar_values() -> None:
    assert tool(add).runs_inline({"a": 1, "b": 2})
    assert not tool(add).runs_inline({"a": [1], "b": 2})
    assert not tool(nap).runs_inline({"seconds": 0.0})


async def test_inline_and_threaded_tools_give_the_same_observations() -> None:
    dispatcher = ToolDispatcher([tool(add), tool(label), tool(nap)])
    assert (await dispatcher.execute(ToolCall("c1", "add", {"a": 2, "b": "3"}))).content == "5"
    assert (await dispatcher.execute(ToolCall("c2", "label", {"n": 1500}))).content == "1.5s"
    threaded = await dispatcher.execute(ToolCall("c3", "nap", {"seconds": 0}))
    assert threaded.ok and threaded.content != threading.current_thread().name  # ran in a worker thread


async def test_an_inline_call_slower_than_its_timeout_is_a_timeout() -> None:
    dispatcher = ToolDispatcher([tool(power, timeout=1e-6)])
    result = await dispatcher.execute(ToolCall("c1", "power", {"a": 10, "b": 200_000}))
    assert not result.ok and result.error_type == "ToolTimeout"


async def test_an_inline_failure_is_an_observation() -> None:
    def divide(a: float, b: float) -> float:
        return a / b

    result = await ToolDispatcher([tool(divide)]).execute(ToolCall("c1", "divide", {"a": 1, "b": 0}))
    assert not result.ok and result.error_type == "ToolExecutionError" and "ZeroDivisionError" in result.content
