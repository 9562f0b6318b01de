"""The optional LLM judge for free-form answers, recorded apart from the rule-based verdict.

One prompt for every dataset and method: the judge sees the question, the
reference answer and the prediction, and decides whether the prediction's
final answer is equivalent to the reference. It replies with a JSON object
(``reason`` first, so it reasons before it decides, then ``correct``),
validated with pydantic and asked again on invalid output, as methods'
structured outputs are (:meth:`agorakit.methods.session.Session.structured`);
after the retries it raises :class:`~agorakit.methods.structured.StructuredOutputError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.eval.sample import Sample
from agorakit.kernel import Kernel, RunLedger, default_kernel
from agorakit.methods.session import Session
from agorakit.methods.structured import DEFAULT_RETRIES
from agorakit.models.base import ChatModel, Sampling
from agorakit.models.uri import resolve_model
from agorakit.trace.setup import TraceOption, tracer_for

JUDGE_AGENT = "judge"
MAX_PREDICTION_CHARS = 6000  # the final answer is at the end: a long prediction keeps its tail

SYSTEM_PROMPT = (
    "You grade answers to benchmark questions. You are given a question, the reference answer and a "
    "candidate's answer. Decide whether the candidate's final answer is equivalent to the reference answer: "
    "the same value, choice or meaning, whatever its wording, formatting or units of presentation. "
    "Judge only the final answer, not the reasoning before it. An answer that hedges between several "
    "final answers, or gives none, is incorrect."
)


class JudgeReply(BaseModel):
    """What the judge model must reply: its reasoning, then its decision."""

    reason: str = Field(description="One or two sentences comparing the candidate's final answer with the reference.")
    correct: bool = Field(description="true if the candidate's final answer is equivalent to the reference answer.")


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """The judge's decision on one prediction, and what the judging cost."""

    correct: bool
    reason: str
    usage: Usage = field(default_factory=Usage)


def judge_messages(sample: Sample, prediction: str) -> list[Message]:
    """The judge's prompt for ``prediction`` on ``sample``."""
    text = prediction.strip()
    if len(text) > MAX_PREDICTION_CHARS:
        text = "[...]\n" + text[-MAX_PREDICTION_CHARS:]
    user = (
        f"Question:\n{sample.question.strip()}\n\n"
        f"Reference answer:\n{sample.answer.strip()}\n\n"
        f"Candidate's answer:\n{text or '(empty)'}\n\n"
        'Reply with only a JSON object: {"reason": "...", "correct": true or false}.'
    )
    return [Message("system", SYSTEM_PROMPT), Message("user", user)]


async def judge_answer(
    model: ChatModel | str,
    sample: Sample,
    prediction: str,
    *,
    kernel: Kernel | None = None,
    trace: TraceOption = False,
    sampling: Sampling | None = None,
    retries: int = DEFAULT_RETRIES,
) -> JudgeVerdict:
    """Ask ``model`` (a backend or a model URI) whether ``prediction`` answers ``sample`` correctly.

    The calls go through ``kernel`` (default: the process's shared kernel)
    as one run of their own, traced when ``trace`` says so (default: not
    traced); ``usage`` in the result counts them all, retries included.
    ``sampling`` defaults to temperature 0. Raises
    :class:`~agorakit.methods.structured.StructuredOutputError` when no valid
    reply comes in ``retries + 1`` tries.
    """
    backend = resolve_model(model)
    run = RunLedger.create(tracer_for(trace))
    session = Session("judge", backend, kernel or default_kernel(), run, sampling=sampling or Sampling(temperature=0.0))
    reply = await session.structured(JUDGE_AGENT, judge_messages(sample, prediction), JudgeReply, retries=retries)
    return JudgeVerdict(reply.correct, reply.reason.strip(), run.usage)
