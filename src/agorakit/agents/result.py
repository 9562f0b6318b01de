"""What a run returns, built the same way for agents and teams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Self, TypeVar

from agorakit.core.errors import AgorakitError
from agorakit.core.messages import Message
from agorakit.core.usage import Usage

if TYPE_CHECKING:
    from agorakit.kernel import RunLedger

StopReason = Literal[
    "final_answer",
    "max_steps",
    "loop_detected",
    "budget_exceeded",
    "policy_stopped",
    "output_invalid",
    "needs_confirmation",
    "awaiting_approval",
]

STOP_EXPLANATIONS: dict[str, str] = {
    "final_answer": "the agent gave a final answer",
    "max_steps": "the agent used all its steps without a final answer",
    "loop_detected": "the agent repeated the same tool call and was stopped",
    "budget_exceeded": "the run hit its budget and was ended",
    "policy_stopped": "a tool call was refused by a policy whose fallback stops the run",
    "output_invalid": "the agent's answer did not match its output type, after every retry",
    "needs_confirmation": "a resumed run stopped before a side-effecting tool call that may have run already",
    "awaiting_approval": "the run paused until a human approves or denies a tool call (agora approve)",
}

OutputT = TypeVar("OutputT")


@dataclass(slots=True)
class RunResult(Generic[OutputT]):
    """The outcome of a run.

    ``output`` is the final answer, an instance of the agent's ``output_type``
    (``str`` by default); ``None`` unless ``stop_reason`` is ``"final_answer"``.
    ``messages`` is the whole conversation including the system prompt;
    ``usage`` the run's total; ``error`` the budget, policy or validation error
    when one of them ended the run.
    """

    output: OutputT | None
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

    @classmethod
    def build(
        cls,
        ledger: RunLedger,
        output: Any,
        messages: list[Message],
        stop_reason: StopReason,
        steps: int,
        *,
        error: AgorakitError | None = None,
        **extra: Any,
    ) -> Self:
        """The result of a run accounted in ``ledger`` (subclasses pass their own fields in ``extra``)."""
        return cls(
            output=output,
            messages=messages,
            usage=ledger.usage,
            run_id=ledger.run_id,
            stop_reason=stop_reason,
            steps=steps,
            usage_by_agent=ledger.usage_by_agent,
            error=error,
            **extra,
        )
