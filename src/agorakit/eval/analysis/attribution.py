"""Failure attribution: which agent's step caused a multi-agent run to fail.

The three judge-based methods of Zhang et al., "Which Agent Causes Task
Failures and When? On Automated Failure Attribution of LLM Multi-Agent
Systems" (ICML 2025; github.com/mingyin1/Agents_Failure_Attribution):

* ``all_at_once``: the judge reads the whole log once and names the agent,
  the step and the reason (one call).
* ``step_by_step``: the judge reads the log in order; at step k it sees steps
  0..k only and says whether step k holds the decisive error. The first "yes"
  is the answer (k+1 calls); no "yes" means no prediction, as in the paper.
* ``binary_search``: the judge sees the current range of steps and says which
  half holds the decisive error; the range halves until one step is left
  (about log2(n) calls). The agent is that step's author.

The judge always sees the task and, when given, the correct answer (the
paper's main setting includes it). Replies are structured and validated: the
agent must be one of the log's authors and the step inside the log, else the
judge is asked again, then :class:`~agorakit.methods.structured.StructuredOutputError`.

Where agorakit differs: every step is shown with its number (the paper shows
"agent: text" lines and explains the counting), each step's text is cut to
``max_step_chars`` (1,500 by default) so a log fits a small model's context,
and the judge's calls are not traced, so ``agora analyze last`` keeps naming
the analyzed run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.eval.analysis.transcript import Step, Transcript
from agorakit.kernel import Kernel, RunLedger, default_kernel
from agorakit.methods.session import Session
from agorakit.models.base import ChatModel, Sampling
from agorakit.models.uri import resolve_model

AttributionMethod = Literal["all_at_once", "step_by_step", "binary_search"]
METHODS: tuple[AttributionMethod, ...] = ("all_at_once", "step_by_step", "binary_search")
MAX_STEP_CHARS = 1500
JUDGE = "judge"

# The schema bounds the reason so grammar-constrained decoding stops; validation does not.
Reason = Annotated[str, WithJsonSchema({"type": "string", "maxLength": 200})]

SYSTEM = (
    "You analyze the log of a multi-agent system that failed to solve a problem, "
    "to find which agent's mistake caused the failure and at which step."
)


@dataclass(frozen=True, slots=True)
class Attribution:
    """The blamed agent and step (``None`` when the method found none), the judge's reason,
    and what the judging cost: ``calls`` model calls (retries included) and their ``usage``."""

    agent: str | None
    step: int | None
    reason: str
    method: AttributionMethod
    calls: int
    usage: Usage = field(default_factory=Usage)

    @property
    def found(self) -> bool:
        return self.step is not None


class StepVerdict(BaseModel):
    """Step-by-step: does the latest step hold the decisive error?"""

    error: bool
    reason: Reason


class HalfChoice(BaseModel):
    """Binary search: which half of the shown range holds the decisive error?"""

    half: Literal["first", "second"]
    reason: Reason


def step_choice(steps: int) -> Any:
    """The step numbers ``0..steps-1`` as a type: an enum in the JSON schema, which
    grammar-constrained decoding enforces (llama.cpp ignores ``minimum``/``maximum``)."""
    return Literal.__getitem__(tuple(range(steps)))


def blame_schema(agents: Sequence[str], steps: int) -> type[BaseModel]:
    """``{"agent", "step", "reason"}`` with the agent one of ``agents`` and the step in ``0..steps-1``."""
    choice: Any = Literal.__getitem__(tuple(agents))
    return create_model(
        "Blame",
        agent=(choice, Field(description="the agent responsible for the failure")),
        step=(step_choice(steps), Field(description="the step where that agent first made the mistake")),
        reason=(Reason, ...),
    )


def judge_session(judge: ChatModel | str, *, kernel: Kernel | None = None, max_tokens: int | None = None) -> Session:
    """A session for judge calls: greedy sampling, and a run context that writes no trace."""
    sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
    return Session("analyze", resolve_model(judge), kernel or default_kernel(), RunLedger.create(), sampling=sampling)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit} more characters cut]"


def render_steps(steps: Sequence[Step], limit: int = MAX_STEP_CHARS) -> str:
    """The log as the judge sees it: ``Step N - agent: text``, one block per step."""
    return "\n\n".join(f"Step {step.index} - {step.agent}: {clip(step.content, limit)}" for step in steps)


def problem_text(transcript: Transcript, ground_truth: str | None) -> str:
    text = f"The agents were solving this problem:\n{transcript.task}\n"
    if ground_truth is not None:
        text += f"\nThe correct answer to the problem is: {ground_truth}\n"
    return text


async def attribute(
    transcript: Transcript,
    judge: ChatModel | str,
    *,
    method: AttributionMethod = "all_at_once",
    ground_truth: str | None = None,
    max_step_chars: int = MAX_STEP_CHARS,
    max_tokens: int | None = None,
    kernel: Kernel | None = None,
) -> Attribution:
    """Blame one agent and one step of ``transcript`` with ``judge`` (a model or a model URI).

    ``max_tokens`` caps each judge reply; ``max_step_chars`` each step's text in prompts.
    """
    if not transcript.steps:
        raise ConfigError(f"run {transcript.run_id or '(unnamed)'} has no agent steps to analyze")
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}", hint=f"use one of {', '.join(METHODS)}")
    session = judge_session(judge, kernel=kernel, max_tokens=max_tokens)
    if method == "all_at_once":
        agent, step, reason = await _all_at_once(session, transcript, ground_truth, max_step_chars)
    elif method == "step_by_step":
        agent, step, reason = await _step_by_step(session, transcript, ground_truth, max_step_chars)
    else:
        agent, step, reason = await _binary_search(session, transcript, ground_truth, max_step_chars)
    return Attribution(agent, step, reason, method, session.calls, session.run.usage)


def _ask(text: str) -> list[Message]:
    return [Message("system", SYSTEM), Message("user", text)]


async def _all_at_once(
    session: Session, transcript: Transcript, ground_truth: str | None, limit: int
) -> tuple[str | None, int | None, str]:
    agents, last = transcript.agents, len(transcript.steps) - 1
    prompt = (
        f"{problem_text(transcript, ground_truth)}\n"
        f"Here is their conversation, one numbered step per message:\n\n{render_steps(transcript.steps, limit)}\n\n"
        "Which agent made the mistake that is directly responsible for the wrong solution, and at which step did "
        "that agent first make it? Steps are numbered from 0 in the order shown. If no agent made an obvious "
        "mistake, still choose the single agent and step you consider most responsible.\n"
        f'Reply with a JSON object: "agent" (one of: {", ".join(agents)}), "step" (a step number from 0 to {last}) '
        'and "reason" (one or two sentences).'
    )
    blame = await session.structured(JUDGE, _ask(prompt), blame_schema(agents, len(transcript.steps)))
    data = blame.model_dump()
    return str(data["agent"]), int(data["step"]), str(data["reason"])


async def _step_by_step(
    session: Session, transcript: Transcript, ground_truth: str | None, limit: int
) -> tuple[str | None, int | None, str]:
    for step in transcript.steps:
        seen = transcript.steps[: step.index + 1]
        prompt = (
            f"{problem_text(transcript, ground_truth)}\n"
            f"Here is the conversation up to the current step:\n\n{render_steps(seen, limit)}\n\n"
            f"The most recent step is step {step.index}, by {step.agent}. Does step {step.index} contain an error "
            "that could derail the problem solving or lead to a wrong solution? Do not be overly critical: answer "
            "true only for an error that clearly derails the process.\n"
            'Reply with a JSON object: "error" (true or false) and "reason" (one or two sentences).'
        )
        verdict = await session.structured(JUDGE, _ask(prompt), StepVerdict)
        if verdict.error:
            return step.agent, step.index, verdict.reason
    return None, None, "no step was judged to hold the decisive error"


async def _binary_search(
    session: Session, transcript: Transcript, ground_truth: str | None, limit: int
) -> tuple[str | None, int | None, str]:
    low, high = 0, len(transcript.steps) - 1
    reason = "the log has a single step"
    while low < high:
        middle = (low + high) // 2
        segment = transcript.steps[low : high + 1]
        prompt = (
            f"{problem_text(transcript, ground_truth)}\n"
            f"Here is a segment of their conversation, steps {low} to {high}:\n\n{render_steps(segment, limit)}\n\n"
            "The most critical mistake, the one that directly causes the failure, lies in this segment. Is it in "
            f"the first half (steps {low} to {middle}) or the second half (steps {middle + 1} to {high})? If no "
            "single error is clear, choose the half holding the step you consider most responsible.\n"
            'Reply with a JSON object: "half" ("first" or "second") and "reason" (one sentence).'
        )
        choice = await session.structured(JUDGE, _ask(prompt), HalfChoice)
        reason = choice.reason
        if choice.half == "first":
            high = middle
        else:
            low = middle + 1
    step = transcript.steps[low]
    return step.agent, step.index, reason
