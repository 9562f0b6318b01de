"""Running an entry for one request: errors mapped to HTTP, a deadline, and what a client's
disconnect does (cancel the run, or let it finish)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from agorakit.core.errors import (
    AgorakitError,
    BudgetExceeded,
    ConfigError,
    ContextWindowExceeded,
    ModelError,
    ModelTimeout,
)
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


async def run_for_request(
    work: Coroutine[Any, Any, T], *, timeout: float, disconnected: Coroutine[Any, Any, Any], keep_going: bool
) -> T:
    """Await ``work`` within ``timeout``. If ``disconnected`` finishes first (the client left),
    the run is cancelled, or with ``keep_going`` left to finish in the background."""
    if keep_going:
        return await _in_background(work, timeout, disconnected)
    # The run goes on in the request's own task, which a watcher cancels if the client leaves:
    # one task per request rather than two, and fewer turns of the event loop.
    handler = asyncio.current_task()
    watcher = asyncio.create_task(disconnected)
    left = False

    def client_left(done: asyncio.Task[Any]) -> None:
        nonlocal left
        if not done.cancelled() and done.exception() is None and handler is not None:
            left = True
            handler.cancel("the client disconnected")

    watcher.add_done_callback(client_left)
    try:
        async with asyncio.timeout(timeout):
            return await work
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        raise as_api_error(error) from error
    finally:
        watcher.remove_done_callback(client_left)
        watcher.cancel()
        if left and handler is not None:
            handler.uncancel()  # the cancellation was ours, for a client that is gone


async def _in_background(work: Coroutine[Any, Any, T], timeout: float, disconnected: Coroutine[Any, Any, Any]) -> T:
    task = asyncio.create_task(_within(work, timeout))
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


async def _within(work: Coroutine[Any, Any, T], timeout: float) -> T:
    async with asyncio.timeout(timeout):
        return await work


def _failed_unseen(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a run whose client left failed: %s", task.exception())
