"""Rich renderables for traces: pure functions from reader records to tables and trees.

Nothing here prints; callers hand the result to a ``rich.console.Console``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.text import Text
from rich.tree import Tree

from agorakit.cli.tables import Column, Grid
from agorakit.trace import attributes as attr
from agorakit.trace.reader import format_duration
from agorakit.trace.records import (
    INPUT,
    MESSAGE,
    OUTPUT,
    EventRecord,
    RunSummary,
    RunTrace,
    SpanNode,
    SpanRecord,
    message_text,
)

UNFINISHED = "(unfinished)"
TOOL_PREVIEW = 120
CONTENT_PREVIEW = 300
_MESSAGE_PREFIX = "gen_ai."
_MESSAGE_SUFFIX = ".message"
_SKIP_EVENT_KEYS = {MESSAGE, "content", "gen_ai.message.content", "gen_ai.event.content", "body", "message"}


# -- small formatters ---------------------------------------------------


def format_cost(usd: float) -> str:
    """``$0.0012``; ``$0`` when nothing was spent."""
    return "$" + (f"{usd:.6f}".rstrip("0").rstrip(".") or "0")


def format_time(ns: int) -> str:
    """Local wall-clock time of a nanosecond timestamp."""
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def truncate(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(limit - 1, 0)] + "…"


def as_text(value: Any) -> str:
    """A string attribute as is; anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _tokens(input_tokens: Any, output_tokens: Any) -> str:
    return f"{input_tokens}→{output_tokens} tok"


def _status_style(status: str) -> str:
    return {"ok": "green", "error": "bold red", "open": "yellow"}.get(status, "")


def _status_label(status: str) -> str:
    return "unfinished" if status == "open" else status


# -- list ---------------------------------------------------------------


def runs_table(runs: Iterable[RunSummary]) -> Grid:
    """The table ``agora trace list`` prints (cells are Text: stored strings are never read as markup).

    Narrow terminals drop the counters first, then the start time and duration; never the id.
    """
    grid = Grid(
        [
            Column("run id", kind="id", style="cyan"),
            Column("started", drop=3),
            Column("agent", kind="text"),
            Column("model", kind="text"),
            Column("status"),
            Column("steps/calls", justify="right", drop=1),
            Column("tokens in/out", justify="right", drop=2),
            Column("duration", justify="right", drop=4),
            Column("task", kind="text", drop=5),
        ],
        title="runs (newest first)",
    )
    for run in runs:
        grid.add_row(
            Text(run.run_id),
            format_time(run.started_ns),
            Text(run.agent or "-"),
            Text(run.model or "-"),
            Text(_status_label(run.status), style=_status_style(run.status)),
            f"{run.steps}/{run.calls}",
            f"{run.input_tokens}/{run.output_tokens}",
            format_duration(run.duration_ns) if run.finished else UNFINISHED,
            Text(run.task or ""),
        )
    return grid


# -- show ---------------------------------------------------------------


def run_label(summary: RunSummary) -> Text:
    """The root line of ``agora trace show``."""
    label = Text()
    label.append(f"run {summary.run_id}", style="bold cyan")
    label.append(f"  agent={summary.agent or '-'}  model={summary.model or '-'}  ")
    label.append(_status_label(summary.status), style=_status_style(summary.status))
    duration = format_duration(summary.duration_ns) if summary.finished else UNFINISHED
    label.append(f"  {duration}  [{_tokens(summary.input_tokens, summary.output_tokens)}]")
    label.append(f"  cost={format_cost(summary.cost_usd)}  calls={summary.calls}")
    if summary.stop_reason:
        label.append(f"  stop={summary.stop_reason}")
    return label


def _error_text(span: SpanRecord, events: list[EventRecord]) -> str | None:
    kind = span.attributes.get(attr.ERROR_TYPE)
    message = span.attributes.get(attr.ERROR_MESSAGE)
    if message is None:
        for event in events:
            if event.name == "exception":
                kind = kind or event.attributes.get("exception.type")
                message = event.attributes.get("exception.message")
                break
    if kind is None and message is None:
        return None
    return f"{kind or 'error'}: {message}" if message else str(kind)


