"""Magentic-One (Fourney et al., "Magentic-One: A Generalist Multi-Agent System
for Solving Complex Tasks", 2024; official code: microsoft/autogen, the
``autogen-magentic-one`` LedgerOrchestrator used for the paper and AgentChat's
``MagenticOneGroupChat``).

An orchestrator runs two loops over a team of workers.

Outer loop (task ledger). The orchestrator first answers a pre-survey of the
request, its *facts*: given or verified, to look up, to derive, educated
guesses; then drafts a *plan* for the team. Task, team, facts and plan form the
ledger, which opens a fresh shared thread that every worker sees.

Inner loop (progress ledger). Every turn the orchestrator reads the whole
thread and fills a progress ledger, each field with a reason and an answer: is
the request satisfied, are we in a loop, is progress being made, who speaks
next (one of the team), and the instruction or question for that speaker. The
instruction joins the thread and the chosen worker replies, seeing the thread.
A stall counter goes up when the ledger says no progress or a loop, and down
(not below 0) otherwise; when it exceeds ``max_stalls`` the orchestrator
re-plans: it updates facts and plan from what the thread taught it, the counter
goes back to 0, the workers' memories and the thread are reset, and the new
ledger opens a new thread. When the request is satisfied, ``max_turns`` turns
have passed, or re-planning has happened more than ``max_replans`` times, the
orchestrator writes the final answer from the thread.

Deliberate differences from the paper and its code:

- The team. The paper's WebSurfer, FileSurfer, Coder and ComputerTerminal need
  a browser, files and a code executor; this method is text-only, so its
  default team is a ``solver`` (works the problem) and a ``verifier`` (checks
  the work). Teams are configurable (``team=(("name", "description"), ...)``);
  a sandboxed coder is out of scope here.
- Structured ledgers. The code asks for facts and plan as free text and parses
  the progress ledger with ``json.loads`` (AutoGen crashed on a fenced ledger).
  Here facts, plan and progress ledger are pydantic schemas, grammar-
  constrained where the backend can, read fence-tolerantly, and asked again
  (``ledger_retries``) before a clear ``StructuredOutputError``. The next
  speaker is an enum of the team's names, so an unknown speaker is a
  validation error that is retried, not a crash. Facts and plan lists are
  bounded (at most 10 items of 300 characters) so that a small grammar-
  constrained model cannot ramble inside a list until it runs out of tokens.
- Stall rule. We follow the paper and the code it was run with: re-plan when
  the counter *exceeds* ``max_stalls`` (default 3), then reset it to 0, at most
  ``max_replans`` (3) times. AgentChat's later rewrite re-plans at
  ``n_stalls >= max_stalls`` without resetting; we keep its decrement-on-
  progress rule, which the paper's description is compatible with.
- ``max_turns`` counts progress-ledger turns exactly (AgentChat's
  ``n_rounds > max_turns`` check lets one extra turn through).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session

ORCHESTRATOR = "orchestrator"

DEFAULT_TEAM: tuple[tuple[str, str], ...] = (
    (
        "solver",
        "Works on the problem: reasons step by step, does the calculations and proposes an answer.",
    ),
    (
        "verifier",
        "Checks work already in the conversation: re-does calculations, looks for mistakes and says "
        "whether the proposed answer is correct.",
    ),
)


# Bounds keep grammar-constrained small models from rambling inside a list.
Item = Annotated[str, Field(max_length=300)]


class Facts(BaseModel):
    """The task ledger's pre-survey."""

    given_or_verified: list[Item] = Field(max_length=10, description="facts given in the request, or verified")
    to_look_up: list[Item] = Field(max_length=10, description="facts that would have to be looked up")
    to_derive: list[Item] = Field(max_length=10, description="facts to derive by reasoning or computation")
    educated_guesses: list[Item] = Field(max_length=10, description="guesses from memory or hunches")


class Plan(BaseModel):
    """The task ledger's plan: short steps, each naming who does it."""

    steps: list[Item] = Field(min_length=1, max_length=10)


class BoolAnswer(BaseModel):
    reason: str
    answer: bool


class TextAnswer(BaseModel):
    reason: str
    answer: str


class ProgressLedger(BaseModel):
    """Shape of the progress ledger; ``next_speaker`` is narrowed to the team per run."""

    is_request_satisfied: BoolAnswer
    is_in_loop: BoolAnswer
    is_progress_being_made: BoolAnswer
    next_speaker: TextAnswer
    instruction_or_question: TextAnswer


