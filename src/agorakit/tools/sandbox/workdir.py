"""The size limit on ``/sandbox``: a sized tmpfs the host can still read and write.

bubblewrap could mount a sized tmpfs at ``/sandbox`` itself (``--size N
--tmpfs``), but that tmpfs would live and die with one interpreter: files
would not survive a restart, and the host could not reach them once it was
gone. So the tmpfs lives in a *keeper* instead: a small process (``sleep``)
holding a private mount namespace in which a tmpfs of ``workdir_size_mb``
is mounted over the sandbox's (empty) host directory. Every interpreter's
bubblewrap starts inside that mount namespace (``nsenter``), so it binds the
tmpfs at ``/sandbox``:

- writes past the size fail with ``ENOSPC`` inside, as do new files past
  one per 4 KB of the size (``nr_inodes``: empty files cost kernel memory);
- the files outlive interpreter restarts, and the host reaches them through
  the keeper's root, ``/proc/<keeper>/root/<host directory>``;
- nothing touches the host's disk or its mount table, and everything goes
  when the keeper exits (with the sandbox, or with the host: ``pdeathsig``).

As root the keeper's mount namespace needs no user namespace; otherwise it
gets one mapping this user to root (``mount(8)`` refuses non-root callers),
and ``nsenter`` enters both before bubblewrap starts.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
from pathlib import Path
from typing import Any

from agorakit.tools.sandbox.launch import running_as_root
from agorakit.tools.sandbox.limits import SandboxError

READY_TIMEOUT_S = 10.0
INODE_BYTES = 4096
"""One file (inode) per this many bytes of the size, and at least ``MIN_INODES``."""
MIN_INODES = 1024
# $0: the directory; $1: size in bytes; $2: inodes; $3: the owner, as seen in the keeper's namespace.
_KEEPER_SCRIPT = (
    'mount -t tmpfs -o "size=$1,nr_inodes=$2,mode=0700,uid=$3,gid=$3" agorakit-sandbox "$0" '
    "&& echo ready && exec sleep infinity"
)
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
_TOOLS = ("setpriv", "unshare", "nsenter", "mount", "sleep", "sh")


def missing_tools() -> str | None:
    """Why no keeper can be started here (a missing util-linux tool), or None."""
    missing = [name for name in _TOOLS if shutil.which(name, path=_SAFE_PATH) is None]
    return f"{', '.join(missing)} not installed (util-linux)" if missing else None


def inodes_for(size_bytes: int) -> int:
    return max(MIN_INODES, size_bytes // INODE_BYTES)


class WorkdirQuota:
    """A sized tmpfs over ``host_dir``, held by a keeper process. Build with :meth:`start`."""

    def __init__(self, process: subprocess.Popen[bytes], host_dir: Path, size_bytes: int, userns: bool) -> None:
        self.process = process
        self.host_dir = host_dir
        self.size_bytes = size_bytes
        self.userns = userns

    @classmethod
    def start(cls, host_dir: Path, size_bytes: int, owner: int | None = None) -> WorkdirQuota:
        """Mount the tmpfs and wait until it is there. ``owner``: the uid to own it (root only;
        otherwise this user owns it). Raises :class:`SandboxError` when that fails."""
        problem = missing_tools()
        if problem is not None:
            raise SandboxError(f"cannot hold a sized tmpfs for the workdir: {problem}")
        userns = not running_as_root()
        tools = {name: shutil.which(name, path=_SAFE_PATH) or name for name in _TOOLS}
        namespaces = ["--user", "--map-root-user"] if userns else []
        inside_owner = 0 if userns else (owner if owner is not None else os.getuid())
        argv = [
            tools["setpriv"], "--pdeathsig", "SIGKILL", "--",
            tools["unshare"], *namespaces, "--mount", "--propagation", "private", "--",
            tools["sh"], "-c", _KEEPER_SCRIPT,
            str(host_dir), str(size_bytes), str(inodes_for(size_bytes)), str(inside_owner),
        ]  # fmt: skip
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={"PATH": _SAFE_PATH, "LC_ALL": "C"},
                start_new_session=True,  # out of the sandbox's process group, and of the terminal's
            )
        except OSError as error:
            raise SandboxError(f"cannot start the workdir's keeper: {error}") from error
        quota = cls(process, host_dir, size_bytes, userns)
        line = quota._read_ready()
        if line != b"ready\n":
            quota.close()
            detail = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise SandboxError(f"cannot mount a sized tmpfs over the workdir: {detail or 'no message'}")
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        return quota

    def _read_ready(self) -> bytes:
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(READY_TIMEOUT_S):
                return b""
        return stdout.readline()

    def enter_prefix(self) -> list[str]:
        """A command prefix that enters the keeper's mount namespace (and user namespace), then runs the rest."""
        nsenter = shutil.which("nsenter", path=_SAFE_PATH) or "nsenter"
        user = ["--user", "--preserve-credentials"] if self.userns else []
        return [nsenter, "--target", str(self.process.pid), *user, "--mount", "--"]

    @property
    def view(self) -> Path:
        """The tmpfs as the host reaches it: through the keeper's root."""
        return Path(f"/proc/{self.process.pid}/root") / self.host_dir.relative_to("/")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """End the keeper: the tmpfs and its files go with the last process in its mount namespace."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5.0)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def remove_tree(path: Path) -> None:
    """Remove a workdir even where the code left directories without permissions."""

    def make_writable(function: Any, failed: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if not os.path.islink(failed):  # chmod follows links: never touch what one points to
                os.chmod(failed, 0o700)
            function(failed)

    shutil.rmtree(path, onerror=make_writable)
