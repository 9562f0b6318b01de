"""Durable agent runs: what a run is journaled with, and the checks before one is resumed.

A journaled run records the agent's fingerprint (name, model, instructions,
strategy, tools and output type) and its input (task and history). Resuming
runs the same agent on the same input again with the journal open: every step
already recorded is replayed, the rest runs for real (see
:mod:`agorakit.kernel.journal`). A different fingerprint is refused with the
differences named, unless forced.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import orjson

from agorakit.core.messages import Message
from agorakit.kernel.journal import Durability, RunJournal, check_durability
from agorakit.memory.sessions import Session

if TYPE_CHECKING:
    from agorakit.agents.runner import Actor


def fingerprint(agent: Actor) -> dict[str, Any]:
    """What must not change between a run and its resume, as short comparable values."""
    instructions = getattr(agent, "instructions", "")
    output = agent.output_spec
    return {
        "agent": agent.name,
        "model": agent.model.uri,
        "instructions": _digest(instructions if isinstance(instructions, str) else _qualname(instructions)),
        "strategy": agent.strategy.name,
        "tools": sorted(spec.name for spec in agent.dispatcher.specs),
        "tool schemas": _digest([(s.name, s.description, s.parameters) for s in agent.dispatcher.specs]),
        "output type": None if output is None else f"{output.name} {_digest(output.schema)}",
    }


def default_durability(agent: Actor) -> Durability | None:
    """``"sync"`` for an agent with a side-effecting tool (a resume must not repeat its effects),
    else ``None``: a run of pure tools and model calls is simply run again."""
    return "sync" if any(tool.idempotent is not True for tool in getattr(agent, "tools", ())) else None


def encode_input(
    task: str | Sequence[Message], history: Sequence[Message], origin: dict[str, Any] | None = None,
    session: Session | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The run's input; ``origin`` says how to build the agent again (``agora run`` keeps its options)."""
    return {
        "task": task if isinstance(task, str) else [message.to_dict() for message in task],
        "history": [message.to_dict() for message in history],
        "origin": origin,
        "session": None if session is None else [session.id, session.max_tokens, session.keep],
    }


def decode_input(data: dict[str, Any]) -> tuple[str | list[Message], list[Message], Session | None]:
    task = data["task"]
    decoded = task if isinstance(task, str) else [Message.from_dict(item) for item in task]
    session = Session(*data["session"]) if data.get("session") else None
    return decoded, [Message.from_dict(item) for item in data["history"]], session


def start_journal(
    agent: Actor, run_id: str, durability: str, task: str | Sequence[Message], history: Sequence[Message] = (),
    origin: dict[str, Any] | None = None, session: Session | None = None,
) -> RunJournal:  # fmt: skip
    mode: Durability = check_durability(durability)
    return RunJournal.start(
        run_id, kind="agent", name=agent.name, fingerprint=fingerprint(agent),
        input=encode_input(task, history, origin, session), durability=mode,
    )  # fmt: skip


def open_for_resume(
    agent: Actor, run_id: str, *, force: bool, confirm: Sequence[str]
) -> tuple[RunJournal, str | list[Message], list[Message], Session | None]:
    """The run's journal, claimed by this process, and the input to run again."""
    journal = RunJournal.resume(run_id, fingerprint=fingerprint(agent), force=force, confirmed=frozenset(confirm))
    return (journal, *decode_input(journal.row.input))


def _digest(value: Any) -> str:
    return blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str), digest_size=8).hexdigest()


def _qualname(function: Any) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
