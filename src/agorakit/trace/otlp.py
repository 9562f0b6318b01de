"""Every run's spans, also exported over OTLP/HTTP (protobuf) to an OpenTelemetry collector.

Switched on by ``AGORAKIT_OTLP_ENDPOINT`` (see :func:`agorakit.trace.setup.configure_otlp`),
beside the SQLite store, which keeps working as before. :class:`OtlpSink` turns the tracer's
records into finished OpenTelemetry spans with agorakit's own ids: the trace id is the run id
(zero-padded; a run id that is not hex is hashed), span and parent ids are the ones the SQLite
store keeps, so a span seen in a collector is found again with ``agora trace``.

The run only hands finished spans to a ``BatchSpanProcessor``; converting their attributes
(JSON text for what OpenTelemetry cannot hold) and sending them happen on its thread.

Needs the optional OpenTelemetry packages; this module is imported only when export is on.
"""

from __future__ import annotations

import atexit
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import orjson

from agorakit.core.errors import ConfigError
from agorakit.trace import attributes as attr

# The store's conversion of framework values (Messages, Usage, pydantic models): both keep one shape.
from agorakit.trace.store import _ORJSON_OPTIONS, _plain
from agorakit.trace.tracer import CANCELLED, Record, TraceSink

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
    from opentelemetry.util.types import AttributeValue
except ImportError as missing:  # the optional extra is not installed
    raise ConfigError(
        f"OTLP export needs the OpenTelemetry SDK and its OTLP/HTTP exporter ({missing.name} is missing)",
        hint="pip install 'agorakit[server]'",
    ) from missing

#: The attribute every exported span carries: the agorakit run it belongs to.
RUN_ID = "agorakit.run_id"
#: Set on spans stopped by cancellation (OpenTelemetry has no status for it).
STATUS = "agorakit.status"

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_HEX_ID = re.compile(r"[0-9a-f]{1,32}")
_INT64 = range(-(2**63), 2**63)
# Spans started and never ended (a bug elsewhere) are forgotten past this many.
_MAX_OPEN = 100_000


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: a base URL gets ``/v1/traces`` appended."""
    url = endpoint.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"the OTLP endpoint {endpoint!r} is not an http(s) URL",
            hint="give a collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318",
        )
    return url if url.endswith("/v1/traces") else f"{url}/v1/traces"


def trace_id_of(run_id: str) -> int:
    """The OpenTelemetry trace id of a run: the run id itself when it is hex (agorakit's are)."""
    if _HEX_ID.fullmatch(run_id) and int(run_id, 16):
        return int(run_id, 16)
    return int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=16).digest(), "big")


