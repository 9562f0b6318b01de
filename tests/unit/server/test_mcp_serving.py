"""Entries served as MCP tools at /mcp, called by agorakit's MCP client and by the SDK's own, on a real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from live_server import LiveServer, ServeFactory
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agorakit import Agent, ScriptedModel, call, tool
from agorakit.core.errors import ConfigError, ModelRequestError
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.models.base import ModelRequest
from agorakit.server import Answer, Entry, ServerSettings, agent_entry, create_app
from agorakit.server.mcp_app import INPUT_SCHEMA, conversation, tool_names
from agorakit.tools.mcp import MCPConnectionError, MCPServer, MCPToolError


def echo(request: ModelRequest) -> str:
    """The conversation the agent was given (its own instructions left out)."""
    return "echo: " + " | ".join(f"{m.role}:{m.content}" for m in request.messages if m.role != "system")


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def adds(request: ModelRequest) -> Any:
    last = request.messages[-1]
    return f"the sum is {last.content}" if last.role == "tool" else call("add", a=2, b=3)


def entries() -> list[Entry]:
    return [
        agent_entry(Agent("helper", ScriptedModel(echo), instructions="Echo.", description="echoes the conversation")),
        agent_entry(Agent("adder", ScriptedModel(adds), tools=[add], description="adds with a tool")),
        agent_entry(Agent("broken", ScriptedModel(lambda request: ModelRequestError("the backend said no")))),
        agent_entry(Agent("stuck", ScriptedModel(lambda request: call("add", a=1, b=1)), tools=[add], max_steps=2)),
    ]


class Gate:
    """A method entry that waits until the test (in another thread) releases it, and says what befell it."""

    def __init__(self) -> None:
        self.started, self.cancelled, self.finished = threading.Event(), threading.Event(), threading.Event()
        self.release: Callable[[], object] = lambda: None

    async def run(self, messages: list[Message], run_id: str) -> Answer:
        loop, released = asyncio.get_running_loop(), asyncio.Event()
        self.release = lambda: loop.call_soon_threadsafe(released.set)
        self.started.set()
        try:
            await released.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished.set()
        return Answer("released", run_id, Usage(), "final_answer")

    def entry(self) -> Entry:
        return Entry("gate", "method", "waits to be released", self.run)


async def leave_mid_call(server: LiveServer, gate: Gate) -> None:
    """Call the gate over plain HTTP and hang up once its run has started."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "gate", "arguments": {"task": "x"}}}
    headers = {**server.headers, "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", f"{server.url}/mcp", json=body, headers=headers) as reply,
    ):
        assert reply.status_code == 200
        assert await asyncio.to_thread(gate.started.wait, 10)


@asynccontextmanager
async def sdk_session(server: LiveServer) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=server.headers) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content]


async def test_agorakit_client_lists_the_entries_as_tools_and_calls_one(serve: ServeFactory) -> None:
    server = serve(entries())
    async with MCPServer.http(f"{server.url}/mcp", headers=server.headers) as mcp:
        described = await mcp.list_tools()
        assert [(t.name, t.description) for t in described] == [
            ("helper", "echoes the conversation"),
            ("adder", "adds with a tool"),
            ("broken", "agent broken"),
            ("stuck", "agent stuck"),
        ]
        assert described[0].input_schema == INPUT_SCHEMA
        assert await mcp.call_tool("helper", {"task": "hi there"}) == "echo: user:hi there"
        assert mcp.server_info is not None and mcp.server_info.name == "agorakit"


async def test_an_agent_uses_the_served_entries_as_mcp_tools(serve: ServeFactory) -> None:
    server = serve(entries())

    def plan(request: ModelRequest) -> Any:
        last = request.messages[-1]
        return f"the helper said: {last.content}" if last.role == "tool" else call("helper", task="say hi")

    async with MCPServer.http(f"{server.url}/mcp", headers=server.headers) as mcp:
        agent = Agent("asker", ScriptedModel(plan), tools=await mcp.tools(include=["helper"]), trace=False)
        result = await agent.run("ask the helper")
    assert result.output == "the helper said: echo: user:say hi"


async def test_the_sdk_client_lists_and_calls_tools_with_a_conversation(serve: ServeFactory) -> None:
    server = serve(entries())
    async with sdk_session(server) as session:
        listed = await session.list_tools()
        assert [t.name for t in listed.tools] == ["helper", "adder", "broken", "stuck"]
        earlier = [{"role": "user", "content": "I am Ana"}, {"role": "assistant", "content": "hello Ana"}]
        result = await session.call_tool("helper", {"task": "who am I?", "messages": earlier})
    assert not result.is_error
    assert texts(result) == ["echo: user:I am Ana | assistant:hello Ana | user:who am I?"]
    assert result.meta is not None and len(result.meta["agorakit/run_id"]) > 10


async def test_a_call_with_a_progress_token_gets_a_note_per_model_and_tool_call(serve: ServeFactory) -> None:
    server = serve(entries())
    notes: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, message))

    async with sdk_session(server) as session:
        result = await session.call_tool("adder", {"task": "add 2 and 3"}, progress_callback=on_progress)
    assert texts(result) == ["the sum is 5"]
    assert notes == [
        (1, "adder: model call done (3 tokens out so far)"),
        (2, "adder: calling add"),
        (3, "adder: add done"),
        (4, "adder: model call done (7 tokens out so far)"),
    ]


