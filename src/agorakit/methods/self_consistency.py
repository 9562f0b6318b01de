"""Self-consistency (Wang et al., "Self-Consistency Improves Chain of Thought
Reasoning in Language Models", ICLR 2023).

Algorithm: sample ``k`` chain-of-thought completions of the same prompt at a
temperature above zero, extract the final answer from each, and return the
answer most samples agree on (a plain, unweighted majority vote: the paper's
best and default aggregation, section 2 / table 1).

Voting rules (:mod:`agorakit.methods.voting`, shared with ``llm_debate``):

* answers are compared after normalisation: surrounding whitespace, ``$`` and a
  trailing ``.`` dropped, case folded, thousands commas removed, and numbers
  compared by value (``"42"``, ``"42.0"`` and ``"42.00"`` are one answer);
* samples from which no answer can be extracted do not vote;
* ties go to the tied answer that was sampled first (sample order is the order
  the samples were launched, not the order they finished). This is also what
  the debate paper's official ``most_frequent`` does.

The method's text is ``"The answer is 42 (3 of 5 samples)"``; ``extract``
reads the voted answer back from that line.

Where agorakit deliberately differs from the paper:

* ``samples`` defaults to 5, not the paper's 40: most of the gain appears in
  the first handful of paths (the paper's figure 2 curves rise steeply up to
  about 5-10 and flatten after), and 40 calls per question is impractical on
  the embedded CPU model. Set ``samples=40`` for the paper's setting.
* The paper prompts with few-shot exemplars; we use the zero-shot chain-of-thought
  instruction of the ``cot`` method so the method works on any task, and so the
  comparison with ``cot`` isolates the effect of sampling and voting.
* Temperature 0.7 (the paper's setting for PaLM and GPT-3); the paper's
  additional top-k 40 truncation is not applied (not every backend offers it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.answers import extract_answer
from agorakit.methods.base import Method
from agorakit.methods.cot import INSTRUCTION
from agorakit.methods.session import Session
from agorakit.methods.voting import majority_vote, read_vote_text, vote_text


@dataclass(frozen=True)
class SelfConsistencyConfig:
    """``samples`` chains (paper: 40), each sampled at ``temperature`` (paper: 0.7)."""

    samples: int = 5
    temperature: float = 0.7
    max_tokens: int | None = None


class SelfConsistency(Method):
    """k sampled chains of thought, answers extracted, majority vote."""

    name = "self_consistency"
    summary = "Samples several chains of thought and returns the majority-vote answer."
    paper = "Wang et al., Self-Consistency Improves Chain of Thought Reasoning in Language Models, ICLR 2023"
    Config = SelfConsistencyConfig

    async def solve(self, task: str, session: Session) -> str:
        samples = self.config.samples
        if samples < 1:
            raise ConfigError("self_consistency: samples must be at least 1")
        sampling = session.sampling_with(self.config.temperature, self.config.max_tokens)
        prompt = [Message("system", INSTRUCTION), Message("user", task)]
        texts = await asyncio.gather(
            *(session.chat(f"sampler_{index + 1}", prompt, sampling=sampling) for index in range(samples))
        )
        outcome = majority_vote([extract_answer(text) for text in texts])
        if outcome is None:
            return ""
        return vote_text(outcome, samples, "samples")

    def extract(self, answer: str) -> str | None:
        return read_vote_text(answer)
