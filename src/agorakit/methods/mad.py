"""Multi-Agent Debate, MAD (Liang et al., "Encouraging Divergent Thinking in
Large Language Models through Multi-Agent Debate", EMNLP 2024; official code
github.com/Skytliang/Multi-Agents-Debate).

Algorithm (as the official ``Debate`` class runs it; ``max_rounds`` 3 from its config):

1. Round 1: the ``affirmative`` debater answers the topic. The ``negative``
   debater is shown the affirmative's argument of this round and told it
   disagrees, and gives its own answer and reasons.
2. The ``moderator`` is shown both sides' arguments of the round and returns
   a structured verdict: whether one side is clearly preferred, which side,
   why, and the answer. If a side is preferred, the debate stops and that
   verdict's answer is final.
3. Rounds 2..max: the affirmative is shown the negative's previous argument and
   asked whether it agrees; the negative is shown the affirmative's argument of
   the same round, likewise; then the moderator judges again. Every debater
   and the moderator keep their own conversation across rounds.
4. If no side was preferred after the last round, a fresh ``judge`` (with the
   moderator's instructions) is shown the debate, first lists the answer
   candidates (free text), then gives the final answer (structured).

Calls: ``3`` when the moderator prefers a side in round 1; ``3 * max_rounds + 2``
when the debate runs to the end.

Where agorakit deliberately differs:

* The moderator's and judge's verdicts are pydantic-validated structured
  outputs (retried on invalid output) instead of ``eval`` on free text. The
  stop rule reads the explicit "a side is preferred" field; the official code
  stops when the answer field is non-empty. A verdict that says a side is
  preferred must name the side and give an answer (it is asked again
  otherwise), so the two rules agree. A moderator still inconsistent after
  its retries has preferred no side that round (``details
  ["rounds_without_valid_verdict"]``): the debate goes on and the judge
  decides, rather than one unparseable verdict ending the run.
* The final judge is shown every round of the debate; the official code
  passes it only the first round's arguments, while the paper describes the
  judge extracting the answer "based on the whole debate history".
* Debaters are told to end with "The answer is ..." so the shared extractor
  can compare answers across methods; the topic is the task text itself.
* Temperature 0 by default, as in the official script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.answers import extract_answer
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.methods.structured import StructuredOutputError

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
ANSWER_FORMAT = 'End with a last line of the form "The answer is <answer>".'


def debater_instructions(task: str) -> str:
    return (
        "You are a debater taking part in a debate. You do not have to agree with the other side: "
        "the goal of the debate is to find the correct answer.\n"
        f"The debate topic is:\n{task}"
    )


def moderator_instructions(task: str) -> str:
    return (
        "You are the moderator of a debate between two debaters, the affirmative side and the negative side, "
        f'who present and argue their answers on this topic: "{task}"\n'
        "At the end of each round you evaluate both sides' answers and decide which one is correct."
    )


def negative_opening(affirmative: str) -> str:
    return f"{affirmative}\n\nYou disagree with this answer. Give your own answer and your reasons. {ANSWER_FORMAT}"


def rebuttal(opponent: str) -> str:
    return f"{opponent}\n\nDo you agree with this view? Give your reasons and your answer. {ANSWER_FORMAT}"


def ordinal(round_number: int) -> str:
    return ORDINALS[round_number - 1] if round_number <= len(ORDINALS) else f"number {round_number}"


def moderator_prompt(round_number: int, affirmative: str, negative: str) -> str:
    return (
        f"The {ordinal(round_number)} round of the debate has ended.\n\n"
        f"Affirmative side's argument:\n{affirmative}\n\n"
        f"Negative side's argument:\n{negative}\n\n"
        "As the moderator, evaluate both sides and decide whether one side's answer is clearly preferred. "
        "If it is, set preferred to true, name the supported side, summarise your reason and give the answer "
        "you think is correct: the debate then ends. If not, set preferred to false and supported_side to "
        '"neither": the debate goes on to another round. Reply with only a JSON object.'
    )


def candidates_prompt(rounds: list[tuple[str, str]]) -> str:
    parts = []
    for number, (affirmative, negative) in enumerate(rounds, start=1):
        parts.append(f"Round {number}, affirmative side's argument:\n{affirmative}")
        parts.append(f"Round {number}, negative side's argument:\n{negative}")
    parts.append("Which answer candidates does this debate offer? List them, without reasons.")
    return "\n\n".join(parts)


def decision_prompt(task: str) -> str:
    return (
        f"So, for the topic: {task}\n"
        "Summarise your reasons and give the final answer you think is correct. Reply with only a JSON object "
        'of the form {"reason": "<your reasons>", "answer": "<the final answer>"}.'
    )


class ModeratorVerdict(BaseModel):
    """The moderator's decision after a round."""

    preferred: bool = Field(description="true if one side's answer is clearly preferred")
    supported_side: Literal["affirmative", "negative", "neither"]
    reason: str
    answer: str = Field(description="the answer of the preferred side; empty if no side is preferred")

    @model_validator(mode="after")
    def _preferred_needs_side_and_answer(self) -> ModeratorVerdict:
        if self.preferred and self.supported_side == "neither":
            raise ValueError("a preferred verdict must name the supported side (affirmative or negative)")
        if self.preferred and not self.answer.strip():
            raise ValueError("a preferred verdict must give the answer")
        return self


