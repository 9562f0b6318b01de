"""Captain Agent (Song et al., "Adaptive In-conversation Team Building for
Language Model Agents", 2024; official code in AutoGen/AG2,
``autogen/agentchat/contrib/captainagent``).

The ``captain`` works through the task one sub-task at a time. Each step:

1. The captain decides (structured) whether the task is finished; if not, it
   states the next sub-task and picks its team: up to ``team_size`` experts
   (the official prompt asks for fewer than three roles, one of them a
   checker) from a built-in library of role descriptions (:data:`LIBRARY`), or
   new roles it describes itself when ``generate_roles`` is on.
2. The team solves the sub-task in a nested group chat: round-robin over the
   members for ``chat_turns`` turns each (``members * chat_turns`` calls).
   Every member sees the task, the sub-task and the nested chat so far, with
   each message's author; not the captain's earlier deliberations nor earlier
   teams' chats (the official experts "forget everything" between calls and
   get only what the captain passes on).
3. The ``reviewer`` reflects on the nested chat (structured: the results, the
   problems or contradictions found, whether the sub-task is solved, and a
   conclusion), as the official conversation-review prompt does.

The captain's next decision sees every earlier sub-task with its reflection,
so it can re-check an unsolved sub-task with a new team or move on. When it
says the task is finished, or after ``max_subtasks`` sub-tasks (the official
nested chat's ``max_turns`` of 5), the captain writes the final answer (one
free-text call) from the sub-tasks' conclusions. Calls: for ``s`` sub-tasks
with teams of ``m_j`` members, ``sum(2 + m_j * chat_turns) + 1`` when the
captain stops at the cap, plus one for a decision that says finished.

Deliberate differences:

- Team building is the captain's structured choice from a small built-in
  library (ten roles), not the official retrieval (embedding similarity over
  a library of hundreds of roles, then an LLM selection) run by a separate
  builder; generated roles are described by the captain in the same output.
- The nested chat is a fixed round-robin with no early stop on TERMINATE and
  no code execution (the official group chat picks speakers with the model,
  runs code through a proxy and stops at 10 messages or on TERMINATE): the
  call count stays exact and no sandbox is needed for text tasks.
- The captain's tool call ``seek_experts_help`` becomes a structured
  decision, and its closing answer a separate free-text call that ends with
  "The answer is ...", so the answer extractor can read it.
- Decisions and reviews are structured outputs whose schemas bound list and
  string lengths (at most 5 experts; longer output is trimmed, not refused);
  they get 1024 output tokens unless the run sets ``max_tokens``.
- When the captain picks no usable expert, the team is the library's
  "problem solver" and "verifier"; a "finished" before any sub-task is
  ignored (the first team then works on the whole task), so there is always
  at least one team chat behind the answer.
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

# The built-in library of expert roles: name -> description.
LIBRARY: dict[str, str] = {
    "math expert": "an expert in arithmetic, algebra and word problems who sets up and solves equations exactly",
    "python programmer": "a programmer who writes short, correct Python to compute or check results",
    "verifier": "a checker who re-derives results independently and points out any error or contradiction",
    "problem solver": "a careful generalist who breaks a problem into steps and solves it step by step",
    "logician": "an expert in logical reasoning who checks that every conclusion follows from the premises",
    "data analyst": "an analyst who reads quantities, tables and units carefully and computes with them",
    "domain researcher": "a researcher who recalls the facts and definitions a problem depends on",
    "planner": "a strategist who turns a goal into an ordered plan of concrete sub-steps",
    "writer": "a writer who states conclusions clearly, concisely and in the requested format",
    "critic": "a reviewer who looks for gaps, unstated assumptions and edge cases in a proposed answer",
}

DEFAULT_TEAM = ("problem solver", "verifier")


def _cap(limit: int) -> BeforeValidator:
    """Cut an over-long string or list to ``limit`` before validation: the
    schema's ``maxLength``/``maxItems`` bound what a grammar-constrained model
    writes (a small model otherwise repeats items until ``max_tokens``), while
    a stronger model that overshoots is trimmed rather than refused."""

    def cut(value: Any) -> Any:
        return value[:limit] if isinstance(value, (str, list)) else value

    return BeforeValidator(cut)


MAX_TEAM = 5
STRUCTURED_TOKENS = 1024


class ExpertChoice(BaseModel):
    role: Annotated[
        str, _cap(60), Field(max_length=60, description="a role name from the library, or a new role's name")
    ]
    description: Annotated[str, _cap(300), Field(max_length=300, description="only for a new role: its expertise")] = ""


class CaptainDecision(BaseModel):
    finished: bool = Field(description="true when the sub-tasks so far settle the whole task")
    subtask: Annotated[str, _cap(800), Field(max_length=800, description="the next sub-task for a team of experts")] = (
        ""
    )
    team: Annotated[list[ExpertChoice], _cap(MAX_TEAM), Field(max_length=MAX_TEAM)] = Field(default_factory=list)


class Reflection(BaseModel):
    results: Annotated[str, _cap(800), Field(max_length=800, description="what the experts found")]
    issues: Annotated[
        str, _cap(800), Field(max_length=800, description="errors, contradictions or open questions in the chat")
    ]
    solved: bool = Field(description="true if the sub-task is solved and needs no double-check")
    conclusion: Annotated[str, _cap(800), Field(max_length=800, description="the sub-task's result, stated as it is")]


CAPTAIN = """\
You are the captain of a group of expert teams. You solve a task by splitting it into sub-tasks
and, for each sub-task, building a small team of experts who work it out together in a chat.
After each team's chat you receive a review of it. When a result is doubtful or contradicts an
earlier one, give the same sub-task to a team again for a step-by-step check; otherwise move on.
Experts remember nothing between sub-tasks, so put every result they need into the sub-task.

