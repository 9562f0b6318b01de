"""Spans and events for one run, handed to a sink without blocking.

A :class:`Tracer` belongs to one run. ``with tracer.span(...)`` opens a child
of the current span (tracked in a ``ContextVar``, so concurrent tasks each see
their own parent). Records are plain tuples handed to the sink; turning them
into JSON and SQL happens on the sink's writer thread, off the turn.
"""

from __future__ import annotations

import random
import time
from asyncio import CancelledError
from contextvars import ContextVar, Token
from typing import Any, Protocol

from agorakit.trace import attributes as attr

# Record layouts handed to a sink (positional for speed):
#   ("span_start", run_id, span_id, parent_id, name, start_ns, attributes)
#   ("span_end", run_id, span_id, end_ns, status, attributes)
#   ("event", run_id, span_id, ts_ns, name, attributes)
Record = tuple[Any, ...]

#: The status (and a root span's stop reason) of a span stopped by cancellation or Ctrl-C.
CANCELLED = "cancelled"

_current_span: ContextVar[Span | None] = ContextVar("agorakit_current_span", default=None)


class TraceSink(Protocol):
    def write(self, record: Record) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...


class NullSink:
    """Discards everything: tracing switched off."""

    def write(self, record: Record) -> None:
        return None

    def flush(self, timeout: float | None = None) -> bool:
        return True


class MemorySink:
    """Keeps records in a list: for tests and in-process inspection."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)

    def flush(self, timeout: float | None = None) -> bool:
        return True


class Span:
    """An open span; also the context manager ``Tracer.span`` returns.

    Attributes set before :meth:`end` are stored with it. Used in a ``with``
    block it becomes the current span, and an exception escaping the block is
    recorded on it.
    """

    __slots__ = ("_token", "_tracer", "attributes", "name", "parent_id", "span_id", "start_ns", "status")

    def __init__(self, tracer: Tracer, name: str, parent_id: str | None, attributes: dict[str, Any]) -> None:
        self._tracer = tracer
        self._token: Token[Span | None] | None = None
        self.name = name
        # The module's generator: unlike a private Random(), it is reseeded
        # after fork, so forked workers never repeat each other's ids.
        self.span_id = f"{random.getrandbits(64):016x}"
        self.parent_id = parent_id
        self.start_ns = time.time_ns()
        self.attributes = attributes
        self.status = "ok"

    def __enter__(self) -> Span:
        self._token = _current_span.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is not None:
            self.record_error(error)
        if self._token is not None:
            _current_span.reset(self._token)
            self._token = None
        self.end()

    def set(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        tracer = self._tracer
        if tracer.enabled:
            tracer._write(("event", tracer.run_id, self.span_id, time.time_ns(), name, attributes or {}))

    def record_error(self, error: BaseException) -> None:
        if isinstance(error, CancelledError | KeyboardInterrupt):
            # Ctrl-C or a caller that gave up: the run was stopped, it did not fail.
            self.status = CANCELLED
            if self.parent_id is None:
                self.attributes[attr.STOP_REASON] = CANCELLED
            return
        self.status = "error"
        self.attributes[attr.ERROR_TYPE] = type(error).__name__
        self.attributes[attr.ERROR_MESSAGE] = str(error)[:2000]
        self.event("exception", {"exception.type": type(error).__name__, "exception.message": str(error)[:2000]})

    def end(self) -> None:
        tracer = self._tracer
        if tracer.enabled:
            # A copy, as at start: the caller may keep setting keys while the writer serialises.
            tracer._write(
                ("span_end", tracer.run_id, self.span_id, time.time_ns(), self.status, self.attributes.copy())
            )


class _NoopSpan(Span):
    """What a disabled tracer hands out: costs nothing, records nothing."""

    __slots__ = ()

    def __init__(self) -> None:
        self._tracer = None  # type: ignore[assignment]
        self._token = None
        self.name = ""
        self.span_id = "0" * 16
        self.parent_id = None
        self.start_ns = 0
        self.attributes = {}
        self.status = "ok"

    def __enter__(self) -> Span:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        self.attributes.clear()  # shared by every span of the run; keep it empty

    def set(self, key: str, value: Any) -> None:
        return None

    def event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        return None

    def end(self) -> None:
        self.attributes.clear()


# One for every disabled tracer: it holds no state worth keeping apart.
_NOOP_SPAN = _NoopSpan()


class _ContinuedSpan(Span):
    """A span that another process started and ends: here only the parent of new spans."""

    __slots__ = ()

    def __init__(self, tracer: Tracer, span_id: str) -> None:
        super().__init__(tracer, "", None, {})
        self.span_id = span_id

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if self._token is not None:  # its errors and its end belong to the process that owns it
            _current_span.reset(self._token)
            self._token = None

    def end(self) -> None:
        return None


class Tracer:
    """Creates the spans of one run and writes them to ``sink``."""

    __slots__ = ("_noop", "_sink", "_write", "capture_content", "enabled", "run_id")

    def __init__(self, run_id: str, sink: TraceSink | None = None, *, capture_content: bool = True) -> None:
        self.run_id = run_id
        self.sink = sink if sink is not None else NullSink()
        self.capture_content = capture_content
        #: False when records go nowhere: spans then skip building records.
        self.enabled = not isinstance(self.sink, NullSink)
        self._noop = None if self.enabled else _NOOP_SPAN

    @property
    def sink(self) -> TraceSink:
        return self._sink

    @sink.setter
    def sink(self, sink: TraceSink) -> None:
        self._sink = sink
        self._write = sink.write  # bound once: every span and event calls it

    def start_span(self, name: str, attributes: dict[str, Any] | None = None, *, parent: Span | None = None) -> Span:
        if self._noop is not None:
            return self._noop
        parent = parent if parent is not None else _current_span.get()
        span = Span(self, name, parent.span_id if parent is not None else None, attributes or {})
        # A copy: the writer thread serialises it while the span goes on adding keys.
        self._write(
            ("span_start", self.run_id, span.span_id, span.parent_id, name, span.start_ns, span.attributes.copy())
        )
        return span

    def continued(self, span_id: str) -> Span:
        """The span ``span_id`` of this run, started in another process, as the current span of a
        ``with`` block: the spans started inside are its children. Writes nothing of its own."""
        return _ContinuedSpan(self, span_id) if self.enabled else _NOOP_SPAN

    def span(self, name: str, attributes: dict[str, Any] | None = None) -> Span:
        """A child of the current span, for ``with``: errors raised inside are recorded on it."""
        return self.start_span(name, attributes)

    def event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        """A point event on the current span (or on the run if none is open)."""
        if not self.enabled:
            return
        current = _current_span.get()
        span_id = current.span_id if current is not None else None
        self._write(("event", self.run_id, span_id, time.time_ns(), name, attributes or {}))

    def flush(self, timeout: float | None = None) -> bool:
        return self.sink.flush(timeout)


def current_span() -> Span | None:
    return _current_span.get()