def otel_value(value: Any) -> AttributeValue:
    """``value`` as an OpenTelemetry attribute: scalars and lists of one scalar type as they are,
    dicts and other lists as JSON text, anything else as its text (``None`` stays ``None``)."""
    if value is None or isinstance(value, str | bool | float) or (isinstance(value, int) and value in _INT64):
        return value  # type: ignore[no-any-return]  # narrowed above; mypy cannot see it through the `or`
    if isinstance(value, list | tuple) and _one_scalar_type(value):
        return tuple(value)
    plain = value if isinstance(value, dict | list | tuple) else _plain(value)
    if isinstance(plain, str):
        return plain
    try:
        return orjson.dumps(plain, default=_plain, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # e.g. an int beyond 64 bits
        return str(plain)


def _one_scalar_type(values: list[Any] | tuple[Any, ...]) -> bool:
    kinds = {type(item) for item in values}
    if kinds == {int}:
        return all(item in _INT64 for item in values)
    return len(kinds) <= 1 and kinds <= {str, bool, float}


class _Converted(Mapping[str, AttributeValue]):
    """A record's attributes, converted by :func:`otel_value` when first read: by the exporter,
    on the processor's thread, not by the run."""

    __slots__ = ("_converted", "_raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        self._converted: dict[str, AttributeValue] | None = None

    def _data(self) -> dict[str, AttributeValue]:
        if self._converted is None:
            pairs = ((str(key), otel_value(value)) for key, value in self._raw.items())
            self._converted = {key: value for key, value in pairs if value is not None}
        return self._converted

    def __getitem__(self, key: str) -> AttributeValue:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


class _OpenSpan:
    __slots__ = ("events", "name", "parent_id", "run_id", "start_ns")

    def __init__(self, run_id: str, parent_id: str | None, name: str, start_ns: int) -> None:
        self.run_id, self.parent_id, self.name, self.start_ns = run_id, parent_id, name, start_ns
        self.events: list[Event] = []


class OtlpSink:
    """A trace sink that exports each span, once ended, through ``processor``.

    Spans wait here from start to end (their events join them); a run-level event
    (one written outside any span) joins the run's open root span.
    """

    def __init__(self, url: str, processor: SpanProcessor, resource: Resource) -> None:
        self.url = url
        self._processor = processor
        self._resource = resource
        self._scope = InstrumentationScope("agorakit")
        self._open: dict[str, _OpenSpan] = {}
        self._roots: dict[str, str] = {}
        self._lock = threading.Lock()

    def write(self, record: Record) -> None:
        kind = record[0]
        if kind == "span_start":
            _, run_id, span_id, parent_id, name, start_ns, _attributes = record
            with self._lock:
                if len(self._open) >= _MAX_OPEN:
                    self._open.pop(next(iter(self._open)))
                self._open[span_id] = _OpenSpan(run_id, parent_id, name, start_ns)
                if parent_id is None:
                    self._roots.setdefault(run_id, span_id)
        elif kind == "event":
            _, run_id, span_id, ts_ns, name, attributes = record
            event = Event(name, _Converted(attributes), ts_ns)
            with self._lock:
                span = self._open.get(span_id if span_id is not None else self._roots.get(run_id, ""))
                if span is not None:
                    span.events.append(event)
        elif kind == "span_end":
            _, run_id, span_id, end_ns, status, attributes = record
            with self._lock:
                span = self._open.pop(span_id, None)
                if self._roots.get(run_id) == span_id:
                    del self._roots[run_id]
            if span is not None:
                self._processor.on_end(self._finished(span_id, span, end_ns, status, attributes))

    def flush(self, timeout: float | None = None) -> bool:
        """Export every ended span now, on a thread of its own; True if that was done within
        ``timeout`` seconds (0: start it and return)."""
        done: list[bool] = []
        finished = threading.Event()

        def export() -> None:
            done.append(self._processor.force_flush())
            finished.set()

        threading.Thread(target=export, name="agorakit-otlp-flush", daemon=True).start()
        return finished.wait(timeout) and all(done)

    def _finished(self, span_id: str, span: _OpenSpan, end_ns: int, status: str, raw: dict[str, Any]) -> ReadableSpan:
        trace_id = trace_id_of(span.run_id)
        extra = {RUN_ID: span.run_id}
        if status == CANCELLED:
            extra[STATUS] = CANCELLED
        parent = span.parent_id
        return ReadableSpan(
            name=span.name,
            context=SpanContext(trace_id, int(span_id, 16), is_remote=False, trace_flags=_SAMPLED),
            parent=SpanContext(trace_id, int(parent, 16), is_remote=False, trace_flags=_SAMPLED) if parent else None,
            resource=self._resource,
            attributes=_Converted({**raw, **extra}),
            events=span.events,
            kind=SpanKind.CLIENT if raw.get(attr.OPERATION) == attr.OP_CHAT else SpanKind.INTERNAL,
            status=_status(status, raw),
            start_time=span.start_ns,
            end_time=end_ns,
            instrumentation_scope=self._scope,
        )


def _status(status: str, attributes: Mapping[str, Any]) -> Status:
    if status != "error":
        return Status(StatusCode.UNSET)  # ok (instrumentation leaves OK to the application) or cancelled
    return Status(StatusCode.ERROR, str(attributes.get(attr.ERROR_MESSAGE) or attributes.get(attr.ERROR_TYPE) or ""))


class FanOutSink:
    """Hands every record to ``sink``, then to each of ``others`` (e.g. the SQLite store, then an
    OTLP exporter). :meth:`flush` waits for ``sink`` only: the others start flushing but are not
    waited for, since a collector that is down must not stall a run (its export retries for seconds).
    """

    def __init__(self, sink: TraceSink, *others: TraceSink) -> None:
        self.sinks = (sink, *others)

    def write(self, record: Record) -> None:
        for sink in self.sinks:
            sink.write(record)

    def flush(self, timeout: float | None = None) -> bool:
        for other in self.sinks[1:]:
            other.flush(0)
        return self.sinks[0].flush(timeout)

    def forget(self, run_id: str) -> None:
        """Passed on to the sinks that can forget a run (the SQLite store; an exporter cannot)."""
        for sink in self.sinks:
            forget = getattr(sink, "forget", None)
            if forget is not None:
                forget(run_id)


def with_otlp(sink: TraceSink, endpoint: str) -> FanOutSink:
    """``sink``, plus the export of every span to ``endpoint``."""
    return FanOutSink(sink, otlp_sink(endpoint))


_factory_lock = threading.Lock()


def otlp_sink(endpoint: str) -> OtlpSink:
    """The process's one exporting sink for ``endpoint`` (a base or ``/v1/traces`` URL).
    Headers come from ``OTEL_EXPORTER_OTLP_HEADERS``; the service is ``OTEL_SERVICE_NAME``,
    else ``agorakit``."""
    url = traces_url(endpoint)
    with _factory_lock:
        return _sink_for(url)


@cache
def _sink_for(url: str) -> OtlpSink:
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=url))
    atexit.register(processor.shutdown)  # exports what is left when the process ends
    return OtlpSink(url, processor, _resource())


def _resource() -> Resource:
    detected = Resource.create()  # reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: "agorakit"}))
    return detected
