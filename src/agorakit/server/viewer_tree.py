"""A run as the viewer shows it: the span tree with prompts, completions, tool calls, policy
decisions and errors, each agent's conversation, and usage per agent. Pure: no I/O, no HTML."""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from agorakit.trace import attributes as attr
from agorakit.trace.records import INPUT, MESSAGE, OUTPUT, EventRecord, RunSummary, RunTrace, SpanNode, SpanRecord

_MESSAGE_EVENT = ("gen_ai.", ".message")
#: A prompt shows its leading system messages and its last PROMPT_TAIL messages: every call of a
#: long run repeats the conversation so far, and the page would grow with its square.
PROMPT_TAIL = 8
_MESSAGE_COUNT = "agorakit.request.message_count"
_AUTHOR = "agorakit.author"
METHOD = "agorakit.method"  # a method run's root span names its method


@dataclass(frozen=True, slots=True)
class MessageView:
    role: str
    text: str
    author: str | None = None
    tool_calls: tuple[str, ...] = ()
    ts_ns: int = 0


@dataclass(frozen=True, slots=True)
class EventView:
    """A non-message event: ``kind`` is ``allow``/``deny`` (a policy decision), ``exception`` or ``event``."""

    name: str
    kind: Literal["allow", "deny", "exception", "event"]
    text: str
    ts_ns: int
    type: Literal["event"] = "event"


@dataclass(frozen=True, slots=True)
class ToolView:
    name: str
    call_id: str | None
    arguments: Any
    result: Any
    outcome: str | None


@dataclass(slots=True)
class SpanView:
    span: SpanRecord
    error: str | None = None
    prompt: list[MessageView] | None = None
    prompt_note: str | None = None
    prompt_size: int = 0  # messages in the prompt, shown or not
    prompt_gap: int = 0  # where the messages not shown were (after the leading system messages)
    completion: list[MessageView] = field(default_factory=list)
    tool: ToolView | None = None
    items: list[SpanView | EventView] = field(default_factory=list)
    type: Literal["span"] = "span"

    @property
    def attrs(self) -> dict[str, Any]:
        return self.span.attributes


@dataclass(slots=True)
class AgentUsage:
    agent: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    queued_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Conversation:
    agent: str
    messages: list[MessageView]


@dataclass(slots=True)
class RunView:
    summary: RunSummary
    method: str | None
    task: Any
    answer: Any
    roots: list[SpanView]
    run_events: list[EventView]
    errors: list[SpanView]
    usage: list[AgentUsage]
    total: AgentUsage
    conversations: list[Conversation]
    messages: list[MessageView]  # every message of the run, in time order


def is_message(event: EventRecord) -> bool:
    return event.name.startswith(_MESSAGE_EVENT[0]) and event.name.endswith(_MESSAGE_EVENT[1])


def message_view(raw: Any, *, author: Any = None, ts_ns: int = 0, role: str = "") -> MessageView:
    """A stored message (``{"role", "content", "tool_calls", ...}``, or bare text) for display."""
    if not isinstance(raw, dict):
        return MessageView(role or "message", raw if isinstance(raw, str) else _json(raw), _str(author), (), ts_ns)
    content = raw.get("content")
    if isinstance(content, list):  # content parts: keep their text
        text = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    else:
        text = "" if content is None else content if isinstance(content, str) else _json(content)
    calls = raw.get("tool_calls")
    shown = tuple(
        f"{c.get('name')}({_json(c.get('arguments'))})" if isinstance(c, dict) else str(c)
        for c in (calls if isinstance(calls, list) else [])
    )
    name = author if author is not None else raw.get("name")
    return MessageView(str(raw.get("role") or role or "message"), text, _str(name), shown, ts_ns)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _event_message(event: EventRecord) -> MessageView:
    role = event.name.removeprefix(_MESSAGE_EVENT[0]).removesuffix(_MESSAGE_EVENT[1])
    raw = event.attributes.get(MESSAGE, event.attributes.get("content", event.attributes))
    return message_view(raw, author=event.attributes.get(_AUTHOR), ts_ns=event.ts_ns, role=role)


