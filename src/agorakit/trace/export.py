"""Export a run as JSON Lines, one span or event per line, in time order.

Field names follow OTLP JSON in snake case (``start_time_unix_nano``,
``time_unix_nano``); times are integers in nanoseconds since the epoch.
A span that never ended has ``end_time_unix_nano: null`` and status ``open``.

    {"type": "span", "run_id": ..., "span_id": ..., "parent_id": ..., "name": ...,
     "start_time_unix_nano": ..., "end_time_unix_nano": ..., "status": "ok"|"error"|"open",
     "attributes": {...}}
    {"type": "event", "run_id": ..., "span_id": ..., "name": ..., "time_unix_nano": ...,
     "attributes": {...}}
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from agorakit.trace.reader import EventRecord, RunTrace, SpanRecord


def span_to_dict(span: SpanRecord) -> dict[str, Any]:
    return {
        "type": "span",
        "run_id": span.run_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "name": span.name,
        "start_time_unix_nano": span.start_ns,
        "end_time_unix_nano": span.end_ns,
        "status": span.status,
        "attributes": span.attributes,
    }


def event_to_dict(event: EventRecord) -> dict[str, Any]:
    return {
        "type": "event",
        "run_id": event.run_id,
        "span_id": event.span_id,
        "name": event.name,
        "time_unix_nano": event.ts_ns,
        "attributes": event.attributes,
    }


def records(trace: RunTrace) -> list[dict[str, Any]]:
    """The run's spans and events as dicts, merged in time order.

    At equal times a span comes before an event (an event at a span's start
    belongs to it); otherwise the stored order is kept.
    """
    keyed: list[tuple[int, int, int, dict[str, Any]]] = []
    for index, span in enumerate(trace.spans):
        keyed.append((span.start_ns, 0, index, span_to_dict(span)))
    for index, event in enumerate(trace.events):
        keyed.append((event.ts_ns, 1, index, event_to_dict(event)))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def export_jsonl(trace: RunTrace, out: TextIO) -> int:
    """Write the run to ``out`` as JSON Lines; returns the number of lines."""
    count = 0
    for record in records(trace):
        out.write(json.dumps(record, ensure_ascii=False, default=str))
        out.write("\n")
        count += 1
    return count
