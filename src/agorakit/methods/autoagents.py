"""AutoAgents (Chen et al., "AutoAgents: A Framework for Automatic Agent
Generation", IJCAI 2024 / arXiv 2023; official code github:Link-AGI/AutoAgents,
``autoagents/roles/manager.py``, ``observer.py``, ``group.py``).

Two stages.

Drafting. The ``planner`` drafts a team of expert agents (name and
description each) and an execution plan (a numbered list of steps, each
assigned to one expert; the last step is a summarising step that answers the
question). Then the ``observer_agents`` (the paper's agent observer) checks
the team and the ``observer_plan`` (plan observer) checks the plan, seeing
the team and the agent observer's suggestions too. Both give suggestions and
a verdict. If both approve, drafting stops; otherwise the planner redrafts
from its previous draft and both observers' suggestions. At most
``max_rounds`` rounds (the official manager's 3); after the last round the
last draft is used whatever the verdict. Every round is three calls, so
``3 * r`` when both observers approve in round ``r``.

Execution. The plan's steps run in order (at most ``max_steps``); the expert
assigned to step ``i`` is called once, with its own description as the system
prompt, the task, the results of steps ``1 .. i-1`` (each with its expert)
and step ``i``'s instruction. It does not see the planner's or observers'
messages or later steps' results. The answer is the last step's result.
Calls: ``3 * r + number of plan steps``.

Deliberate differences:

- Drafts and critiques are structured outputs (validated, retried) instead of
  markdown sections parsed with regular expressions, and an observer
  approves with a flag instead of writing "No Suggestions". Their schemas
  bound list and string lengths (at most 5 experts and 8 steps; longer
  output is trimmed, not refused), and these calls get 2048 output tokens
  unless the run sets ``max_tokens``: a small model under a JSON grammar
  otherwise repeats list items until it runs out of tokens.
- Each plan step has one expert and is executed by one call. In the official
  code a step may list several experts, and each of them loops (up to five
  times) until it stops proposing further sub-steps; the paper's action
  observer, which could re-order steps, is commented out in the official
  code, so steps run in plan order there too.
- The observers of the final round are still called (as in the official
  loop) even though a rejection can no longer change the draft: the verdicts
  stay in the transcript for inspection.
- Tools (the official search tool) are not used; experts answer from their
  own knowledge. The last step is told to finish with "The answer is ..." so
  the answer extractor can read it.
- A draft with no experts gets a single generalist; a step naming an unknown
  expert goes to the closest name (case-insensitive), else to the first
  expert; an empty plan becomes one step that answers the question.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session


def _cap(limit: int) -> BeforeValidator:
    """Cut an over-long string or list to ``limit`` before validation: the
    schema's ``maxLength``/``maxItems`` bound what a grammar-constrained model
    writes (a small model otherwise repeats list items until ``max_tokens``),
    while a stronger model that overshoots is trimmed rather than refused."""

    def cut(value: Any) -> Any:
        return value[:limit] if isinstance(value, (str, list)) else value

    return BeforeValidator(cut)


class ExpertSpec(BaseModel):
    name: Annotated[str, _cap(60), Field(max_length=60, description="short name of the expert role")]
    description: Annotated[
        str, _cap(300), Field(max_length=300, description="the expert's area of expertise, goal and constraints")
    ]


class PlanStep(BaseModel):
    expert: Annotated[str, _cap(60), Field(max_length=60, description="name of the one expert for this step")]
    instruction: Annotated[
        str, _cap(400), Field(max_length=400, description="what the expert does in this step and what it outputs")
    ]


DRAFT_TOKENS = 2048
MAX_EXPERTS = 5
MAX_PLAN_STEPS = 8


class Draft(BaseModel):
    experts: Annotated[list[ExpertSpec], _cap(MAX_EXPERTS), Field(max_length=MAX_EXPERTS)]
    plan: Annotated[list[PlanStep], _cap(MAX_PLAN_STEPS), Field(max_length=MAX_PLAN_STEPS)]


class Critique(BaseModel):
    suggestions: Annotated[str, _cap(800), Field(max_length=800, description="problems found and how to fix them")]
    approved: bool = Field(description="true only if nothing needs to change")


PLANNER = """\
You are a manager who solves tasks by creating a team of expert agents and an execution plan.
1. Understand the task and break it down.
2. Create the expert roles the task needs. Give each a short name and a description of its
   expertise, goal and constraints. Each expert has one clear responsibility; no two experts
   do the same thing. Always include a language expert who summarises the results of all steps.
3. Write an execution plan: a list of steps that solve the task progressively. Each step names
   the one expert who carries it out and says what it must produce and what the next step needs
   from it. The last step is always the language expert answering the original question from the
   results of the previous steps.
If suggestions on an earlier draft are given, improve the team and the plan accordingly."""

AGENT_OBSERVER = """\
You check a team of expert roles created to solve a task. Check that:
1. The experts together cover everything the task needs.
2. No two experts have the same responsibility, and each has one clear responsibility.
3. Each expert's name and description are clear and fit its role.
4. There is a language expert who summarises the results.
Write your suggestions. Set approved to true only if the team needs no change."""

PLAN_OBSERVER = """\
You check an execution plan made to solve a task with a team of experts. Check that:
1. The steps solve the task progressively, and together they answer it completely.
2. Each step is assigned to an expert of the team.
3. Each step says what it produces, and the next step gets the input it needs.
4. The last step is the language expert answering the original question from the previous steps.
Write your suggestions. Set approved to true only if the plan needs no change."""

EXPERT = "You are {name}, an expert: {description}\nCarry out your step of the team's plan carefully and completely."

STEP = """\
## Task
{task}

