"""MAKER (Meyerson et al., "Solving a Million-Step LLM Task with Zero Errors",
2025): a massively decomposed agentic process (MDAP) with Maximal Agentic
decomposition, first-to-ahead-by-K Error correction, and Red-flagging.

The task is split into the smallest possible steps, and each step is given to
micro-agents that see only what that step needs. Per step, independent samples
are drawn one at a time; each sample that is not red-flagged is a vote for its
answer, and the step is decided by *first-to-ahead-by-k* voting: as soon as
one answer has ``k`` more votes than any other answer, it wins (the paper's
``V[y] >= k + max_{v != y} V[v]``). A red-flagged sample (malformed: not the
step's expected structured output; or overlong: more than
``red_flag_tokens`` output tokens, a sign of a confused model) is discarded
and casts no vote. The winner becomes part of the state the next step sees.

Deliberate differences from the paper (no official code was released; the
algorithm follows the paper's Algorithms 1-3):

- Decomposition. In the paper's Towers of Hanoi the steps are given by the
  problem (one move each) and the state is the disk configuration. For
  general tasks a ``decomposer`` agent first writes the list of minimal steps
  (a structured output, at most ``max_steps``); the state a step's
  micro-agent sees is the task plus the decided results of the earlier steps,
  never other samples or later steps. The decomposition itself is not voted.
- Step answers are a JSON object ``{"result": ...}`` (the paper parses a move
  and a next state); votes compare results with case and runs of whitespace
  ignored; the winner's text is the first sample that gave it.
- A cap: the paper samples until a winner appears; here at most
  ``max_samples`` samples per step (red-flagged ones included). If the cap is
  reached, the answer with most votes wins (ties: the one that reached that
  count first); with no valid vote at all the run fails with
  ``StructuredOutputError``.
- Samples are drawn sequentially, so the stop rule holds exactly; the paper
  draws the first k in parallel, which changes cost and latency, not the rule.
- Sampling: the first sample of a step is greedy (temperature 0), later ones
  use temperature 0.1, as in the paper's runs; the output cap is one token past
  the red-flag limit so an overlong sample is cut short and flagged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, Field, create_model

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.methods.structured import StructuredOutputError, parse_structured

DECOMPOSER = "decomposer"


class Decomposition(BaseModel):
    steps: list[str] = Field(min_length=1)


class StepResult(BaseModel):
    result: str


@dataclasses.dataclass(frozen=True)
class MakerConfig:
    k: int = 3  # the paper's million-step run used k = 3
    max_samples: int = 20  # per step, red-flagged samples included (the paper has no cap)
    red_flag_tokens: int = 750  # the paper flags responses over about 750 tokens
    first_temperature: float = 0.0
    temperature: float = 0.1
    max_steps: int = 10


DECOMPOSE_PROMPT = (
    "You split a task into the smallest possible steps, so that each step can be done by a separate helper "
    "who only sees the task, the results of the earlier steps, and that one step. Each step must be a single, "
    "simple operation (for example one calculation or one fact to state) whose result is short. "
    "The last step must give the final answer to the task. Use at most {max_steps} steps. "
    'Reply with only a JSON object {{"steps": ["...", ...]}}.'
)

MICRO_PROMPT = (
    "You carry out exactly one small step of a larger task. Do only that step, using the task and the results "
    "of the earlier steps, and give its result briefly (a number, a short phrase or a sentence). "
    'Reply with only a JSON object {"result": "..."}.'
)


def vote_key(result: str) -> str:
    """Answers that differ only in case or whitespace are the same vote."""
    return " ".join(result.split()).casefold()


def ahead_by_k(votes: dict[str, int], candidate: str, k: int) -> bool:
    """First-to-ahead-by-k: ``candidate`` has at least ``k`` more votes than every other answer."""
    others = max((count for key, count in votes.items() if key != candidate), default=0)
    return votes[candidate] >= k + others


def step_prompt(task: str, done: list[tuple[str, str]], step: str, index: int, total: int) -> str:
    state = "\n".join(f"{i}. {description}\n   Result: {result}" for i, (description, result) in enumerate(done, 1))
    return (
        f"Task:\n{task}\n\n"
        f"Results of the earlier steps:\n{state or '(none: this is the first step)'}\n\n"
        f"Your step ({index} of {total}): {step}"
    )


class Maker(Method):
    """Maximal decomposition, first-to-ahead-by-k voting per step, red-flagging."""

    name = "maker"
    summary = "Maximal decomposition into micro-steps, each decided by first-to-ahead-by-k voting with red-flagging."
    paper = "Meyerson et al., Solving a Million-Step LLM Task with Zero Errors (MAKER), 2025"
    Config = MakerConfig

    async def solve(self, task: str, session: Session) -> str:
        config: MakerConfig = self.config
        if config.k < 1 or config.max_samples < 1 or config.max_steps < 1:
            raise ConfigError("maker: k, max_samples and max_steps must be at least 1")
        schema: type[Decomposition] = create_model(
            "Decomposition",
            __base__=Decomposition,
            steps=(list[str], Field(min_length=1, max_length=config.max_steps)),
        )
        plan = await session.structured(
            DECOMPOSER,
            [Message("system", DECOMPOSE_PROMPT.format(max_steps=config.max_steps)), Message("user", task)],
            schema,
        )
        done: list[tuple[str, str]] = []
        details: list[dict[str, Any]] = []
        session.details["steps"] = details  # one record per step, in MethodResult.details
        for index, step in enumerate(plan.steps, 1):
            messages = [
                Message("system", MICRO_PROMPT),
                Message("user", step_prompt(task, done, step, index, len(plan.steps))),
            ]
            result, record = await self._vote(session, f"micro_{index}", messages, index)
            details.append(record)
            done.append((step, result))
        lines = [f"Step {i}: {step}\nResult: {result}" for i, (step, result) in enumerate(done, 1)]
        return "\n".join(lines) + f"\nThe answer is {done[-1][1]}"

    async def _vote(
        self, session: Session, agent: str, messages: list[Message], index: int
    ) -> tuple[str, dict[str, Any]]:
        config: MakerConfig = self.config
        votes: dict[str, int] = {}
        first_text: dict[str, str] = {}
        reached: dict[tuple[str, int], int] = {}  # (answer, count) -> sample number that reached it
        flags = {"malformed": 0, "overlong": 0}
        schema = StepResult.model_json_schema()
        for sample in range(1, config.max_samples + 1):
            temperature = config.first_temperature if sample == 1 else config.temperature
            sampling = dataclasses.replace(
                session.sampling, temperature=temperature, max_tokens=config.red_flag_tokens + 1
            )
            before = session.run.usage_by_agent.get(agent)
            before_tokens = before.output_tokens if before else 0
            text = await session.chat(agent, messages, sampling=sampling, response_schema=schema)
            used = session.run.usage_by_agent[agent].output_tokens - before_tokens
            if used > config.red_flag_tokens:
                flags["overlong"] += 1
                continue
            try:
                result = parse_structured(text, StepResult).result.strip()
            except ValueError:
                flags["malformed"] += 1
                continue
            if not result:
                flags["malformed"] += 1
                continue
            key = vote_key(result)
            votes[key] = votes.get(key, 0) + 1
            first_text.setdefault(key, result)
            reached.setdefault((key, votes[key]), sample)
            if ahead_by_k(votes, key, config.k):
                record = {"samples": sample, "votes": dict(votes), "red_flags": flags, "decided": True}
                return first_text[key], record
        if not votes:
            raise StructuredOutputError(
                f"maker: step {index} ({agent}) got no answer without a red flag in {config.max_samples} samples"
                f" ({flags['malformed']} malformed, {flags['overlong']} overlong)"
            )
        top = max(votes.values())
        winner = min((key for key, count in votes.items() if count == top), key=lambda key: reached[(key, top)])
        record = {"samples": config.max_samples, "votes": dict(votes), "red_flags": flags, "decided": False}
        return first_text[winner], record


__all__ = ["Decomposition", "Maker", "MakerConfig", "StepResult", "ahead_by_k", "vote_key"]
