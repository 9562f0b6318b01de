"""The error messages of MCPServer: which server failed, how, and what to do next."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agorakit.tools.mcp._stdio import StdioProcess
from agorakit.tools.mcp.errors import MCPConnectionError, MCPError, MCPServerGone

EXIT_STATUS_WAIT_S = 1.0
"""How long to wait for an exit status after the server's pipe closed (the status follows a moment later)."""


def stdio_name(command: str, args: Sequence[str]) -> str:
    """A readable default name: the script or module a Python server runs, else the command."""
    for index, arg in enumerate(args):
        if arg.endswith(".py"):
            return Path(arg).stem
        if arg == "-m" and index + 1 < len(args):
            return args[index + 1]
    return Path(command).name


def leaf(error: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def describe(error: BaseException) -> str:
    error = leaf(error)
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _stderr(process: StdioProcess) -> str:
    tail = process.stderr_tail(5)
    return f"; its last stderr lines:\n{tail}" if tail else ""


def handshake_timeout(name: str, timeout: float, process: StdioProcess | None, url: str | None) -> MCPConnectionError:
    if process is not None:
        return MCPConnectionError(
            f"the MCP server '{name}' did not complete the MCP handshake within {timeout:g}s{_stderr(process)}",
            hint=f"check that `{process.command_line}` starts an MCP server on stdio, or raise connect_timeout",
        )
    return MCPConnectionError(
        f"the MCP server '{name}' at {url} did not complete the MCP handshake within {timeout:g}s",
        hint="check the URL (host, port and path, e.g. /mcp), or raise connect_timeout",
    )


async def connect_error(name: str, error: BaseException, process: StdioProcess | None, url: str | None) -> MCPError:
    """What went wrong while connecting (the error is what the SDK or the transport raised)."""
    cause = leaf(error)
    if isinstance(cause, MCPError):
        return cause
    if process is None:
        return MCPConnectionError(
            f"cannot connect to the MCP server '{name}' at {url}: {describe(cause)}",
            hint="is the server running, and is the URL (host, port and path, e.g. /mcp) right?",
        )
    await process.wait_exit(EXIT_STATUS_WAIT_S)
    if process.returncode is not None:
        return MCPConnectionError(
            f"the MCP server '{name}' exited during start-up ({process.describe_exit()}){_stderr(process)}",
            hint=f"run it by hand to see why: {process.command_line}",
        )
    return MCPConnectionError(
        f"the MCP server '{name}' failed the MCP handshake: {describe(cause)}{_stderr(process)}",
        hint=f"check that `{process.command_line}` starts an MCP server on stdio",
    )


async def gone_error(
    name: str, what: str, cause: BaseException, process: StdioProcess | None, url: str | None
) -> MCPServerGone:
    """The connection closed under a request: say whether the server exited, and how."""
    if process is None:
        return MCPServerGone(f"the connection to the MCP server '{name}' ({url}) was lost during the {what}: {cause}")
    await process.wait_exit(EXIT_STATUS_WAIT_S)
    if process.returncode is None:
        return MCPServerGone(f"the MCP server '{name}' closed its connection during the {what} (still running)")
    return MCPServerGone(
        f"the MCP server '{name}' exited during the {what} ({process.describe_exit()}){_stderr(process)}"
    )
