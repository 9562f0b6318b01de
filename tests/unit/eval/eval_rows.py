"""A ResultRow with plausible defaults, for tests that only care about a few fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from agorakit.eval.record import ResultKey, ResultRow


def result_row(
    dataset: str = "gsm8k",
    sample_id: str = "0",
    method: str = "cot",
    config_hash: str = "c0ffee00",
    model: str = "scripted:a",
    **fields: Any,
) -> ResultRow:
    """An ``ok`` row (1 call, 100 + 20 tokens, free, 1 s, correct unless told) with ``fields`` replaced."""
    row = ResultRow(
        key=ResultKey(dataset, sample_id, method, config_hash, model),
        config="{}",
        status="ok",
        prediction="42",
        extracted="42",
        correct=True,
        reason="",
        calls=1,
        input_tokens=100,
        output_tokens=20,
        cost_usd=0.0,
        latency_s=1.0,
        run_id=f"run-{method}-{sample_id}",
    )
    return dataclasses.replace(row, **fields)
