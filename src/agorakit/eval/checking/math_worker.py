"""Math checking with a time limit: :func:`check_math` in a child process that is killed on timeout.

sympy can compute for minutes (and hold the GIL) on answers like
``9^{9^{9}}``, and ``math_verify``'s own timeouts use ``SIGALRM``, which only
works in the main thread. So the harness sends each comparison to one
long-lived child interpreter (JSON lines over its stdin/stdout) and kills
it when a comparison outlives the timeout; the next one starts a fresh
child. Comparisons from one event loop are sent one at a time (each takes
milliseconds). The child exits when this process does.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import subprocess
import sys
import threading
import weakref
from dataclasses import dataclass

from agorakit.eval.checking.mathexpr import check_math, extract_math
from agorakit.eval.sample import Verdict

STARTUP_TIMEOUT_S = 120.0  # importing sympy on a busy 2-core machine
MEMORY_LIMIT_BYTES = 2 * 1024**3
_READY = "ready"


@dataclass(slots=True)
class _Child:
    process: subprocess.Popen[str]
    ready: bool = False


_child: _Child | None = None
_io_lock = threading.Lock()  # one request/reply exchange on the pipes at a time, across threads
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


class _WorkerDied(Exception):
    pass


async def check_math_bounded(answer: str, prediction: str, *, timeout: float = 10.0) -> Verdict:
    """:func:`check_math` with a time limit: incorrect with reason ``"timeout"`` when it takes longer."""
    loop = asyncio.get_running_loop()
    lock = _loop_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        child = _ensure_child()
        try:
            await asyncio.to_thread(_wait_ready, child)
            reply = await asyncio.wait_for(asyncio.to_thread(_exchange, child, answer, prediction), timeout)
        except TimeoutError:
            _kill(child)
            return Verdict(False, extract_math(prediction), "timeout")
        except _WorkerDied:
            _kill(child)
            return Verdict(False, extract_math(prediction), "the math checker process died")
    extracted = reply.get("extracted")
    return Verdict(
        bool(reply.get("correct")), extracted if isinstance(extracted, str) else None, str(reply.get("reason"))
    )


def _ensure_child() -> _Child:
    # Started from the event loop's thread: the child's parent-death signal follows that thread.
    global _child
    if _child is None or _child.process.poll() is not None:
        process = subprocess.Popen(
            [sys.executable, "-c", "from agorakit.eval.checking.math_worker import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        _child = _Child(process)
    return _child


def _wait_ready(child: _Child) -> None:
    with _io_lock:
        if child.ready:
            return
        process = child.process
        assert process.stdout is not None
        timer = threading.Timer(STARTUP_TIMEOUT_S, process.kill)
        timer.start()
        try:
            line = process.stdout.readline()
        finally:
            timer.cancel()
        if line.strip() != _READY:
            raise _WorkerDied(f"the math checker did not start (exit status {process.poll()})")
        child.ready = True


def _exchange(child: _Child, answer: str, prediction: str) -> dict[str, object]:
    process = child.process
    assert process.stdin is not None and process.stdout is not None
    with _io_lock:
        try:
            process.stdin.write(json.dumps({"answer": answer, "prediction": prediction}) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except (OSError, ValueError) as error:  # a broken pipe, or a pipe closed by a kill
            raise _WorkerDied(str(error)) from None
    if not line:
        raise _WorkerDied("no reply")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise _WorkerDied("malformed reply")
    return reply


def _kill(child: _Child) -> None:
    global _child
    with contextlib.suppress(OSError):
        child.process.kill()
    if _child is child:
        _child = None
    threading.Thread(target=child.process.wait, daemon=True).start()  # reap it without blocking the loop


@atexit.register
def _shutdown() -> None:
    if _child is not None and _child.process.poll() is None:
        with contextlib.suppress(OSError):
            _child.process.kill()


def _die_with_parent() -> None:
    """Linux: have the kernel kill this child when its parent dies, even mid-computation."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main() -> None:
    """The child: answer one JSON request per line until stdin closes."""
    import os
    import resource

    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:
        return  # the parent was already gone
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    replies, sys.stdout = sys.stdout, sys.stderr  # anything a library prints must not corrupt the replies
    check_math("1", "\\boxed{1}")  # import math_verify and sympy before saying ready
    print(_READY, file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            verdict = check_math(str(request["answer"]), str(request["prediction"]))
        except Exception as error:  # one odd answer must not take the worker down
            verdict = Verdict(False, None, f"math check failed ({type(error).__name__})")
        reply = {"correct": verdict.correct, "extracted": verdict.extracted, "reason": verdict.reason}
        print(json.dumps(reply), file=replies, flush=True)
