"""A stdio MCP server process: spawn it, bridge its pipes to SDK streams, stop it for sure.

The SDK's own ``stdio_client`` hides its process, and agorakit needs the
process: its pid and exit code make "the server exited during the call (exit
code -9)" possible, and a hard kill must stay available when everything else
hangs. So this module owns the process and the byte pipes, and hands the
SDK's ``ClientSession`` the same (read, write) stream pair ``stdio_client``
would: newline-delimited JSON-RPC, parsed with the SDK's own message adapter.

The server runs in a new session (its own process group) so the whole tree
can be signalled at once, and, on Linux, with a parent-death signal so it is
killed when the agorakit process dies, however it dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from agorakit.tools.mcp.errors import MCPConnectionError

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from mcp.shared.message import SessionMessage

logger = logging.getLogger("agorakit.mcp")

DEFAULT_INHERITED_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR")
"""What a stdio server inherits from our environment unless ``inherit_env=True`` (as the SDK does, plus locale)."""

_STDERR_LINES = 40
_STDERR_LINE_CHARS = 500
_MAX_LINE_BYTES = 64 * 1024 * 1024
_EXIT_POLL_S = 0.02
_DRAIN_AFTER_EXIT_S = 0.25
"""After the process exits, how long its stdout may still deliver before the stream is closed."""
_REAP_WAIT_S = 1.0

# Runs first in the child: ask the kernel for SIGKILL when our thread dies, make
# sure we are not already gone, then become the server (same pid). Isolated
# (-I -S) so it starts in a few milliseconds and ignores PYTHON* variables.
_LAUNCHER = """\
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    os._exit(125)
try:
    os.execv(sys.argv[2], sys.argv[2:])
except OSError as error:
    sys.stderr.write(f"cannot execute {sys.argv[2]}: {error}\\n")
    os._exit(127)
