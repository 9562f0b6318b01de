"""MCP tools over streamable HTTP against a real server subprocess on 127.0.0.1."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import pytest

from agorakit.core.messages import ToolCall
from agorakit.tools import ToolDispatcher
from agorakit.tools.mcp import MCPConnectionError, MCPServer, MCPToolError
from mcp_servers.helpers import start_http_server

pytestmark = pytest.mark.integration


@pytest.fixture
def http_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process, url = start_http_server(timeout=30.0)
    try:
        yield process, url
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_lists_and_calls_tools_over_http(http_server: tuple[subprocess.Popen[str], str]) -> None:
    _, url = http_server
    async with MCPServer.http(url, prefix="calc_", call_timeout=5.0) as server:
        assert server.transport == "http" and server.pid is None
        tools = {item.name: item for item in await server.tools()}
        assert {"calc_add", "calc_slow", "calc_fail"} <= set(tools)
        assert tools["calc_add"].parameters["required"] == ["a", "b"]

        dispatcher = ToolDispatcher(list(tools.values()))
        added = await dispatcher.execute(ToolCall("1", "calc_add", {"a": 2, "b": 3}))
        assert (added.ok, added.content) == (True, "5")
        failed = await dispatcher.execute(ToolCall("2", "calc_fail", {}))
        assert not failed.ok and "MCPToolError" in failed.content and "the fail tool always fails" in failed.content
        with pytest.raises(MCPToolError):
            await server.call_tool("fail")


async def test_a_call_timeout_over_http(http_server: tuple[subprocess.Popen[str], str]) -> None:
    _, url = http_server
    async with MCPServer.http(url, call_timeout=1.0) as server:
        dispatcher = ToolDispatcher(await server.tools())
        start = time.perf_counter()
        result = await dispatcher.execute(ToolCall("1", "slow", {"seconds": 10}))
        assert time.perf_counter() - start < 2.0
        assert "MCPTimeout" in result.content and "within 1s" in result.content
        assert (await dispatcher.execute(ToolCall("2", "add", {"a": 1, "b": 1}))).content == "2"


async def test_killing_the_http_server_mid_call(http_server: tuple[subprocess.Popen[str], str]) -> None:
    process, url = http_server
    server = MCPServer.http(url, call_timeout=30.0, shutdown_timeout=2.0)
    async with server:
        dispatcher = ToolDispatcher(await server.tools())
        call = asyncio.create_task(dispatcher.execute(ToolCall("1", "slow", {"seconds": 30})))
        await asyncio.sleep(0.5)
        start = time.perf_counter()
        process.kill()
        result = await asyncio.wait_for(call, timeout=10)
        assert time.perf_counter() - start < 3.0
        assert not result.ok
        assert f"MCPServerGone: the connection to the MCP server '{server.name}' ({url}) was lost" in result.content

        # The SDK's HTTP transport fails its task group when the next request cannot connect;
        # that failure stays in the connection's own task and becomes a clear error here.
        later = await dispatcher.execute(ToolCall("2", "add", {"a": 1, "b": 2}))
        assert not later.ok and "MCPServerGone" in later.content
        start = time.perf_counter()
    assert time.perf_counter() - start < 3.0
    with pytest.raises(MCPConnectionError):
        await server.connect()


async def test_a_refused_connection_is_a_connection_error_at_once() -> None:
    start = time.perf_counter()
    with pytest.raises(MCPConnectionError, match=r"cannot connect to the MCP server '127.0.0.1:9' at") as caught:
        async with MCPServer.http("http://127.0.0.1:9/mcp", connect_timeout=5.0):
            pass
    assert time.perf_counter() - start < 5.0
    assert "is the server running" in str(caught.value)


async def test_a_wrong_path_is_a_connection_error(http_server: tuple[subprocess.Popen[str], str]) -> None:
    _, url = http_server
    with pytest.raises(MCPConnectionError, match="cannot connect"):
        async with MCPServer.http(url.replace("/mcp", "/nope"), connect_timeout=5.0):
            pass


async def test_an_unreachable_http_server_does_not_hang_the_call() -> None:
    # A port that accepts connections but never answers: the handshake is bounded by connect_timeout.
    listener = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        start = time.perf_counter()
        with pytest.raises(MCPConnectionError, match="did not complete the MCP handshake within 1s"):
            async with MCPServer.http(f"http://127.0.0.1:{port}/mcp", connect_timeout=1.0, shutdown_timeout=1.0):
                pass
        assert time.perf_counter() - start < 3.5
    finally:
        listener.close()