Library of expert roles:
{library}

Each time, decide: if the sub-tasks so far settle the whole task, set finished to true.
Otherwise set finished to false, write the next sub-task, and choose at most {team_size} experts,
including a checker.{generate}"""

GENERATE_NOTE = " You may also create a new role: give its name and describe its expertise."
LIBRARY_ONLY_NOTE = " Choose only roles from the library."

FINAL = (
    "You are the captain. Your teams have worked on the task's sub-tasks; their reviewed conclusions "
    'are below. Give the final answer to the task, ending with a last line of the form "The answer is <answer>".'
)

EXPERT = """\
You are the {role}: {description}.
You are in a group chat with other experts: {team}. Work together on the sub-task. Build on what the
others said, correct any mistakes you see, and state your results clearly."""

NESTED_TASK = """\
## General task
{task}

## Sub-task from the captain
{subtask}"""

REVIEWER = """\
You review a conversation among a group of experts who worked on a sub-task. Summarise what they
found and why, point out any errors, issues or contradictions in the conversation, say whether the
sub-task is solved (false if it needs a double-check), and state the conclusion as they reached it."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "expert"


@dataclasses.dataclass(frozen=True)
class Expert:
    role: str
    description: str

    @property
    def agent(self) -> str:
        return f"expert_{_slug(self.role)}"


@dataclasses.dataclass(frozen=True)
class SubtaskReport:
    subtask: str
    team: tuple[Expert, ...]
    chat: tuple[Message, ...]
    reflection: Reflection


@dataclasses.dataclass(frozen=True)
class CaptainConfig:
    """``max_subtasks``: sub-tasks (team chats) at most, the official 5;
    ``team_size``: experts per team at most; ``chat_turns``: turns each member
    speaks in the nested chat; ``generate_roles``: the captain may describe
    roles that are not in the library; ``library``: (name, description) pairs."""

    max_subtasks: int = 5
    team_size: int = 3
    chat_turns: int = 2
    generate_roles: bool = True
    library: tuple[tuple[str, str], ...] = tuple(LIBRARY.items())

    def __post_init__(self) -> None:
        for field in ("max_subtasks", "team_size", "chat_turns"):
            if getattr(self, field) < 1:
                raise ConfigError(f"captain: {field} must be at least 1, got {getattr(self, field)}")
        if self.team_size > MAX_TEAM:
            raise ConfigError(f"captain: team_size is at most {MAX_TEAM}, got {self.team_size}")
        if not self.library:
            raise ConfigError("captain: the role library must not be empty")


