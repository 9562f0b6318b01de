"""Events named with OpenTelemetry GenAI conventions, the SQLite store, export."""

from agorakit.trace.tracer import MemorySink, NullSink, Span, Tracer, TraceSink, current_span

__all__ = ["MemorySink", "NullSink", "Span", "TraceSink", "Tracer", "current_span"]
