"""Typed records of a stored trace, and run summaries. No I/O.

:mod:`agorakit.trace.reader` builds these from the database; the CLI renders
them; :mod:`agorakit.trace.export` writes them out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agorakit.trace import attributes as attr

INPUT = "agorakit.input"  # the root span's task (content capture on)
OUTPUT = "agorakit.output"  # the root span's final answer (content capture on)
MESSAGE = "agorakit.message"  # a message event's Message, as a dict
_PREVIEW = 80
_MESSAGE_KEYS = (MESSAGE, "content", "gen_ai.message.content", "gen_ai.event.content", "body", "message")


@dataclass(slots=True, frozen=True)
class SpanRecord:
    """One row of ``spans``."""

    span_id: str
    run_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int | None
    status: str
    attributes: dict[str, Any]

    @property
    def operation(self) -> str | None:
        value = self.attributes.get(attr.OPERATION)
        return str(value) if value is not None else None

    @property
    def finished(self) -> bool:
        return self.end_ns is not None

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns


@dataclass(slots=True, frozen=True)
class EventRecord:
    """One row of ``events``."""

    id: int
    run_id: str
    span_id: str | None
    ts_ns: int
    name: str
    attributes: dict[str, Any]


@dataclass(slots=True)
class SpanNode:
    """A span with its events and its children (sorted by start time)."""

    span: SpanRecord
    events: list[EventRecord] = field(default_factory=list)
    children: list[SpanNode] = field(default_factory=list)

    def walk(self) -> Iterator[SpanNode]:
        """This node and every descendant, depth first, in start order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(slots=True, frozen=True)
class RunSummary:
    """One run as ``agora trace list`` shows it."""

    run_id: str
    name: str
    agent: str | None
    model: str | None
    started_ns: int
    ended_ns: int | None
    status: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    stop_reason: str | None
    calls: int
    steps: int
    task: str | None

    @property
    def duration_ns(self) -> int | None:
        return None if self.ended_ns is None else self.ended_ns - self.started_ns

    @property
    def finished(self) -> bool:
        return self.ended_ns is not None


@dataclass(slots=True)
class RunTrace:
    """Every span and event of one run, each list in time order."""

    summary: RunSummary
    spans: list[SpanRecord]
    events: list[EventRecord]

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    def tree(self) -> list[SpanNode]:
        """The spans nested under their parents; roots and children sorted by start.

        A span whose parent is missing from the run (lost write) becomes a root.
        """
        nodes = {span.span_id: SpanNode(span) for span in self.spans}
        roots: list[SpanNode] = []
        for span in self.spans:
            parent = nodes.get(span.parent_id) if span.parent_id is not None else None
            (parent.children if parent is not None else roots).append(nodes[span.span_id])
        for event in self.events:
            node = nodes.get(event.span_id) if event.span_id is not None else None
            if node is not None:
                node.events.append(event)
        key = _start_key
        roots.sort(key=key)
        for node in nodes.values():
            node.children.sort(key=key)
        return roots

    def run_events(self) -> list[EventRecord]:
        """Events attached to no span of this run (written outside any span)."""
        known = {span.span_id for span in self.spans}
        return [event for event in self.events if event.span_id not in known]


def _start_key(node: SpanNode) -> tuple[int, str]:
    return (node.span.start_ns, node.span.span_id)


# -- summaries ---------------------------------------------------------


def message_text(attributes: dict[str, Any]) -> str | None:
    """The text of a message event, whichever common layout it was written in.

    agorakit's agents write ``{"agorakit.message": {"role", "content", "tool_calls", ...}}``;
    a message that only calls tools reads as ``→ name({"arg": 1})``.
    """
    for key in _MESSAGE_KEYS:
        value = attributes.get(key)
        if isinstance(value, dict):
            return _message_dict_text(value)
        if value is not None:
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return None


def _message_dict_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    text = content if isinstance(content, str) else ("" if content is None else json.dumps(content, default=str))
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        shown = ", ".join(
            f"{call.get('name')}({json.dumps(call.get('arguments'), ensure_ascii=False, default=str)})"
            if isinstance(call, dict)
            else str(call)
            for call in calls
        )
        text = f"{text} → {shown}" if text else f"→ {shown}"
    return text


def preview(text: str | None, limit: int = _PREVIEW) -> str | None:
    """One line of at most ``limit`` characters."""
    if text is None:
        return None
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(slots=True)
class UsageTotals:
    """Counts and usage summed over a run's spans."""

    calls: int = 0
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    model: str | None = None

    def add(self, span: SpanRecord) -> None:
        operation = span.operation
        if operation == attr.OP_TURN:
            self.steps += 1
        elif operation == attr.OP_CHAT:
            self.calls += 1
            self.input_tokens += _int(span.attributes.get(attr.INPUT_TOKENS))
            self.output_tokens += _int(span.attributes.get(attr.OUTPUT_TOKENS))
            self.cost_usd += _float(span.attributes.get(attr.COST_USD))
            if self.model is None:
                self.model = _str(span.attributes.get(attr.REQUEST_MODEL))


def build_summary(run_id: str, roots: Sequence[SpanRecord], started_ns: int, totals: UsageTotals) -> RunSummary:
    """Name, agent, model and status come from the root span(s).

    Usage totals come from the root when there is one root and the agent wrote
    them there; otherwise (several roots, or a run that died before writing its
    totals) from the sum over the run's chat spans.
    """
    first = roots[0] if roots else None
    attrs = first.attributes if first is not None else {}
    own = len(roots) == 1
    task = attrs.get(INPUT)
    statuses = {root.status for root in roots}
    status = next((s for s in ("open", "error", "cancelled") if s in statuses), "ok") if roots else "open"
    ends = [root.end_ns for root in roots]
    return RunSummary(
        run_id=run_id,
        name=first.name if first is not None else run_id,
        agent=_str(attrs.get(attr.AGENT_NAME)),
        model=_str(attrs.get(attr.REQUEST_MODEL)) or totals.model,
        started_ns=started_ns,
        ended_ns=max(end for end in ends if end is not None) if ends and None not in ends else None,
        status=status,
        input_tokens=_int(attrs[attr.INPUT_TOKENS]) if own and attr.INPUT_TOKENS in attrs else totals.input_tokens,
        output_tokens=_int(attrs[attr.OUTPUT_TOKENS]) if own and attr.OUTPUT_TOKENS in attrs else totals.output_tokens,
        cost_usd=_float(attrs[attr.COST_USD]) if own and attr.COST_USD in attrs else totals.cost_usd,
        stop_reason=_str(attrs.get(attr.STOP_REASON)),
        calls=totals.calls,
        steps=totals.steps,
        task=preview(task if isinstance(task, str) else _str(task)),
    )


def root_spans(spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    """Spans without a parent; failing that (a lost root), the earliest span."""
    return [span for span in spans if span.parent_id is None] or list(spans[:1])


def summarize(run_id: str, spans: Sequence[SpanRecord]) -> RunSummary:
    """A run's summary from all its spans (in start order)."""
    totals = UsageTotals()
    for span in spans:
        totals.add(span)
    return build_summary(run_id, root_spans(spans), min((span.start_ns for span in spans), default=0), totals)