def progress_ledger_schema(names: tuple[str, ...]) -> type[ProgressLedger]:
    """The progress ledger whose next speaker must be one of ``names``."""
    choice: Any = Literal.__getitem__(names)
    speaker = create_model("NextSpeaker", reason=(str, ...), answer=(choice, ...))
    model: type[ProgressLedger] = create_model("ProgressLedger", __base__=ProgressLedger, next_speaker=(speaker, ...))
    return model


@dataclasses.dataclass(frozen=True)
class MagenticOneConfig:
    team: tuple[tuple[str, str], ...] = DEFAULT_TEAM
    max_turns: int = 20  # MagenticOneGroupChat's default
    max_stalls: int = 3  # max_stalls_before_replan / max_stalls
    max_replans: int = 3  # LedgerOrchestrator's max_replans
    ledger_retries: int = 9  # AgentChat tries a ledger up to 10 times (max_json_retries)


FACTS_PROMPT = (
    "Here is a request to work on:\n\n{task}\n\n"
    "Before starting, fill in a short pre-survey of what is known. Draw on everything you know; "
    "there may be nothing under a heading.\n"
    "1. given_or_verified: specific facts or figures stated in the request itself.\n"
    "2. to_look_up: facts the request needs that would have to be looked up, and where.\n"
    "3. to_derive: facts to work out by reasoning or calculation.\n"
    "4. educated_guesses: things recalled from memory, hunches or well-founded estimates.\n"
    "List only facts here, not a plan. Reply with a JSON object with those four lists of strings."
)

PLAN_PROMPT = (
    "Now draft a short plan to address the request with this team:\n\n{team}\n\n"
    "Not every member needs to take part. Give the plan as a few short steps, each saying which member "
    'does what. Reply with a JSON object {{"steps": [...]}}.'
)

LEDGER_PROMPT = (
    "We are working on this request:\n\n{task}\n\n"
    "The team:\n\n{team}\n\n"
    "Facts known so far:\n\n{facts}\n\n"
    "The plan:\n\n{plan}"
)

PROGRESS_PROMPT = (
    "Recall the request:\n\n{task}\n\n"
    "The team:\n\n{team}\n\n"
    "Judge how the work is going from the conversation so far and decide the next step. "
    "Answer each question with a short reason and an answer:\n"
    "- is_request_satisfied: has the request been fully and correctly addressed? "
    "(false if anything is missing or unchecked)\n"
    "- is_in_loop: are we repeating the same requests or replies without getting anywhere?\n"
    "- is_progress_being_made: did the latest messages move us forward? (false if looping or blocked)\n"
    "- next_speaker: who should speak next? One of: {names}\n"
    "- instruction_or_question: what to tell or ask that team member, addressed to them, "
    "with any context they need.\n"
    'Reply with only a JSON object whose keys are those five names, each an object with "reason" and "answer".'
)

FACTS_UPDATE_PROMPT = (
    "We have not been making progress on this request:\n\n{task}\n\n"
    "Update the pre-survey of facts with what the conversation taught us: move checked facts to "
    "given_or_verified, add new facts to look up or derive, and revise the educated guesses. "
    "Here is the old survey:\n\n{facts}\n\n"
    "Reply with the updated JSON object with the same four lists."
)

PLAN_UPDATE_PROMPT = (
    "Think briefly about what went wrong, then write a new plan for this team that avoids repeating it:"
    '\n\n{team}\n\nReply with a JSON object {{"steps": [...]}}.'
)

FINAL_PROMPT = (
    "We have finished working on this request:\n\n{task}\n\n"
    "From the conversation above, give the final answer to the request, addressed to the person who asked. "
    'Explain briefly, and finish with a last line of the form "The answer is <answer>".'
)

WORKER_PROMPT = (
    "You are {name}, a member of a team led by an orchestrator. Your role: {description}\n"
    "The conversation shows the team's task ledger and the messages so far. "
    "Do what the orchestrator asks of you next, concisely."
)


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) or "- (none)"


def render_facts(facts: Facts) -> str:
    return (
        f"GIVEN OR VERIFIED FACTS\n{_bullets(facts.given_or_verified)}\n\n"
        f"FACTS TO LOOK UP\n{_bullets(facts.to_look_up)}\n\n"
        f"FACTS TO DERIVE\n{_bullets(facts.to_derive)}\n\n"
        f"EDUCATED GUESSES\n{_bullets(facts.educated_guesses)}"
    )


def render_plan(plan: Plan) -> str:
    return _bullets(plan.steps)


