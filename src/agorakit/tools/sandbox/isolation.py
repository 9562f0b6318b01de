"""Which isolation this machine gives sandboxed code, measured rather than assumed.

:func:`detect_isolation` starts the interpreter under the strongest backend
that works (bubblewrap, then ``unshare``, then plain rlimits) and has it
report what it sees: its network interfaces, its pid, whether a file the
host just created outside its workdir is visible, whether the seccomp
filter installs and refuses what it should, the size of its workdir (a sized
tmpfs, under bubblewrap), and, where a cgroup v2 memory controller is
delegated, whether it ran in a trial cgroup. The :class:`Isolation` report
says what held; ``notes`` say what is weaker than one would hope.
"""

from __future__ import annotations

import ast
import contextlib
import functools
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
    RUNNER_FILE,
    Backend,
    Interpreter,
    bubblewrap_mode,
    build_plan,
    running_as_root,
)
from agorakit.tools.sandbox.limits import SandboxError
from agorakit.tools.sandbox.memory import MemoryCap, MemoryCgroup, find_cgroup_parent
from agorakit.tools.sandbox.seccomp import filter_for_this_machine
from agorakit.tools.sandbox.workdir import WorkdirQuota, missing_tools

PROBE_TIMEOUT_S = 20.0
PROBE_MEMORY_BYTES = 256 * 1024 * 1024
PROBE_QUOTA_BYTES = 1024 * 1024
# Runs inside the candidate sandbox: reports what it can see, as one JSON line.
# argv: the host-only file, then (when a filter is to be tried) the filter; the runner's
# install_seccomp is appended to this source (see _probe_source).
_PROBE = """
import json, os, socket, sys
try:
    names = [name for _, name in socket.if_nameindex()]
except OSError:
    names = []
seen = {"interfaces": names, "pid": os.getpid(), "uid": os.getuid(), "sees_host_file": os.path.exists(sys.argv[1])}
workdir = os.statvfs(".")
seen["workdir_bytes"] = workdir.f_blocks * workdir.f_frsize
if len(sys.argv) > 2:
    import ctypes
    try:
        install_seccomp(bytes.fromhex(sys.argv[2]))
    except Exception as error:
        seen["seccomp"] = f"the filter could not be installed: {error}"
    else:
        libc = ctypes.CDLL(None, use_errno=True)
        refused = libc.unshare(0x10000000) == -1 and ctypes.get_errno() == 1
        with open("/proc/self/status") as status:
            mode = [line.split()[1] for line in status if line.startswith("Seccomp:")]
        if mode != ["2"]:
            seen["seccomp"] = f"the filter was installed but /proc reports seccomp mode {mode}"
        else:
            seen["seccomp"] = "ok" if refused else "the filter was installed but did not refuse unshare(CLONE_NEWUSER)"
print(json.dumps(seen))
"""


@functools.cache
def _probe_source() -> str:
    """The probe with the runner's own ``install_seccomp`` defined before it (not the whole runner:
    the probe stays quick)."""
    source = RUNNER_FILE.read_text()
    tree = ast.parse(source)
    [install] = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "install_seccomp"]
    return f"{ast.get_source_segment(source, install)}\n{_PROBE}"


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
    - ``seccomp``: a seccomp filter refuses the system calls code never needs
      (see :mod:`agorakit.tools.sandbox.seccomp`) in every sandboxed process.
    - ``workdir_quota``: the writable ``/sandbox`` is a sized tmpfs
      (``workdir_size_mb``; see :mod:`agorakit.tools.sandbox.workdir`).
    - ``memory_cap``: what holds all the sandbox's processes together to
      ``total_memory_mb``: ``"cgroup-v2"`` (the kernel) or ``"watchdog"`` (the
      host, when no cgroup v2 memory controller is delegated to us; see
      :mod:`agorakit.tools.sandbox.memory`).
    - ``notes``: known weaknesses of this setup, why stronger backends were not
      used, and why a protection above is unavailable here.
    """

    backend: Backend
    network_isolated: bool
    filesystem_isolated: bool
    pid_isolated: bool
    user_namespace: bool
    seccomp: bool = False
    memory_cap: MemoryCap = "watchdog"
    workdir_quota: bool = False
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line, e.g. ``bubblewrap: network, filesystem, pid isolated; seccomp; total memory: watchdog;
        workdir quota``."""
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
        seccomp = "; seccomp" if self.seccomp else "; no seccomp"
        quota = "workdir quota" if self.workdir_quota else "no workdir quota"
        return f"{self.backend}: {isolated}{userns}{seccomp}; total memory: {self.memory_cap}; {quota}"


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
    program, arch = filter_for_this_machine()
    parent, no_cgroup = find_cgroup_parent()
    failures: list[str] = []
    for candidate in candidates:
        try:
            seen, memory_problem, quota_problem = _probe_protected(candidate, interpreter, program, parent, no_cgroup)
        except SandboxError as error:
            if backend != "auto":
                raise
            failures.append(f"{candidate} unavailable: {error.message}")
            continue
        if program is None:
            seccomp_problem: str | None = arch
        elif seen.get("seccomp") != "ok":
            seccomp_problem = str(seen.get("seccomp", "the probe did not report on it"))
        else:
            seccomp_problem = None
        return _report(candidate, seen, failures, seccomp_problem, memory_problem, quota_problem)
    raise SandboxError("no sandbox backend works on this machine: " + "; ".join(failures))


