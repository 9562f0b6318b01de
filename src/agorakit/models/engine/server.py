"""Start, share, health-check and restart one ``llama-server`` per model per machine.

Whoever needs the engine first starts it (on a free loopback port) and records
``{pid, port}`` in ``<home>/engine/<key>.json``; other processes find it there
and use the same server instead of loading the model again. A file lock makes
the check-and-start atomic across processes. The starting process stops the
engine when it exits (SIGTERM, then SIGKILL after 10 s), and on Linux the
engine also dies with it (parent-death signal), so even a ``kill -9`` leaves no
orphan; a process still using that engine then finds it gone and starts its own.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from agorakit.core import settings
from agorakit.core.errors import ConfigError, ModelConnectionError
from agorakit.models.engine import build

log = logging.getLogger("agorakit.models.engine")

READY_TIMEOUT_S = 120.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What an engine serves and how: ``slots`` sequences decode together, each up to
    ``slot_context`` tokens, all from one KV pool of ``pool`` tokens (by default 2,048 a slot:
    many agents' short calls, or a few long ones)."""

    model_path: Path
    slots: int = 16
    slot_context: int = 8192
    threads: int | None = None
    pool: int | None = None

    @property
    def pool_tokens(self) -> int:
        return self.pool or max(self.slot_context, self.slots * 2048)

    @property
    def key(self) -> str:
        """One engine per distinct spec on a machine."""
        ident = f"{self.model_path.resolve()}|{self.slots}|{self.slot_context}|{self.threads}|{self.pool_tokens}"
        return f"{self.model_path.stem}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"

    def arguments(self, port: int) -> list[str]:
        threads = self.threads or os.cpu_count() or 2
        return [
            "--model", str(self.model_path),
            "--host", "127.0.0.1", "--port", str(port),
            "--parallel", str(self.slots),
            # One KV pool shared by the slots, each allowed up to slot_context of it.
            "--kv-unified", "--ctx-size", str(self.pool_tokens), "--kv-unified-per-slot", str(self.slot_context),
            # Gemma 3 attends through a sliding window in most layers; with only the window's
            # KV kept, no prefix could be reused (llama-server then disables prompt reuse).
            "--swa-full",
            "--cont-batching",
            "--cache-reuse", "64",
            # Idle slots stay at llama-server's default: moved to its RAM prompt cache when a task
            # starts. A RAM copy keeps only the sliding window's last 512 positions, so a call that
            # branches off more than 512 tokens before a saved conversation's end (a debate
            # moderator's next round after a retried verdict) recomputes its prompt; keeping idle
            # slots in the KV pool (--no-cache-idle-slots) serves it, but measured 16 agents at
            # 1.65x one agent's output instead of 1.95x (bench/engine.py, 2026-12-06).
            "--threads", str(threads), "--threads-batch", str(threads),
            "--no-webui", "--no-warmup",
            "--alias", self.model_path.stem,
        ]  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    # In the child, before exec: the engine is killed when the process that started it dies.
    # SIGKILL, not SIGTERM: llama-server can hang in its clean-up with a request in flight
    # (seen here), and no one would be left to kill it; it holds nothing worth a clean exit.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for agorakit, which stops the engine itself


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip


# The parent-death signal fires when the *thread* that forked exits, not the process: engines
# are spawned from this one thread, which lives as long as the process.
_LAUNCHER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="agorakit-engine")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class Engine:
    """A handle on the machine's engine for one :class:`EngineSpec`."""

    def __init__(self, spec: EngineSpec, home: Path | None = None) -> None:
        self.spec = spec
        #: The agorakit home whose ``engine/`` folder records this engine (fixed at creation).
        self.home = home if home is not None else settings.home()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None
        self.restarts = 0

    @property
    def state_path(self) -> Path:
        return self.home / "engine" / f"{self.spec.key}.json"

    @property
    def log_path(self) -> Path:
        return self.state_path.with_suffix(".log")

    def url(self) -> str:
        """The running engine's base URL, starting (or finding) it first if needed. Blocking."""
        with self._lock:
            if self._base_url is not None and (self._process is None or self._process.poll() is None):
                return self._base_url
            self._base_url = self._attach_or_start()
            return self._base_url

    def lost(self, base_url: str) -> None:
        """A call found the engine at ``base_url`` unreachable: forget it, so the next call restarts it."""
        with self._lock:
            if self._base_url == base_url and not healthy(base_url, timeout=1.0):
                log.warning("engine at %s is gone; it restarts on the next call", base_url)
                self._base_url = None
                self.restarts += 1

    def stop(self) -> None:
        """Stop the engine if this process started it."""
        with self._lock:
            process, self._process, self._base_url = self._process, None, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(self.state_path.read_text())
            if state.get("pid") == process.pid:
                self.state_path.unlink()

    # -- internals --------------------------------------------------------

    @contextlib.contextmanager
    def _machine_lock(self) -> Iterator[None]:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_path.with_suffix(".lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _attach_or_start(self) -> str:
        with self._machine_lock():
            found = self._running()
            if found is not None:
                return found
            return self._start()

    def _running(self) -> str | None:
        try:
            state = json.loads(self.state_path.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        base_url = f"http://127.0.0.1:{port}"
        if _alive(pid) and healthy(base_url):
            return base_url
        return None

    def _start(self) -> str:
        binary = build.binary()
        if not os.access(binary, os.X_OK):
            raise ConfigError(
                f"the engine binary is missing: {binary}",
                hint="run ./scripts/setup (or python -m agorakit.models.engine.build) to build llama-server",
            )
        for _ in range(3):  # a port taken between choosing and binding: choose another
            port = _free_port()
            command = [str(binary), *self.spec.arguments(port)]
            process = _LAUNCHER.submit(_spawn, command, self.log_path).result()
            base_url = f"http://127.0.0.1:{port}"
            if self._wait_ready(process, base_url):
                self._process = process
                self.state_path.write_text(json.dumps({"pid": process.pid, "port": port}))
                atexit.register(self.stop)
                log.info("engine started: %s (pid %d, %d slots)", base_url, process.pid, self.spec.slots)
                return base_url
        tail = self.log_path.read_text(errors="replace")[-1500:]
        raise ModelConnectionError(f"the engine did not start:\n{tail}", hint=f"its log is {self.log_path}")

    def _wait_ready(self, process: subprocess.Popen[bytes], base_url: str) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if healthy(base_url, timeout=1.0):
                return True
            time.sleep(0.05)
        process.kill()
        process.wait()
        return False


_engines: dict[tuple[EngineSpec, Path], Engine] = {}
_engines_lock = threading.Lock()


def engine_for(spec: EngineSpec) -> Engine:
    """This process's handle on the engine for ``spec`` in the current agorakit home."""
    key = (spec, settings.home())
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(spec, key[1])
        return engine