## Previous steps and results
{previous}

## Current step
{instruction}"""

LAST_STEP_NOTE = '\nThis is the final step: finish with a last line of the form "The answer is <answer>".'

GENERALIST = ExpertSpec(name="Problem Solver", description="a careful generalist who solves the task step by step")


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "agent"


def render_team(experts: list[ExpertSpec]) -> str:
    return "\n".join(f"- {e.name}: {e.description}" for e in experts) or "(none)"


def render_plan(plan: list[PlanStep]) -> str:
    return "\n".join(f"{i}. [{s.expert}] {s.instruction}" for i, s in enumerate(plan, 1)) or "(none)"


@dataclasses.dataclass(frozen=True)
class AutoAgentsConfig:
    """``max_rounds``: drafting rounds (draft + two observers) at most, the
    official 3; ``max_steps``: plan steps executed at most."""

    max_rounds: int = 3
    max_steps: int = 6

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ConfigError(f"autoagents: max_rounds must be at least 1, got {self.max_rounds}")
        if self.max_steps < 1:
            raise ConfigError(f"autoagents: max_steps must be at least 1, got {self.max_steps}")


class AutoAgents(Method):
    name = "autoagents"
    summary = "A planner drafts expert agents and a plan, observers refine them, then the experts run the plan."
    paper = "Chen et al., AutoAgents: A Framework for Automatic Agent Generation, IJCAI 2024 (arXiv 2023)"
    Config = AutoAgentsConfig
    config: AutoAgentsConfig

    async def draft(self, task: str, session: Session) -> tuple[Draft, int]:
        """The final draft and how many rounds it took."""
        previous: Draft | None = None
        suggestions = ""
        # A draft is longer than the backends' default budget for structured output.
        room = dataclasses.replace(session.sampling, max_tokens=session.sampling.max_tokens or DRAFT_TOKENS)
        for round_number in range(1, self.config.max_rounds + 1):
            request = f"## Task\n{task}"
            if previous is not None:
                request += (
                    f"\n\n## Your previous draft\nExperts:\n{render_team(previous.experts)}\n"
                    f"Plan:\n{render_plan(previous.plan)}\n\n## Suggestions\n{suggestions}"
                )
            draft = await session.structured(
                "planner", [Message("system", PLANNER), Message("user", request)], Draft, sampling=room
            )
            team = render_team(draft.experts)
            agents_check = await session.structured(
                "observer_agents",
                [Message("system", AGENT_OBSERVER), Message("user", f"## Task\n{task}\n\n## Experts\n{team}")],
                Critique,
                sampling=room,
            )
            plan_check = await session.structured(
                "observer_plan",
                [
                    Message("system", PLAN_OBSERVER),
                    Message(
                        "user",
                        f"## Task\n{task}\n\n## Experts\n{team}\n\n## Execution plan\n{render_plan(draft.plan)}"
                        f"\n\n## Suggestions on the experts\n{agents_check.suggestions}",
                    ),
                ],
                Critique,
                sampling=room,
            )
            if agents_check.approved and plan_check.approved:
                return draft, round_number
            previous = draft
            suggestions = f"On the experts: {agents_check.suggestions}\nOn the plan: {plan_check.suggestions}"
        assert previous is not None
        return previous, self.config.max_rounds

    @staticmethod
    def assign(step: PlanStep, experts: list[ExpertSpec]) -> ExpertSpec:
        wanted = step.expert.strip().lower()
        for expert in experts:
            if expert.name.strip().lower() == wanted:
                return expert
        for expert in experts:
            name = expert.name.strip().lower()
            if name and wanted and (name in wanted or wanted in name):
                return expert
        return experts[0]

    async def solve(self, task: str, session: Session) -> str:
        draft, _ = await self.draft(task, session)
        experts = [e for e in draft.experts if e.name.strip()] or [GENERALIST]
        plan = draft.plan[: self.config.max_steps] or [
            PlanStep(expert=experts[-1].name, instruction="Answer the task.")
        ]
        results: list[tuple[str, str]] = []
        answer = ""
        for index, step in enumerate(plan):
            expert = self.assign(step, experts)
            previous = (
                "\n\n".join(f"Step {i} ({who}):\n{result}" for i, (who, result) in enumerate(results, 1))
                or "(none yet)"
            )
            instruction = f"Step {index + 1} ({expert.name}): {step.instruction}"
            if index == len(plan) - 1:
                instruction += LAST_STEP_NOTE
            answer = await session.chat(
                f"expert_{_slug(expert.name)}",
                [
                    Message("system", EXPERT.format(name=expert.name, description=expert.description)),
                    Message("user", STEP.format(task=task, previous=previous, instruction=instruction)),
                ],
            )
            results.append((expert.name, answer))
        return answer
