"""Agents, a model gate and an SSE reader for the runs API tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from agorakit import Agent, tool
from agorakit.core.messages import ToolCall
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import Delay, ScriptedModel, ScriptItem

#: The ``serve`` fixture (tests/unit/server/conftest.py): ``serve(entries, **settings)`` -> a live server.
Serve = Callable[..., Any]


class Gate:
    """A model call (its ``Delay``) that waits until the test calls :meth:`open`, from the test's
    thread while the server runs in its own."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._lock = threading.Lock()
        self._opened = False
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def sleep(self, _seconds: float) -> None:
        event = asyncio.Event()
        with self._lock:
            if not self._opened:
                self._waiting.append((asyncio.get_running_loop(), event))
        self.reached.set()
        if self._opened:
            return
        await event.wait()

    def open(self) -> None:
        with self._lock:
            self._opened = True
            waiting, self._waiting = self._waiting, []
        for loop, event in waiting:
            with contextlib.suppress(RuntimeError):  # that server has stopped
                loop.call_soon_threadsafe(event.set)


def lookup_agent(gate: Gate | None = None, name: str = "looker") -> Agent[Any, Any]:
    """Calls ``lookup`` (call id ``call-1``), then answers "the answer is 42" (after ``gate`` opens)."""

    @tool(idempotent=True)
    def lookup(topic: str) -> str:
        """Look a topic up."""
        return "42"

    def respond(request: ModelRequest) -> ScriptItem:
        if not any(m.role == "tool" for m in request.messages):
            return ToolCall("call-1", "lookup", {"topic": "answer"})
        return Delay(0, "the answer is 42") if gate is not None else "the answer is 42"

    model = ScriptedModel(respond, sleep=gate.sleep if gate is not None else asyncio.sleep)
    return Agent(name, model, tools=[lookup], trace=False)


def usage(calls: int, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"calls": calls, "input_tokens": input_tokens, "output_tokens": output_tokens, "latency_s": 0.0,
            "cost_usd": 0.0, "cached_input_tokens": 0}  # fmt: skip


#: The events of a lookup_agent run, numbered from 1.
LOOKUP_EVENTS: list[dict[str, Any]] = [
    {"type": "usage", "agent": "looker", "call": usage(1, 26, 2), "total": usage(1, 26, 2)},
    {"type": "tool_call_started", "agent": "looker",
     "call": {"id": "call-1", "name": "lookup", "arguments": {"topic": "answer"}}},
    {"type": "tool_call_finished", "agent": "looker",
     "call": {"id": "call-1", "name": "lookup", "arguments": {"topic": "answer"}}, "content": "42", "ok": True},
    {"type": "text_delta", "agent": "looker", "text": "the "},
    {"type": "text_delta", "agent": "looker", "text": "answer "},
    {"type": "text_delta", "agent": "looker", "text": "is "},
    {"type": "text_delta", "agent": "looker", "text": "42"},
    {"type": "usage", "agent": "looker", "call": usage(1, 27, 4), "total": usage(2, 53, 6)},
    {"type": "run_finished", "answer": "the answer is 42", "stop_reason": "final_answer", "usage": usage(2, 53, 6)},
]  # fmt: skip


def sse(response: httpx.Response) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The (id, event, data) of each event of an SSE response, as they arrive (comments skipped)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            if not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields:
            yield int(fields["id"]), fields["event"], orjson.loads(fields["data"])
        fields = {}


def read_events(url: str, headers: dict[str, str], **params: Any) -> list[tuple[int, str, dict[str, Any]]]:
    with httpx.stream("GET", url, headers=headers, params=params, timeout=30) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse(response))
