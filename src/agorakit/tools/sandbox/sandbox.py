"""The :class:`Sandbox`: a persistent Python interpreter behind an OS boundary.

    async with Sandbox(limits=SandboxLimits(wall_time_s=10), tools=dispatcher) as sb:
        await sb.exec("x = 1")
        result = await sb.exec("print(x)")      # result.stdout == "1\\n"

The host enforces wall time and CPU time per block and caps output; the
kernel enforces memory, processes, file size and open files (rlimits the
interpreter sets on itself, soft = hard, before any code runs, with its
seccomp filter), and the size of ``/sandbox`` (a sized tmpfs). The total
memory of all the sandbox's processes is capped by a cgroup v2 or by the
host's watchdog. A block that gets the interpreter killed comes back as an
:class:`ExecResult` with ``restarted=True``; the next block runs in a fresh
interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, get_args

from agorakit.core.messages import ToolCall
from agorakit.tools.sandbox.block_clock import BlockClock
from agorakit.tools.sandbox.isolation import Isolation, detect_isolation, probe_uid
from agorakit.tools.sandbox.launch import Backend, Interpreter, bubblewrap_mode, running_as_root
from agorakit.tools.sandbox.limits import ExecResult, LimitHit, SandboxError, SandboxLimits
from agorakit.tools.sandbox.memory import MemoryCgroup, find_cgroup_parent
from agorakit.tools.sandbox.process import ProtocolError, RunnerProcess
from agorakit.tools.sandbox.procfs import count_user_tasks
from agorakit.tools.sandbox.seccomp import filter_for_this_machine
from agorakit.tools.sandbox.spans import ATTR_BACKEND, ATTR_CODE, annotate, protections
from agorakit.tools.sandbox.workdir import WorkdirQuota, remove_tree

if TYPE_CHECKING:
    from agorakit.tools.dispatcher import ToolDispatcher
    from agorakit.trace.tracer import Tracer

POLL_S = 0.05
"""How often the host checks a running block's wall and CPU time."""
END_TOKEN_GRACE_S = 1.0
"""How long to wait, after a block reports done, for the last of its output to be read."""
MAX_ERROR_CHARS = 4000

_LIMITS: frozenset[str] = frozenset(get_args(LimitHit))


