"""Running an entry for one request: errors mapped to HTTP, a deadline, and what a client's
disconnect does (cancel the run, or let it finish)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from agorakit.core.errors import (
    AgorakitError,
    BudgetExceeded,
    ConfigError,
    ContextWindowExceeded,
    ModelError,
    ModelTimeout,
)
from agorakit.server.entries import within
from agorakit.server.errors import APIError

log = logging.getLogger("agorakit.server")
T = TypeVar("T")

#: Runs whose client went away but which were left to finish (``on_disconnect="continue"``):
#: referenced here, since the event loop keeps only weak references to tasks.
_finishing: set[asyncio.Future[Any]] = set()


def keep_running(task: asyncio.Future[T]) -> asyncio.Future[T]:
    """Keep ``task`` alive until it finishes, whoever still waits for it."""
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    return task


async def until_disconnect(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    """Return once the client has gone. The request's body has been read, so the next
    message the server gets is the disconnect."""
    while (await receive())["type"] != "http.disconnect":
        pass


def as_api_error(error: BaseException) -> APIError:
    """The HTTP error a run's exception becomes (its message and hint kept)."""
    if isinstance(error, APIError):
        return error
    if isinstance(error, TimeoutError):
        return APIError(
            504,
            "the run took longer than the server allows",
            kind="timeout",
            hint="ask a shorter question, or start the server with a larger --run-timeout",
        )
    if isinstance(error, ConfigError | ContextWindowExceeded):
        return APIError(400, error.message, kind="invalid_request_error", hint=error.hint or None)
    if isinstance(error, BudgetExceeded):
        return APIError(429, error.message, kind="budget_exceeded", hint=error.hint or None)
    if isinstance(error, ModelTimeout):
        return APIError(504, error.message, kind="model_timeout", hint=error.hint or None)
    if isinstance(error, ModelError):
        return APIError(502, error.message, kind="model_error", hint=error.hint or None)
    if isinstance(error, AgorakitError):
        return APIError(500, error.message, kind="run_error", hint=error.hint or None)
    log.exception("a run raised", exc_info=error)
    return APIError(
        500,
        f"the run failed: {type(error).__name__}: {error}",
        kind="server_error",
        hint="the server keeps serving; the run's trace (agora trace show) says where it failed",
    )


#: How long a response goes before its client's disconnect is watched for. Watching costs a task
#: per request, more than the rest of serving a fast run; a run over sooner never needs one,
#: and a client that leaves sooner is noticed this much later.
WATCH_AFTER_S = 0.05


class DisconnectWatch:
    """Cancels the task that made it once its client has gone (watching from :data:`WATCH_AFTER_S`
    on), until :meth:`stop`; ``left`` says whether it did."""

    def __init__(self, receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        self.left = False
        self._owner = asyncio.current_task()
        self._receive = receive
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(until_disconnect(self._receive))
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is None and self._owner is not None:
            self.left = True
            self._owner.cancel("the client disconnected")

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.remove_done_callback(self._ended)
            self._task.cancel()
        if self.left and self._owner is not None:
            self._owner.uncancel()  # the cancellation was ours, for a client that is gone


async def run_for_request(
    work: Coroutine[Any, Any, T],
    *,
    timeout: float,
    receive: Callable[[], Awaitable[Mapping[str, Any]]],
    keep_going: bool,
) -> T:
    """Await ``work`` within ``timeout``. If the client leaves first (``receive`` gives its
    disconnect), the run is cancelled, or with ``keep_going`` left to finish in the background."""
    if keep_going:
        return await _in_background(work, timeout, until_disconnect(receive))
    # The run goes on in the request's own task, which the watch cancels if the client leaves:
    # one task per request rather than two, and fewer turns of the event loop.
    watch = DisconnectWatch(receive)
    try:
        async with asyncio.timeout(timeout):
            return await work
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        raise as_api_error(error) from error
    finally:
        watch.stop()


async def _in_background(work: Coroutine[Any, Any, T], timeout: float, disconnected: Coroutine[Any, Any, Any]) -> T:
    task = asyncio.create_task(within(work, timeout))
    watcher = asyncio.create_task(disconnected)
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        watcher.cancel()
        raise
    if not task.done():
        keep_running(task).add_done_callback(_failed_unseen)
        raise asyncio.CancelledError("the client disconnected")
    watcher.cancel()
    try:
        return task.result()
    except BaseException as error:
        raise as_api_error(error) from error


def _failed_unseen(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a run whose client left failed: %s", task.exception())
