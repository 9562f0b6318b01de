"""An agent run inside a session: the conversation shown before the task, and saved after.

A durable run records the conversation it was shown in its journal, so a
resume shows the model the same one even if other runs have added to the
session since.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agorakit.core.messages import Message
from agorakit.memory.compaction import compact, summary_message
from agorakit.memory.sessions import Session, SessionStore

if TYPE_CHECKING:
    from agorakit.agents.runner import Actor
    from agorakit.kernel import Kernel, RunLedger

SHOWN = "session"


def as_session(session: str | Session) -> Session:
    return session if isinstance(session, Session) else Session(session)


async def session_history(
    session: Session, agent: Actor, system: Message, task: str | Sequence[Message], history: Sequence[Message],
    ledger: RunLedger, kernel: Kernel,
) -> list[Message]:  # fmt: skip
    """What the model is shown before ``task``: the session's summary and turns, then ``history``."""
    journal = ledger.journal
    recorded = journal.recorded_value(SHOWN) if journal is not None else None
    if recorded is not None:
        return [Message.from_dict(item) for item in recorded]
    store = SessionStore()
    after = [*history, *([Message("user", task)] if isinstance(task, str) else task)]
    conversation = await compact(
        session, store, store.load(session.id), system=system, after=after, model=agent.model, kernel=kernel,
        ledger=ledger, agent=agent.name,
    )  # fmt: skip
    shown = [summary_message(conversation.summary)] if conversation.summary else []
    shown += [*conversation.messages, *history]
    if journal is not None:
        journal.record_value(SHOWN, [m.to_dict() for m in shown])
    return shown


def save_turns(session: Session, messages: list[Message], shown: Sequence[Message], run_id: str) -> None:
    """Add the run's task and everything after it to the session (``messages`` is the whole run's,
    its system message first; ``shown`` what came before the task, leading system messages folded)."""
    before = 1 + sum(1 for m in shown if m.role != "system")
    SessionStore().append(session.id, messages[before:], run_id)
