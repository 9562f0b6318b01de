"""The command lines that start the sandboxed interpreter, one per isolation backend.

bubblewrap builds a new root from read-only binds of ``/usr`` (and the
``/lib*``, ``/bin`` links), the interpreter's prefix (relocated to
``/opt/python``, its site-packages hidden) and the runner file, plus the
private workdir read-write at ``/sandbox`` (the sized tmpfs of
:mod:`agorakit.tools.sandbox.workdir` when bubblewrap starts in its keeper's
mount namespace: see ``prefix``). Nothing else of the host's file
system exists inside: no ``/etc`` (beyond ``ld.so.cache``), ``/home``,
``/root``, ``/tmp`` or the repository. New pid, network, ipc and uts
namespaces; ``/proc`` and ``/dev`` are the sandbox's own.

Two bubblewrap modes, because of a kernel rule: ``RLIMIT_NPROC`` is not
enforced for the host's root user, and bubblewrap started by root maps the
sandbox's user namespace onto root. So when we are root, bubblewrap runs
without a user namespace and ``setpriv`` drops the interpreter to a fresh
unprivileged uid with no capabilities and ``no_new_privs``; otherwise
bubblewrap uses an unprivileged user namespace, drops every capability and
disables nested user namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Backend = Literal["bubblewrap", "unshare", "rlimits-only"]
BACKENDS: tuple[Backend, ...] = ("bubblewrap", "unshare", "rlimits-only")

INSIDE_WORKDIR = "/sandbox"
INSIDE_PYTHON_PREFIX = "/opt/python"
INSIDE_RUNNER = "/opt/agorakit/runner.py"
RUNNER_FILE = Path(__file__).with_name("runner.py")
PYTHON_FLAGS = ("-I", "-S", "-B", "-u", "-X", "utf8")
"""Isolated mode, no site-packages, no .pyc writes, unbuffered UTF-8 output."""

_SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_SETPRIV = "/usr/bin/setpriv"
_PIPE_CAPACITY = 65_536


@dataclass(frozen=True, slots=True)
class Interpreter:
    """The Python the sandbox runs: this process's own base interpreter (not a venv's)."""

    executable: Path
    prefix: Path
    version: str

    @classmethod
    def current(cls) -> Interpreter:
        prefix = Path(os.path.realpath(sys.base_prefix))
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        base = getattr(sys, "_base_executable", None) or sys.executable
        executable = Path(os.path.realpath(base))
        if not executable.is_relative_to(prefix):  # a venv with copied binaries: find the base one
            for name in (f"python{version}", "python3", "python"):
                candidate = prefix / "bin" / name
                if candidate.exists():
                    executable = Path(os.path.realpath(candidate))
                    break
        return cls(executable, prefix, version)

    @property
    def under_usr(self) -> bool:
        return self.prefix == Path("/usr") or self.prefix.is_relative_to("/usr")


def running_as_root() -> bool:
    return os.geteuid() == 0


def bubblewrap_mode() -> Literal["setpriv", "userns", "userns-root"]:
    """How bubblewrap drops privileges here (see the module docstring)."""
    if not running_as_root():
        return "userns"
    return "setpriv" if os.access(_SETPRIV, os.X_OK) else "userns-root"


@dataclass(slots=True)
class LaunchPlan:
    """How to start one interpreter: argv, environment, fds to pass, and how to find its pid."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    pass_fds: tuple[int, ...]
    python_path: str
    """The interpreter's path as the sandboxed process sees it: its ``argv[0]``."""
    direct: bool
    """The interpreter is the launched process itself (no wrapper in between)."""
    owned_fds: tuple[int, ...] = ()
    """Pipes this plan created (among ``pass_fds``): the caller closes them once the process started."""

    def close_owned(self) -> None:
        for fd in self.owned_fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def sandbox_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of sandboxed code: nothing is inherited from the host."""
    env = {"PATH": _SAFE_PATH, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra or {})
    return env


def build_plan(
    backend: Backend,
    interpreter: Interpreter,
    workdir: Path,
    python_args: list[str],
    *,
    runner_source: bytes | None = None,
    uid: int | None = None,
    extra_fds: tuple[int, ...] = (),
    prefix: Sequence[str] = (),
) -> LaunchPlan:
    """The plan for ``backend``. ``python_args`` follow the interpreter; under bubblewrap
    ``runner_source`` becomes the read-only file ``INSIDE_RUNNER``, and ``uid`` is the uid
    ``setpriv`` switches to when bubblewrap runs as root. ``prefix`` is a command that
    ends by exec'ing the rest (e.g. joining a cgroup), so the pid stays the same."""
    plan = _plan(backend, interpreter, workdir, python_args, runner_source, uid, extra_fds)
    plan.argv[:0] = prefix
    return plan


