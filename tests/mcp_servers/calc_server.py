"""A small MCP server for the tests, written with the official SDK (2.x ``MCPServer``).

    python calc_server.py            # stdio
    python calc_server.py http       # streamable HTTP on 127.0.0.1, a free port
    python calc_server.py stubborn   # stdio, but only SIGKILL stops it

Over HTTP it binds 127.0.0.1:0 itself (no race for a "free" port) and, once
uvicorn has started, prints one line ``READY <url>`` on stdout.

Tools: ``add``, ``echo``, ``slow`` (sleeps), ``fail`` (an error result),
``pid`` (its process id), ``image`` (an image result), ``stats`` (structured
content), ``spawn_child`` (starts a grandchild process and returns its pid),
and ``crash`` (exits the process mid-call).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server: MCPServer = MCPServer("calc", log_level="WARNING")

# A 1x1 transparent PNG.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de3f0000000049454e44ae426082"
)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep for some seconds, then say so."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}s"


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ToolError("the fail tool always fails")


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def image() -> Image:
    """A 1x1 PNG image."""
    return Image(data=_PNG, format="png")


@server.tool()
def stats(values: list[float]) -> dict[str, float]:
    """Count, sum and mean of some numbers."""
    return {"count": len(values), "sum": sum(values), "mean": sum(values) / len(values) if values else 0.0}


@server.tool()
def spawn_child() -> int:
    """Start a long-sleeping grandchild process and return its pid."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    return child.pid


@server.tool()
def crash(code: int = 3) -> str:
    """Exit the server process at once with this exit code."""
    os._exit(code)


async def _serve_http() -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning", lifespan="on")
    web = uvicorn.Server(config)

    async def announce() -> None:
        while True:
            if web.started:
                print(f"READY http://127.0.0.1:{port}/mcp", flush=True)
                return
            await asyncio.sleep(0.01)

    announcer = asyncio.ensure_future(announce())
    try:
        await web.serve(sockets=[sock])
    finally:
        announcer.cancel()


def _serve_stubborn() -> None:
    """Stdio, but ignores SIGTERM and lingers after stdin closes: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server.run("stdio")
    time.sleep(3600)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "http":
        asyncio.run(_serve_http())
    elif mode == "stubborn":
        _serve_stubborn()
    else:
        server.run("stdio")
