"""AgentVerse (Chen et al., "AgentVerse: Facilitating Multi-Agent
Collaboration and Exploring Emergent Behaviors", ICLR 2024; official code
github:OpenBMB/AgentVerse, task-solving pipeline).

Each round has the paper's four stages:

1. **Expert recruitment.** ``recruiter`` reads the task and the evaluator's
   last advice and proposes ``experts`` role descriptions (a structured list).
   The first expert is the solver, the others its critics / discussants (as
   the official role assigner fills ``[solver] + critics``).
2. **Collaborative decision-making**, one of two structures:

   - ``"vertical"`` (default; the official MGSM config uses the
     ``vertical-solver-first`` decision maker): ``solver`` proposes a
     solution; every critic (``critic_1`` ...) reviews it in parallel and
     says whether it agrees (structured). If all agree, the discussion ends;
     otherwise the disagreeing critiques are shown to the solver, who revises,
     and the critics review again, at most ``max_critic_rounds`` times.
     Critics of one turn do not see each other's critiques of that turn;
     agreeing critiques are not passed on.
   - ``"horizontal"``: the discussants (``expert_1`` ...) speak in turn, each
     seeing everything said before in the round; then ``solver`` writes the
     group's solution from the discussion.
3. **Execution.** The official MGSM config has no executor (``type: none``):
   the decided solution is the result. ``execute=True`` adds an ``executor``
   call that writes the final solution from the decision.
4. **Evaluation.** ``evaluator`` sees the experts, the task and the solution
   and returns ``{"correct": bool, "advice": str}``; the advice says how to
   fix the solution and which experts to recruit next.

If the evaluator accepts, the round's solution is the answer; otherwise a new
round starts with the advice given to the recruiter and, with the previous
solution, to the decision-makers, for at most ``max_rounds`` rounds (MGSM
config: ``max_turn: 3``). Defaults follow the official MGSM config:
``cnt_agents: 2``, ``max_turn: 3``, three critic turns, solver/evaluator at
temperature 0 and critics at 0.3.

Calls per round (``N`` experts, vertical): ``1 + 1 + (N - 1) + 1`` when the
critics agree at once, plus ``(N - 1) + 1`` per further critic turn;
horizontal: ``1 + (N - 1) + 1 + 1``; ``+1`` with ``execute``.

Deliberate differences:

- Recruitment, critic agreement and evaluation are structured outputs
  (validated, retried) instead of numbered lists, an "[Agree]" token and a
  "Correctness: 0/1" line parsed from free text.
- Each round's discussion starts from the previous round's solution and the
  evaluator's advice rather than the agents' whole chat history of all
  rounds, which keeps prompts bounded on small-context models.
- Prompts are ours, carrying the official instructions.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session

NO_ADVICE = "No advice yet."

RECRUITER = (
    "You lead a group of experts facing a problem. Decide which experts, from different fields, "
    "to recruit so that the group produces an accurate solution. Describe each expert in one "
    "line (their field and what they are good at); give only the descriptions, no reasons."
)

SOLVER = (
    "Using the discussion so far and your own knowledge, give a correct solution to the problem. "
    "The problem can be answered without any extra information; do not ask for any. Explain your "
    'reasoning, then finish with a last line of the form "The answer is <answer>".'
)

CRITIC = (
    "You are in a discussion group solving a problem together. First work out your own solution "
    "step by step, then compare it with the latest proposed solution in the discussion. Give only "
    "your critique of the proposed solution, not your own answer. Set agree to true if its final "
    "answer is the same as yours, otherwise false. The problem can be answered without any extra "
    "information; do not ask for any."
)

DISCUSSANT = (
    "You are in a discussion group solving a problem together. Read what the others have said, "
    "then contribute: point out mistakes, and give your own reasoning toward the correct answer. "
    "The problem can be answered without any extra information; do not ask for any."
)

EXECUTOR = (
    "Carry out the group's decided solution to the problem and write the final solution. Explain "
    'the steps, then finish with a last line of the form "The answer is <answer>".'
)

EVALUATOR = (
    "You are an experienced teacher checking a group's solution to a problem. Check carefully "
    "whether it is correct and ends with a clear final answer. If it is wrong, set correct to false "
    "and give advice on how to fix it; if it is right, set correct to true and say why. Also suggest "
    "which experts the group should recruit in the next round."
)


class Critique(BaseModel):
    """A critic's review of the solver's proposal (vertical decision-making)."""

    critique: str = Field(description="your critique of the proposed solution")
    agree: bool = Field(description="true if the proposal's final answer equals yours")


class Evaluation(BaseModel):
    """The evaluator's verdict on a round's solution."""

    correct: bool = Field(description="true when the solution is correct")
    advice: str = Field(description="how to fix the solution, or why it is correct; and which experts to recruit")


# The schema (what grammar-constrained decoding follows) bounds each
# description and the list's length; validation only insists on ``count``
# descriptions, and extra ones are dropped, as the official role assigner does.
_Description = Annotated[str, WithJsonSchema({"type": "string", "maxLength": 150})]


def recruitment_schema(count: int) -> type[BaseModel]:
    """``{"experts": [str, ...]}`` with at least ``count`` descriptions."""
    return create_model(
        "Recruitment",
        experts=(
            list[_Description],
            Field(
                min_length=count,
                description=f"{count} one-line expert descriptions",
                json_schema_extra={"maxItems": count},
            ),
        ),
    )


@dataclasses.dataclass(frozen=True)
class AgentVerseConfig:
    experts: int = 2  # official MGSM: cnt_agents 2 (the solver and one critic)
    decision: Literal["vertical", "horizontal"] = "vertical"  # MGSM: vertical-solver-first
    max_rounds: int = 3  # MGSM: max_turn 3
    max_critic_rounds: int = 3  # vertical-solver-first: max_inner_turns 3
    execute: bool = False  # MGSM: executor type none
    temperature: float | None = 0.0  # recruiter, solver, executor, evaluator
    critic_temperature: float | None = 0.3  # critics


def _log_text(log: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"[{speaker}]: {text}" for speaker, text in log)


class AgentVerse(Method):
    name = "agentverse"
    summary = "Recruit experts, decide by solver-critic (or round-table) discussion, evaluate, repeat with advice."
    paper = (
        "Chen et al., AgentVerse: Facilitating Multi-Agent Collaboration and Exploring Emergent Behaviors, ICLR 2024"
    )
    Config = AgentVerseConfig

    async def solve(self, task: str, session: Session) -> str:
        config: AgentVerseConfig = self.config
        if config.experts < 1 or config.max_rounds < 1:
            raise ConfigError("agentverse: experts and max_rounds must be at least 1")
        if config.decision not in ("vertical", "horizontal"):
            raise ConfigError(f"agentverse: unknown decision {config.decision!r}", hint="vertical or horizontal")
        advice = NO_ADVICE
        solution = ""
        for _ in range(config.max_rounds):
            roles = await self._recruit(task, advice, session)
            opening: list[tuple[str, str]] = []
            if solution:
                opening = [("previous solution", solution), ("evaluator", advice)]
            if config.decision == "vertical":
                decision = await self._vertical(task, roles, opening, session)
            else:
                decision = await self._horizontal(task, roles, opening, session)
            solution = decision
            if config.execute:
                solution = await session.chat(
                    "executor",
                    [
                        Message("system", EXECUTOR),
                        Message("user", f"Problem:\n{task}\n\nDecided solution:\n{decision}"),
                    ],
                    sampling=session.sampling_with(config.temperature),
                )
            verdict = await session.structured(
                "evaluator",
                [
                    Message("system", EVALUATOR),
                    Message(
                        "user",
                        "Experts:\n"
                        + "\n".join(f"- {role}" for role in roles)
                        + f"\n\nProblem:\n{task}\n\nSolution:\n{solution}",
                    ),
                ],
                Evaluation,
                sampling=session.sampling_with(config.temperature),
            )
            if verdict.correct:
                break
            advice = verdict.advice
        return solution

    async def _recruit(self, task: str, advice: str, session: Session) -> list[str]:
        count = self.config.experts
        prompt = (
            f"Problem:\n{task}\n\nAdvice from the last evaluation:\n{advice}\n\n"
            f"Recruit {count} expert{'s' if count > 1 else ''}. Reply with their descriptions."
        )
        reply = await session.structured(
            "recruiter",
            [Message("system", RECRUITER), Message("user", prompt)],
            recruitment_schema(count),
            sampling=session.sampling_with(self.config.temperature),
        )
        experts: list[str] = reply.model_dump()["experts"]
        return [role.strip().rstrip(".") for role in experts[:count]]

    async def _solver(self, task: str, role: str, log: list[tuple[str, str]], session: Session) -> str:
        discussion = _log_text(log) if log else "(nothing yet)"
        return await session.chat(
            "solver",
            [
                Message("system", f"You are {role}. {SOLVER}"),
                Message("user", f"Problem:\n{task}\n\nDiscussion so far:\n{discussion}"),
            ],
            sampling=session.sampling_with(self.config.temperature),
        )

    async def _vertical(self, task: str, roles: list[str], opening: list[tuple[str, str]], session: Session) -> str:
        log = list(opening)
        plan = await self._solver(task, roles[0], log, session)
        log.append(("solver", plan))
        critics = roles[1:]
        for _ in range(self.config.max_critic_rounds):
            if not critics:
                break
            seen = _log_text(log)
            reviews = await asyncio.gather(
                *(
                    session.structured(
                        f"critic_{index}",
                        [
                            Message("system", f"You are {role}. {CRITIC}"),
                            Message("user", f"Problem:\n{task}\n\nDiscussion so far:\n{seen}"),
                        ],
                        Critique,
                        sampling=session.sampling_with(self.config.critic_temperature),
                    )
                    for index, role in enumerate(critics, start=1)
                )
            )
            objections = [
                (f"critic_{index}", review.critique)
                for index, review in enumerate(reviews, start=1)
                if not review.agree and review.critique.strip()
            ]
            if not objections:
                break
            log += objections
            plan = await self._solver(task, roles[0], log, session)
            log.append(("solver", plan))
        return plan

    async def _horizontal(self, task: str, roles: list[str], opening: list[tuple[str, str]], session: Session) -> str:
        log = list(opening)
        for index, role in enumerate(roles[1:], start=1):
            discussion = _log_text(log) if log else "(nothing yet)"
            said = await session.chat(
                f"expert_{index}",
                [
                    Message("system", f"You are {role}. {DISCUSSANT}"),
                    Message("user", f"Problem:\n{task}\n\nDiscussion so far:\n{discussion}"),
                ],
                sampling=session.sampling_with(self.config.critic_temperature),
            )
            if said.strip():
                log.append((f"expert_{index}", said))
        return await self._solver(task, roles[0], log, session)
