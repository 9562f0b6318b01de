"""Helpers for the MCP tests: where the test server is, and what /proc says about processes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

CALC_SERVER = Path(__file__).with_name("calc_server.py")


def process_state(pid: int) -> str | None:
    """The one-letter state in /proc/<pid>/status (``S``, ``R``, ``Z``...), or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return None


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    return process_state(pid) not in (None, "Z", "X")


def wait_until_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def children(of: int | None = None) -> set[int]:
    """The pids whose parent is ``of`` (this process by default), from /proc/<pid>/stat."""
    parent = os.getpid() if of is None else of
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:
            found.add(int(entry.name))
    return found


def start_http_server(timeout: float = 30.0) -> tuple[subprocess.Popen[str], str]:
    """Start calc_server.py over streamable HTTP; return (process, url) once it says READY."""
    process = subprocess.Popen(
        [sys.executable, str(CALC_SERVER), "http"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            process.kill()
            process.wait(5)
            raise RuntimeError(f"the HTTP MCP test server did not get ready within {timeout}s")
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            line = process.stdout.readline()
            if line.startswith("READY "):
                return process, line.split()[1]
