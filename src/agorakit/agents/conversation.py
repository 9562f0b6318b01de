"""The conversation an agent run starts from, and what its trace says of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agorakit.agents.events import message_event
from agorakit.agents.result import RunResult
from agorakit.core.messages import Message
from agorakit.core.provenance import Trust
from agorakit.kernel import RunLedger
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Span


def trace_input(ledger: RunLedger, messages: list[Message], *, joined: bool) -> None:
    """Trace what this run adds: history was traced by whoever produced it.

    In a joined run (a team's turn) an unchanged system prompt is traced the
    first time only, and a task that is another agent's reply (a named user
    message in this agent's view) was traced as that agent's reply already.
    """
    system, last = messages[0], messages[-1]
    text = system.content or ""
    if not joined or text not in ledger.traced_prompts:
        ledger.traced_prompts.add(text)
        message_event(ledger.tracer, system)
    if not (joined and last.role == "user" and last.name not in (None, "user")):
        message_event(ledger.tracer, last)


def record_conversation(ledger: RunLedger, messages: Sequence[Message], trust: Callable[[str], Trust]) -> None:
    """Record what the conversation a run starts with says, for ``source`` rules: the user's
    turns (``user`` messages not named after another agent), and the tool results of earlier
    turns, labelled with ``trust(tool)`` (the agent's policy's trust in that tool).

    Only the first run on a ledger does (a team's later turns, or a method's
    members, were handed text another agent wrote, and their tools' outputs
    were recorded as they ran).
    """
    provenance = ledger.provenance
    if provenance.has_user:
        return
    for message in messages:
        if not message.content:
            continue
        if message.role == "user" and message.name in (None, "user"):
            provenance.add_user(message.content)
        elif message.role == "tool":
            tool = message.name or "history"
            provenance.add_output(tool, message.content, trust(tool))


def assemble(own: Message, history: Sequence[Message], task: str | Sequence[Message]) -> list[Message]:
    """The model's conversation: exactly one system message, then history, then the task.

    Leading system messages of the conversation are folded into the agent's
    (dropped when equal to it). Built with one copy: a group chat passes the
    whole conversation every turn.
    """
    parts: tuple[Sequence[Message], ...] = (
        (history, (Message("user", task),)) if isinstance(task, str) else (history, task)
    )
    if not any(part and part[0].role == "system" for part in parts if part):
        messages = [own]
        for part in parts:
            messages.extend(part)
        return messages
    conversation = [m for part in parts for m in part]
    start = 0
    while start < len(conversation) and conversation[start].role == "system":
        start += 1
    instructions = (own.content or "").strip()
    extra = [
        m.content for m in conversation[:start] if m.content and m.content.strip() and m.content.strip() != instructions
    ]
    system = Message("system", "\n\n".join([own.content or "", *dict.fromkeys(extra)])) if extra else own
    return [system, *conversation[start:]]


def summarise(root: Span, result: RunResult[Any], *, capture: bool) -> None:
    """Put the run's outcome on its root span."""
    root.attributes.update(
        {
            attr.STOP_REASON: result.stop_reason,
            attr.INPUT_TOKENS: result.usage.input_tokens,
            attr.OUTPUT_TOKENS: result.usage.output_tokens,
            attr.COST_USD: result.usage.cost_usd,
            "agorakit.steps": result.steps,
        }
    )
    if capture and result.output is not None:
        root.attributes["agorakit.output"] = result.output if isinstance(result.output, str) else repr(result.output)
    if result.error is not None:
        root.status = "error"
        root.attributes[attr.ERROR_TYPE] = type(result.error).__name__
        root.attributes[attr.ERROR_MESSAGE] = result.error.message
