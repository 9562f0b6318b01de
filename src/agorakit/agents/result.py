"""What a run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agorakit.core.errors import AgorakitError
from agorakit.core.messages import Message
from agorakit.core.usage import Usage

StopReason = Literal["final_answer", "max_steps", "loop_detected", "budget_exceeded", "policy_stopped"]

STOP_EXPLANATIONS: dict[str, str] = {
    "final_answer": "the agent gave a final answer",
    "max_steps": "the agent used all its steps without a final answer",
    "loop_detected": "the agent repeated the same tool call and was stopped",
    "budget_exceeded": "the run hit its budget and was ended",
    "policy_stopped": "a tool call was refused by a policy whose fallback stops the run",
}


@dataclass(slots=True)
class RunResult:
    """The outcome of ``Agent.run``.

    ``output`` is the final answer (``None`` unless ``stop_reason`` is
    ``"final_answer"``); ``messages`` the whole conversation including the
    system prompt; ``usage`` the run's total; ``error`` the budget or policy
    error when one of them ended the run.
    """

    output: str | None
    messages: list[Message]
    usage: Usage
    run_id: str
    stop_reason: StopReason
    steps: int
    usage_by_agent: dict[str, Usage] = field(default_factory=dict)
    error: AgorakitError | None = None

    @property
    def explanation(self) -> str:
        """One sentence on why the run stopped."""
        text = STOP_EXPLANATIONS[self.stop_reason]
        return f"{text}: {self.error.message}" if self.error is not None else text
