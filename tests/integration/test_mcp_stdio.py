"""MCP tools over stdio against a real server subprocess (tests/mcp_servers/calc_server.py).

Nothing is mocked: each test starts the SDK-written server as a child
process, talks to it through agorakit's MCPServer and ToolDispatcher, and
checks processes through /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agorakit.core.messages import ToolCall
from agorakit.tools import ToolDispatcher
from agorakit.tools.mcp import (
    MCPClosed,
    MCPConnectionError,
    MCPProtocolError,
    MCPServer,
    MCPServerGone,
    MCPToolError,
)
from mcp_servers.helpers import CALC_SERVER, children, is_running, process_state, wait_until_dead

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks processes through /proc"),
]


def calc(**options: Any) -> MCPServer:
    return MCPServer.stdio(sys.executable, [str(CALC_SERVER)], **options)


@pytest.fixture
async def server() -> AsyncIterator[MCPServer]:
    async with calc(call_timeout=5.0) as connected:
        yield connected


async def run(dispatcher: ToolDispatcher, name: str, **arguments: Any) -> Any:
    return await dispatcher.execute(ToolCall(f"call-{name}", name, arguments))


# --- listing and calling ---------------------------------------------------------------


async def test_lists_tools_with_the_servers_schemas(server: MCPServer) -> None:
    described = {item.name: item for item in await server.list_tools()}
    tools = {item.name: item for item in await server.tools()}

    assert {"add", "echo", "slow", "fail", "pid", "image", "stats", "crash"} <= set(tools)
    assert set(tools) == set(described)
    add = tools["add"]
    assert add.description == "Add two integers."
    assert add.parameters == described["add"].input_schema
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.spec.parameters == add.parameters
    assert add.timeout == server.call_timeout + 2.0
    assert server.server_info is not None and server.server_info.name == "calc"
    assert server.name == "calc_server"


async def test_prefix_and_include_pick_and_rename_tools() -> None:
    async with calc(prefix="calc_") as server:
        tools = await server.tools(include=["add", "echo"])
        assert sorted(item.name for item in tools) == ["calc_add", "calc_echo"]
        result = await run(ToolDispatcher(tools), "calc_add", a=40, b=2)
        assert (result.ok, result.content) == (True, "42")
        with pytest.raises(Exception, match="has no tool named nope"):
            await server.tools(include=["add", "nope"])


async def test_add_through_the_dispatcher_returns_the_servers_answer(server: MCPServer) -> None:
    dispatcher = ToolDispatcher(await server.tools())
    result = await run(dispatcher, "add", a=2, b=3)
    assert (result.ok, result.content, result.error_type) == (True, "5", None)
    assert await server.call_tool("echo", {"text": "héllo\nworld"}) == "héllo\nworld"


async def test_concurrent_calls_overlap(server: MCPServer) -> None:
    dispatcher = ToolDispatcher(await server.tools())
    calls = [ToolCall(f"c{i}", "slow", {"seconds": 0.5}) for i in range(3)]
    start = time.perf_counter()
    results = await dispatcher.execute_all(calls)
    assert [r.content for r in results] == ["slept 0.5s"] * 3
    assert time.perf_counter() - start < 1.4


async def test_an_error_result_becomes_a_failed_observation(server: MCPServer) -> None:
    dispatcher = ToolDispatcher(await server.tools())
    result = await run(dispatcher, "fail")
    assert not result.ok
    assert result.content.startswith("Error: tool 'fail' failed: MCPToolError: ")
    assert "the fail tool always fails" in result.content
    with pytest.raises(MCPToolError, match="the fail tool always fails"):
        await server.call_tool("fail")
    # An unknown name reaches the server only through call_tool; the server reports it as an error result.
    with pytest.raises(MCPToolError, match="Unknown tool: nope"):
        await server.call_tool("nope")


async def test_bad_arguments_are_rejected_by_the_schema_before_the_server(server: MCPServer) -> None:
    dispatcher = ToolDispatcher(await server.tools())
    result = await run(dispatcher, "add", a="two", b=3)
    assert (result.ok, result.error_type) == (False, "ToolArgumentsError")
    assert result.content == "Error: invalid arguments for tool 'add': a: 'two' is not of type 'integer'"
    missing = await run(dispatcher, "add", a=1)
    assert missing.content == "Error: invalid arguments for tool 'add': 'b' is a required property"


async def test_images_and_structured_results_become_text(server: MCPServer) -> None:
    assert await server.call_tool("image") == "[image image/png, 67 bytes]"
    stats = await server.call_tool("stats", {"values": [1, 2, 3]})
    assert stats.replace(" ", "").replace("\n", "") == '{"count":3,"sum":6.0,"mean":2.0}'


async def test_a_server_without_tools_is_a_protocol_error() -> None:
    bare = CALC_SERVER.with_name("bare_server.py")
    async with MCPServer.stdio(sys.executable, [str(bare)]) as server:
        assert server.server_info is not None and server.server_info.name == "bare"
        with pytest.raises(MCPProtocolError, match=r"rejected the tools/list request: Method not found"):
            await server.tools()


# --- timeouts and dying servers --------------------------------------------------------


async def test_a_call_timeout_gives_a_clear_observation_in_time() -> None:
    async with calc(call_timeout=1.0) as server:
        dispatcher = ToolDispatcher(await server.tools())
        start = time.perf_counter()
        result = await run(dispatcher, "slow", seconds=10)
        elapsed = time.perf_counter() - start
        assert 0.9 < elapsed < 2.0
        assert not result.ok
        assert "MCPTimeout: the MCP server 'calc_server' did not answer the call to 'slow' within 1s" in result.content
        # The session survives a timed-out call.
        assert (await run(dispatcher, "add", a=1, b=1)).content == "2"


async def test_killing_the_server_mid_call_gives_a_clear_error_well_within_the_timeout() -> None:
    async with calc(call_timeout=30.0) as server:
        dispatcher = ToolDispatcher(await server.tools())
        pid = server.pid
        assert pid is not None and (await run(dispatcher, "pid")).content == str(pid)

        call = asyncio.create_task(run(dispatcher, "slow", seconds=30))
        await asyncio.sleep(0.5)
        start = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        result = await asyncio.wait_for(call, timeout=10)
        assert time.perf_counter() - start < 3.0

        assert not result.ok
        assert "MCPServerGone: the MCP server 'calc_server' exited during the call to 'slow'" in result.content
        assert "(exit code -9, killed by SIGKILL)" in result.content
        assert server.returncode == -9 and not server.connected
        # Later calls fail at once with the same story.
        later = await run(dispatcher, "add", a=1, b=2)
        assert "has exited (exit code -9" in later.content
        with pytest.raises(MCPServerGone):
            await server.call_tool("add", {"a": 1, "b": 2})

    # This process is fine: a new server connects and works.
    async with calc() as again:
        assert await again.call_tool("add", {"a": 2, "b": 3}) == "5"


async def test_a_server_that_crashes_mid_call_reports_its_exit_code(server: MCPServer) -> None:
    with pytest.raises(MCPServerGone, match=r"exited during the call to 'crash' \(exit code 7\)"):
        await server.call_tool("crash", {"code": 7})


async def test_reconnecting_after_the_server_died_starts_a_new_one(server: MCPServer) -> None:
    first = server.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    async with asyncio.timeout(5):
        while True:  # until the event loop has seen it exit
            if not server.connected:
                break
            await asyncio.sleep(0.01)
    await server.connect()
    assert server.pid not in (None, first)
    assert await server.call_tool("add", {"a": 1, "b": 1}) == "2"


# --- connecting --------------------------------------------------------------------------


async def test_a_missing_command_is_a_connection_error_at_once() -> None:
    start = time.perf_counter()
    with pytest.raises(MCPConnectionError, match="command 'no-such-mcp-server' was not found") as caught:
        async with MCPServer.stdio("no-such-mcp-server", connect_timeout=2.0):
            pass
    assert time.perf_counter() - start < 2.0
    assert "pass the full path" in str(caught.value)


async def test_a_server_that_exits_at_start_says_how_and_why() -> None:
    script = "import sys; print('missing API key', file=sys.stderr); sys.exit(3)"
    with pytest.raises(MCPConnectionError) as caught:
        async with MCPServer.stdio(sys.executable, ["-c", script], connect_timeout=5.0):
            pass
    message = str(caught.value)
    assert "exited during start-up (exit code 3)" in message
    assert "missing API key" in message
    assert "run it by hand" in message


async def test_a_server_that_never_answers_times_out_and_is_killed() -> None:
    before = children()
    start = time.perf_counter()
    with pytest.raises(MCPConnectionError, match="did not complete the MCP handshake within 1s"):
        async with MCPServer.stdio(sys.executable, ["-c", "import time; time.sleep(60)"], connect_timeout=1.0):
            pass
    assert time.perf_counter() - start < 2.5
    assert children() - before == set()


async def test_using_a_server_before_connect_or_after_close_is_a_clear_error() -> None:
    server = calc()
    with pytest.raises(MCPClosed, match="is not connected"):
        await server.call_tool("add", {"a": 1, "b": 2})
    async with server:
        tools = await server.tools(include=["add"])
    result = await run(ToolDispatcher(tools), "add", a=1, b=2)
    assert not result.ok
    assert "MCPClosed: the MCP server 'calc_server' was closed" in result.content
    await server.close()  # closing twice is fine


# --- teardown ----------------------------------------------------------------------------


async def test_teardown_leaves_no_process_behind() -> None:
    before = children()
    async with calc(shutdown_timeout=5.0) as server:
        pid = server.pid
        assert pid is not None and pid in children()
        grandchild = int(await server.call_tool("spawn_child"))
        assert is_running(grandchild)
        start = time.perf_counter()
    assert time.perf_counter() - start < 5.0
    assert process_state(pid) is None  # exited and reaped
    assert children() - before == set()
    assert wait_until_dead(grandchild, 2.0)  # the server's own child went with its process group


async def test_teardown_is_bounded_when_the_server_ignores_stdin_eof_and_sigterm() -> None:
    server = MCPServer.stdio(sys.executable, [str(CALC_SERVER), "stubborn"], shutdown_timeout=1.0)
    async with server:
        assert await server.call_tool("add", {"a": 1, "b": 2}) == "3"
        start = time.perf_counter()
    assert time.perf_counter() - start < 2.5
    assert server.returncode == -signal.SIGKILL


async def test_a_cancelled_call_does_not_break_the_session(server: MCPServer) -> None:
    task = asyncio.create_task(server.call_tool("slow", {"seconds": 10}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await server.call_tool("add", {"a": 2, "b": 2}) == "4"


def test_the_server_dies_with_its_host_process() -> None:
    host = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys\n"
            "from agorakit.tools.mcp import MCPServer\n"
            "async def main():\n"
            f"    async with MCPServer.stdio(sys.executable, [{str(CALC_SERVER)!r}]) as server:\n"
            "        print(server.pid, flush=True)\n"
            "        await asyncio.sleep(60)\n"
            "asyncio.run(main())\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None
        server_pid = int(host.stdout.readline())
        assert is_running(server_pid)
        host.kill()  # SIGKILL: no finally, no atexit, no close()
        host.wait(5)
        assert wait_until_dead(server_pid, 5.0)
    finally:
        host.kill()
        host.wait(5)
