"""Compaction: a session's older turns replaced by a summary the model writes, when the whole
conversation would no longer fit the model's context.

The latest ``Session.keep`` messages are always shown as they are (the window
starts at a user message, so a tool call is never cut from its result); the
turns before them, with the previous summary if there was one, go to the model
with :data:`SUMMARY_PROMPT`. The summary is stored with the session (the turns
stay stored too) and shown to the model before the kept window as part of the
system message. The compaction call is a model call of the run, traced as a
``session.compacted`` event with what was kept and the summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agorakit.core.messages import Message
from agorakit.memory.sessions import Conversation, Session, SessionStore
from agorakit.models.base import ModelRequest, Sampling

if TYPE_CHECKING:
    from agorakit.kernel import Kernel, RunLedger
    from agorakit.models.base import ChatModel

SUMMARY_PROMPT = (
    "Below is the start of a conversation between a user and an assistant. Write a summary that lets the "
    "assistant carry on without it: the user's requests, names, numbers and decisions, what was done "
    "and what is still open. Be brief: a short paragraph or a few bullet points, nothing else.\n\n"
    "{previous}{conversation}"
)
SUMMARY_HEADER = "Summary of the earlier conversation in this session:"
DEFAULT_MAX_TOKENS = 6000
SUMMARY_MAX_TOKENS = 400
ANSWER_RESERVE = 512  # tokens kept free for the answer (at most a quarter of the context)
COMPACTED_EVENT = "session.compacted"


def estimate_tokens(messages: list[Message]) -> int:
    """For a model that cannot count: three characters a token (on the safe side of English's
    four), plus a few per message for the turn markers."""
    chars = sum(len(m.content or "") + sum(len(str(c.arguments)) + len(c.name) for c in m.tool_calls) for m in messages)
    return chars // 3 + 4 * len(messages)


async def count_tokens(model: ChatModel, messages: list[Message]) -> int:
    """The prompt's size by the model's own tokenizer where it has one (``count_tokens``), else estimated."""
    counter = getattr(model, "count_tokens", None)
    counted = await counter(ModelRequest(messages)) if counter is not None else None
    return counted if isinstance(counted, int) else estimate_tokens(messages)


def token_budget(session: Session, model: ChatModel, reserve: int) -> int:
    """How many tokens of conversation the model may be shown: the session's limit, else three
    quarters of the model's context window (when it says it) less what its answer needs."""
    if session.max_tokens is not None:
        return session.max_tokens
    context = getattr(model, "n_ctx", None)
    if not isinstance(context, int):
        return DEFAULT_MAX_TOKENS
    return int(context * 0.75) - min(reserve, context // 4)


def summary_room(budget: int) -> int:
    """Tokens the summary may take: a quarter of the budget, at most :data:`SUMMARY_MAX_TOKENS`."""
    return max(min(SUMMARY_MAX_TOKENS, budget // 4), 16)


def summary_message(summary: str) -> Message:
    return Message("system", f"{SUMMARY_HEADER}\n{summary}")


async def compact(
    session: Session, store: SessionStore, conversation: Conversation, *, system: Message, after: list[Message],
    model: ChatModel, kernel: Kernel, ledger: RunLedger, agent: str,
) -> Conversation:  # fmt: skip
    """``conversation``, compacted if the prompt it makes (``system`` first, then the summary, the
    session's messages and ``after``: the run's history and task) is over the budget."""
    earlier = [summary_message(conversation.summary)] if conversation.summary else []
    budget = token_budget(session, model, reserve=ANSWER_RESERVE)
    if await count_tokens(model, [system, *earlier, *conversation.messages, *after]) <= budget:
        return conversation
    start = await _window_start(conversation.messages, session.keep, model, [system, *after], budget)
    if start == 0:
        return conversation  # nothing older than the kept window: as small as it gets
    older, kept = conversation.messages[:start], conversation.messages[start:]
    previous = f"Summary so far:\n{conversation.summary}\n\nThen:\n" if conversation.summary else ""
    # The turns to summarise must fit the model too: the latest of them are kept, and long ones cut.
    rendered = _render(older)[-max(budget, 256) * 3 :]
    prompt = SUMMARY_PROMPT.format(previous=previous, conversation=rendered)
    sampling = Sampling(temperature=0.0, max_tokens=summary_room(budget))
    request = ModelRequest([Message("user", prompt)], sampling=sampling)
    completion = await kernel.complete(model, request, run=ledger, agent=f"{agent}.compaction")
    summary = (completion.message.content or "").strip() or "(the model wrote no summary)"
    store.summarise(session.id, summary, upto=conversation.seqs[start - 1])
    tracer = ledger.tracer
    if tracer.enabled:
        attributes: dict[str, Any] = {
            "agorakit.session.id": session.id,
            "agorakit.session.summarised_messages": len(older),
            "agorakit.session.kept_messages": len(kept),
            "agorakit.session.budget_tokens": budget,
        }
        if tracer.capture_content:
            attributes["agorakit.session.summary"] = summary
            attributes["agorakit.session.kept"] = [m.to_dict() for m in kept]
        tracer.event(COMPACTED_EVENT, attributes)
    return Conversation(summary, kept, conversation.seqs[start:])


async def _window_start(messages: list[Message], keep: int, model: ChatModel, frame: list[Message], budget: int) -> int:
    """Where the kept window starts: ``keep`` messages from the end, moved back to a user message
    (a tool call is never cut from its result); later, at the next user message, while the window
    with the frame (system prompt, task) and room for the summary is over the budget."""
    start = max(len(messages) - keep, 0)
    while start > 0 and messages[start].role != "user":
        start -= 1
    while start < len(messages):
        if await count_tokens(model, [*frame[:1], *messages[start:], *frame[1:]]) + summary_room(budget) <= budget:
            return start
        start += 1
        while start < len(messages) and messages[start].role != "user":
            start += 1
    return start  # even the last exchange is too long: everything goes into the summary


def _render(messages: list[Message], longest: int = 1500) -> str:
    lines = []
    for message in messages:
        content = message.content or ""
        if len(content) > longest:
            message = Message(message.role, content[:longest] + " [...]", message.tool_calls, name=message.name)
        if message.role == "tool":
            lines.append(f"[tool {message.name} returned] {message.content or ''}")
        elif message.tool_calls:
            calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
            lines.append(f"assistant: [calls {calls}] {message.content or ''}".rstrip())
        else:
            lines.append(f"{message.role}: {message.content or ''}")
    return "\n".join(lines)
