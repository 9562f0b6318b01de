"""Self-Refine (Madaan et al., "Self-Refine: Iterative Refinement with
Self-Feedback", NeurIPS 2023; official code github:madaan/self-refine).

One model plays three parts (Algorithm 1 of the paper):

1. ``generator`` writes a first answer ``y0`` to the task.
2. ``feedback`` reads the task and the *current* answer ``y_t`` only and
   gives actionable feedback, together with the stop signal the paper's
   ``stop(fb_t, t)`` reads.
3. If it does not say stop, ``refiner`` writes ``y_{t+1}`` from the task and
   the whole history ``y0, fb0, ..., y_t, fb_t`` (the paper keeps every
   earlier draft and its feedback in the refine prompt so the model does not
   repeat a mistake it was already told about).

The loop ends when the feedback says stop or after ``max_iterations``
feedback/refine rounds (the official runs use ``--max_attempts 4``); the
answer is the latest draft. Calls: ``1 + 2 * t`` where ``t`` is the number of
refinements, so ``2`` when the first feedback says stop and
``1 + 2 * max_iterations`` when it never does.

Deliberate differences:

- The stop signal is a structured output (``{"feedback": ..., "stop": bool}``,
  validated and retried) rather than a phrase searched for in free text (the
  GSM runs stop when the feedback contains "it is correct"; other tasks stop
  on a score). A flag cannot be missed because of a paraphrase.
- Feedback and refinement are separate calls for every task; the GSM runs of
  the official code ask for both in one completion. Keeping them apart is the
  paper's Algorithm 1 and lets the stop decision come before any rewrite.
- Prompts are zero-shot instructions written for agorakit instead of the
  paper's task-specific few-shot examples.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, Field

from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session

GENERATE = 'Solve the task. Reason step by step, then finish with a last line of the form "The answer is <answer>".'

FEEDBACK = (
    "You review a draft answer to a task. Check every step of it for mistakes. "
    "Give specific, actionable feedback: what is wrong and how to fix it. "
    "Set stop to true only if the draft is correct and needs no further change; "
    "otherwise set stop to false."
)

REFINE = (
    "You improve an answer using feedback. Below are the task, every earlier draft and the "
    "feedback each one received, oldest first. Write a new, complete answer that fixes all the "
    "problems the feedback points out without repeating earlier mistakes. Reason step by step, "
    'then finish with a last line of the form "The answer is <answer>".'
)


class Feedback(BaseModel):
    """The feedback step's verdict: what to improve, and whether to stop."""

    feedback: str = Field(description="specific, actionable feedback on the draft")
    stop: bool = Field(description="true when the draft is correct and needs no more refinement")


@dataclasses.dataclass(frozen=True)
class SelfRefineConfig:
    max_iterations: int = 4  # official runs: --max_attempts 4
    temperature: float | None = 0.0  # first draft (official GSM default --temperature 0.0)
    feedback_temperature: float | None = 0.7  # official feedback/iterate calls sample at 0.7
    refine_temperature: float | None = 0.7


def history_text(task: str, drafts: list[str], feedback: list[str]) -> str:
    """The refiner's view: the task, then each draft followed by its feedback."""
    parts = [f"Task:\n{task}"]
    for index, (draft, note) in enumerate(zip(drafts, feedback, strict=True)):
        parts.append(f"Draft {index + 1}:\n{draft}\n\nFeedback on draft {index + 1}:\n{note}")
    parts.append(f"Write draft {len(drafts) + 1}.")
    return "\n\n".join(parts)


class SelfRefine(Method):
    name = "self_refine"
    summary = "Generate, then alternate self-feedback and refinement (with all past feedback) until told to stop."
    paper = "Madaan et al., Self-Refine: Iterative Refinement with Self-Feedback, NeurIPS 2023"
    Config = SelfRefineConfig

    async def solve(self, task: str, session: Session) -> str:
        config: SelfRefineConfig = self.config
        draft = await session.chat(
            "generator",
            [Message("system", GENERATE), Message("user", task)],
            sampling=session.sampling_with(config.temperature),
        )
        drafts: list[str] = []
        notes: list[str] = []
        for _ in range(config.max_iterations):
            verdict = await session.structured(
                "feedback",
                [Message("system", FEEDBACK), Message("user", f"Task:\n{task}\n\nDraft answer:\n{draft}")],
                Feedback,
                sampling=session.sampling_with(config.feedback_temperature),
            )
            if verdict.stop:
                break
            drafts.append(draft)
            notes.append(verdict.feedback)
            draft = await session.chat(
                "refiner",
                [Message("system", REFINE), Message("user", history_text(task, drafts, notes))],
                sampling=session.sampling_with(config.refine_temperature),
            )
        return draft
