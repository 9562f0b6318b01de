"""Classifying a failed run into the MAST failure taxonomy.

MAST is the Multi-Agent System failure Taxonomy of Cemri et al., "Why Do
Multi-Agent LLM Systems Fail?" (2025; github.com/multi-agent-systems-failure-taxonomy/MAST):
14 failure modes in 3 categories, found by annotating traces of seven
multi-agent frameworks. Names follow the paper; the one-line definitions are
ours. The paper's LLM-as-a-judge reads a trace with the definitions and
answers yes or no per mode; :func:`classify` asks one structured question
instead: which mode ids occur, each with the step that shows it best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.eval.analysis.attribution import (
    JUDGE,
    MAX_STEP_CHARS,
    Reason,
    judge_session,
    problem_text,
    render_steps,
    step_choice,
)
from agorakit.eval.analysis.transcript import Transcript
from agorakit.kernel import Kernel
from agorakit.models.base import ChatModel

Category = Literal["specification issues", "inter-agent misalignment", "task verification"]


@dataclass(frozen=True, slots=True)
class FailureMode:
    """One MAST mode: ``id`` ("1.1" ... "3.3"), the paper's name, its category, a one-line definition."""

    id: str
    name: str
    category: Category
    definition: str


MODES: tuple[FailureMode, ...] = (
    FailureMode(
        "1.1",
        "Disobey Task Specification",
        "specification issues",
        "An agent ignores a constraint or requirement of the task, so its output does not meet it.",
    ),
    FailureMode(
        "1.2",
        "Disobey Role Specification",
        "specification issues",
        "An agent steps outside its assigned role and acts as another role would.",
    ),
    FailureMode(
        "1.3",
        "Step Repetition",
        "specification issues",
        "A step, phase or question that was already done is needlessly done again.",
    ),
    FailureMode(
        "1.4",
        "Loss of Conversation History",
        "specification issues",
        "Recent context is lost and the conversation falls back to an earlier state.",
    ),
    FailureMode(
        "1.5",
        "Unaware of Termination Conditions",
        "specification issues",
        "Agents do not recognise when the task should stop and keep going without purpose.",
    ),
    FailureMode(
        "2.1",
        "Conversation Reset",
        "inter-agent misalignment",
        "The dialogue restarts without reason, losing the progress made so far.",
    ),
    FailureMode(
        "2.2",
        "Fail to Ask for Clarification",
        "inter-agent misalignment",
        "An agent acts on unclear or incomplete information instead of asking for what is missing.",
    ),
    FailureMode(
        "2.3",
        "Task Derailment",
        "inter-agent misalignment",
        "The agents drift away from the task's objective into irrelevant or unproductive work.",
    ),
    FailureMode(
        "2.4",
        "Information Withholding",
        "inter-agent misalignment",
        "An agent has information another agent needs and does not share it.",
    ),
    FailureMode(
        "2.5",
        "Ignored Other Agent's Input",
        "inter-agent misalignment",
        "An agent disregards another agent's suggestion, correction or result.",
    ),
    FailureMode(
        "2.6",
        "Reasoning-Action Mismatch",
        "inter-agent misalignment",
        "What an agent does or answers contradicts its own stated reasoning.",
    ),
    FailureMode(
        "3.1",
        "Premature Termination",
        "task verification",
        "The run ends before the task is done or before needed information is exchanged.",
    ),
    FailureMode(
        "3.2",
        "No or Incomplete Verification",
        "task verification",
        "The result is not checked, or only part of it is checked, so errors pass through.",
    ),
    FailureMode(
        "3.3",
        "Incorrect Verification",
        "task verification",
        "A check is made but is wrong or superficial and accepts a faulty result.",
    ),
)
MODES_BY_ID: dict[str, FailureMode] = {mode.id: mode for mode in MODES}
#: How many modes the schema lets a judge list (a run rarely shows more).
MAX_LISTED = 6


