"""``MCPServer``: the tools of an MCP server (stdio or streamable HTTP) as ordinary agorakit tools.

The official SDK's ``ClientSession`` speaks the protocol. Everything around
it is bounded in time: connecting (spawn or HTTP connect, plus the MCP
handshake) by ``connect_timeout``, every request by ``call_timeout``, closing
by ``shutdown_timeout`` (plus at most about a second to force-kill).

The SDK's transports and session run anyio task groups that must be entered
and left in one task, and that cancel their host task when a transport task
fails (an HTTP server that went away does exactly that). So the connection
lives in a private owner task: its failures end that task only, never the
caller's, and closing can always abandon it and kill the server.

The SDK (about a second to import) is imported on first connect, not with
this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from agorakit.core.errors import ConfigError
from agorakit.tools.mcp._content import result_text
from agorakit.tools.mcp._diagnose import connect_error, describe, gone_error, handshake_timeout, stdio_name
from agorakit.tools.mcp._stdio import StdioProcess
from agorakit.tools.mcp._tools import build_tools
from agorakit.tools.mcp.errors import (
    MCPClosed,
    MCPError,
    MCPProtocolError,
    MCPServerGone,
    MCPTimeout,
    MCPToolError,
)
from agorakit.tools.tool import Tool
from agorakit.trace.tracer import current_span

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp_types import Implementation
    from mcp_types import Tool as ToolDescription

logger = logging.getLogger("agorakit.mcp")

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
_HARD_MARGIN_S = 1.0
"""Our own bound on an SDK request, after the SDK's (which also sends the server a cancel)."""
_DISPATCH_MARGIN_S = 2.0
"""The Tool.timeout the dispatcher enforces: a backstop after ours, which gives the clearer error."""
_FORCE_S = 1.0
"""How long a forced teardown (kill the server, cancel the owner task) may take."""
_MAX_PAGES = 100
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]*")


