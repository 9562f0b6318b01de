"""Reflexion (Shinn et al., "Reflexion: Language Agents with Verbal
Reinforcement Learning", NeurIPS 2023; official code github:noahshinn/reflexion).

Trials of an actor, each followed by an evaluation; failures are turned into
words that the next trial reads:

1. ``actor`` attempts the task, shown the reflections in its episodic memory
   (none on the first trial).
2. ``evaluator`` judges the attempt (structured: ``correct`` and a
   ``reason``). Tasks here carry no ground truth, so this is the paper's
   LLM self-evaluation variant (its programming runs use self-written tests,
   its HotPotQA runs an exact-match check).
3. On success the attempt is the answer. Otherwise, unless this was the last
   trial, ``reflector`` reads the task, the failed attempt and the
   evaluator's reason and writes a short self-reflection: what went wrong and
   a plan to avoid it. It goes into the episodic memory, which keeps only the
   last ``memory_size`` reflections (the AlfWorld and WebShop runs keep
   ``memory[-3:]``; the paper bounds memory at 1-3 experiences).

At most ``max_trials`` trials (the HotPotQA notebooks run ``n = 5``); the
answer is the last attempt. Calls: ``2`` when trial 1 succeeds; ``3T - 1``
when all ``T`` trials fail (no reflection after the last one).

Deliberate differences:

- The evaluator is an LLM with a structured verdict instead of a task
  environment, since agorakit methods get only a task text. Benchmarks that
  hold the reference answer judge the final answer afterwards as usual.
- The actor sees the reflections only, not its previous trajectory (the
  paper's "Reflexion" strategy, not "last attempt + Reflexion"); the
  reflection already summarises what went wrong.
- One zero-shot actor prompt (reason step by step, state the answer) instead
  of task-specific few-shot ReAct/CoT prompts.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, Field

from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session

ACTOR = 'Solve the task. Reason step by step, then finish with a last line of the form "The answer is <answer>".'

MEMORY_HEADER = (
    "You have tried this task before and failed. Here are your reflections on those attempts; "
    "use them to avoid the same mistakes:"
)

EVALUATOR = (
    "You check an attempted answer to a task. Work out whether the reasoning and the final answer "
    "are correct. Set correct to true only if the final answer is right; give the reason for your "
    "verdict, pointing at the first mistake if there is one."
)

REFLECTOR = (
    "You are an agent reflecting on a failed attempt at a task. You will see the task, your attempt "
    "and why it was judged wrong. In a few sentences, diagnose what went wrong and write a concrete, "
    "high-level plan that would avoid the failure next time. Do not solve the task again."
)


class Evaluation(BaseModel):
    """The evaluator's verdict on one attempt."""

    correct: bool = Field(description="true when the attempt's final answer is correct")
    reason: str = Field(description="why, pointing at the first mistake if there is one")


@dataclasses.dataclass(frozen=True)
class ReflexionConfig:
    max_trials: int = 5  # HotPotQA notebooks: n = 5 trials
    memory_size: int = 3  # AlfWorld/WebShop: memory[-3:]
    temperature: float | None = 0.0  # official actor and reflection LLMs run at temperature 0


def actor_prompt(task: str, memory: list[str]) -> str:
    if not memory:
        return task
    lines = "\n".join(f"Reflection {i + 1}: {text}" for i, text in enumerate(memory))
    return f"{task}\n\n{MEMORY_HEADER}\n{lines}"


class Reflexion(Method):
    name = "reflexion"
    summary = "Actor trials judged by an evaluator; verbal self-reflections on failures guide the next trial."
    paper = "Shinn et al., Reflexion: Language Agents with Verbal Reinforcement Learning, NeurIPS 2023"
    Config = ReflexionConfig

    async def solve(self, task: str, session: Session) -> str:
        config: ReflexionConfig = self.config
        sampling = (
            session.sampling
            if config.temperature is None
            else dataclasses.replace(session.sampling, temperature=config.temperature)
        )
        memory: list[str] = []
        attempt = ""
        for trial in range(max(1, config.max_trials)):
            attempt = await session.chat(
                "actor",
                [Message("system", ACTOR), Message("user", actor_prompt(task, memory))],
                sampling=sampling,
            )
            verdict = await session.structured(
                "evaluator",
                [Message("system", EVALUATOR), Message("user", f"Task:\n{task}\n\nAttempt:\n{attempt}")],
                Evaluation,
                sampling=sampling,
            )
            if verdict.correct or trial == config.max_trials - 1:
                break
            reflection = await session.chat(
                "reflector",
                [
                    Message("system", REFLECTOR),
                    Message(
                        "user",
                        f"Task:\n{task}\n\nYour attempt:\n{attempt}\n\nWhy it was judged wrong:\n{verdict.reason}",
                    ),
                ],
                sampling=sampling,
            )
            memory = [*memory, reflection.strip()][-config.memory_size :] if config.memory_size > 0 else []
        return attempt
