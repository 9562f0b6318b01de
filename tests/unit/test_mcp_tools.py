"""MCP pieces that need no server: schema tools, result text, MCPServer options, lazy imports.

Calls against real MCP server subprocesses are in tests/integration/test_mcp_*.py.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import pytest
from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from agorakit.core.errors import ConfigError, ToolArgumentsError, ToolDefinitionError, ToolError
from agorakit.core.messages import ToolCall
from agorakit.tools import Tool, ToolDispatcher
from agorakit.tools.mcp import (
    MCPClosed,
    MCPConnectionError,
    MCPError,
    MCPServer,
    MCPServerGone,
    MCPTimeout,
    MCPToolError,
)
from agorakit.tools.mcp._content import result_text
from agorakit.tools.mcp._diagnose import stdio_name

ADD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "minimum": 0}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


async def add(arguments: dict[str, Any]) -> int:
    return int(arguments["a"] + arguments["b"])


# --- Tool.from_schema ----------------------------------------------------------------------


def test_a_schema_tool_keeps_name_description_and_a_copy_of_the_schema() -> None:
    schema = {**ADD_SCHEMA, "properties": dict(ADD_SCHEMA["properties"])}
    made = Tool.from_schema("add", "  Add two integers. ", schema, add, timeout=3.0)
    schema["properties"]["c"] = {"type": "string"}

    assert isinstance(made, Tool)
    assert (made.name, made.description, made.timeout, made.is_async) == ("add", "Add two integers.", 3.0, True)
    assert made.parameters == ADD_SCHEMA
    assert made.spec.to_openai()["function"]["parameters"] == ADD_SCHEMA


async def test_a_schema_tool_validates_with_the_schema_then_runs() -> None:
    made = Tool.from_schema("add", "Add.", ADD_SCHEMA, add)
    assert made.validate({"a": 1, "b": 2}) == {"a": 1, "b": 2}
    assert await made.run({"a": 40, "b": 2}) == 42
    with pytest.raises(ToolArgumentsError, match=r"^'b' is a required property"):
        made.validate({"a": 1})
    with pytest.raises(ToolArgumentsError, match=r"^a: '1' is not of type 'integer'; b: -1 is less than the minimum"):
        made.validate({"a": "1", "b": -1})
    with pytest.raises(ToolArgumentsError, match=r"Additional properties are not allowed \('c' was unexpected\)"):
        made.validate({"a": 1, "b": 2, "c": 3})
    with pytest.raises(ToolArgumentsError, match="arguments must be a JSON object"):
        made.validate([1, 2])  # type: ignore[arg-type]


async def test_a_sync_schema_tool_runs_in_a_worker_thread() -> None:
    import threading

    seen: list[str] = []

    def record(arguments: dict[str, Any]) -> str:
        seen.append(threading.current_thread().name)
        return str(arguments)

    made = Tool.from_schema("record", "", {"type": "object"}, record)
    assert not made.is_async
    assert await made.run({"x": 1}) == "{'x': 1}"
    assert seen and seen[0] != threading.main_thread().name


async def test_a_schema_tool_goes_through_the_dispatcher_like_any_tool() -> None:
    dispatcher = ToolDispatcher([Tool.from_schema("add", "Add.", ADD_SCHEMA, add)])
    ok = await dispatcher.execute(ToolCall("1", "add", {"a": 2, "b": 3}))
    assert (ok.ok, ok.content) == (True, "5")
    bad = await dispatcher.execute(ToolCall("2", "add", {"a": 2}))
    assert (bad.ok, bad.error_type) == (False, "ToolArgumentsError")
    assert bad.content == "Error: invalid arguments for tool 'add': 'b' is a required property"


def test_the_schema_dialect_follows_dollar_schema() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "items": [{"type": "string"}]}
    assert Tool.from_schema("old", "", draft7, add).validate({}) == {}
    with pytest.raises(ToolDefinitionError, match="invalid JSON schema"):
        Tool.from_schema("new", "", {"type": "object", "items": [{"type": "string"}]}, add)


@pytest.mark.parametrize(
    ("name", "schema", "options", "message"),
    [
        ("a.b", ADD_SCHEMA, {}, "invalid tool name 'a.b'"),
        ("x" * 65, ADD_SCHEMA, {}, "invalid tool name"),
        ("add", ADD_SCHEMA, {"timeout": 0}, "timeout must be a positive number"),
        ("add", {"type": "array"}, {}, "must have type 'object'"),
        ("add", {"type": "object", "properties": {"a": {"type": "integr"}}}, {}, "invalid JSON schema"),
    ],
)
def test_bad_schema_tools_fail_when_defined(name: str, schema: dict[str, Any], options: Any, message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        Tool.from_schema(name, "", schema, add, **options)


# --- result text -----------------------------------------------------------------------------


def test_result_text_joins_text_and_describes_other_content() -> None:
    png = base64.b64encode(b"x" * 67).decode()
    result = CallToolResult(
        content=[
            TextContent(text="first"),
            ImageContent(data=png, mime_type="image/png"),
            ResourceLink(uri="file:///tmp/a.txt", name="a.txt"),
            EmbeddedResource(resource=TextResourceContents(uri="file:///tmp/b.txt", text="inside b")),
        ]
    )
    assert result_text(result) == "first\n[image image/png, 67 bytes]\n[resource a.txt file:///tmp/a.txt]\ninside b"


def test_result_text_uses_structured_content_only_without_content_blocks() -> None:
    assert result_text(CallToolResult(content=[], structured_content={"sum": 3, "text": "é"})) == '{"sum":3,"text":"é"}'
    both = CallToolResult(content=[TextContent(text="3")], structured_content={"result": 3})
    assert result_text(both) == "3"
    assert result_text(CallToolResult(content=[])) == ""


# --- MCPServer options and errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"connect_timeout": 0}, "connect_timeout must be a positive number"),
        ({"call_timeout": -1}, "call_timeout must be a positive number"),
        ({"shutdown_timeout": None}, "shutdown_timeout must be a positive number"),
        ({"prefix": "fs."}, "invalid tool name prefix 'fs.'"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MCPServer.stdio("server", **options)


def test_constructors_check_their_arguments() -> None:
    with pytest.raises(ConfigError, match="args must be a list"):
        MCPServer.stdio("python", "server.py")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an HTTP URL"):
        MCPServer.http("localhost:8000/mcp")
    server = MCPServer.http("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer x"})
    assert (server.name, server.transport, server.pid, server.connected) == ("127.0.0.1:8000", "http", None, False)
    assert repr(server) == "MCPServer(name='127.0.0.1:8000', http: http://127.0.0.1:8000/mcp)"


@pytest.mark.parametrize(
    ("command", "args", "name"),
    [
        ("python", ["-u", "servers/files.py", "--root", "/tmp"], "files"),
        ("/usr/bin/python3", ["-m", "mcp_server_git"], "mcp_server_git"),
        ("npx", ["-y", "@modelcontextprotocol/server-memory"], "npx"),
    ],
)
def test_a_stdio_server_is_named_after_its_script_or_command(command: str, args: list[str], name: str) -> None:
    assert stdio_name(command, args) == name
    assert MCPServer.stdio(command, args).name == name
    assert MCPServer.stdio(command, args, name="mine").name == "mine"


async def test_calls_before_connecting_are_a_clear_error() -> None:
    server = MCPServer.stdio("server")
    with pytest.raises(MCPClosed, match="the MCP server 'server' is not connected") as caught:
        await server.call_tool("add", {"a": 1})
    assert "async with server:" in str(caught.value)
    with pytest.raises(MCPClosed):
        await server.tools()
    await server.close()  # closing an unconnected server is fine


def test_mcp_errors_are_tool_errors_with_hints() -> None:
    for kind in (MCPConnectionError, MCPTimeout, MCPServerGone, MCPClosed):
        error = kind("boom")
        assert isinstance(error, MCPError) and isinstance(error, ToolError)
        assert error.hint and str(error) == f"boom ({error.hint})"
    assert str(MCPToolError("the tool failed")) == "the tool failed"


def test_importing_agorakit_and_its_tools_does_not_import_the_mcp_sdk() -> None:
    code = (
        "import sys, agorakit, agorakit.tools, agorakit.tools.mcp\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types', 'httpx2', 'jsonschema')))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert output.stdout.strip() == "[]"
