"""Reading the sandboxed interpreter's resource use from the host's ``/proc``.

The host measures CPU time itself rather than trusting the runner's report:
the code runs in the runner's process and could forge anything it says.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (which may hold spaces and parentheses)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    _, _, rest = raw.rpartition(b")")
    return rest.decode(errors="replace").split()


def parent_map() -> dict[int, list[int]]:
    """Children of every process, from each process's parent id."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or len(fields) < 2:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and every process below it (breadth first), from ``children`` or a fresh :func:`parent_map`."""
    children = parent_map() if children is None else children
    found: list[int] = []
    seen: set[int] = set()
    queue = deque([root])
    while queue:
        pid = queue.popleft()
        if pid in seen:
            continue
        seen.add(pid)
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def find_descendant(root: int, argv0: bytes, marker: bytes) -> int | None:
    """The first descendant of ``root`` whose command line starts with ``argv0`` and contains ``marker``.

    (bubblewrap's own command line holds the same words, but not at its start.)
    """
    children = parent_map()
    queue = deque([root])
    while queue:
        pid = queue.popleft()
        try:
            cmdline = (_PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if cmdline.startswith(argv0) and marker in cmdline:
            return pid
        queue.extend(children.get(pid, ()))
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (all its threads) and of the children it has waited for."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 15:
        return None
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    return sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory (``VmHWM``) of a process."""
    try:
        with open(_PROC / str(pid) / "status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def seccomp_mode(pid: int) -> int | None:
    """The ``Seccomp:`` mode of a process (0 none, 1 strict, 2 filter); None if unreadable."""
    try:
        with open(_PROC / str(pid) / "status") as handle:
            for line in handle:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def count_user_tasks(uid: int) -> int:
    """Threads of all processes whose real uid is ``uid``: what ``RLIMIT_NPROC`` counts."""
    total = 0
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        real_uid = threads = None
        try:
            with open(entry / "status") as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        real_uid = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if real_uid == uid and threads is not None:
            total += threads
    return total