def span_label(span: SpanRecord, events: list[EventRecord] | None = None) -> Text:
    """``name  duration  [tokens in→out]  status``, errors in red, open spans "(unfinished)"."""
    attrs = span.attributes
    label = Text()
    label.append(span.name, style="bold red" if span.status == "error" else "bold")
    if not span.finished:
        label.append(f"  {UNFINISHED}", style="yellow")
    else:
        label.append(f"  {format_duration(span.duration_ns)}", style="dim")
    if attr.INPUT_TOKENS in attrs or attr.OUTPUT_TOKENS in attrs:
        label.append(f"  [{_tokens(attrs.get(attr.INPUT_TOKENS, 0), attrs.get(attr.OUTPUT_TOKENS, 0))}]")
        cached = attrs.get(attr.CACHED_INPUT_TOKENS)
        if cached:
            label.append(f"  {cached} from cache", style="dim")
    waited = attrs.get(attr.QUEUE_WAIT_S)
    if isinstance(waited, int | float) and waited >= 0.001:
        label.append(f"  queued {format_duration(int(waited * 1e9))}", style="yellow")
    if span.finished:
        label.append(f"  {span.status}", style=_status_style(span.status))
    if attrs.get(attr.REPLAYED):
        label.append("  replayed from the journal", style="cyan")
    attempt = attrs.get(attr.ATTEMPT)
    if isinstance(attempt, int) and attempt > 1:
        label.append(f"  attempt {attempt}", style="yellow")
    if span.status == "error":
        error = _error_text(span, events or [])
        if error:
            label.append(f"  {truncate(error, CONTENT_PREVIEW)}", style="red")
    return label


def tool_line(span: SpanRecord) -> Text | None:
    """``arguments → result`` of a tool span, truncated; None for other spans."""
    attrs = span.attributes
    if span.operation != attr.OP_EXECUTE_TOOL and attr.TOOL_NAME not in attrs:
        return None
    arguments = attrs.get(attr.TOOL_CALL_ARGUMENTS)
    result = attrs.get(attr.TOOL_CALL_RESULT)
    if arguments is None and result is None:
        return None
    line = Text()
    line.append(truncate(as_text(arguments) if arguments is not None else "", TOOL_PREVIEW), style="magenta")
    line.append(" → ")
    if result is not None:
        line.append(truncate(as_text(result), TOOL_PREVIEW))
    else:
        line.append("(no result)", style="dim")
    trust = attrs.get("agorakit.tool.trust")
    if trust is not None and result is not None:
        line.append(f"  ({as_text(trust)} output)", style="dim" if trust == "untrusted" else "green")
    return line


def is_message_event(event: EventRecord) -> bool:
    return event.name.startswith(_MESSAGE_PREFIX) and event.name.endswith(_MESSAGE_SUFFIX)


def policy_line(event: EventRecord) -> Text:
    """A policy decision or approval in words: the audit log, readable."""
    attrs = event.attributes
    tool = attrs.get(attr.TOOL_NAME, "?")
    if event.name == "policy.approval":
        approved = bool(attrs.get("agorakit.policy.approved"))
        return Text(f"⚖ policy: {tool} {'approved' if approved else 'refused'} by a human", style="magenta")
    if event.name == "policy.none":
        return Text("⚖ policy: none configured, every tool call is allowed", style="magenta")
    allowed = bool(attrs.get("agorakit.policy.allowed"))
    verdict = Text(f"⚖ policy: {'allow' if allowed else 'deny'} {tool}", style="green" if allowed else "bold red")
    reason = attrs.get("agorakit.policy.reason")
    if reason:
        verdict.append(f" ({truncate(as_text(reason), CONTENT_PREVIEW)})", style="dim")
    sources = attrs.get("agorakit.policy.sources")
    if sources and allowed:  # a refusal's reason already says where the failing value was found
        verdict.append(f"  from: {truncate(as_text(sources), CONTENT_PREVIEW)}", style="cyan")
    if not allowed:
        verdict.append(f"  fallback={attrs.get('agorakit.policy.fallback', 'error')}", style="dim")
    return verdict


def event_line(event: EventRecord) -> Text:
    """A non-message event as one line: its name and attributes."""
    if event.name.startswith("policy."):
        return policy_line(event)
    style = "red" if event.name == "exception" else "yellow"
    line = Text(f"• {event.name}", style=style)
    details = [f"{key}={as_text(value)}" for key, value in event.attributes.items() if key not in _SKIP_EVENT_KEYS]
    if details:
        line.append("  " + truncate(" ".join(details), CONTENT_PREVIEW))
    return line