class MCPServer:
    """A connection to one MCP server. Build it with :meth:`stdio` or :meth:`http`.

    Use it as an async context manager (or call :meth:`connect` and
    :meth:`close`); :meth:`tools` returns its tools as agorakit
    :class:`~agorakit.tools.Tool` objects for an ``Agent`` or a
    ``ToolDispatcher``. A connection belongs to the event loop it connected on.
    """

    def __init__(
        self,
        *,
        name: str,
        process: StdioProcess | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        prefix: str = "",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        if (process is None) == (url is None):
            raise ConfigError(
                "an MCPServer needs a process or a URL", hint="use MCPServer.stdio(...) or MCPServer.http(...)"
            )
        for label, value in (
            ("connect_timeout", connect_timeout),
            ("call_timeout", call_timeout),
            ("shutdown_timeout", shutdown_timeout),
        ):
            if not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"{label} must be a positive number of seconds, got {value!r}")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigError(f"invalid tool name prefix {prefix!r}", hint="use letters, digits, '_' or '-'")
        self.name = name
        self.prefix = prefix
        self.connect_timeout = float(connect_timeout)
        self.call_timeout = float(call_timeout)
        self.shutdown_timeout = float(shutdown_timeout)
        self.url = url
        self._headers = dict(headers or {})
        self._process = process
        self._session: ClientSession | None = None
        self._server_info: Implementation | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._closing = False
        self._lock = asyncio.Lock()

    # --- construction -----------------------------------------------------------------

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = False,
        cwd: str | Path | None = None,
        name: str | None = None,
        prefix: str = "",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> MCPServer:
        """A server started as a subprocess that speaks MCP on its stdin and stdout.

        The server gets only ``HOME``, ``PATH``, ``USER`` and a few other basic
        variables of our environment (as with the SDK) plus ``env``;
        ``inherit_env=True`` passes everything. Its stderr is kept (the last
        lines appear in error messages) and logged at DEBUG on ``agorakit.mcp``.
        """
        if isinstance(args, str):
            raise ConfigError("args must be a list of strings, not one string", hint=f"use args=[{args!r}]")
        label = name or stdio_name(command, args)
        process = StdioProcess(label, command, args, env=env, inherit_env=inherit_env, cwd=cwd)
        return cls(
            name=label,
            process=process,
            prefix=prefix,
            connect_timeout=connect_timeout,
            call_timeout=call_timeout,
            shutdown_timeout=shutdown_timeout,
        )

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        prefix: str = "",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> MCPServer:
        """A server reached over streamable HTTP at ``url`` (e.g. ``http://127.0.0.1:8000/mcp``)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"not an HTTP URL: {url!r}", hint="pass the server's endpoint, e.g. http://127.0.0.1:8000/mcp"
            )
        return cls(
            name=name or parts.netloc,
            url=url,
            headers=headers,
            prefix=prefix,
            connect_timeout=connect_timeout,
            call_timeout=call_timeout,
            shutdown_timeout=shutdown_timeout,
        )

    # --- state ----------------------------------------------------------------------------

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self._process is not None else "http"

    @property
    def connected(self) -> bool:
        return self._session is not None and self._gone_reason() is None

    @property
    def pid(self) -> int | None:
        """The stdio server's process id (``None`` over HTTP or before connecting)."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """The stdio server's exit code once it has exited (negative: killed by that signal)."""
        return self._process.returncode if self._process is not None else None

    @property
    def server_info(self) -> Implementation | None:
        """Name and version the server announced in the handshake."""
        return self._server_info

    def __repr__(self) -> str:
        where = self._process.command_line if self._process is not None else self.url
        return f"MCPServer(name={self.name!r}, {self.transport}: {where})"

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Start or reach the server and complete the MCP handshake, within ``connect_timeout``.

        Raises :class:`MCPConnectionError`. Connecting a connected server does
        nothing; connecting one that exited or was closed starts afresh.
        """
        async with self._lock:
            if self.connected:
                return
            await self._teardown(graceful=False)
            self._closing = False
            self._failure = None
            self._stop = asyncio.Event()
            ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
            self._owner = asyncio.create_task(self._own(ready), name=f"agorakit-mcp {self.name}")
            try:
                done, _ = await asyncio.wait([ready], timeout=self.connect_timeout)
                if not done:
                    raise handshake_timeout(self.name, self.connect_timeout, self._process, self.url)
                self._session = ready.result()
            except BaseException:
                await self._teardown(graceful=False)
                raise

    async def close(self) -> None:
        """End the session and stop the server; never raises, never hangs.

        A stdio server gets its stdin closed, then SIGTERM, then SIGKILL (with
        everything it started in its process group). Takes at most
        ``shutdown_timeout`` plus about a second.
        """
        async with self._lock:
            await self._teardown(graceful=True)

    async def _teardown(self, *, graceful: bool) -> None:
        self._closing = True
        self._session = None
        owner, self._owner = self._owner, None
        process = self._process
        try:
            if owner is not None and not owner.done():
                self._stop.set()
                if graceful:
                    await asyncio.wait([owner], timeout=self.shutdown_timeout)
                if not owner.done():
                    if process is not None:
                        process.kill()
                    owner.cancel()
                    await asyncio.wait([owner], timeout=_FORCE_S)
                if not owner.done():
                    logger.warning("MCP server '%s': the connection task did not stop; abandoning it", self.name)
            if process is not None and process.returncode is None and process.pid is not None:
                process.kill()
                await process.wait_exit(_FORCE_S)
        finally:
            # Even when this wait is cancelled: no server outlives its connection.
            if process is not None:
                process.kill()
                process.release()

    async def _own(self, ready: asyncio.Future[ClientSession]) -> None:
        """The connection's task: open the transport and the session, hold them until closed."""
        from agorakit import __version__

        try:
            # The SDK takes about a second to import: do it off the event loop, once.
            await asyncio.to_thread(importlib.import_module, "mcp.client.streamable_http")
            from mcp import ClientSession
            from mcp_types import Implementation

            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport_streams())
                session = ClientSession(read, write, client_info=Implementation(name="agorakit", version=__version__))
                await stack.enter_async_context(session)
                result = await session.initialize()
                self._server_info = result.server_info
                ready.set_result(session)
                await self._stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except Exception as error:
            if not ready.done():
                ready.set_exception(await connect_error(self.name, error, self._process, self.url))
            elif not self._closing:
                self._failure = error
                logger.warning("MCP server '%s': connection lost: %s", self.name, describe(error))

    @contextlib.asynccontextmanager
    async def _transport_streams(self) -> AsyncIterator[tuple[Any, Any]]:
        if self._process is not None:
            await self._process.start()
            async with self._process.streams(self.shutdown_timeout) as streams:
                yield streams
            return
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert self.url is not None
        timeout = httpx2.Timeout(30.0, connect=self.connect_timeout, read=max(300.0, self.call_timeout))
        async with (
            httpx2.AsyncClient(headers=self._headers, timeout=timeout) as client,
            streamable_http_client(self.url, http_client=client) as streams,
        ):
            yield streams

    # --- tools ------------------------------------------------------------------------------

    async def list_tools(self) -> list[ToolDescription]:
        """The server's tool descriptions (all pages), as the SDK returns them."""
        from mcp_types import PaginatedRequestParams

        session = self._live_session()
        found: list[ToolDescription] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await self._request("tools/list request", functools.partial(session.list_tools, params=params))
            found.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return found

    async def tools(self, include: Collection[str] | None = None) -> list[Tool[..., Any]]:
        """The server's tools as agorakit tools (only those named in ``include``, when given).

        Each is named ``prefix + name`` (characters a model API rejects become
        ``_``), keeps the server's description and input schema, and calls the
        server under ``call_timeout``. A tool whose schema is unusable is
        skipped with a warning.
        """
        return build_tools(
            await self.list_tools(),
            server=self.name,
            prefix=self.prefix,
            include=include,
            call=self.call_tool,
            timeout=self.call_timeout + _DISPATCH_MARGIN_S,
        )

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> str:
        """Call a tool by its server-side name; return the observation text.

        Raises :class:`MCPToolError` when the server reports the call failed
        (``isError``), and the other :class:`MCPError` types when the call
        could not be made or answered in time.
        """
        session = self._live_session()
        span = current_span()
        if span is not None:
            span.set("agorakit.mcp.server", self.name)
            span.set("mcp.method.name", "tools/call")
            span.set("network.transport", "pipe" if self._process is not None else "tcp")
        values = dict(arguments or {})
        result = await self._request(
            f"call to '{name}'",
            lambda: session.call_tool(name, values, read_timeout_seconds=self.call_timeout),
        )
        text = result_text(result)
        if result.is_error:
            raise MCPToolError(text or f"the tool '{name}' of MCP server '{self.name}' failed without a message")
        return text

    # --- requests and errors ----------------------------------------------------------------

    def _live_session(self) -> ClientSession:
        session = self._session
        if session is None:
            state = "was closed" if self._closing else "is not connected"
            raise MCPClosed(f"the MCP server '{self.name}' {state}")
        reason = self._gone_reason()
        if reason is not None:
            raise MCPServerGone(f"the MCP server '{self.name}' {reason}")
        return session

    def _gone_reason(self) -> str | None:
        process = self._process
        if process is not None and process.returncode is not None:
            return f"has exited ({process.describe_exit()})"
        if self._failure is not None or (self._owner is not None and self._owner.done()):
            cause = f": {describe(self._failure)}" if self._failure is not None else ""
            return f"lost its connection{cause}"
        return None

    async def _request(self, what: str, send: Callable[[], Awaitable[T]]) -> T:
        """Run one SDK request under the call timeout, translating every failure into an MCPError."""
        from mcp.shared.exceptions import MCPError as SDKError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        try:
            async with asyncio.timeout(self.call_timeout + _HARD_MARGIN_S):
                return await send()
        except TimeoutError:
            raise MCPTimeout(
                f"the MCP server '{self.name}' did not answer the {what} within {self.call_timeout:g}s"
            ) from None
        except SDKError as error:
            if error.code == REQUEST_TIMEOUT:
                raise MCPTimeout(
                    f"the MCP server '{self.name}' did not answer the {what} within {self.call_timeout:g}s"
                ) from None
            if error.code == CONNECTION_CLOSED:
                if self._closing:
                    raise MCPClosed(f"the MCP server '{self.name}' was closed during the {what}") from None
                raise await gone_error(self.name, what, error, self._process, self.url) from None
            raise MCPProtocolError(
                f"the MCP server '{self.name}' rejected the {what}: {error.message} (JSON-RPC error {error.code})"
            ) from None
        except MCPError:
            raise
        except Exception as error:
            raise MCPProtocolError(f"the {what} to MCP server '{self.name}' failed: {describe(error)}") from error
