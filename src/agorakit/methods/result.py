"""What a multi-agent method returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from agorakit.core.messages import Message
from agorakit.core.usage import Usage


@dataclass(slots=True)
class MethodResult:
    """The outcome of ``method.run(task)``.

    ``answer`` is the method's final text; ``final_answer`` the answer
    extracted from it (``None`` when nothing could be extracted);
    ``transcript`` every message the method's agents wrote or were shown as a
    task, each with its author in ``Message.name``; ``usage`` the total and
    ``usage_by_agent`` the split; ``run_id`` names the run's trace.
    """

    method: str
    answer: str
    final_answer: str | None
    transcript: list[Message]
    usage: Usage
    usage_by_agent: dict[str, Usage]
    run_id: str
    details: dict[str, object] = field(default_factory=dict)
