"""Multi-agent debate (Du et al., "Improving Factuality and Reasoning in
Language Models through Multiagent Debate", ICML 2024; official code
github.com/composable-models/llm_multiagent_debate).

Algorithm (paper defaults: 3 agents, 2 rounds, as in the official GSM8K script):

1. Round 1: every agent answers the task on its own. No agent sees another
   agent's answer.
2. Rounds 2..R: each agent keeps its own conversation (the task, its earlier
   answers, the earlier debate prompts) and is shown the *other* agents'
   answers from the previous round (never its own, never answers from the
   current round), then gives an updated answer. With a single agent, the
   agent is asked to double-check its own answer instead (the official
   code's "introspection" case).
3. The final answer is the majority vote over the answers extracted from the
   last round (``aggregation="vote"``, as in the official evaluation
   scripts); a tie goes to the tied answer of the lowest-numbered agent, which
   is what the official ``most_frequent`` does. Agents whose last answer has
   no extractable answer do not vote. With ``aggregation="llm"``, an
   ``aggregator`` agent reads the task and the last round's solutions and
   gives the final answer instead (as MASLab does).

A round's agents are independent of each other, so they are called
concurrently; the official code calls them one after another but every agent
reads only the previous round, so the result is the same.

Where agorakit deliberately differs:

* The agents are asked to end with "The answer is ..." rather than the
  official GSM8K prompt's ``\\boxed{}``, so the same prompt serves any task;
  the shared answer extractor reads both.
* Agents sample at temperature 1.0 by default: the official code calls the
  OpenAI API without setting a temperature, whose default is 1.0. Some local
  backends default to greedy decoding, which would make identical agents give
  identical first-round answers and the debate pointless.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.answers import extract_answer
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.methods.voting import majority_vote, read_vote_text, vote_text
from agorakit.models.base import Sampling

ANSWER_FORMAT = 'Explain your reasoning, and end your response with a last line of the form "The answer is <answer>".'
CHECK_AGAIN = "Check carefully whether your answer is correct, then state your answer again. "
OTHERS = "Here are the most recent solutions to the problem from the other agents:"
WEIGH = (
    "Treat these solutions as additional information, weigh them critically against your own reasoning, "
    "and give your updated answer to the original problem:"
)
AGGREGATE = (
    "These solutions come from a debate between several agents. Reason over them carefully and give the "
    'final answer to the task. End with a last line of the form "The answer is <answer>".'
)
#: The fixed text of every prompt: a reply that echoes it is not answering.
TEMPLATE = "\n".join([ANSWER_FORMAT, CHECK_AGAIN, OTHERS, WEIGH, AGGREGATE])


def first_prompt(task: str) -> str:
    return f"{task}\n\n{ANSWER_FORMAT}"


def debate_prompt(task: str, others: list[str]) -> str:
    """What an agent is shown in rounds after the first: the other agents' previous answers."""
    if not others:
        return CHECK_AGAIN + ANSWER_FORMAT
    parts = [OTHERS]
    parts += [f"Solution from another agent:\n```\n{text}\n```" for text in others]
    parts.append(f"{WEIGH} {task}\n\n{ANSWER_FORMAT}")
    return "\n\n".join(parts)


def aggregation_prompt(task: str, answers: list[str]) -> str:
    parts = [f"Task:\n{task}"]
    parts += [f"Solution {index + 1}:\n{text}" for index, text in enumerate(answers)]
    parts.append(AGGREGATE)
    return "\n\n".join(parts)


@dataclass(frozen=True)
class LLMDebateConfig:
    """``agents`` debaters for ``rounds`` rounds (round 1 independent); the final answer by
    ``aggregation``: ``"vote"`` (majority of the last round) or ``"llm"`` (an aggregator agent)."""

    agents: int = 3
    rounds: int = 2
    aggregation: Literal["vote", "llm"] = "vote"
    temperature: float | None = 1.0
    max_tokens: int | None = None


class LLMDebate(Method):
    """N agents debate for R rounds; majority vote of the last round."""

    name = "llm_debate"
    summary = "Several agents answer, read each other's answers and update theirs over rounds; majority vote."
    paper = "Du et al., Improving Factuality and Reasoning in Language Models through Multiagent Debate, ICML 2024"
    Config = LLMDebateConfig

    async def solve(self, task: str, session: Session) -> str:
        config: LLMDebateConfig = self.config
        if config.agents < 1 or config.rounds < 1:
            raise ConfigError("llm_debate: agents and rounds must be at least 1")
        if config.aggregation not in ("vote", "llm"):
            raise ConfigError(f"llm_debate: unknown aggregation {config.aggregation!r}", hint="use 'vote' or 'llm'")
        sampling = session.sampling_with(config.temperature, config.max_tokens)
        names = [f"debater_{index + 1}" for index in range(config.agents)]
        histories: list[list[Message]] = [[Message("user", first_prompt(task))] for _ in names]
        latest: list[str] = []
        for round_index in range(config.rounds):
            if round_index > 0:
                for index, history in enumerate(histories):
                    others = latest[:index] + latest[index + 1 :]
                    history.append(Message("user", debate_prompt(task, others)))
            latest = list(
                await asyncio.gather(
                    *(
                        self._speak(session, name, history, sampling)
                        for name, history in zip(names, histories, strict=True)
                    )
                )
            )
        if config.aggregation == "llm":
            return await session.chat(
                "aggregator",
                [Message("user", aggregation_prompt(task, latest))],
                sampling=session.sampling_with(None, config.max_tokens),
            )
        outcome = majority_vote([extract_answer(text, TEMPLATE) for text in latest])
        if outcome is None:
            return ""
        return vote_text(outcome, config.agents, "agents")

    @staticmethod
    async def _speak(session: Session, name: str, history: list[Message], sampling: Sampling) -> str:
        text = await session.chat(name, history, sampling=sampling)
        history.append(Message("assistant", text))
        return text

    def extract(self, answer: str) -> str | None:
        return read_vote_text(answer, TEMPLATE)