def event_view(event: EventRecord) -> EventView:
    """A policy decision in words, an exception, or any other event with its attributes."""
    attrs = event.attributes
    tool = attrs.get(attr.TOOL_NAME, "?")
    if event.name == "policy.decision":
        allowed = bool(attrs.get("agorakit.policy.allowed"))
        text = f"policy: {'allow' if allowed else 'deny'} {tool}"
        if attrs.get("agorakit.policy.reason"):
            text += f" ({attrs['agorakit.policy.reason']})"
        if not allowed:
            text += f"; fallback: {attrs.get('agorakit.policy.fallback', 'error')}"
        return EventView(event.name, "allow" if allowed else "deny", text, event.ts_ns)
    if event.name == "policy.approval":
        approved = bool(attrs.get("agorakit.policy.approved"))
        verdict = "approved" if approved else "refused"
        return EventView(
            event.name, "allow" if approved else "deny", f"policy: {tool} {verdict} by a human", event.ts_ns
        )
    if event.name == "policy.none":
        return EventView(event.name, "allow", "policy: none configured, every tool call is allowed", event.ts_ns)
    if event.name == "exception":
        text = f"{attrs.get('exception.type', 'error')}: {attrs.get('exception.message', '')}"
        return EventView(event.name, "exception", text, event.ts_ns)
    details = " ".join(f"{key}={_json(value)}" for key, value in attrs.items())
    return EventView(event.name, "event", details, event.ts_ns)


def error_text(span: SpanRecord, events: Iterable[EventRecord]) -> str | None:
    """Why a span failed: its error attributes, else its first exception event."""
    if span.status != "error":
        return None
    kind = span.attributes.get(attr.ERROR_TYPE)
    message = span.attributes.get(attr.ERROR_MESSAGE)
    if message is None:
        first = next((e for e in events if e.name == "exception"), None)
        if first is not None:
            kind = kind or first.attributes.get("exception.type")
            message = first.attributes.get("exception.message")
    if kind is None and message is None:
        return "error"
    return f"{kind or 'error'}: {message}" if message else str(kind)


class _Prompts:
    """Each model call's prompt. Taken from ``gen_ai.input.messages`` when the trace has it;
    otherwise, for an agent's calls, rebuilt from the agent's message events before the call."""

    def __init__(self, trace: RunTrace) -> None:
        self.spans = {span.span_id: span for span in trace.spans}
        self._owner: dict[str, str | None] = {}
        self.by_owner: dict[str | None, list[MessageView]] = {}
        for event in trace.events:
            if is_message(event):
                self.by_owner.setdefault(self.owner(event.span_id), []).append(_event_message(event))
        self.times = {owner: [m.ts_ns for m in found] for owner, found in self.by_owner.items()}

    def owner(self, span_id: str | None) -> str | None:
        """The nearest ``invoke_agent`` span at or above ``span_id``."""
        seen: list[str] = []
        found: str | None = None
        while span_id is not None and span_id in self.spans:
            if span_id in self._owner:
                found = self._owner[span_id]
                break
            seen.append(span_id)
            span = self.spans[span_id]
            if span.operation == attr.OP_INVOKE_AGENT:
                found = span_id
                break
            span_id = span.parent_id
        for visited in seen:
            self._owner[visited] = found
        return found

    def of(self, span: SpanRecord) -> tuple[list[MessageView] | None, str | None]:
        attrs = span.attributes
        recorded = attrs.get(attr.INPUT_MESSAGES)
        count = attrs.get(_MESSAGE_COUNT)
        if recorded is not None:
            raw = recorded if isinstance(recorded, list) else [recorded]
            prompt = [message_view(m) for m in raw]
            system = attrs.get(attr.SYSTEM_INSTRUCTIONS)
            if system is not None:
                prompt.insert(0, message_view(system, role="system"))
            return prompt, None
        owner = self.owner(span.parent_id)
        if owner is None:
            sent = f" ({count} message{'' if count == 1 else 's'})" if isinstance(count, int) else ""
            return None, f"the prompt{sent} is not in the trace; the conversations show the run's messages"
        before = self.by_owner.get(owner, [])[: bisect.bisect_right(self.times.get(owner, []), span.start_ns)]
        if isinstance(count, int) and len(before) >= count:
            return before[len(before) - count :], "rebuilt from the agent's messages in the trace"
        note = "rebuilt from the agent's messages in the trace"
        if isinstance(count, int):
            note += f": {count} messages were sent, {len(before)} are in the trace"
        return before, note


def shorten(prompt: list[MessageView], tail: int = PROMPT_TAIL) -> tuple[list[MessageView], int]:
    """The prompt's leading system messages and its last ``tail`` messages, and where the
    messages left out were."""
    head = 0
    while head < len(prompt) and prompt[head].role == "system":
        head += 1
    return (prompt, head) if len(prompt) <= head + tail else (prompt[:head] + prompt[-tail:], head)


def _completion(span: SpanRecord) -> list[MessageView]:
    output = span.attributes.get(attr.OUTPUT_MESSAGES)
    if output is None:
        return []
    return [message_view(m, role="assistant") for m in (output if isinstance(output, list) else [output])]


def _tool(span: SpanRecord) -> ToolView | None:
    attrs = span.attributes
    if span.operation != attr.OP_EXECUTE_TOOL and attr.TOOL_NAME not in attrs:
        return None
    return ToolView(
        name=str(attrs.get(attr.TOOL_NAME, span.name)),
        call_id=_str(attrs.get(attr.TOOL_CALL_ID)),
        arguments=attrs.get(attr.TOOL_CALL_ARGUMENTS),
        result=attrs.get(attr.TOOL_CALL_RESULT),
        outcome=_str(attrs.get(attr.TOOL_OUTCOME)),
    )


def _span_view(node: SpanNode, prompts: _Prompts, errors: list[SpanView]) -> SpanView:
    span = node.span
    view = SpanView(span, error=error_text(span, node.events), tool=_tool(span))
    if span.status == "error":
        errors.append(view)
    if span.operation == attr.OP_CHAT:
        prompt, view.prompt_note = prompts.of(span)
        if prompt is not None:
            view.prompt_size = len(prompt)
            view.prompt, view.prompt_gap = shorten(prompt)
        view.completion = _completion(span)
    shown_error = view.error
    items: list[tuple[int, int, SpanView | EventView]] = []
    for event in node.events:
        if is_message(event):
            continue
        if event.name == "exception" and shown_error and str(event.attributes.get("exception.message")) in shown_error:
            shown_error = None  # the span's own line already says it
            continue
        items.append((event.ts_ns, 1, event_view(event)))
    items.extend((child.span.start_ns, 0, _span_view(child, prompts, errors)) for child in node.children)
    items.sort(key=lambda item: (item[0], item[1]))
    view.items = [item for *_, item in items]
    return view


def _usage(spans: Iterable[SpanRecord]) -> tuple[list[AgentUsage], AgentUsage]:
    per_agent: dict[str, AgentUsage] = {}
    total = AgentUsage("total")
    for span in spans:
        if span.operation != attr.OP_CHAT:
            continue
        agent = str(span.attributes.get(attr.AGENT_NAME) or "-")
        for usage in (per_agent.setdefault(agent, AgentUsage(agent)), total):
            usage.calls += 1
            usage.input_tokens += _int(span.attributes.get(attr.INPUT_TOKENS))
            usage.output_tokens += _int(span.attributes.get(attr.OUTPUT_TOKENS))
            usage.cost_usd += _float(span.attributes.get(attr.COST_USD))
            usage.queued_s += _float(span.attributes.get(attr.QUEUE_WAIT_S))
    return list(per_agent.values()), total


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _conversations(trace: RunTrace) -> tuple[list[Conversation], list[MessageView]]:
    """Each agent's messages: those written inside its spans or authored by it; messages of no
    agent (a method's question) belong to every conversation."""
    spans = {span.span_id: span for span in trace.spans}
    agent_of: dict[str, str | None] = {}

    def agent(span_id: str | None) -> str | None:
        if span_id is None or span_id not in spans:
            return None
        if span_id not in agent_of:
            name = spans[span_id].attributes.get(attr.AGENT_NAME)
            agent_of[span_id] = str(name) if name is not None else agent(spans[span_id].parent_id)
        return agent_of[span_id]

    tagged: list[tuple[str | None, MessageView]] = []
    for event in trace.events:
        if is_message(event):
            message = _event_message(event)
            owner = agent(event.span_id)
            if owner is None and message.role == "assistant":
                owner = message.author
            tagged.append((owner, message))
    names = list(dict.fromkeys(owner for owner, _ in tagged if owner is not None))
    conversations = [
        Conversation(name, [message for owner, message in tagged if owner in (name, None)]) for name in names
    ]
    return conversations, [message for _, message in tagged]


def run_view(trace: RunTrace) -> RunView:
    """Everything the run page shows, from one loaded run."""
    prompts = _Prompts(trace)
    errors: list[SpanView] = []
    roots = [_span_view(node, prompts, errors) for node in trace.tree()]
    first = {key: next((s.attributes[key] for s in trace.spans if s.parent_id is None and key in s.attributes), None)
             for key in (INPUT, OUTPUT, METHOD)}  # fmt: skip
    usage, total = _usage(trace.spans)
    conversations, messages = _conversations(trace)
    return RunView(
        summary=trace.summary,
        method=_str(first[METHOD]),
        task=first[INPUT],
        answer=first[OUTPUT],
        roots=roots,
        run_events=[event_view(e) for e in trace.run_events() if not is_message(e)],
        errors=errors,
        usage=usage,
        total=total,
        conversations=conversations,
        messages=messages,
    )