def message_line(event: EventRecord) -> Text:
    """A message event: ``role: text`` (role from the event name)."""
    role = event.name.removeprefix(_MESSAGE_PREFIX).removesuffix(_MESSAGE_SUFFIX)
    author = event.attributes.get("agorakit.author")
    text = message_text(event.attributes)
    line = Text(f"✉ {role} ({author}): " if author else f"✉ {role}: ", style="blue")
    if text is not None:
        line.append(truncate(text, CONTENT_PREVIEW))
    else:
        line.append(truncate(as_text(event.attributes), CONTENT_PREVIEW), style="dim")
    return line


def _shown_events(node: SpanNode, content: bool) -> list[tuple[int, Text]]:
    """The node's events to display, each with its timestamp."""
    lines: list[tuple[int, Text]] = []
    span = node.span
    # The exception already shown on an error span's own line is not repeated.
    duplicate: str | None = None
    if span.status == "error":
        duplicate = span.attributes.get(attr.ERROR_MESSAGE)
        if duplicate is None:
            first = next((e for e in node.events if e.name == "exception"), None)
            duplicate = first.attributes.get("exception.message") if first is not None else None
    for event in node.events:
        if is_message_event(event):
            if content:
                lines.append((event.ts_ns, message_line(event)))
        elif (
            event.name == "exception"
            and duplicate is not None
            and event.attributes.get("exception.message") == duplicate
        ):
            duplicate = None
        else:
            lines.append((event.ts_ns, event_line(event)))
    return lines


def _add_node(tree: Tree, node: SpanNode, content: bool) -> None:
    branch = tree.add(span_label(node.span, node.events))
    tool = tool_line(node.span)
    if tool is not None:
        branch.add(tool)
    # Events and child spans interleaved in time order (a child first at equal times).
    items: list[tuple[int, int, int, Text | SpanNode]] = [
        (child.span.start_ns, 0, index, child) for index, child in enumerate(node.children)
    ]
    items.extend((ts, 1, index, line) for index, (ts, line) in enumerate(_shown_events(node, content)))
    items.sort(key=lambda item: item[:3])
    for *_, item in items:
        if isinstance(item, SpanNode):
            _add_node(branch, item, content)
        else:
            branch.add(item)


def run_tree(trace: RunTrace, *, content: bool = False) -> Tree:
    """The tree ``agora trace show`` prints.

    The root line is the run; below it each span with its duration, tokens and
    status, tool arguments → results, and non-message events. With ``content``
    the task, the final answer and the message events are shown too.
    """
    tree = Tree(run_label(trace.summary))
    roots = trace.tree()
    if content:
        for key, title in ((INPUT, "task"), (OUTPUT, "answer")):
            value = next((n.span.attributes[key] for n in roots if key in n.span.attributes), None)
            if value is not None:
                tree.add(Text(f"{title}: ", style="bold blue").append(truncate(as_text(value), CONTENT_PREVIEW)))
    for event in trace.run_events():
        if content or not is_message_event(event):
            tree.add(message_line(event) if is_message_event(event) else event_line(event))
    for root in roots:
        _add_node(tree, root, content)
    share = model_share_line(trace)
    if share is not None:
        tree.add(share)
    return tree


def model_share_line(trace: RunTrace) -> Text | None:
    """Each agent's share of the model's time (its calls' time in flight), and its time queued:
    shown when the run's calls waited for their backend."""
    in_flight: dict[str, int] = {}
    queued: dict[str, float] = {}
    for span in trace.spans:
        waited = span.attributes.get(attr.QUEUE_WAIT_S)
        if span.operation != attr.OP_CHAT or not span.finished or not isinstance(waited, int | float):
            continue
        agent = str(span.attributes.get(attr.AGENT_NAME) or "-")
        in_flight[agent] = in_flight.get(agent, 0) + max(0, (span.duration_ns or 0) - int(waited * 1e9))
        queued[agent] = queued.get(agent, 0.0) + waited
    total = sum(in_flight.values())
    if not total or not any(wait >= 0.001 for wait in queued.values()):
        return None
    line = Text("model time by agent: ", style="bold")
    parts = sorted(in_flight, key=lambda agent: -in_flight[agent])
    for index, agent in enumerate(parts):
        if index:
            line.append(" · ")
        line.append(f"{agent} {format_duration(in_flight[agent])} ({in_flight[agent] / total:.0%})")
        if queued[agent] >= 0.001:
            line.append(f" queued {format_duration(int(queued[agent] * 1e9))}", style="dim")
    return line
