"""Chain of thought (Wei et al., NeurIPS 2022; zero-shot form after Kojima et
al., NeurIPS 2022): one call that reasons step by step, then states the answer
in a fixed form the answer extractor reads."""

from __future__ import annotations

from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session

INSTRUCTION = (
    "Work through the problem step by step, showing your reasoning. "
    'Finish with a last line of the form "The answer is <answer>".'
)


class ChainOfThought(Method):
    name = "cot"
    summary = "One call that reasons step by step, then states the final answer."
    paper = "Wei et al., Chain-of-Thought Prompting Elicits Reasoning in LLMs, NeurIPS 2022"

    async def solve(self, task: str, session: Session) -> str:
        return await session.chat("assistant", [Message("system", INSTRUCTION), Message("user", task)])
