"""The interpreter loop that runs INSIDE the sandbox. Standard library only.

Started as ``python -I -S -B -u -X utf8 runner.py CTL_IN CTL_OUT``: isolated
mode (no ``PYTHON*`` variables, no user site, no script directory on the
path), no ``site`` (so no site-packages), unbuffered output (so ``print`` and
raw ``os.write(1, ...)`` reach the host in order). The host speaks JSON lines
over two dedicated pipes, never over stdin/stdout, which belong to the code:

    host   -> runner  {"op": "init", "rlimits": {...}, "seccomp": "<hex>", "tools": [...]}
    runner -> host    {"op": "ready", "rlimits": {...applied...}, "seccomp": true, "python": "..."}
    host   -> runner  {"op": "exec", "id": N, "code": "...", "token": "..."}
    runner -> host    {"op": "tool_call", "name": "...", "arguments": {...}}   (0 or more)
    host   -> runner  {"op": "tool_result", "ok": true, "content": "..."}
    runner -> host    {"op": "done", "id": N, "status": 0, "error": null, "limit": null, ...}

Nothing here is a security boundary: the code runs in this very process and
can read or forge anything the runner does. The OS sandbox around the process
is the boundary; the host treats every message as untrusted data. The runner
only has to apply the rlimits and the seccomp filter before any code runs,
which it does first (the host checks the filter in ``/proc`` too).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import errno
import json
import linecache
import os
import resource
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

MAX_ERROR_CHARS = 4000
_RUNNER_FILE = __file__
# Words in the failing line or function that mark an EAGAIN as the process limit.
_SPAWN_WORDS = ("fork", "spawn", "Popen", "subprocess", "_execute_child", "Process", "system")


class ToolError(Exception):
    """A tool called from sandboxed code failed; the message is the observation."""


class Channel:
    """The control pipes. One lock serialises a tool call's request and reply across threads."""

    def __init__(self, reader: BinaryIO, out_fd: int) -> None:
        self.reader = reader
        self.out_fd = out_fd
        self.lock = threading.RLock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, ensure_ascii=False, default=str) + "\n").encode()
        with self.lock:
            _write_all(self.out_fd, data)

    def receive(self) -> dict[str, Any] | None:
        with self.lock:
            line = self.reader.readline()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("control message is not an object")
        return message

    def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        try:
            request = json.dumps({"op": "tool_call", "name": name, "arguments": arguments}, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise TypeError(f"arguments of tool {name!r} must be JSON values: {error}") from None
        with self.lock:
            _write_all(self.out_fd, (request + "\n").encode())
            reply = self.receive()
        if reply is None:  # the host is gone: nothing sensible is left to do
            os._exit(70)
        if reply.get("op") != "tool_result":
            raise RuntimeError(f"sandbox protocol error: expected a tool result, got {reply.get('op')!r}")
        content = str(reply.get("content", ""))
        if not reply.get("ok"):
            raise ToolError(content)
        return content


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def apply_rlimits(wanted: dict[str, int]) -> dict[str, int]:
    """Set each limit with soft = hard (never above the current hard limit); return what is in force."""
    applied: dict[str, int] = {}
    for name, value in wanted.items():
        kind = getattr(resource, f"RLIMIT_{name}")
        _, hard = resource.getrlimit(kind)
        target = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (target, target))
        applied[name] = resource.getrlimit(kind)[1]
    return applied


def install_seccomp(program: bytes) -> None:
    """Install a seccomp filter (``struct sock_filter`` records) on this thread and all it will start.

    Sets ``no_new_privs`` first, as an unprivileged filter requires. Raises ``OSError`` on failure.
    Self-contained: ``detect_isolation``'s probe runs this very function's source.
    """
    import ctypes  # only here: a runner without a filter does not pay for it
    import os

    pr_set_seccomp, pr_set_no_new_privs, seccomp_mode_filter = 22, 38, 2

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    if not program or len(program) % 8:
        raise ValueError("a seccomp program is a non-empty sequence of 8-byte instructions")
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(code)}")
    if prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.addressof(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_SECCOMP): {os.strerror(code)}")


def make_tool_proxy(channel: Channel, name: str, params: list[str], description: str) -> Callable[..., str]:
    """A function that runs the host tool ``name``: positional arguments follow the schema's property order."""

    def proxy(*args: Any, **kwargs: Any) -> str:
        if len(args) > len(params):
            raise TypeError(f"{name}() takes at most {len(params)} positional arguments ({len(args)} given)")
        arguments: dict[str, Any] = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key in arguments:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            arguments[key] = value
        return channel.call_tool(name, arguments)

    proxy.__name__ = proxy.__qualname__ = name.replace("-", "_")
    proxy.__doc__ = description or None
    return proxy


def build_namespace(channel: Channel, tools: list[dict[str, Any]]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "ToolError": ToolError}
    for spec in tools:
        proxy = make_tool_proxy(channel, spec["name"], list(spec["params"]), spec.get("description", ""))
        namespace[spec["name"]] = proxy
        namespace[proxy.__name__] = proxy  # "get-weather" is callable as get_weather
    return namespace


