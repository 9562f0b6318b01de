"""The total memory cap across all of a sandbox's processes.

``RLIMIT_AS`` bounds each process; this bounds their sum (``total_memory_mb``).
Two ways, the first that works here:

- **cgroup v2** (``"cgroup-v2"``): a child cgroup of a delegated, writable
  cgroup v2 subtree with the memory controller, with ``memory.max`` at the
  limit, no swap and ``memory.oom.group`` on. Every process of the sandbox is
  started in it, so the kernel counts all their memory (page cache and tmpfs
  pages included) and kills them all together when it cannot reclaim below
  the limit. Where to create it: ``$AGORAKIT_SANDBOX_CGROUP`` (a cgroup v2
  directory; ``+memory`` is written to its ``cgroup.subtree_control`` if
  needed), else this process's own cgroup or its parent, when the memory
  controller is already enabled for their children.
- **the watchdog** (``"watchdog"``): a host thread that sums the resident
  memory of every process of the sandbox a few times a second (every 100 ms,
  every 20 ms once the total passes half the limit) and kills the whole
  sandbox when the total exceeds the limit. It counts anonymous and shared
  memory a process maps (``RssAnon + RssShmem``); when that sum is over the
  limit it checks again with proportional figures (``Pss``, from
  ``smaps_rollup``), so pages a forked child still shares with its parent
  count once, as the kernel would charge them. With ``RLIMIT_AS`` per process
  it bounds the total, up to what the code manages to allocate between two
  looks.

The sandbox's processes are those of its pid namespace, listed through the
interpreter's own ``/proc`` (``/proc/<pid>/root/proc``), or, without a pid
namespace, the interpreter's launcher and its descendants.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from agorakit.tools.sandbox import procfs

MemoryCap = Literal["cgroup-v2", "watchdog"]
CGROUP_ENV = "AGORAKIT_SANDBOX_CGROUP"
CGROUP_PREFIX = "agorakit-sandbox-"
SLOW_POLL_S = 0.1
FAST_POLL_S = 0.02
"""The watchdog looks every ``SLOW_POLL_S``, and every ``FAST_POLL_S`` once past half the limit."""
_PROC = Path("/proc")


# --- cgroup v2 ------------------------------------------------------------------------------------


def cgroup2_mount(proc: Path = _PROC) -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (from ``/proc/self/mountinfo``)."""
    try:
        lines = (proc / "self" / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        if after.split()[:1] == ["cgroup2"]:
            fields = before.split()
            if len(fields) >= 5 and fields[3] == "/":
                return Path(fields[4].replace("\\040", " "))
    return None


def own_cgroups(proc: Path = _PROC) -> tuple[str | None, list[str]]:
    """(this process's cgroup v2 path, the cgroup v1 controllers it is under)."""
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None, []
    unified, v1 = None, []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            unified = path
        else:
            v1 += [name for name in controllers.split(",") if name and not name.startswith("name=")]
    return unified, v1


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def find_cgroup_parent(proc: Path = _PROC) -> tuple[Path | None, str]:
    """(a cgroup v2 directory we may create memory-limited children in, or None; why not).

    Each candidate must offer the memory controller to its children, let us
    create a child with a ``memory.max`` and write the ``cgroup.procs`` our
    processes move through.
    """
    mount = cgroup2_mount(proc)
    unified, v1 = own_cgroups(proc)
    if mount is None or unified is None:
        why = "no cgroup v2 hierarchy is mounted"
        return None, why + (" (memory is a cgroup v1 controller here)" if "memory" in v1 else "")
    offered = _read(mount / "cgroup.controllers").split()
    explicit = os.environ.get(CGROUP_ENV)
    if "memory" not in offered and not explicit:
        why = f"the cgroup v2 hierarchy at {mount} offers no memory controller (only: {', '.join(offered) or 'none'})"
        return None, why + ("; memory is a cgroup v1 controller here" if "memory" in v1 else "")
    if explicit:
        candidates = [Path(explicit)]
    else:
        own = mount / unified.lstrip("/")
        candidates = [own] if own == mount else [own, own.parent]
    reasons: list[str] = []
    for candidate in candidates:
        problem = _unusable(candidate, enable=bool(explicit))
        if problem is None:
            return candidate, str(candidate)
        reasons.append(f"{candidate}: {problem}")
    return None, "; ".join(reasons)


def _unusable(candidate: Path, *, enable: bool) -> str | None:
    """Why no memory-limited child cgroup can be made under ``candidate`` (None: it can)."""
    if "memory" not in _read(candidate / "cgroup.controllers").split():
        return "no memory controller"
    if "memory" not in _read(candidate / "cgroup.subtree_control").split():
        if not enable:
            return "the memory controller is not enabled for its children"
        try:
            (candidate / "cgroup.subtree_control").write_text("+memory")
        except OSError as error:
            return f"cannot enable the memory controller for its children ({error.strerror})"
    if not os.access(candidate / "cgroup.procs", os.W_OK):
        return "not writable (not delegated to this user)"
    return _trial(candidate)


def _trial(candidate: Path) -> str | None:
    trial = candidate / f"{CGROUP_PREFIX}probe-{secrets.token_hex(4)}"
    try:
        trial.mkdir()
    except OSError as error:
        return f"cannot create a child cgroup ({error.strerror})"
    try:
        return None if (trial / "memory.max").exists() else "a child cgroup has no memory.max"
    finally:
        with contextlib.suppress(OSError):
            trial.rmdir()


class MemoryCgroup:
    """One sandbox's cgroup: every process started through :meth:`join_prefix` lands in it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, parent: Path, limit_bytes: int) -> MemoryCgroup:
        path = parent / f"{CGROUP_PREFIX}{secrets.token_hex(6)}"
        path.mkdir()
        cgroup = cls(path)
        try:
            (path / "memory.max").write_text(str(limit_bytes))
            for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                if (path / name).exists():
                    (path / name).write_text(value)
        except OSError:
            cgroup.close()
            raise
        return cgroup

    def join_prefix(self) -> list[str]:
        """A command prefix that moves itself into this cgroup, then runs the rest (same pid)."""
        shell = shutil.which("sh") or "/bin/sh"
        return [shell, "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def oom_kills(self) -> int:
        """How many times the kernel killed in this cgroup for its memory limit."""
        counts = dict(line.split() for line in _read(self.path / "memory.events").splitlines() if " " in line)
        return max(int(counts.get("oom_kill", 0)), int(counts.get("oom_group_kill", 0)))

    def peak_mb(self) -> float | None:
        text = _read(self.path / "memory.peak").strip()
        return int(text) / 2**20 if text.isdigit() else None

    def ran_processes(self) -> bool:
        """Some process has run in this cgroup (it faulted pages in)."""
        for line in _read(self.path / "memory.stat").splitlines():
            name, _, value = line.partition(" ")
            if name == "pgfault":
                return value.strip().isdigit() and int(value) > 0
        return False

    def close(self) -> None:
        """Kill whatever is left in it and remove it."""
        if (self.path / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)  # the killed processes are still being reaped


# --- the watchdog ---------------------------------------------------------------------------------


def _status_kb(process: Path) -> int:
    """``RssAnon + RssShmem`` of a process, in kB (0 if it is gone or a zombie)."""
    total = 0
    try:
        with open(process / "status") as handle:
            for line in handle:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return total


def _proportional_kb(process: Path) -> int | None:
    """``Pss_Anon + Pss_Shmem`` of a process, in kB (``Pss`` on kernels without them); 0 for a
    process that is gone or has released its memory (exiting: an empty file); None when unreadable."""
    fields: dict[str, int] = {}
    try:
        with open(process / "smaps_rollup") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    fields[parts[0][:-1]] = int(parts[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    except OSError:
        return None
    if "Pss_Anon" in fields:
        return fields["Pss_Anon"] + fields.get("Pss_Shmem", 0)
    return fields.get("Pss", None if fields else 0)


def measure(processes: Iterable[Path], limit_bytes: int) -> tuple[int, bool]:
    """(the processes' memory in bytes, whether it is over ``limit_bytes``).

    The cheap resident figures decide when they are under the limit. Over it,
    proportional figures replace them one process after the other, until the
    sum is surely over (those figures alone exceed the limit) or surely under
    (those plus the remaining resident figures do not). ``processes`` come
    parents first: then, while processes fork or exit, pages a parent shares
    with its children are not counted twice (its share is read before the
    children's, which only shrink as more children share).
    """
    resident = [(_status_kb(process), process) for process in processes]
    limit_kb = limit_bytes // 1024
    remaining = sum(kb for kb, _ in resident)
    if remaining <= limit_kb:
        return remaining * 1024, False
    confirmed = 0
    for kb, process in resident:
        remaining -= kb
        proportional = _proportional_kb(process)
        confirmed += kb if proportional is None else min(kb, proportional)
        if confirmed > limit_kb:
            return (confirmed + remaining) * 1024, True
        if confirmed + remaining <= limit_kb:
            return (confirmed + remaining) * 1024, False
    return confirmed * 1024, confirmed > limit_kb


def namespace_processes(anchor: int) -> Callable[[], list[Path]]:
    """Every process of ``anchor``'s pid namespace, through its own ``/proc`` (seen via ``/proc/<anchor>/root``)."""
    inside = _PROC / str(anchor) / "root" / "proc"

    def listing() -> list[Path]:
        try:
            pids = sorted(int(name) for name in os.listdir(inside) if name.isdigit())
        except OSError:
            return []
        return [inside / str(pid) for pid in pids]  # parents first (pids grow from 1 in a new namespace)

    return listing


def tree_processes(root: int) -> Callable[[], list[Path]]:
    """``root`` and its descendants (parents first), from the host's ``/proc``."""
    return lambda: [_PROC / str(pid) for pid in procfs.descendants(root)]


class MemoryWatchdog:
    """A thread that calls ``on_exceed(total_bytes)`` once, when ``processes()`` together use over ``limit_bytes``."""

    def __init__(self, limit_bytes: int, processes: Callable[[], list[Path]], on_exceed: Callable[[int], None]) -> None:
        self.limit_bytes = limit_bytes
        self.last_bytes = 0
        self.peak_bytes = 0
        self.exceeded_bytes: int | None = None
        self._processes = processes
        self._on_exceed = on_exceed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agorakit-sandbox-memory", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1.0)

    def check(self) -> bool:
        """One look; True when over the limit (``on_exceed`` has been called).

        A look over the limit is taken again at once, and only two in a row count: a look
        reads the processes one after the other, and while processes fork, exit or share an
        address space before an ``exec`` (vfork), pages they share are counted at two moments.
        """
        total, over = measure(self._processes(), self.limit_bytes)
        if over:
            total, over = measure(self._processes(), self.limit_bytes)
        self.last_bytes = total
        self.peak_bytes = max(self.peak_bytes, total)
        if over:
            self.exceeded_bytes = total
            self._on_exceed(total)
        return over

    def _run(self) -> None:
        interval = FAST_POLL_S
        while not self._stop.wait(interval):
            if self.check():
                return
            interval = FAST_POLL_S if self.last_bytes * 2 > self.limit_bytes else SLOW_POLL_S