class MagenticOne(Method):
    """The orchestrator with task and progress ledgers, stall counting and re-planning."""

    name = "magentic_one"
    summary = "Orchestrator with a task ledger, a per-turn progress ledger, stall counting and re-planning."
    paper = "Fourney et al., Magentic-One: A Generalist Multi-Agent System for Solving Complex Tasks, 2024"
    Config = MagenticOneConfig

    async def solve(self, task: str, session: Session) -> str:
        config: MagenticOneConfig = self.config
        names = tuple(name for name, _ in config.team)
        if not names or len(set(names)) != len(names) or ORCHESTRATOR in names:
            raise ConfigError(
                f"magentic_one: team needs distinct member names other than {ORCHESTRATOR!r}, got {names}"
            )
        descriptions = dict(config.team)
        team = "\n".join(f"{name}: {description}" for name, description in config.team)
        ledger_schema = progress_ledger_schema(names)
        retries = config.ledger_retries
        # What happened, for inspection after the run (stop reason, stall counter per turn).
        details = session.details  # becomes MethodResult.details
        stall_counts: list[int] = []
        details.update({"replans": 0, "turns": 0, "stall_counts": stall_counts})

        # Outer loop, first time: facts, then plan.
        planning = [Message("user", FACTS_PROMPT.format(task=task))]
        facts, said = await session.structured_reply(ORCHESTRATOR, planning, Facts, retries=retries)
        planning += [
            Message("assistant", said),
            Message("user", PLAN_PROMPT.format(team=team)),
        ]
        plan = await session.structured(ORCHESTRATOR, planning, Plan, retries=retries)

        # The shared thread since the last (re)plan: (author, text).
        thread: list[tuple[str, str]] = []
        stalls = 0
        replans = 0
        turns = 0

        def open_thread() -> None:
            thread.clear()
            ledger = LEDGER_PROMPT.format(task=task, team=team, facts=render_facts(facts), plan=render_plan(plan))
            thread.append((ORCHESTRATOR, ledger))
            session.note(Message("assistant", ledger, name=ORCHESTRATOR))

        def orchestrator_view() -> list[Message]:
            return [
                Message("assistant", text) if author == ORCHESTRATOR else Message("user", f"{author}: {text}")
                for author, text in thread
            ]

        def worker_view(worker: str) -> list[Message]:
            view = [Message("system", WORKER_PROMPT.format(name=worker, description=descriptions[worker]))]
            for author, text in thread:
                if author == worker:
                    view.append(Message("assistant", text))
                else:
                    view.append(Message("user", f"{author}: {text}"))
            return view

        open_thread()
        while turns < config.max_turns:
            turns += 1
            progress = PROGRESS_PROMPT.format(task=task, team=team, names=", ".join(names))
            context = [*orchestrator_view(), Message("user", progress)]
            ledger = await session.structured(ORCHESTRATOR, context, ledger_schema, retries=retries)
            if ledger.is_request_satisfied.answer:
                details["stop"] = "satisfied"
                break
            if not ledger.is_progress_being_made.answer or ledger.is_in_loop.answer:
                stalls += 1
            else:
                stalls = max(0, stalls - 1)
            stall_counts.append(stalls)
            if stalls > config.max_stalls:
                replans += 1
                stalls = 0
                if replans > config.max_replans:
                    details["stop"] = "max_replans"
                    break
                update = FACTS_UPDATE_PROMPT.format(task=task, facts=facts.model_dump_json())
                context = [*orchestrator_view(), Message("user", update)]
                facts, said = await session.structured_reply(ORCHESTRATOR, context, Facts, retries=retries)
                context += [
                    Message("assistant", said),
                    Message("user", PLAN_UPDATE_PROMPT.format(team=team)),
                ]
                plan = await session.structured(ORCHESTRATOR, context, Plan, retries=retries)
                open_thread()  # workers are reset: they see only the new ledger onwards
                continue
            speaker = ledger.next_speaker.answer
            instruction = ledger.instruction_or_question.answer
            thread.append((ORCHESTRATOR, instruction))
            session.note(Message("assistant", instruction, name=ORCHESTRATOR))
            reply = await session.chat(speaker, worker_view(speaker))
            thread.append((speaker, reply))
        else:
            details["stop"] = "max_turns"
        details.update(replans=min(replans, config.max_replans), turns=turns)

        context = [*orchestrator_view(), Message("user", FINAL_PROMPT.format(task=task))]
        return await session.chat(ORCHESTRATOR, context)


__all__ = ["Facts", "MagenticOne", "MagenticOneConfig", "Plan", "ProgressLedger", "progress_ledger_schema"]
