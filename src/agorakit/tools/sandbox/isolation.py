"""Which isolation this machine gives sandboxed code, measured rather than assumed.

:func:`detect_isolation` starts the interpreter under the strongest backend
that works (bubblewrap, then ``unshare``, then plain rlimits) and has it
report what it sees: its network interfaces, its pid, whether a file the
host just created outside its workdir is visible. The :class:`Isolation`
report says what held; ``notes`` say what is weaker than one would hope.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agorakit.tools.sandbox.launch import (
    BACKENDS,
    Backend,
    Interpreter,
    bubblewrap_mode,
    build_plan,
    running_as_root,
)
from agorakit.tools.sandbox.limits import SandboxError

PROBE_TIMEOUT_S = 20.0
# Runs inside the candidate sandbox: reports what it can see, as one JSON line.
_PROBE = """
import json, os, socket, sys
try:
    names = [name for _, name in socket.if_nameindex()]
except OSError:
    names = []
print(json.dumps({"interfaces": names, "pid": os.getpid(), "uid": os.getuid(),
                  "sees_host_file": os.path.exists(sys.argv[1])}))
"""


@dataclass(frozen=True, slots=True)
class Isolation:
    """What isolation is in force for sandboxed code.

    - ``backend``: ``"bubblewrap"`` (file system, network, pid, ipc and uts
      namespaces), ``"unshare"`` (network, pid, ipc and uts namespaces; the
      host's files stay visible) or ``"rlimits-only"`` (a plain child
      process with resource limits).
    - ``network_isolated``: no network interface but loopback inside.
    - ``filesystem_isolated``: the host's files outside the workdir are invisible.
    - ``pid_isolated``: the code cannot see or signal host processes.
    - ``user_namespace``: the code runs in its own user namespace.
    - ``notes``: known weaknesses of this setup, and why stronger backends were not used.
    """

    backend: Backend
    network_isolated: bool
    filesystem_isolated: bool
    pid_isolated: bool
    user_namespace: bool
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line, e.g. ``bubblewrap: network, filesystem, pid isolated``."""
        kinds = [
            name
            for name, held in (
                ("network", self.network_isolated),
                ("filesystem", self.filesystem_isolated),
                ("pid", self.pid_isolated),
            )
            if held
        ]
        isolated = f"{', '.join(kinds)} isolated" if kinds else "no namespace isolation"
        userns = "; user namespace" if self.user_namespace else ""
        return f"{self.backend}: {isolated}{userns}"


def detect_isolation(
    backend: Backend | Literal["auto"] = "auto", *, interpreter: Interpreter | None = None
) -> Isolation:
    """Probe the backends (strongest first, or only ``backend``) and report the first that works.

    Raises :class:`SandboxError` when an explicitly requested backend does not
    work here, or when not even a plain child interpreter starts.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise SandboxError(f"unknown sandbox backend {backend!r}", hint=f"use one of: auto, {', '.join(BACKENDS)}")
    interpreter = interpreter or Interpreter.current()
    candidates: tuple[Backend, ...] = BACKENDS if backend == "auto" else (backend,)
    failures: list[str] = []
    for candidate in candidates:
        try:
            seen = _probe(candidate, interpreter)
        except SandboxError as error:
            if backend != "auto":
                raise
            failures.append(f"{candidate} unavailable: {error.message}")
            continue
        return _report(candidate, seen, failures)
    raise SandboxError("no sandbox backend works on this machine: " + "; ".join(failures))


def _probe(backend: Backend, interpreter: Interpreter) -> dict[str, object]:
    """Start the interpreter under ``backend`` and return what it saw."""
    if backend == "bubblewrap" and shutil.which("bwrap") is None:
        raise SandboxError("bwrap is not installed (apt-get install bubblewrap)")
    if backend == "unshare" and shutil.which("unshare") is None:
        raise SandboxError("unshare (util-linux) is not installed")
    with tempfile.TemporaryDirectory(prefix="agorakit-probe-") as scratch:
        root = Path(scratch)
        canary = root / "host-only"
        canary.write_text("x")
        workdir = root / "work"
        workdir.mkdir()
        uid = None
        if backend == "bubblewrap" and bubblewrap_mode() == "setpriv":
            uid = probe_uid()
            os.chown(workdir, uid, uid)
        plan = build_plan(backend, interpreter, workdir, ["-I", "-S", "-c", _PROBE, str(canary)], uid=uid)
        try:
            done = subprocess.run(
                plan.argv,
                env=plan.env,
                cwd=plan.cwd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                pass_fds=plan.pass_fds,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SandboxError(f"{backend} probe failed: {error}") from error
        finally:
            plan.close_owned()
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise SandboxError(f"exit status {done.returncode}: {detail[-1] if detail else 'no message'}")
    try:
        seen = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise SandboxError(f"{backend} probe printed no report") from error
    if not isinstance(seen, dict):
        raise SandboxError(f"{backend} probe printed no report")
    return seen


def probe_uid() -> int:
    """A uid of its own for a sandbox started by root (see ``launch``): nobody else's processes count
    towards its process limit, and it owns no file on the host."""
    return 2_000_000_000 + int.from_bytes(os.urandom(4), "little") % 100_000_000


def _report(backend: Backend, seen: dict[str, object], failures: list[str]) -> Isolation:
    interfaces = seen.get("interfaces")
    network = isinstance(interfaces, list) and all(name == "lo" for name in interfaces)
    pid_value = seen.get("pid")
    pid = isinstance(pid_value, int) and pid_value <= 3
    filesystem = seen.get("sees_host_file") is False
    notes = list(failures)
    root = running_as_root()
    userns = backend == "unshare"
    if backend == "bubblewrap":
        mode = bubblewrap_mode()
        userns = mode != "setpriv"
        if mode == "setpriv":
            notes.append(
                "bubblewrap runs as root without a user namespace; the code runs as a fresh unprivileged "
                "uid with no capabilities and no_new_privs (nested user namespaces are not disabled)"
            )
        elif mode == "userns-root":
            notes.append(
                "setpriv is missing: the code runs as root mapped into a user namespace, "
                "so the process limit (RLIMIT_NPROC) is not enforced"
            )
        else:
            notes.append("unprivileged user namespace; capabilities dropped; nested user namespaces disabled")
        notes.append("no seccomp filter: the kernel's system calls are reachable (namespaced)")
    elif backend == "unshare":
        notes.append("the host's file system is visible and writable wherever this user may write")
        if root:
            notes.append(
                "root mapped into a user namespace: host files are readable as root, "
                "and the process limit (RLIMIT_NPROC) is not enforced"
            )
    else:
        notes.append("no namespaces: the code sees the host's network, files and processes")
        if root:
            notes.append("running as root: the process limit (RLIMIT_NPROC) is not enforced")
        else:
            notes.append("RLIMIT_NPROC counts all of this user's processes, so the limit is raised by their number")
    notes.append("memory is limited per process (RLIMIT_AS), so the sandbox may use memory_mb x max_processes")
    return Isolation(backend, network, filesystem, pid, userns, tuple(notes))