async def test_the_2026_protocol_without_a_handshake_works_too(serve: ServeFactory) -> None:
    server = serve(entries())
    async with (
        httpx2.AsyncClient(headers=server.headers) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        discovered = await session.discover()
        assert discovered.capabilities.tools is not None
        result = await session.call_tool("helper", {"task": "modern"})
    assert texts(result) == ["echo: user:modern"]


async def test_a_failing_run_is_a_tool_error_with_its_message_and_hint(serve: ServeFactory) -> None:
    server = serve(entries())
    async with sdk_session(server) as session:
        result = await session.call_tool("broken", {"task": "hi"})
    assert result.is_error
    assert texts(result) == [
        "the backend said no\nhint: check the model name and the request; this error is not retried"
    ]
    async with MCPServer.http(f"{server.url}/mcp", headers=server.headers) as mcp:
        with pytest.raises(MCPToolError, match="the backend said no"):
            await mcp.call_tool("broken", {"task": "hi"})


async def test_a_run_without_an_answer_is_a_tool_error_saying_why(serve: ServeFactory) -> None:
    server = serve(entries())
    async with sdk_session(server) as session:
        result = await session.call_tool("stuck", {"task": "loop"})
    assert result.is_error
    [text] = texts(result)
    assert text.startswith(
        "stuck stopped without an answer (max_steps): the agent used all its steps without a final answer\nhint: "
    )
    assert result.meta is not None and "agorakit/run_id" in result.meta


async def test_bad_arguments_are_a_tool_error_and_an_unknown_tool_a_protocol_error(serve: ServeFactory) -> None:
    server = serve(entries())
    async with sdk_session(server) as session:
        missing = await session.call_tool("helper", {"question": "hi"})
        bad_role = await session.call_tool("helper", {"task": "hi", "messages": [{"role": "tool", "content": "x"}]})
        with pytest.raises(MCPError, match="no tool is named 'nobody'; the tools are: helper, adder, broken, stuck"):
            await session.call_tool("nobody", {"task": "hi"})
    assert missing.is_error and texts(missing)[0].startswith("the arguments are not valid: ")
    assert "'task' is a required property" in texts(missing)[0]
    assert bad_role.is_error
    assert texts(bad_role)[0].startswith("the arguments are not valid: messages.0.role: 'tool' is not one of")


async def test_a_client_that_hangs_up_cancels_the_run(serve: ServeFactory) -> None:
    gate = Gate()
    server = serve([gate.entry()])
    await leave_mid_call(server, gate)
    assert await asyncio.to_thread(gate.cancelled.wait, 10)
    assert not gate.finished.is_set()


async def test_with_on_disconnect_continue_the_run_outlives_the_client(serve: ServeFactory) -> None:
    gate = Gate()
    server = serve([gate.entry()], on_disconnect="continue")
    await leave_mid_call(server, gate)
    # Where the run is cancelled (the test above), that happens within milliseconds of the hang-up.
    assert not await asyncio.to_thread(gate.cancelled.wait, 1.0)
    gate.release()
    assert await asyncio.to_thread(gate.finished.wait, 10)


async def test_a_run_over_the_time_limit_is_a_tool_error(serve: ServeFactory) -> None:
    gate = Gate()
    server = serve([gate.entry()], run_timeout=0.2)
    async with sdk_session(server) as session:
        result = await session.call_tool("gate", {"task": "wait"})
    assert result.is_error
    assert texts(result) == [
        "the run took longer than the server allows\n"
        "hint: ask a shorter question, or start the server with a larger --run-timeout"
    ]
    assert gate.cancelled.is_set()


async def test_each_call_is_charged_to_the_key_that_made_it(serve: ServeFactory) -> None:
    server = serve(entries())
    async with sdk_session(server) as session:
        await session.list_tools()
        await session.call_tool("helper", {"task": "one two"})
    record = server.keys.get("tester")
    assert record is not None
    # One run: "Echo." and "one two" in (3 words), "echo: user:one two" out (3 words).
    assert (record.calls, record.tokens) == (1, 6)


async def test_mcp_needs_the_key(serve: ServeFactory) -> None:
    server = serve(entries())
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        refused = await http.post("/mcp", json=initialize, headers=accept)
        wrong = await http.post("/mcp", json=initialize, headers={**accept, "Authorization": "Bearer nope"})
        admitted = await http.post("/mcp", json=initialize, headers={**accept, **server.headers})
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert wrong.status_code == 401
    assert admitted.status_code == 200 and '"serverInfo"' in admitted.text
    with pytest.raises(MCPConnectionError, match="cannot connect to the MCP server"):
        async with MCPServer.http(f"{server.url}/mcp", connect_timeout=5):
            pass


async def test_without_the_app_lifespan_the_endpoint_says_it_is_not_running() -> None:
    app = create_app(entries(), ServerSettings(auth=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/mcp", json={})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "the MCP endpoint is not running"


def test_tool_names_keep_what_mcp_allows_and_stay_unique() -> None:
    def named(name: str) -> Entry:
        return Entry(name=name, kind="method", description="", runner=lambda messages, run_id: None)

    served = {e.name: e for e in map(named, ["debate", "team/debate v2", "team_debate_v2", "a.b-c", "x" * 200])}
    assert list(tool_names(served)) == ["debate", "team_debate_v2", "team_debate_v2_2", "a.b-c", "x" * 128]
    assert tool_names(served)["team_debate_v2"].name == "team/debate v2"


def test_the_conversation_is_the_earlier_turns_then_the_task() -> None:
    turns = conversation({"task": "and now?", "messages": [{"role": "system", "content": "Be terse."}]})
    assert [(m.role, m.content) for m in turns] == [("system", "Be terse."), ("user", "and now?")]
    with pytest.raises(ConfigError, match="task: '' should be non-empty"):
        conversation({"task": ""})
