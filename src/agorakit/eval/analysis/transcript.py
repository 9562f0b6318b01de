"""A run as failure analysis sees it: the task, then numbered steps, each one agent's message.

Steps are numbered from 0, as in the Who&When labels and the paper's
prompts ("if the mistake is in the third message, the step number is 2").
The user's task message is the task, not a step; system prompts are not steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorakit.core import settings
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.trace.records import INPUT, MESSAGE, EventRecord, SpanRecord, message_text, root_spans

#: The root span attribute a method run records its name under.
METHOD_ATTRIBUTE = "agorakit.method"
_AUTHOR = "agorakit.author"


@dataclass(frozen=True, slots=True)
class Step:
    """One message of the log: ``index`` (from 0), its author, its text."""

    index: int
    agent: str
    content: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """A multi-agent log to analyze: the task and the agents' steps in order."""

    run_id: str | None
    task: str
    steps: tuple[Step, ...]
    method: str | None = None

    @property
    def agents(self) -> list[str]:
        """The distinct authors of the steps, in order of first appearance."""
        return list(dict.fromkeys(step.agent for step in self.steps))

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_steps(
        cls,
        task: str,
        steps: Iterable[tuple[str, str]],
        *,
        run_id: str | None = None,
        method: str | None = None,
    ) -> Transcript:
        """A transcript from ``(agent, content)`` pairs, numbered in order."""
        numbered = tuple(Step(index, agent, content) for index, (agent, content) in enumerate(steps))
        return cls(run_id, task, numbered, method)

    @classmethod
    def from_messages(
        cls,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        run_id: str | None = None,
        method: str | None = None,
    ) -> Transcript:
        """A transcript from a message list such as ``MethodResult.transcript``.

        The first user message is the task (``task`` overrides its text);
        system messages are dropped; every other message is a step, its agent
        the message's ``name`` (or its role when it has none).
        """
        return cls._build([m.to_dict() for m in messages], task=task, run_id=run_id, method=method)

    @classmethod
    def _build(
        cls,
        messages: Sequence[dict[str, Any]],
        *,
        task: str | None,
        run_id: str | None,
        method: str | None,
    ) -> Transcript:
        pairs: list[tuple[str, str]] = []
        task_seen = False
        for message in messages:
            role = str(message.get("role") or "")
            if role == "system":
                continue
            text = message_text({MESSAGE: message}) or ""
            if role == "user" and not task_seen:
                task_seen = True
                task = text if task is None else task
                continue
            pairs.append((str(message.get("name") or role or "unknown"), text))
        return cls.from_steps(task or "", pairs, run_id=run_id, method=method)


def load_transcript(run_ref: str, db_path: Path | str | None = None) -> Transcript:
    """The transcript of a traced run: ``run_ref`` is a run id, a unique prefix of one, or ``last``.

    Reads the trace store (``db_path``, default ``$AGORAKIT_TRACE_DB``). The
    run must have been traced with content capture on, or there is nothing
    to read.
    """
    from agorakit.trace.reader import load_run  # sqlite reading only when a run is loaded

    trace = load_run(db_path if db_path is not None else settings.trace_db_path(), run_ref)
    roots = root_spans(trace.spans)
    root: SpanRecord | None = roots[0] if roots else None
    attributes = root.attributes if root is not None else {}
    task = attributes.get(INPUT)
    method = attributes.get(METHOD_ATTRIBUTE)
    messages = [_event_message(event) for event in trace.events]
    found = [message for message in messages if message is not None]
    if not found:
        raise ConfigError(
            f"run {trace.run_id} has no recorded messages to analyze",
            hint="the run was traced without content (AGORAKIT_CAPTURE_CONTENT=0), or made no model calls",
        )
    return Transcript._build(
        found,
        task=task if isinstance(task, str) else None,
        run_id=trace.run_id,
        method=method if isinstance(method, str) else None,
    )


def _event_message(event: EventRecord) -> dict[str, Any] | None:
    value = event.attributes.get(MESSAGE)
    if not isinstance(value, dict):
        return None
    message = dict(value)
    if not message.get("name") and event.attributes.get(_AUTHOR):
        message["name"] = event.attributes[_AUTHOR]
    return message