def _probe_protected(
    backend: Backend, interpreter: Interpreter, program: bytes | None, parent: Path | None, no_cgroup: str
) -> tuple[dict[str, object], str | None, str | None]:
    """(what the probe saw, why no cgroup v2 holds the sandbox's memory, why ``/sandbox`` has no
    size limit; each reason None when the protection held).

    With a cgroup ``parent`` the probe runs in a trial child cgroup, which must show that a
    process ran in it; under bubblewrap its workdir is a sized tmpfs, whose size it reports.
    If it fails with those, it runs again without (and fails only if the backend does).
    """
    quota = backend == "bubblewrap" and missing_tools() is None
    if backend != "bubblewrap":
        no_quota: str | None = (
            f"the {backend} backend leaves the host's file system writable: a quota would bound nothing"
        )
    else:
        no_quota = missing_tools()
    with contextlib.ExitStack() as stack:
        trial = None
        if parent is not None:
            try:
                trial = MemoryCgroup.create(parent, PROBE_MEMORY_BYTES)
                stack.callback(trial.close)
            except OSError as error:
                no_cgroup = f"cannot create a cgroup under {parent} ({error.strerror})"
        try:
            seen = _probe(backend, interpreter, program, trial.join_prefix() if trial else [], quota=quota)
        except SandboxError as error:
            extras = [what for what, on in (("in a cgroup", trial), ("on a sized tmpfs", quota)) if on]
            if not extras:
                raise
            seen = _probe(backend, interpreter, program)
            why = f"the sandbox does not start {' and '.join(extras)}: {error.message}"
            return seen, why if trial else no_cgroup, why if quota else no_quota
        memory_problem: str | None = no_cgroup
        if trial is not None:
            memory_problem = None if trial.ran_processes() else f"the probe did not run in its cgroup under {parent}"
        if quota:
            size = seen.get("workdir_bytes")
            no_quota = None if size == PROBE_QUOTA_BYTES else f"/sandbox held {size} bytes, not {PROBE_QUOTA_BYTES}"
        return seen, memory_problem, no_quota


def _probe(
    backend: Backend,
    interpreter: Interpreter,
    program: bytes | None,
    prefix: list[str] | None = None,
    *,
    quota: bool = False,
) -> dict[str, object]:
    """Start the interpreter under ``backend`` (after ``prefix``) and return what it saw,
    trying ``program`` as its seccomp filter and, with ``quota``, a sized tmpfs as its workdir."""
    if backend == "bubblewrap" and shutil.which("bwrap") is None:
        raise SandboxError("bwrap is not installed (apt-get install bubblewrap)")
    if backend == "unshare" and shutil.which("unshare") is None:
        raise SandboxError("unshare (util-linux) is not installed")
    with tempfile.TemporaryDirectory(prefix="agorakit-probe-") as scratch, contextlib.ExitStack() as stack:
        root = Path(scratch)
        canary = root / "host-only"
        canary.write_text("x")
        workdir = root / "work"
        workdir.mkdir()
        uid = None
        if backend == "bubblewrap" and bubblewrap_mode() == "setpriv":
            uid = probe_uid()
            os.chown(workdir, uid, uid)
        args = ["-I", "-S", "-B", "-c", _probe_source(), str(canary)]
        if program is not None:
            args.append(program.hex())
        prefix = list(prefix or ())
        if quota:
            keeper = WorkdirQuota.start(workdir, PROBE_QUOTA_BYTES, owner=uid)
            stack.callback(keeper.close)
            prefix += keeper.enter_prefix()
        plan = build_plan(backend, interpreter, workdir, args, uid=uid, prefix=prefix)
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


def _report(
    backend: Backend,
    seen: dict[str, object],
    failures: list[str],
    seccomp_problem: str | None,
    no_cgroup: str | None,
    no_quota: str | None,
) -> Isolation:
    interfaces = seen.get("interfaces")
    network = isinstance(interfaces, list) and all(name == "lo" for name in interfaces)
    pid_value = seen.get("pid")
    pid = isinstance(pid_value, int) and pid_value <= 3
    filesystem = seen.get("sees_host_file") is False
    notes = list(failures)
    seccomp = seccomp_problem is None
    root = running_as_root()
    userns = backend == "unshare"
    if backend == "bubblewrap":
        mode = bubblewrap_mode()
        userns = mode != "setpriv"
        if mode == "setpriv":
            nested = "refused by the seccomp filter" if seccomp else "not disabled"
            notes.append(
                "bubblewrap runs as root without a user namespace; the code runs as a fresh unprivileged "
                f"uid with no capabilities and no_new_privs (nested user namespaces are {nested})"
            )
        elif mode == "userns-root":
            notes.append(
                "setpriv is missing: the code runs as root mapped into a user namespace, "
                "so the process limit (RLIMIT_NPROC) is not enforced"
            )
        else:
            notes.append("unprivileged user namespace; capabilities dropped; nested user namespaces disabled")
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
    if no_cgroup is not None:
        notes.append(
            f"no cgroup v2 for the total memory ({no_cgroup}): a host watchdog sums the resident memory of the "
            "sandbox's processes every 20-100 ms and kills the sandbox over total_memory_mb; it may overshoot by "
            "what the code allocates between two looks, and memory no process maps (unmapped memfd or System V "
            "shared memory, pipe and socket buffers) is not counted"
        )
        if not pid:
            notes.append(
                "without a pid namespace, a process that leaves the process tree (its own session, orphaned) "
                "escapes the total memory watchdog, as it escapes being killed with the sandbox"
            )
    if seccomp_problem is not None:
        notes.append(f"no seccomp filter ({seccomp_problem}): the kernel's whole system-call surface is reachable")
    if no_quota is not None:
        notes.append(f"no size limit on the workdir ({no_quota})")
    memory_cap: MemoryCap = "watchdog" if no_cgroup is not None else "cgroup-v2"
    return Isolation(backend, network, filesystem, pid, userns, seccomp, memory_cap, no_quota is None, tuple(notes))
