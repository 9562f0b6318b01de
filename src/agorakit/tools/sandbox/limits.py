"""What a sandboxed block may use (:class:`SandboxLimits`) and what it did (:class:`ExecResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from agorakit.core.errors import AgorakitError, ConfigError

LimitHit = Literal[
    "wall_time", "cpu_time", "memory", "total_memory", "output", "file_size", "workdir_size", "processes"
]

OUTPUT_FLOOD_FACTOR = 16
"""A block that writes more than this many times ``max_output_bytes`` to one stream is killed.

Up to that point extra output is only discarded, so a block that prints a
little too much keeps its interpreter; an endless print loop does not get to
run until the wall-time limit.
"""


class SandboxError(AgorakitError):
    """The sandbox cannot start or lost its interpreter in a way it cannot recover from."""

    default_hint = "run detect_isolation() to see what this machine supports; install bubblewrap for full isolation"


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits of a sandbox. Time limits are per :meth:`Sandbox.exec` call.

    - ``wall_time_s``: real time one block may take, enforced by the host,
      which kills the interpreter. Time spent in tool calls made from the
      block does not count (the dispatcher's own tool timeouts bound it).
    - ``cpu_time_s``: CPU time one block may use (all threads of the
      interpreter), measured by the host from ``/proc``, which kills the
      interpreter when it is used up.
    - ``total_cpu_time_s``: lifetime CPU time of every process in the sandbox
      (``RLIMIT_CPU``, enforced by the kernel). The backstop for background
      processes a block leaves running; an interpreter that uses it up is
      restarted.
    - ``memory_mb``: address space per process (``RLIMIT_AS``). Python needs
      about 30-60 MB of it to start.
    - ``total_memory_mb``: memory of all the sandbox's processes together
      (a cgroup v2 ``memory.max``, or the host's watchdog: see
      :mod:`agorakit.tools.sandbox.memory`); over it, the whole sandbox is
      killed and its interpreter restarted.
    - ``max_processes``: processes and threads the sandbox's user may have
      (``RLIMIT_NPROC``), the interpreter included.
    - ``max_file_size_mb``: size of any file a process writes (``RLIMIT_FSIZE``).
    - ``workdir_size_mb``: size of the writable ``/sandbox`` (a sized tmpfs,
      under bubblewrap: see :mod:`agorakit.tools.sandbox.workdir`); writes
      past it fail with ``ENOSPC``. Its files are held in memory.
    - ``max_open_files``: open file descriptors per process (``RLIMIT_NOFILE``).
    - ``max_output_bytes``: stdout and stderr kept per block, each; the rest is
      cut with a marker (see :data:`OUTPUT_FLOOD_FACTOR`).

    Every rlimit is set with soft = hard, so sandboxed code cannot raise it.
    """

    wall_time_s: float = 30.0
    cpu_time_s: float = 10.0
    total_cpu_time_s: float = 600.0
    memory_mb: int = 512
    total_memory_mb: int = 1024
    max_processes: int = 16
    max_file_size_mb: float = 64.0
    workdir_size_mb: float = 256.0
    max_open_files: int = 256
    max_output_bytes: int = 65_536

    def __post_init__(self) -> None:
        for name in ("wall_time_s", "cpu_time_s", "total_cpu_time_s", "max_file_size_mb", "workdir_size_mb"):
            value = getattr(self, name)
            if not (
                isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
            ):
                raise ConfigError(f"SandboxLimits.{name} must be a positive number, got {value!r}")
        if self.workdir_size_mb < 1:
            raise ConfigError(
                f"SandboxLimits.workdir_size_mb must be at least 1, got {self.workdir_size_mb!r}",
                hint="the tmpfs at /sandbox holds the interpreter's working files",
            )
        minimums = {
            "memory_mb": 32,
            "total_memory_mb": 64,
            "max_processes": 2,
            "max_open_files": 16,
            "max_output_bytes": 64,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(
                    f"SandboxLimits.{name} must be an integer of at least {minimum}, got {value!r}",
                    hint="the interpreter itself needs that much to run",
                )

    @property
    def workdir_size_bytes(self) -> int:
        """``workdir_size_mb`` in bytes, rounded down to whole 4 KB pages."""
        return int(self.workdir_size_mb * 1024 * 1024) // 4096 * 4096

    def rlimits(self) -> dict[str, int]:
        """The kernel limits the runner sets on itself, by ``resource.RLIMIT_*`` name (without the prefix)."""
        return {
            "AS": self.memory_mb * 1024 * 1024,
            "CPU": math.ceil(self.total_cpu_time_s),
            "NPROC": self.max_processes,
            "FSIZE": int(self.max_file_size_mb * 1024 * 1024),
            "NOFILE": self.max_open_files,
            "CORE": 0,  # a crash must not write a core file into the workdir
        }


@dataclass(frozen=True, slots=True)
class ExecResult:
    """The outcome of one code block.

    - ``stdout``/``stderr``: what the block wrote (the value of a trailing
      expression is printed, as in a REPL), each cut at ``max_output_bytes``
      with a ``...[output truncated ...]`` marker.
    - ``exit_status``: 0 when the block ran to the end, 1 when it raised, the
      code given to ``SystemExit``; when the interpreter died, its process
      status (``-9`` when the sandbox killed it for a limit).
    - ``error``: the block's traceback (only frames of the sandboxed code),
      trimmed, or the reason the interpreter died; ``None`` on success.
    - ``limit_hit``: the limit that stopped or cut the block, if any.
      ``wall_time``, ``cpu_time``, ``total_memory`` and ``output`` are measured by the host;
      ``memory``, ``file_size``, ``workdir_size`` and ``processes`` are
      recognised from the error they raise inside the sandbox
      (``MemoryError``, ``EFBIG``, ``ENOSPC``, ``EAGAIN`` from fork).
    - ``restarted``: the interpreter died during this block, and the sandbox
      started a fresh one for the next: variables from earlier blocks are gone.
    - ``duration_s``, ``cpu_s``, ``max_rss_mb``: wall time, CPU time (the
      interpreter and the children it waited for) and peak resident memory of
      the block.
    """

    stdout: str
    stderr: str
    exit_status: int | None
    error: str | None
    limit_hit: LimitHit | None
    duration_s: float
    cpu_s: float
    max_rss_mb: float
    restarted: bool = False

    @property
    def ok(self) -> bool:
        """The block ran to the end without an error or a limit."""
        return self.error is None and self.limit_hit is None and self.exit_status == 0

    def observation(self) -> str:
        """Output and error as one text for a model to read."""
        parts = [self.stdout.rstrip("\n")] if self.stdout else []
        if self.stderr:
            parts.append(f"[stderr]\n{self.stderr.rstrip(chr(10))}")
        if self.error:
            parts.append(self.error.rstrip("\n"))
        elif self.exit_status not in (0, None):
            parts.append(f"[exit status {self.exit_status}]")
        return "\n".join(parts) if parts else "(no output)"