class Sandbox:
    """Runs Python code blocks in one persistent, isolated interpreter.

    ``tools``: each of the dispatcher's tools becomes a function in the
    interpreter (same name; keyword arguments, or positional ones in the
    order of the tool's schema properties) that runs the call on the host
    through ``dispatcher.execute`` (so policies apply), returns the result
    text, or raises ``ToolError`` with the error observation.
    ``tracer``: each block becomes a span; tool calls nest inside it.
    ``isolation``: a report from :func:`detect_isolation` to reuse (skips the probe);
    ``backend``: which one to require (``"auto"``: the strongest that works).
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        tools: ToolDispatcher | None = None,
        tracer: Tracer | None = None,
        *,
        isolation: Isolation | None = None,
        backend: Backend | Literal["auto"] = "auto",
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.tools = tools
        self.tracer = tracer
        self._isolation = isolation
        self._backend = backend
        self._interpreter = Interpreter.current()
        self._runner: RunnerProcess | None = None
        # Tool calls from code are numbered, not given random ids: a resumed durable run runs the
        # code again and must meet the same calls, to replay their recorded results.
        self._tool_calls = 0
        self._workdir: Path | None = None
        self._uid: int | None = None
        self._cgroup: MemoryCgroup | None = None
        self._quota: WorkdirQuota | None = None
        self._lock = asyncio.Lock()
        self._blocks = 0
        self._entered = False

    @property
    def isolation(self) -> Isolation:
        """What isolation is in force (known once the sandbox is entered, or when given)."""
        if self._isolation is None:
            raise SandboxError("the isolation is known once the sandbox has started", hint="use `async with Sandbox()`")
        return self._isolation

    @property
    def workdir(self) -> Path:
        """Where the host reads and writes the code's only writable place (``/sandbox`` under bubblewrap).

        With a workdir quota (``isolation.workdir_quota``) that place is a sized tmpfs held by a keeper
        process, and this path reaches it through the keeper (``/proc/<pid>/root/...``); otherwise it is
        a plain host directory. Either way it exists while the sandbox runs, and not after.
        """
        if self._workdir is None:
            raise SandboxError("the sandbox has not started", hint="use `async with Sandbox()`")
        return self._quota.view if self._quota is not None else self._workdir

    async def __aenter__(self) -> Sandbox:
        if self._entered:
            raise SandboxError("this sandbox is already running", hint="create one Sandbox per `async with`")
        self._entered = True
        try:
            if self._isolation is None:
                self._isolation = await asyncio.to_thread(
                    detect_isolation, self._backend, interpreter=self._interpreter
                )
            self._workdir = Path(tempfile.mkdtemp(prefix="agorakit-sandbox-"))
            if self._isolation.backend == "bubblewrap" and bubblewrap_mode() == "setpriv":
                self._uid = probe_uid()
                os.chown(self._workdir, self._uid, self._uid)
            if self._isolation.memory_cap == "cgroup-v2":
                self._cgroup = self._create_cgroup()
            if self._isolation.workdir_quota:
                self._quota = await asyncio.to_thread(
                    WorkdirQuota.start, self._workdir, self.limits.workdir_size_bytes, self._uid
                )
            self._runner = await self._start_runner()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._shutdown()

    async def exec(self, code: str, timeout: float | None = None) -> ExecResult:
        """Run one block; ``timeout`` overrides ``limits.wall_time_s`` for it."""
        if not self._entered or self._workdir is None:
            raise SandboxError("the sandbox is not running", hint="use `async with Sandbox() as sb: ...`")
        wall = self.limits.wall_time_s if timeout is None else timeout
        if not wall > 0:
            raise SandboxError(f"timeout must be a positive number of seconds, got {timeout}")
        async with self._lock:
            if self._runner is None:
                self._runner = await self._start_runner()
            if self.tracer is None:
                return await self._run_block(self._runner, code, wall)
            attributes: dict[str, Any] = {
                ATTR_BACKEND: self.isolation.backend,
                **protections(self.isolation, self.limits),
            }
            if self.tracer.capture_content:
                attributes[ATTR_CODE] = code
            with self.tracer.span("execute_code sandbox", attributes) as span:
                result = await self._run_block(self._runner, code, wall)
                annotate(span, result, self.tracer.capture_content)
            return result

    async def _run_block(self, runner: RunnerProcess, code: str, wall: float) -> ExecResult:
        self._blocks += 1
        block_id = self._blocks
        token = f"\0agorakit-end-{secrets.token_hex(8)}\0"
        runner.stdout.begin(token.encode())
        runner.stderr.begin(token.encode())
        clock = BlockClock(wall)
        cpu_before = runner.cpu_seconds() or 0.0
        oom_before = self._cgroup.oom_kills() if self._cgroup is not None else 0
        watchdog = asyncio.create_task(self._watchdog(runner, clock, cpu_before))
        done: dict[str, Any] | None = None
        broken: str | None = None
        try:
            await runner.send({"op": "exec", "id": block_id, "code": code, "token": token})
            while (message := await runner.receive()) is not None:
                if message.get("op") == "tool_call":
                    clock.pause()
                    try:
                        reply = await self._call_tool(message)
                    finally:
                        clock.resume()
                    await runner.send(reply)
                elif message.get("op") == "done" and message.get("id") == block_id:
                    done = message
                    break
            if done is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(END_TOKEN_GRACE_S):
                        await asyncio.gather(runner.stdout.ended.wait(), runner.stderr.ended.wait())
        except ProtocolError as error:
            broken = str(error)
        except ConnectionError:
            pass  # the interpreter died while we wrote to it
        except BaseException:
            # Cancelled, or a tool call's policy stopped the run: the interpreter is mid-block.
            self._runner = None
            await runner.close()
            raise
        finally:
            watchdog.cancel()
        duration = time.monotonic() - clock.start
        if done is not None and not runner.killed and broken is None:
            result = self._finished(runner, done, duration, clock, cpu_before)
            if result.limit_hit is None and self._cgroup is not None and self._cgroup.oom_kills() > oom_before:
                # The kernel killed a process of the sandbox (not the interpreter) for the total.
                result = dataclasses.replace(result, limit_hit="total_memory")
            return result
        return await self._died(runner, duration, clock, wall, broken, oom_before)

    def _finished(
        self, runner: RunnerProcess, done: dict[str, Any], duration: float, clock: BlockClock, cpu_before: float
    ) -> ExecResult:
        limit = done.get("limit") if done.get("limit") in _LIMITS else None
        if limit is None and (runner.stdout.truncated or runner.stderr.truncated):
            limit = "output"
        status = done.get("status")
        error = done.get("error")
        cpu = done.get("cpu_s")
        if not isinstance(cpu, int | float) or cpu < 0:
            measured = runner.cpu_seconds()
            cpu = measured - cpu_before if measured is not None else clock.cpu_s
        rss = done.get("max_rss_mb")
        return ExecResult(
            stdout=runner.stdout.text(),
            stderr=runner.stderr.text(),
            exit_status=status if isinstance(status, int) else None,
            error=_trim(error) if isinstance(error, str) else None,
            limit_hit=limit,
            duration_s=duration,
            cpu_s=float(cpu),
            max_rss_mb=float(rss) if isinstance(rss, int | float) else clock.rss_mb,
        )

    async def _died(
        self,
        runner: RunnerProcess,
        duration: float,
        clock: BlockClock,
        wall: float,
        broken: str | None,
        oom_before: int,
    ) -> ExecResult:
        self._runner = None
        if broken is not None:
            runner.kill(None)
        status = await runner.close(grace=1.0)
        reason = runner.kill_reason
        if reason is None and self._cgroup is not None and self._cgroup.oom_kills() > oom_before:
            reason = "total_memory"  # the kernel's cgroup limit
        if reason is None and status is not None and clock.cpu_total_s >= self.limits.total_cpu_time_s - 1:
            reason = "cpu_time"  # the kernel's RLIMIT_CPU backstop
        if reason == "wall_time":
            why = f"the block ran longer than the wall-time limit of {wall:g}s"
        elif reason == "cpu_time":
            why = f"the block used more than {self.limits.cpu_time_s:g}s of CPU time"
        elif reason == "total_memory":
            why = f"the sandbox's processes together used more than the {self.limits.total_memory_mb} MB memory limit"
            watchdog = runner.memory_watchdog
            if watchdog is not None and watchdog.exceeded_bytes is not None:
                why += f" ({watchdog.exceeded_bytes / 2**20:.0f} MB)"
        elif reason == "output":
            why = f"the block wrote far more than the {self.limits.max_output_bytes}-byte output limit"
        elif broken is not None:
            why = f"the code corrupted the sandbox's control channel ({broken})"
        else:
            why = f"the interpreter died (exit status {status})"
        error = (
            f"Killed: {why}. The interpreter was restarted: "
            "variables, imports and functions from earlier blocks are gone."
        )
        try:
            self._runner = await self._start_runner()
        except SandboxError:
            self._runner = None  # the next exec tries again, and raises if it still cannot
        return ExecResult(
            stdout=runner.stdout.text(),
            stderr=runner.stderr.text(),
            exit_status=status,
            error=error,
            limit_hit=reason,
            duration_s=duration,
            cpu_s=clock.cpu_s,
            max_rss_mb=clock.rss_mb,
            restarted=True,
        )

    async def _watchdog(self, runner: RunnerProcess, clock: BlockClock, cpu_before: float) -> None:
        cpu_limit = self.limits.cpu_time_s
        while True:
            # While a tool call runs the deadline is frozen (and may look past): just keep polling.
            paused = clock.paused_at is not None
            await asyncio.sleep(POLL_S if paused else max(0.0, min(POLL_S, clock.remaining())))
            cpu = runner.cpu_seconds()
            if cpu is not None:
                clock.cpu_total_s = cpu
                clock.cpu_s = max(0.0, cpu - cpu_before)
            rss = runner.peak_rss_mb()
            if rss is not None:
                clock.rss_mb = rss
            if clock.paused_at is not None:
                continue  # the code is waiting for a tool call: its time is not the code's
            if clock.remaining() <= 0:
                runner.kill("wall_time")
                return
            if clock.cpu_s > cpu_limit:
                runner.kill("cpu_time")
                return

    async def _call_tool(self, message: dict[str, Any]) -> dict[str, Any]:
        name, arguments = message.get("name"), message.get("arguments")
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return {"op": "tool_result", "ok": False, "content": "Error: malformed tool call from sandboxed code"}
        if self.tools is None:
            return {"op": "tool_result", "ok": False, "content": f"Error: no tools are available (called {name!r})"}
        self._tool_calls += 1
        result = await self.tools.execute(ToolCall(f"code_call_{self._tool_calls}", name, arguments), self.tracer)
        return {"op": "tool_result", "ok": result.ok, "content": result.content}

    async def _start_runner(self) -> RunnerProcess:
        assert self._workdir is not None
        isolation = self.isolation
        tools = (
            []
            if self.tools is None
            else [_tool_entry(spec.name, spec.description, spec.parameters) for spec in self.tools.specs]
        )
        nproc_extra = 0
        if isolation.backend == "rlimits-only" and not running_as_root():
            nproc_extra = count_user_tasks(os.getuid())  # RLIMIT_NPROC counts all of this user's tasks
        program = None
        if isolation.seccomp:
            program, why = filter_for_this_machine()
            if program is None:
                raise SandboxError(f"the isolation report promises a seccomp filter, but {why}")
        runner = await RunnerProcess.start(
            isolation.backend,
            self._interpreter,
            self._workdir,
            self.limits,
            tools,
            uid=self._uid,
            nproc_extra=nproc_extra,
            seccomp=program,
            prefix=[
                *(self._cgroup.join_prefix() if self._cgroup is not None else ()),
                *(self._quota.enter_prefix() if self._quota is not None else ()),
            ],
        )
        if self._cgroup is None:
            runner.watch_memory(self.limits.total_memory_mb * 1024 * 1024, namespaced=isolation.pid_isolated)
        if self.tracer is not None:
            self.tracer.event(
                "sandbox.start",
                {
                    ATTR_BACKEND: isolation.backend,
                    "agorakit.sandbox.network_isolated": isolation.network_isolated,
                    "agorakit.sandbox.filesystem_isolated": isolation.filesystem_isolated,
                    "agorakit.sandbox.pid_isolated": isolation.pid_isolated,
                    "agorakit.sandbox.user_namespace": isolation.user_namespace,
                    **protections(self.isolation, self.limits),
                    "agorakit.sandbox.notes": list(isolation.notes),
                },
            )
        return runner

    def _create_cgroup(self) -> MemoryCgroup:
        parent, why = find_cgroup_parent()
        if parent is None:
            raise SandboxError(f"the isolation report promises a cgroup v2 memory cap, but {why}")
        try:
            return MemoryCgroup.create(parent, self.limits.total_memory_mb * 1024 * 1024)
        except OSError as error:
            raise SandboxError(f"cannot create the sandbox's cgroup under {parent}: {error}") from error

    async def _shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.close()
        quota, self._quota = self._quota, None
        if quota is not None:
            await asyncio.to_thread(quota.close)
        cgroup, self._cgroup = self._cgroup, None
        if cgroup is not None:
            await asyncio.to_thread(cgroup.close)
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            await asyncio.to_thread(remove_tree, workdir)
        self._entered = False


def _tool_entry(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    properties = parameters.get("properties")
    params = list(properties) if isinstance(properties, dict) else []
    return {"name": name, "params": params, "description": description}


def _trim(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else "...[trimmed]\n" + text[-MAX_ERROR_CHARS:]