def run_code(code: str, filename: str, namespace: dict[str, Any]) -> Any:
    """Run a block; return the value of a trailing expression (``None`` when there is none)."""
    tree = ast.parse(code, filename, "exec")
    last: ast.expr | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1].value
        tree.body.pop()
    exec(compile(tree, filename, "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(last), filename, "eval"), namespace)


def format_error(error: BaseException) -> str:
    """The traceback without the runner's own frames, keeping its end when it is long."""
    summary = traceback.TracebackException.from_exception(error)
    _drop_runner_frames(summary, set())
    text = "".join(summary.format())
    if len(text) > MAX_ERROR_CHARS:
        text = "...[traceback trimmed]\n" + text[-MAX_ERROR_CHARS:]
    return text


def _drop_runner_frames(summary: traceback.TracebackException, seen: set[int]) -> None:
    if id(summary) in seen:
        return
    seen.add(id(summary))
    kept = [frame for frame in summary.stack if frame.filename != _RUNNER_FILE]
    summary.stack = traceback.StackSummary.from_list(kept)
    for linked in (summary.__cause__, summary.__context__):
        if linked is not None:
            _drop_runner_frames(linked, seen)


def classify_limit(error: BaseException) -> str | None:
    """Which rlimit an uncaught error comes from, when it plainly does."""
    if isinstance(error, MemoryError):
        return "memory"
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        return "file_size"
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "workdir_size"
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        return "processes"
    if isinstance(error, OSError) and error.errno == errno.EAGAIN:
        frames = traceback.extract_tb(error.__traceback__)
        if frames:
            last = frames[-1]
            where = f"{last.name} {last.line or ''} {last.filename}"
            if any(word in where for word in _SPAWN_WORDS):
                return "processes"
    return None


def _exit_code(error: SystemExit) -> int:
    code = error.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak_rss() -> None:
    try:  # "5" resets the peak RSS (VmHWM) the block's max_rss_mb is read from
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Runner:
    def __init__(self, channel: Channel, namespace: dict[str, Any]) -> None:
        self.channel = channel
        self.namespace = namespace
        self.pid = os.getpid()
        self.streams = (sys.stdin, sys.stdout, sys.stderr)

    def execute(self, block_id: int, code: str, token: bytes) -> dict[str, Any]:
        filename = f"<code-{block_id}>"
        # Registered so tracebacks show the lines of sandboxed code.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        _reset_peak_rss()
        cpu_before = _cpu_seconds()
        status, error, limit = 0, None, None
        try:
            value = run_code(code, filename, self.namespace)
            self._leave_if_forked(0)
            if value is not None:
                self.namespace["_"] = value
                print(repr(value))
        except SystemExit as exit_request:
            status = _exit_code(exit_request)
            self._leave_if_forked(status)
        except BaseException as raised:
            self._leave_if_forked(1)
            status, error, limit = 1, format_error(raised), classify_limit(raised)
        self._finish_streams(token)
        return {
            "op": "done",
            "id": block_id,
            "status": status,
            "error": error,
            "limit": limit,
            "cpu_s": _cpu_seconds() - cpu_before,
            "max_rss_mb": _peak_rss_mb(),
        }

    def _leave_if_forked(self, status: int) -> None:
        # A process the code forked must never come back into the runner loop.
        if os.getpid() != self.pid:
            os._exit(status)

    def _finish_streams(self, token: bytes) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the code may have closed or replaced it
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = self.streams
        # The end-of-block marker tells the host it has every byte the block wrote.
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                _write_all(fd, token)

    def serve(self) -> None:
        while True:
            message = self.channel.receive()
            if message is None:
                return
            if message.get("op") == "exec":
                token = str(message["token"]).encode()
                self.channel.send(self.execute(int(message["id"]), str(message["code"]), token))


def main(argv: list[str]) -> int:
    ctl_in, ctl_out = int(argv[1]), int(argv[2])
    os.set_inheritable(ctl_in, False)
    os.set_inheritable(ctl_out, False)
    channel = Channel(os.fdopen(ctl_in, "rb"), ctl_out)
    init = channel.receive()
    if init is None or init.get("op") != "init":
        return 2
    applied = apply_rlimits({str(k): int(v) for k, v in init["rlimits"].items()})
    seccomp: bool | str = False
    if init.get("seccomp"):
        try:
            install_seccomp(bytes.fromhex(str(init["seccomp"])))
            seccomp = True
        except (OSError, ValueError, ImportError) as error:
            seccomp = str(error) or type(error).__name__  # the host refuses to go on
    namespace = build_namespace(channel, list(init.get("tools", [])))
    sys.argv = [""]
    ready = {"op": "ready", "rlimits": applied, "seccomp": seccomp, "python": sys.version.split()[0]}
    channel.send(ready)
    Runner(channel, namespace).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