def _plan(
    backend: Backend,
    interpreter: Interpreter,
    workdir: Path,
    python_args: list[str],
    runner_source: bytes | None,
    uid: int | None,
    extra_fds: tuple[int, ...],
) -> LaunchPlan:
    if backend == "bubblewrap":
        return _bubblewrap_plan(interpreter, workdir, python_args, runner_source, uid, extra_fds)
    python = str(interpreter.executable)
    command = [python, *python_args]
    # Without bubblewrap's --die-with-parent, setpriv makes the sandbox die with the host.
    setpriv = shutil.which("setpriv")
    die_with_parent = [setpriv, "--pdeathsig", "SIGKILL", "--"] if setpriv else []
    if backend == "unshare":
        unshare = shutil.which("unshare") or "unshare"
        flags = ["--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
        argv = [*die_with_parent, unshare, *flags, "--ipc", "--uts", "--", *command]
        return LaunchPlan(argv, sandbox_env(str(workdir)), str(workdir), extra_fds, python, direct=False)
    argv = [*die_with_parent, *command]  # setpriv execs the interpreter: same process
    return LaunchPlan(argv, sandbox_env(str(workdir)), str(workdir), extra_fds, python, direct=True)


def _bubblewrap_plan(
    interpreter: Interpreter,
    workdir: Path,
    python_args: list[str],
    runner_source: bytes | None,
    uid: int | None,
    extra_fds: tuple[int, ...],
) -> LaunchPlan:
    mode = bubblewrap_mode()
    command: list[str] = []
    if mode == "setpriv":
        if uid is None:
            raise ValueError("bubblewrap as root needs the uid to run the code as")
        command += [_SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
        command += ["--bounding-set=-all", "--no-new-privs", "--pdeathsig", "SIGKILL", "--"]

    owned: list[int] = []
    try:
        if runner_source is not None:
            owned.append(data_pipe(runner_source))
        python, options, env = _bubblewrap_options(interpreter, workdir, mode, owned[0] if owned else None)
        command += [python, *python_args]
        for key, value in env.items():
            options += ["--setenv", key, value]
        # The options go through a pipe, so the command line of the sandbox's pid 1 (bubblewrap's
        # reaper, which the code can read) shows no host paths: only "--args N" and the command.
        owned.append(data_pipe(b"".join(option.encode() + b"\0" for option in options)))
    except BaseException:
        for fd in owned:
            os.close(fd)
        raise
    argv = [shutil.which("bwrap") or "bwrap", "--args", str(owned[-1]), "--", *command]
    # bubblewrap's own environment is inherited by its pid-1 reaper: keep secrets out of it too.
    return LaunchPlan(
        argv, {"PATH": _SAFE_PATH}, None, (*extra_fds, *owned), python, direct=False, owned_fds=tuple(owned)
    )


def _bubblewrap_options(
    interpreter: Interpreter, workdir: Path, mode: str, runner_fd: int | None
) -> tuple[str, list[str], dict[str, str]]:
    """(the interpreter's path inside, bubblewrap's options but the environment, that environment)."""
    options = ["--die-with-parent", "--new-session"]
    if mode == "setpriv":
        options += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        options += ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        # This user's ids inside, also when bubblewrap starts as root of the workdir keeper's namespace.
        options += ["--uid", str(os.getuid()), "--gid", str(os.getgid())]
    options += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    # bubblewrap would create these mount points 0700 (root-only) when run as root.
    for directory in ("/etc", "/opt", "/opt/agorakit"):
        options += ["--perms", "0755", "--dir", directory]
    for name in _SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            options += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            options += ["--ro-bind", str(host), str(host)]
    options += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]

    extra_env: dict[str, str] = {}
    if interpreter.under_usr:
        python = str(interpreter.executable)
    else:
        # Relocated, so no path under the user's home shows inside; the dynamic loader
        # then needs to be told where libpython went (builds often hard-code a RUNPATH).
        python = f"{INSIDE_PYTHON_PREFIX}/{interpreter.executable.relative_to(interpreter.prefix)}"
        options += ["--ro-bind", str(interpreter.prefix), INSIDE_PYTHON_PREFIX]
        site = interpreter.prefix / "lib" / f"python{interpreter.version}" / "site-packages"
        if site.is_dir():
            inside_site = f"{INSIDE_PYTHON_PREFIX}/lib/python{interpreter.version}/site-packages"
            options += ["--tmpfs", inside_site, "--remount-ro", inside_site]
        extra_env["LD_LIBRARY_PATH"] = f"{INSIDE_PYTHON_PREFIX}/lib"
    if runner_fd is not None:
        options += ["--perms", "0444", "--ro-bind-data", str(runner_fd), INSIDE_RUNNER]
    options += ["--bind", str(workdir), INSIDE_WORKDIR, "--chdir", INSIDE_WORKDIR]
    options += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    return python, options, sandbox_env(INSIDE_WORKDIR, extra_env)


def data_pipe(data: bytes) -> int:
    """The read end of a pipe already holding ``data`` (and closed for writing)."""
    if len(data) > _PIPE_CAPACITY:  # written before any reader exists: it must fit the pipe's buffer
        raise ValueError(f"{len(data)} bytes do not fit a pipe")
    read_end, write_end = os.pipe()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end
