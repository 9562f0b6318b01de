"""MCP client: tools from MCP servers (stdio or streamable HTTP) as ordinary agorakit tools.

    async with MCPServer.stdio("python", ["server.py"], prefix="fs_") as server:
        agent = Agent(model=..., tools=await server.tools())
        result = await agent.run("...")

Importing this package is cheap; the ``mcp`` SDK is imported on first connect.
See docs/mcp.md.
"""

from agorakit.tools.mcp.errors import (
    MCPClosed,
    MCPConnectionError,
    MCPError,
    MCPProtocolError,
    MCPServerGone,
    MCPTimeout,
    MCPToolError,
)
from agorakit.tools.mcp.server import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT,
    MCPServer,
)

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "MCPClosed",
    "MCPConnectionError",
    "MCPError",
    "MCPProtocolError",
    "MCPServer",
    "MCPServerGone",
    "MCPTimeout",
    "MCPToolError",
]
