"""Choosing where a run's trace goes, from one option value."""

from __future__ import annotations

import os
from pathlib import Path

from agorakit.core import settings
from agorakit.core.ids import new_run_id
from agorakit.trace.tracer import NullSink, Tracer, TraceSink

TraceOption = TraceSink | str | Path | bool | None
_NO_SINK = NullSink()
#: When set, every traced run's spans are also exported there over OTLP/HTTP (see agorakit.trace.otlp).
OTLP_ENDPOINT_ENV = "AGORAKIT_OTLP_ENDPOINT"


def configure_otlp(endpoint: str) -> str:
    """Export every run traced from now on (in this process and those it starts) to ``endpoint``
    too: an OTLP/HTTP collector's base URL (``http://127.0.0.1:4318``) or its ``/v1/traces`` URL.
    Returns the traces URL. Fails at once, saying what to install, without the OpenTelemetry SDK."""
    from agorakit.trace.otlp import otlp_sink

    url = otlp_sink(endpoint).url
    os.environ[OTLP_ENDPOINT_ENV] = endpoint
    return url


def tracer_for(option: TraceOption, run_id: str | None = None) -> Tracer:
    """A new run's tracer: ``None`` follows the settings (on, to the default
    store), ``False`` turns tracing off, ``True`` or a path picks a SQLite
    store, and any sink object is used as it is; with ``AGORAKIT_OTLP_ENDPOINT``
    set, the spans also go to that collector. ``run_id`` is the run's id
    (a new one by default)."""
    run_id = run_id or new_run_id()
    if option is False or (option is None and not settings.tracing_enabled()):
        return Tracer(run_id, _NO_SINK, capture_content=False)
    sink: TraceSink
    if option is None or option is True:
        from agorakit.trace.store import open_default_store

        sink = open_default_store()
    elif isinstance(option, str | Path):
        from agorakit.trace.store import open_store

        sink = open_store(option)
    else:
        sink = option
    endpoint = os.environ.get(OTLP_ENDPOINT_ENV)
    if endpoint:
        from agorakit.trace.otlp import with_otlp

        sink = with_otlp(sink, endpoint)
    return Tracer(run_id, sink, capture_content=settings.capture_content())
