"""Multi-Agent Verification, BoN-MAV (Lifshitz, McIlraith and Du, "Multi-Agent
Verification: Scaling Test-Time Compute with Multiple Verifiers", 2025;
official code: Shalev-Lifshitz/MultiAgentVerification).

Best-of-n with several verifiers: a generator samples ``candidates`` solutions
independently (temperature 0.7); each of ``m`` *aspect verifiers* (the model
prompted to check one aspect: arithmetic, logic, units, edge cases, common
mistakes, ...) reads the question and one candidate and gives a binary
approval; the candidate with the most approvals wins, the earliest candidate
on a tie (as the official code's ``max`` over candidate indices does). A
verifier sees only the question, its aspect and the one candidate: never other
candidates or other verifiers' verdicts. Calls: ``n`` generations plus
``n * m`` verifications.

Defaults follow the official code: 16 candidates, generator temperature 0.7,
verifier temperature 0, and the paper's MATH verifier set (units, summarise,
edge cases, common mistakes, domain knowledge) with one model.

Deliberate differences:

- One call per (candidate, verifier): a structured reply with the analysis
  first and then the approval, instead of the official two calls (free
  analysis, then a follow-up asking only for True/False). Same think-then-
  judge order, half the calls, and no parsing of "FINAL VERIFICATION ANSWER".
- A verifier whose reply stays invalid after its retries counts as not
  approving (recorded in ``MethodResult.details``) instead of stopping the run.
- The paper mixes verifier models (gpt-4o-mini and Gemini); here every
  verifier uses the ``verifier`` role's model (``models={"verifier": ...}``).
- The aspect prompts are ours, carrying the paper's instructions.
"""

from __future__ import annotations

import asyncio
import dataclasses

from pydantic import BaseModel

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.methods.structured import StructuredOutputError


class Verdict(BaseModel):
    analysis: str
    approve: bool


ASPECTS: dict[str, str] = {
    "math_steps": "Go through the solution step by step and check that every calculation is mathematically correct. "
    "Approve only if every step is correct.",
    "logic_steps": "Go through the solution step by step and check that each step follows logically from the "
    "earlier ones and from the question. Approve only if the reasoning holds throughout.",
    "facts_steps": "Check that every fact the solution states or relies on is true. Approve only if all are.",
    "units_steps": "Check that quantities and their units are handled correctly in every step (conversions, "
    "rates, totals). Approve only if no step mishandles a unit.",
    "general_direct": "Decide whether this solution is correct for the question. Keep the analysis to one sentence.",
    "general_summarize": "Restate the solution in your own words and probe anything that might be wrong. "
    "Approve only if, after going over it, everything holds.",
    "general_diff": "Explain the solution differently from how it was presented, looking for flaws as you do. "
    "Approve only if you find none.",
    "general_edge": "Check the solution against edge cases, boundary conditions and special or extreme values. "
    "Approve only if it handles them all.",
    "general_mistakes": "Look for the mistakes, miscalculations and misconceptions typical of this kind of problem. "
    "Approve only if the solution makes none of them.",
    "general_domain": "Check that the solution applies the relevant domain knowledge, established results and "
    "standard practice correctly. Approve only if nothing is misapplied.",
    "answers_question": "Check that the solution answers exactly the question that was asked (the right quantity, "
    "in the requested form) and states a clear final answer. Approve only if it does.",
}

MATH_VERIFIERS = ("units_steps", "general_summarize", "general_edge", "general_mistakes", "general_domain")

GENERATE_PROMPT = (
    'Solve the problem. Reason step by step, then finish with a last line of the form "The answer is <answer>".'
)

VERIFIER_PROMPT = (
    "You are a critical verifier. You are shown a question and a proposed solution; analyse the solution "
    "carefully, following the instructions, then give your verdict. "
    'Reply with only a JSON object {"analysis": "...", "approve": true or false}, the analysis first.'
)


def verifier_message(question: str, solution: str, instruction: str) -> str:
    return f"QUESTION:\n{question}\n\nPROPOSED SOLUTION:\n{solution}\n\nINSTRUCTIONS:\n{instruction}"


def select(approvals: list[list[bool]]) -> int:
    """The index of the candidate with most approvals; the earliest on a tie."""
    scores = [sum(row) for row in approvals]
    return max(range(len(scores)), key=lambda i: scores[i])


@dataclasses.dataclass(frozen=True)
class MavConfig:
    candidates: int = 16  # --n-solutions
    aspects: tuple[str, ...] = MATH_VERIFIERS
    generator_temperature: float = 0.7  # --gen-temp
    verifier_temperature: float = 0.0  # --vera-temp


class MultiAgentVerification(Method):
    """BoN-MAV: n sampled candidates, m aspect verifiers, most approvals wins."""

    name = "mav"
    summary = "Best-of-n where several aspect verifiers approve or reject each candidate; most approvals wins."
    paper = (
        "Lifshitz, McIlraith and Du, Multi-Agent Verification: Scaling Test-Time Compute with Multiple Verifiers, 2025"
    )
    Config = MavConfig

    async def solve(self, task: str, session: Session) -> str:
        config: MavConfig = self.config
        unknown = [aspect for aspect in config.aspects if aspect not in ASPECTS]
        if unknown or not config.aspects or config.candidates < 1:
            raise ConfigError(
                f"mav: needs at least one candidate and one known aspect (unknown: {', '.join(unknown) or 'none'})",
                hint=f"aspects: {', '.join(ASPECTS)}",
            )
        generate = dataclasses.replace(session.sampling, temperature=config.generator_temperature)
        solutions = await asyncio.gather(
            *(
                session.chat(
                    f"generator_{i}", [Message("system", GENERATE_PROMPT), Message("user", task)], sampling=generate
                )
                for i in range(1, config.candidates + 1)
            )
        )
        verify = dataclasses.replace(session.sampling, temperature=config.verifier_temperature)
        failed: list[tuple[int, str]] = []

        async def approval(index: int, solution: str, aspect: str) -> bool:
            messages = [
                Message("system", VERIFIER_PROMPT),
                Message("user", verifier_message(task, solution, ASPECTS[aspect])),
            ]
            try:
                verdict = await session.structured(f"verifier_{aspect}", messages, Verdict, sampling=verify)
            except StructuredOutputError:
                failed.append((index, aspect))
                return False
            return verdict.approve

        flat = await asyncio.gather(
            *(approval(i, solution, aspect) for i, solution in enumerate(solutions) for aspect in config.aspects)
        )
        m = len(config.aspects)
        approvals = [list(flat[i * m : (i + 1) * m]) for i in range(len(solutions))]
        best = select(approvals)
        session.details.update({"approvals": approvals, "winner": best, "invalid_verdicts": sorted(failed)})
        return solutions[best]


__all__ = ["ASPECTS", "MATH_VERIFIERS", "MavConfig", "MultiAgentVerification", "Verdict", "select"]
