"""Typed MCP errors. Each one says which server failed, how, and what to do next.

They are :class:`~agorakit.core.errors.ToolError` subclasses: raised inside a
tool call, the dispatcher turns them into an observation the model can read.
Not to be confused with the SDK's own ``mcp.shared.exceptions.MCPError``,
which agorakit translates into these.
"""

from __future__ import annotations

from agorakit.core.errors import ToolError


class MCPError(ToolError):
    """Something went wrong talking to an MCP server."""


class MCPConnectionError(MCPError):
    """The server could not be started or reached, or did not finish the MCP handshake."""

    default_hint = "check the command or URL, and run the server by hand to see its own error"


class MCPTimeout(MCPError):
    """The server did not answer a call within ``call_timeout``."""

    default_hint = "the server may be stuck or the work slow; raise call_timeout if the tool needs longer"


class MCPServerGone(MCPError):
    """The server exited, or its connection was lost, while connected (often mid-call)."""

    default_hint = "the server crashed or was killed; check its logs, then connect again"


class MCPClosed(MCPError):
    """The server connection was used before ``connect()`` or after ``close()``."""

    default_hint = "use the server's tools inside `async with server:`, or after `await server.connect()`"


class MCPProtocolError(MCPError):
    """The server answered with a JSON-RPC error or something that is not a valid MCP result."""

    default_hint = "the server rejected the request; check the tool name and arguments, or the server's logs"


class MCPToolError(MCPError):
    """The tool ran on the server and reported a failure (``isError`` in its result)."""
