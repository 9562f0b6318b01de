"""One row of a benchmark's results: one sample run by one configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RowStatus = Literal["ok", "error"]


@dataclass(frozen=True, slots=True)
class ResultKey:
    """What makes a row unique, and what a resumed run skips on: never the question text."""

    dataset: str
    sample_id: str
    method: str
    config_hash: str
    model: str


@dataclass(frozen=True, slots=True)
class ResultRow:
    """The outcome of one sample under one (method, config, model).

    ``status`` is ``"error"`` when the method raised (``error`` holds the
    message, ``correct`` is ``False``); usage counts every model call of the
    run, including failed and retried ones. ``judge_correct`` is the optional
    LLM judge's verdict, kept apart from the rule-based ``correct``.
    ``run_id`` names the run's trace. ``question`` and ``expected`` copy the
    sample's question and reference answer for the report's per-sample view
    (empty in rows written before they were stored).
    """

    key: ResultKey
    config: str  # the method's settings as JSON, for reports and reproduction
    status: RowStatus
    prediction: str
    extracted: str | None
    correct: bool
    reason: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    run_id: str
    error: str = ""
    judge_correct: bool | None = None
    judge_reason: str = ""
    finished_at: float = 0.0  # unix time the row was written
    question: str = ""
    expected: str = ""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens
