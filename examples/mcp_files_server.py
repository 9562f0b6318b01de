"""An MCP server that lets a model look at one folder, read-only (used by docs/mcp.md).

    python examples/mcp_files_server.py [FOLDER]                 # stdio (FOLDER defaults to .)
    python examples/mcp_files_server.py [FOLDER] --http PORT     # streamable HTTP on 127.0.0.1:PORT/mcp

Tools: ``list_files(directory)`` and ``read_file(path)``, both relative to
FOLDER; a path that leads outside it is an error result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server: MCPServer = MCPServer("files", log_level="WARNING")
ROOT = Path(".").resolve()


def _inside(relative: str) -> Path:
    path = (ROOT / relative).resolve()
    if not path.is_relative_to(ROOT):
        raise ToolError(f"{relative!r} is outside the served folder")
    return path


@server.tool()
def list_files(directory: str = ".") -> str:
    """List the files and folders in a directory of the served folder, one per line (folders end with /)."""
    folder = _inside(directory)
    if not folder.is_dir():
        raise ToolError(f"no directory {directory!r}")
    return "\n".join(entry.name + ("/" if entry.is_dir() else "") for entry in sorted(folder.iterdir()))


@server.tool()
def read_file(path: str) -> str:
    """Read a text file of the served folder (at most 20,000 characters)."""
    file = _inside(path)
    if not file.is_file():
        raise ToolError(f"no file {path!r}")
    return file.read_text(encoding="utf-8", errors="replace")[:20_000]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=".")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    options = parser.parse_args()
    ROOT = Path(options.folder).resolve()
    if options.http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=options.http)