@dataclass(frozen=True, slots=True)
class MastFailure:
    """A mode found in the run, with the step that shows it best."""

    mode: FailureMode
    step: int

    @property
    def id(self) -> str:
        return self.mode.id

    @property
    def name(self) -> str:
        return self.mode.name

    @property
    def category(self) -> Category:
        return self.mode.category


@dataclass(frozen=True, slots=True)
class MastReport:
    """The modes found (in taxonomy order, each once), the judge's summary, and the judging cost."""

    failures: tuple[MastFailure, ...]
    summary: str
    calls: int
    usage: Usage = field(default_factory=Usage)

    @property
    def ids(self) -> list[str]:
        return [failure.id for failure in self.failures]


def mast_schema(steps: int) -> type[BaseModel]:
    """``{"failures": [{"id", "step"}...], "summary"}`` with ids among the 14 and steps in the log.

    The schema allows ``MAX_LISTED`` findings, so a small grammar-constrained model
    stops listing; validation accepts up to all 14 from a model that ignores it.
    """
    mode_id: Any = Literal.__getitem__(tuple(MODES_BY_ID))
    finding = create_model(
        "MastFinding",
        id=(mode_id, Field(description="a MAST failure mode id")),
        step=(step_choice(steps), Field(description="the step that shows this failure")),
    )
    return create_model(
        "MastClassification",
        failures=(
            list[finding],  # type: ignore[valid-type]
            Field(max_length=len(MODES), json_schema_extra={"maxItems": MAX_LISTED}),
        ),
        summary=(Reason, ...),
    )


def taxonomy_text() -> str:
    """The 14 modes as the judge reads them: ``id name: definition``, grouped by category."""
    lines: list[str] = []
    for category in ("specification issues", "inter-agent misalignment", "task verification"):
        lines.append(f"{category.capitalize()}:")
        lines += [f"  {mode.id} {mode.name}: {mode.definition}" for mode in MODES if mode.category == category]
    return "\n".join(lines)


async def classify(
    transcript: Transcript,
    judge: ChatModel | str,
    *,
    ground_truth: str | None = None,
    max_step_chars: int = MAX_STEP_CHARS,
    max_tokens: int | None = None,
    kernel: Kernel | None = None,
) -> MastReport:
    """The MAST failure modes ``judge`` finds in ``transcript``, in one structured call (plus retries)."""
    if not transcript.steps:
        raise ConfigError(f"run {transcript.run_id or '(unnamed)'} has no agent steps to analyze")
    session = judge_session(judge, kernel=kernel, max_tokens=max_tokens)
    last = len(transcript.steps) - 1
    prompt = (
        f"{problem_text(transcript, ground_truth)}\n"
        f"Here is their conversation, one numbered step per message:\n\n"
        f"{render_steps(transcript.steps, max_step_chars)}\n\n"
        f"These are the failure modes of multi-agent systems (MAST):\n{taxonomy_text()}\n\n"
        f"Which of these failure modes occur in the conversation (at most {MAX_LISTED}, the clearest first)? "
        "Mark a mode only if you can point to a step that shows it.\n"
        f'Reply with a JSON object: "failures" (a list of objects with "id", a mode id such as "1.3", and "step", '
        f'the step number from 0 to {last} that shows it; an empty list if none occur) and "summary" '
        "(one sentence on what went wrong)."
    )
    messages = [Message("system", "You diagnose failures of multi-agent LLM systems."), Message("user", prompt)]
    reply = await session.structured(JUDGE, messages, mast_schema(len(transcript.steps)))
    data = reply.model_dump()
    first_step: dict[str, int] = {}
    for finding in data["failures"]:
        first_step.setdefault(str(finding["id"]), int(finding["step"]))
    failures = tuple(MastFailure(mode, first_step[mode.id]) for mode in MODES if mode.id in first_step)
    return MastReport(failures, str(data["summary"]), session.calls, session.run.usage)
