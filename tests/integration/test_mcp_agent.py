"""An agorakit Agent using tools from a real MCP server subprocess: scripted and embedded models."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import jsonschema
import pytest

from agorakit import Agent, ReAct, ScriptedModel, call
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.tools.mcp import MCPServer
from agorakit.trace.tracer import MemorySink
from mcp_servers.helpers import CALC_SERVER

pytestmark = pytest.mark.integration


def calc(**options: Any) -> MCPServer:
    return MCPServer.stdio(sys.executable, [str(CALC_SERVER)], **options)


def spans(sink: MemorySink) -> dict[str, dict[str, Any]]:
    """Span name -> attributes at its end, from the records a run wrote."""
    names = {record[2]: record[4] for record in sink.records if record[0] == "span_start"}
    return {names[record[2]]: record[5] for record in sink.records if record[0] == "span_end"}


async def test_an_agent_calls_an_mcp_tool_and_the_trace_shows_it() -> None:
    async with calc() as server:
        sink = MemorySink()
        model = ScriptedModel([call("add", a=2, b=3), "5"])
        agent = Agent(model=model, tools=await server.tools(include=["add"]), trace=sink)
        result = await agent.run("What is 2 + 3?")

    assert result.output == "5" and result.stop_reason == "final_answer"
    tool_messages = [m for m in result.messages if m.role == "tool"]
    assert [(m.name, m.content) for m in tool_messages] == [("add", "5")]
    # The model was shown the server's own schema for the tool.
    assert model.requests[0].tools[0].name == "add"
    assert model.requests[0].tools[0].parameters["required"] == ["a", "b"]

    ended = spans(sink)
    assert "execute_tool add" in ended
    tool_span = ended["execute_tool add"]
    assert tool_span["gen_ai.tool.name"] == "add"
    assert tool_span["agorakit.tool.outcome"] == "ok"
    assert tool_span["agorakit.mcp.server"] == "calc_server"
    assert tool_span["mcp.method.name"] == "tools/call"


async def test_killing_the_server_mid_call_gives_the_agent_a_clear_error_within_the_timeout() -> None:
    async with calc(call_timeout=30.0) as server:
        model = ScriptedModel([call("slow", seconds=30), "The tool server died."])
        agent = Agent(model=model, tools=await server.tools(), trace=False)
        run = asyncio.create_task(agent.run("Wait a while."))
        await asyncio.sleep(0.5)  # the call is in flight
        assert server.pid is not None
        start = time.perf_counter()
        os.kill(server.pid, signal.SIGKILL)
        result = await asyncio.wait_for(run, timeout=10)
        elapsed = time.perf_counter() - start

    assert elapsed < 3.0  # well under the 30 s call timeout
    observation = next(m for m in result.messages if m.role == "tool")
    assert observation.content is not None
    assert observation.content.startswith("Error: tool 'slow' failed: MCPServerGone: ")
    assert "the MCP server 'calc_server' exited during the call to 'slow' (exit code -9" in observation.content
    # The model saw the error and the run ended normally.
    assert model.requests[1].messages[-1].content == observation.content
    assert result.output == "The tool server died."


async def test_the_embedded_model_calls_an_mcp_tool(gemma: LlamaCppModel) -> None:
    async with calc() as server:
        schema = {item.name: item.input_schema for item in await server.list_tools()}["add"]
        agent = Agent(
            model=gemma,
            tools=await server.tools(include=["add"]),
            strategy=ReAct(tool_first=True),
            max_steps=3,
            trace=False,
        )
        result = await agent.run("What is 2 + 3? Use the add tool.")

        first = next(m for m in result.messages if m.role == "assistant")
        assert [c.name for c in first.tool_calls] == ["add"]
        arguments = first.tool_calls[0].arguments
        jsonschema.validate(arguments, schema)
        observation = next(m for m in result.messages if m.role == "tool")
        assert observation.tool_call_id == first.tool_calls[0].id
        assert observation.content == await server.call_tool("add", arguments)
        assert observation.content == str(arguments["a"] + arguments["b"])