"""


def _default_env() -> dict[str, str]:
    return {key: os.environ[key] for key in DEFAULT_INHERITED_ENV if key in os.environ}


class StdioProcess:
    """One MCP server subprocess. Start it with :meth:`start`, talk to it through :meth:`streams`."""

    def __init__(
        self,
        server: str,
        command: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        inherit_env: bool,
        cwd: str | Path | None,
    ) -> None:
        self.server = server
        self.command = command
        self.args = list(args)
        base = dict(os.environ) if inherit_env else _default_env()
        self.env = {**base, **(env or {})}
        self.cwd = Path(cwd) if cwd is not None else None
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)

    @property
    def command_line(self) -> str:
        return shlex.join([self.command, *self.args])

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def stderr_tail(self, lines: int = 10) -> str:
        """The last lines the server wrote to stderr, joined (empty when it wrote none)."""
        return "\n".join(list(self._stderr)[-lines:])

    async def start(self) -> None:
        """Spawn the server. Raises :class:`MCPConnectionError` when it cannot be started."""
        self._stderr.clear()
        executable = self._resolve()
        argv = [executable, *self.args]
        if sys.platform.startswith("linux") and sys.executable:
            argv = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), *argv]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as error:
            raise MCPConnectionError(
                f"cannot start the MCP server '{self.server}' ({self.command_line}): {error}",
                hint="check the command, its permissions and the working directory (cwd)",
            ) from error

    def _resolve(self) -> str:
        command = self.command
        if os.sep in command and self.cwd is not None and not os.path.isabs(command):
            command = str(self.cwd / command)
        found = shutil.which(command, path=self.env.get("PATH", os.defpath))
        if found is None:
            where = "" if os.sep in command else f" on the server's PATH ({self.env.get('PATH', '')})"
            raise MCPConnectionError(
                f"cannot start the MCP server '{self.server}': command {self.command!r} was not found{where}",
                hint="install it, or pass the full path to the executable",
            )
        return os.path.abspath(found) if os.sep in found else found

    def describe_exit(self) -> str:
        """``exit code 1`` or ``exit code -9, killed by SIGKILL``."""
        code = self.returncode
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"exit code {code}, killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"exit code {code}"
        return f"exit code {code}"

    async def wait_exit(self, timeout: float) -> bool:
        """Whether the process has exited within ``timeout`` seconds (polls: never waits on its pipes)."""
        proc = self._proc
        if proc is None:
            return True
        deadline = time.monotonic() + timeout
        while proc.returncode is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_EXIT_POLL_S)
        return True

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the server's whole process group (it leads its own session)."""
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if hasattr(os, "killpg"):
                os.killpg(pid, sig)
            elif self.returncode is None and self._proc is not None:  # pragma: no cover - not POSIX
                self._proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the process group now. Synchronous, so it works from any ``finally``."""
        self.signal_group(signal.SIGKILL)

    async def stop(self, timeout: float) -> None:
        """Close stdin and give the server time to exit, then SIGTERM, then SIGKILL its group.

        Whatever is left of its process group (children the server started) is
        killed too. Takes at most ``timeout`` plus a short wait for the kill.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.close()
        if not await self.wait_exit(timeout * 0.6):
            self.signal_group(signal.SIGTERM)
            await self.wait_exit(timeout * 0.4)
        # Either the server is gone or it had its chance; no member of its group outlives it.
        self.kill()
        await self.wait_exit(_REAP_WAIT_S)
        self.release()

    def release(self) -> None:
        """Close our ends of the pipes once the process is gone (no warnings at garbage collection)."""
        proc = self._proc
        if proc is None or proc.returncode is None:
            return
        # A process killed with a descendant that escaped its group could hold a pipe
        # open forever; the transport is asyncio's private object, closed defensively.
        transport: Any = getattr(proc, "_transport", None)
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    @contextlib.asynccontextmanager
    async def streams(
        self, stop_timeout: float
    ) -> AsyncIterator[
        tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
    ]:
        """The (read, write) stream pair for ``ClientSession``; stops the server on exit."""
        from mcp.shared.message import SessionMessage

        proc = self._proc
        assert proc is not None and proc.stdin and proc.stdout and proc.stderr, "start() first"
        read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
        stdout_scope = anyio.CancelScope()

        async def pump_stdout() -> None:
            from mcp_types import jsonrpc_message_adapter

            assert proc.stdout is not None
            with stdout_scope, contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                async with read_writer:
                    buffer = b""
                    while chunk := await proc.stdout.read(65536):
                        lines = (buffer + chunk).split(b"\n")
                        buffer = lines.pop()
                        if len(buffer) > _MAX_LINE_BYTES:
                            buffer = b""
                            await read_writer.send(ValueError("a message from the server exceeded 64 MiB"))
                        for line in lines:
                            if not line.strip():
                                continue
                            item: SessionMessage | Exception
                            try:
                                item = SessionMessage(jsonrpc_message_adapter.validate_json(line, by_name=False))
                            except ValueError as error:
                                logger.warning(
                                    "MCP server '%s' wrote a line that is not JSON-RPC: %.200r", self.server, line
                                )
                                item = error
                            await read_writer.send(item)

        async def pump_stdin() -> None:
            assert proc.stdin is not None
            try:
                async with write_reader:
                    async for message in write_reader:
                        data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                        proc.stdin.write(data.encode() + b"\n")
                        await proc.stdin.drain()
            except (OSError, RuntimeError):
                # The server stopped reading (it is exiting): end the read side too,
                # so no request waits for an answer that cannot come.
                stdout_scope.cancel()

        async def pump_stderr() -> None:
            assert proc.stderr is not None
            buffer = b""
            while chunk := await proc.stderr.read(8192):
                lines = (buffer + chunk).split(b"\n")
                buffer = lines.pop()[-_STDERR_LINE_CHARS * 4 :]
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip()[:_STDERR_LINE_CHARS]
                    if line:
                        self._stderr.append(line)
                        logger.debug("[%s stderr] %s", self.server, line)

        async def watch_exit() -> None:
            # A server that exits while a child it started still holds stdout open would
            # otherwise leave pending requests waiting for the call timeout.
            await self.wait_exit(float("inf"))
            await anyio.sleep(_DRAIN_AFTER_EXIT_S)
            stdout_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(pump_stdout)
            group.start_soon(pump_stdin)
            group.start_soon(pump_stderr)
            group.start_soon(watch_exit)
            try:
                yield read_stream, write_stream
            finally:
                with anyio.CancelScope(shield=True):
                    # Every wait in stop() is bounded, so the shield cannot make this hang.
                    await self.stop(stop_timeout)
                    for stream in (read_stream, write_stream):
                        await stream.aclose()
                group.cancel_scope.cancel()