class Captain(Method):
    name = "captain"
    summary = "A captain builds an expert team per sub-task, runs it as a nested group chat, reflects, continues."
    paper = "Song et al., Adaptive In-conversation Team Building for Language Model Agents (Captain Agent), 2024"
    Config = CaptainConfig
    config: CaptainConfig

    def build_team(self, choices: list[ExpertChoice]) -> tuple[Expert, ...]:
        """The captain's picks that exist in the library (or are described, when
        generation is on), without duplicates, at most ``team_size``."""
        library = {name.lower(): (name, description) for name, description in self.config.library}
        team: list[Expert] = []
        for choice in choices:
            key = choice.role.strip().lower()
            if key in library:
                expert = Expert(*library[key])
            elif self.config.generate_roles and key and choice.description.strip():
                expert = Expert(choice.role.strip(), choice.description.strip())
            else:
                continue
            if all(e.agent != expert.agent for e in team):
                team.append(expert)
            if len(team) == self.config.team_size:
                break
        if not team:
            fallback = [library[name] for name in DEFAULT_TEAM if name in library] or [self.config.library[0]]
            team = [Expert(*pair) for pair in fallback[: self.config.team_size]]
        return tuple(team)

    async def group_chat(self, task: str, subtask: str, team: tuple[Expert, ...], session: Session) -> list[Message]:
        """Round-robin over ``team`` for ``chat_turns`` turns; every member sees the whole chat so far."""
        opening = NESTED_TASK.format(task=task, subtask=subtask)
        names = ", ".join(e.role for e in team)
        chat: list[Message] = []
        for _ in range(self.config.chat_turns):
            for expert in team:
                shown = "\n\n".join(f"[{m.name}]: {m.content}" for m in chat)
                request = opening + (f"\n\n## Conversation so far\n{shown}" if chat else "")
                request += f"\n\nYour turn, {expert.role}."
                text = await session.chat(
                    expert.agent,
                    [
                        Message("system", EXPERT.format(role=expert.role, description=expert.description, team=names)),
                        Message("user", request),
                    ],
                )
                chat.append(Message("assistant", text, name=expert.role))
        return chat

    @staticmethod
    def render_reports(reports: list[SubtaskReport]) -> str:
        if not reports:
            return "(no sub-tasks yet)"
        parts = []
        for i, report in enumerate(reports, 1):
            r = report.reflection
            parts.append(
                f"Sub-task {i}: {report.subtask}\nTeam: {', '.join(e.role for e in report.team)}\n"
                f"Results: {r.results}\nIssues: {r.issues}\nSolved: {'yes' if r.solved else 'no'}\n"
                f"Conclusion: {r.conclusion}"
            )
        return "\n\n".join(parts)

    async def solve(self, task: str, session: Session) -> str:
        cfg = self.config
        library = "\n".join(f"- {name}: {description}" for name, description in cfg.library)
        system = CAPTAIN.format(
            library=library,
            team_size=cfg.team_size,
            generate=GENERATE_NOTE if cfg.generate_roles else LIBRARY_ONLY_NOTE,
        )
        reports: list[SubtaskReport] = []
        # Decisions and reviews can be longer than the backends' default budget for structured output.
        room = dataclasses.replace(session.sampling, max_tokens=session.sampling.max_tokens or STRUCTURED_TOKENS)
        while len(reports) < cfg.max_subtasks:
            decision = await session.structured(
                "captain",
                [
                    Message("system", system),
                    Message("user", f"## Task\n{task}\n\n## Sub-tasks so far\n{self.render_reports(reports)}"),
                ],
                CaptainDecision,
                sampling=room,
            )
            if decision.finished and reports:
                break
            subtask = decision.subtask.strip() or task
            team = self.build_team(decision.team)
            chat = await self.group_chat(task, subtask, team, session)
            transcript = "\n\n".join(f"[{m.name}]: {m.content}" for m in chat)
            reflection = await session.structured(
                "reviewer",
                [
                    Message("system", REVIEWER),
                    Message(
                        "user", f"{NESTED_TASK.format(task=task, subtask=subtask)}\n\n## Conversation\n{transcript}"
                    ),
                ],
                Reflection,
                sampling=room,
            )
            reports.append(SubtaskReport(subtask, team, tuple(chat), reflection))
        return await session.chat(
            "captain",
            [
                Message("system", FINAL),
                Message("user", f"## Task\n{task}\n\n## Sub-tasks\n{self.render_reports(reports)}"),
            ],
        )
