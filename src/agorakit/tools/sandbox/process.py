"""One sandboxed interpreter as the host sees it: the process, its control pipes, its output.

The control channel is a dedicated pipe pair (never the interpreter's
stdin/stdout, which belong to the code), passed as the only inherited
descriptors besides stdio. Everything read from it is untrusted: lines are
length-capped and must be JSON objects, or the interpreter is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agorakit.tools.sandbox import memory, procfs
from agorakit.tools.sandbox.launch import (
    INSIDE_RUNNER,
    PYTHON_FLAGS,
    RUNNER_FILE,
    Backend,
    Interpreter,
    build_plan,
)
from agorakit.tools.sandbox.limits import OUTPUT_FLOOD_FACTOR, LimitHit, SandboxError, SandboxLimits
from agorakit.tools.sandbox.memory import MemoryWatchdog
from agorakit.tools.sandbox.output import OutputCapture

CONTROL_LINE_LIMIT = 16 * 1024 * 1024
"""Longest control message accepted from the sandbox (a tool call's arguments)."""
STARTUP_TIMEOUT_S = 30.0
_READ_CHUNK = 65_536
_STDERR_SHOWN = 2000


class ProtocolError(Exception):
    """The sandbox sent something that is not a well-formed control message."""


class RunnerProcess:
    """A started interpreter. Build with :meth:`start`; end with :meth:`close`."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: SandboxLimits,
    ) -> None:
        self.proc = proc
        self._reader = reader
        self._writer = writer
        flood = limits.max_output_bytes * OUTPUT_FLOOD_FACTOR
        self.stdout = OutputCapture(limits.max_output_bytes, flood, lambda: self.kill("output"))
        self.stderr = OutputCapture(limits.max_output_bytes, flood, lambda: self.kill("output"))
        self._pumps: list[asyncio.Task[None]] = []
        self.runner_pid: int | None = None
        """The interpreter's pid on the host, for measuring its CPU time; None if not found."""
        self.kill_reason: LimitHit | None = None
        self.killed = False
        self.rlimits: dict[str, int] = {}
        self.python_version = ""
        self.memory_watchdog: MemoryWatchdog | None = None
        """The watchdog holding all the sandbox's processes to the total memory limit, when no cgroup does."""

    @classmethod
    async def start(
        cls,
        backend: Backend,
        interpreter: Interpreter,
        workdir: Path,
        limits: SandboxLimits,
        tools: list[dict[str, Any]],
        *,
        uid: int | None,
        nproc_extra: int = 0,
        seccomp: bytes | None = None,
        prefix: Sequence[str] = (),
    ) -> RunnerProcess:
        """Start the interpreter, hand it its limits, seccomp filter and tools, and wait until it is ready."""
        to_runner_r, to_runner_w = os.pipe()
        from_runner_r, from_runner_w = os.pipe()
        child_fds = [to_runner_r, from_runner_w]
        bubblewrap = backend == "bubblewrap"
        runner_path = INSIDE_RUNNER if bubblewrap else str(RUNNER_FILE)
        args = [*PYTHON_FLAGS, runner_path, str(to_runner_r), str(from_runner_w)]
        try:
            plan = build_plan(
                backend,
                interpreter,
                workdir,
                args,
                runner_source=RUNNER_FILE.read_bytes() if bubblewrap else None,
                uid=uid,
                extra_fds=(to_runner_r, from_runner_w),
                prefix=prefix,
            )
        except BaseException:
            for fd in (*child_fds, to_runner_w, from_runner_r):
                os.close(fd)
            raise
        try:
            proc = await asyncio.create_subprocess_exec(
                *plan.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=plan.env,
                cwd=plan.cwd,
                pass_fds=plan.pass_fds,
                start_new_session=True,  # its own process group: one killpg ends everything it started
            )
        except OSError as error:
            plan.close_owned()
            for fd in (*child_fds, to_runner_w, from_runner_r):
                os.close(fd)
            raise SandboxError(f"cannot start the sandbox ({backend}): {error}") from error
        plan.close_owned()
        for fd in child_fds:
            os.close(fd)

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=CONTROL_LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_runner_r, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_runner_w, "wb", 0)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        runner = cls(proc, reader, writer, limits)
        runner._start_pumps()
        rlimits = limits.rlimits()
        rlimits["NPROC"] += nproc_extra
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_S):
                init: dict[str, Any] = {"op": "init", "rlimits": rlimits, "tools": tools}
                if seccomp is not None:
                    init["seccomp"] = seccomp.hex()
                await runner.send(init)
                ready = await runner.receive()
        except (TimeoutError, ProtocolError, ConnectionError) as error:
            ready = None
            reason = str(error) or type(error).__name__
        else:
            reason = "the interpreter exited during start-up"
        if ready is None or ready.get("op") != "ready":
            await runner.close()
            detail = runner.stderr.pending_text().strip()[-_STDERR_SHOWN:]
            raise SandboxError(f"the sandboxed interpreter did not start ({backend}): {reason}; stderr: {detail!r}")
        applied = ready.get("rlimits")
        if not isinstance(applied, dict) or any(
            not isinstance(applied.get(name), int) or applied[name] > value for name, value in rlimits.items()
        ):
            await runner.close()
            raise SandboxError(f"the sandboxed interpreter did not apply its limits: {applied!r}")
        runner.rlimits = {str(name): int(value) for name, value in applied.items()}
        runner.python_version = str(ready.get("python", ""))
        marker = plan.python_path.encode() + b"\0"
        runner.runner_pid = proc.pid if plan.direct else procfs.find_descendant(proc.pid, marker, runner_path.encode())
        if seccomp is not None:
            # Checked from the host too: the runner's word is only as good as the code it runs.
            mode = procfs.seccomp_mode(runner.runner_pid) if runner.runner_pid is not None else None
            if ready.get("seccomp") is not True or mode not in (None, 2):
                await runner.close()
                raise SandboxError(
                    f"the sandboxed interpreter did not install its seccomp filter: {ready.get('seccomp')!r} "
                    f"(seccomp mode in /proc: {mode})"
                )
        return runner

    def _start_pumps(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, capture in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            self._pumps.append(asyncio.create_task(_pump(stream, capture)))

    async def send(self, message: dict[str, Any]) -> None:
        """Raises ``ConnectionError`` when the interpreter is gone."""
        self._writer.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
        await self._writer.drain()

    async def receive(self) -> dict[str, Any] | None:
        """The next control message, or None when the interpreter closed the channel (it died)."""
        try:
            line = await self._reader.readline()
        except (ValueError, asyncio.LimitOverrunError) as error:
            raise ProtocolError(f"control message over {CONTROL_LINE_LIMIT} bytes") from error
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError as error:
            raise ProtocolError(f"malformed control message: {line[:80]!r}") from error
        if not isinstance(message, dict):
            raise ProtocolError(f"control message is not an object: {line[:80]!r}")
        return message

    def cpu_seconds(self) -> float | None:
        return procfs.cpu_seconds(self.runner_pid) if self.runner_pid is not None else None

    def peak_rss_mb(self) -> float | None:
        return procfs.peak_rss_mb(self.runner_pid) if self.runner_pid is not None else None

    def watch_memory(self, limit_bytes: int, *, namespaced: bool) -> None:
        """Kill the sandbox (``total_memory``) when its processes together use over ``limit_bytes``.

        ``namespaced``: the sandbox has its own pid namespace, so its processes are listed
        through the interpreter's ``/proc``; otherwise they are the launched process's descendants.
        """
        if self.runner_pid is not None and namespaced:
            processes = memory.namespace_processes(self.runner_pid)
        else:
            processes = memory.tree_processes(self.proc.pid)
        self.memory_watchdog = memory.MemoryWatchdog(limit_bytes, processes, lambda _: self.kill("total_memory"))
        self.memory_watchdog.start()

    def kill(self, reason: LimitHit | None) -> None:
        """Kill everything in the sandbox. The first reason given is the one reported."""
        if not self.killed:
            self.killed = True
            self.kill_reason = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def close(self, grace: float = 0.0) -> int | None:
        """Kill (after ``grace`` seconds, if still running), reap, and return the launched process's status.

        The grace lets an interpreter that died on its own pass its real exit status up through
        bubblewrap or unshare instead of being reported as killed.
        """
        if self.memory_watchdog is not None:
            self.memory_watchdog.stop()
        if grace > 0 and self.proc.returncode is None and not self.killed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self.proc.wait()
        if self.proc.returncode is None:
            self.kill(self.kill_reason)
        self._writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self.proc.wait()
        # The pipes end when the last process holding them does; don't wait on stragglers.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.gather(*self._pumps, return_exceptions=True)
        for task in self._pumps:
            task.cancel()
        self.stdout.close()
        self.stderr.close()
        return self.proc.returncode


async def _pump(stream: asyncio.StreamReader, capture: OutputCapture) -> None:
    while chunk := await stream.read(_READ_CHUNK):
        capture.feed(chunk)
    capture.close()