class JudgeDecision(BaseModel):
    """The judge's final decision when the moderator preferred no side."""

    reason: str
    answer: str


@dataclass(frozen=True)
class MADConfig:
    """At most ``max_rounds`` rounds (official config: 3); sampling ``temperature`` (official: 0)."""

    max_rounds: int = 3
    temperature: float | None = 0.0
    max_tokens: int | None = None


class MultiAgentDebate(Method):
    """Affirmative and negative debaters argue; a moderator stops the debate when a side is preferred."""

    name = "mad"
    summary = "Affirmative and negative debaters argue; a judge stops when one side is preferred or decides at the end."
    paper = (
        "Liang et al., Encouraging Divergent Thinking in Large Language Models through Multi-Agent Debate, EMNLP 2024"
    )
    Config = MADConfig

    async def solve(self, task: str, session: Session) -> str:
        config: MADConfig = self.config
        if config.max_rounds < 1:
            raise ConfigError("mad: max_rounds must be at least 1")
        sampling = session.sampling_with(config.temperature, config.max_tokens)
        affirmative = [Message("system", debater_instructions(task)), Message("user", f"{task}\n\n{ANSWER_FORMAT}")]
        negative = [Message("system", debater_instructions(task))]
        moderator = [Message("system", moderator_instructions(task))]
        rounds: list[tuple[str, str]] = []
        for number in range(1, config.max_rounds + 1):
            if number > 1:
                affirmative.append(Message("user", rebuttal(rounds[-1][1])))
            affirmative_text = await session.chat("affirmative", affirmative, sampling=sampling)
            affirmative.append(Message("assistant", affirmative_text))

            opening = negative_opening(affirmative_text) if number == 1 else rebuttal(affirmative_text)
            negative.append(Message("user", opening))
            negative_text = await session.chat("negative", negative, sampling=sampling)
            negative.append(Message("assistant", negative_text))
            rounds.append((affirmative_text, negative_text))

            moderator.append(Message("user", moderator_prompt(number, affirmative_text, negative_text)))
            try:
                verdict, said = await session.structured_reply(
                    "moderator", moderator, ModeratorVerdict, sampling=sampling
                )
            except StructuredOutputError as error:
                # A moderator that cannot commit to a consistent verdict has preferred
                # no side: the debate goes on and the judge decides at the end.
                verdict = ModeratorVerdict.model_construct(
                    preferred=False, supported_side="neither", reason=f"no valid verdict: {error.message}", answer=""
                )
                unsettled = session.details.setdefault("rounds_without_valid_verdict", [])
                assert isinstance(unsettled, list)
                unsettled.append(number)
                said = verdict.model_dump_json()
            moderator.append(Message("assistant", said))
            if verdict.preferred:
                return final_text(verdict.answer, f"{verdict.supported_side} side preferred", verdict.reason)

        judge = [Message("system", moderator_instructions(task)), Message("user", candidates_prompt(rounds))]
        candidates = await session.chat("judge", judge, sampling=sampling)
        judge += [Message("assistant", candidates), Message("user", decision_prompt(task))]
        # The decision prompt names the keys itself, so the judge's prompt begins exactly as its
        # candidates call did and the engine's prefix cache serves it (the grammar still holds it).
        decision = await session.structured("judge", judge, JudgeDecision, sampling=sampling, describe_schema=False)
        return final_text(decision.answer, "decided by the judge", decision.reason)

    def extract(self, answer: str) -> str | None:
        first = answer.strip().split("\n", 1)[0]
        if first.startswith("The answer is "):
            return extract_answer(first.removeprefix("The answer is ").strip())
        return extract_answer(answer)


def final_text(answer: str, how: str, reason: str) -> str:
    return f"The answer is {answer.strip()}\n({how}) {reason.strip()}"
