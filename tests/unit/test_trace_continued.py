"""A span started in another process (a Ray actor's driver) as the parent of spans started here."""

from __future__ import annotations

from agorakit.trace import MemorySink, Tracer


def test_spans_started_in_a_continued_span_are_its_children_and_it_writes_nothing() -> None:
    sink = MemorySink()
    tracer = Tracer("run-1", sink)
    with tracer.continued("00000000000000aa"), tracer.span("chat model") as child, tracer.span("tool") as grandchild:
        pass
    assert child.parent_id == "00000000000000aa"
    assert grandchild.parent_id == child.span_id
    starts = [record for record in sink.records if record[0] == "span_start"]
    assert [(record[2], record[3], record[4]) for record in starts] == [
        (child.span_id, "00000000000000aa", "chat model"),
        (grandchild.span_id, child.span_id, "tool"),
    ]
    assert len(sink.records) == 4  # two starts, two ends: none for the continued span
    with tracer.span("after") as after:
        pass
    assert after.parent_id is None  # the continued span is current only inside its block


def test_an_error_inside_a_continued_span_is_not_recorded_on_it() -> None:
    sink = MemorySink()
    tracer = Tracer("run-1", sink)
    try:
        with tracer.continued("00000000000000aa"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert sink.records == []  # its errors and its end belong to the process that owns it


def test_a_disabled_tracer_continues_nothing() -> None:
    tracer = Tracer("run-1")
    with tracer.continued("00000000000000aa"), tracer.span("chat") as child:
        assert child.parent_id is None
