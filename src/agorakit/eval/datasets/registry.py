"""The benchmarks that ship with agorakit: what each one is, where its file is, how it is checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from agorakit.eval.sample import AnswerKind

#: Where the copied data files live (one folder per dataset, with its LICENSE and SOURCE.md).
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One registered benchmark.

    ``name`` is what users type (``agora bench --datasets gsm8k``); ``kind``
    says how its answers are checked; ``records`` is the number of samples
    :func:`~agorakit.eval.datasets.load_dataset` returns; ``path`` is the data
    file (its folder holds the upstream ``LICENSE`` and a ``SOURCE.md`` with
    the exact upstream commit); ``source`` is the upstream repository.
    """

    name: str
    kind: AnswerKind
    description: str
    license: str
    records: int
    path: Path
    source: str


def _info(
    name: str, kind: AnswerKind, description: str, license: str, records: int, file: str, source: str
) -> DatasetInfo:
    return DatasetInfo(name, kind, description, license, records, DATA_DIR / file, source)


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            _info(
                "gsm8k",
                "number",
                "Grade-school math word problems (test split); the answer is a number.",
                "MIT",
                1319,
                "gsm8k/test.jsonl",
                "https://github.com/openai/grade-school-math",
            ),
            _info(
                "math500",
                "math",
                "MATH competition problems (the PRM800K 500-problem test subset); LaTeX answers.",
                "MIT",
                500,
                "math500/test.jsonl",
                "https://github.com/openai/prm800k",
            ),
            _info(
                "humaneval",
                "code",
                "Python functions from docstrings, checked by the dataset's unit tests (pass@1).",
                "MIT",
                164,
                "humaneval/HumanEval.jsonl",
                "https://github.com/openai/human-eval",
            ),
            _info(
                "mbpp",
                "code",
                "Basic Python programming tasks (sanitized MBPP, test split), three asserts each.",
                "Apache-2.0",
                257,
                "mbpp_sanitized/test.jsonl",
                "https://github.com/google-research/google-research/tree/master/mbpp",
            ),
            _info(
                "gsm_hard",
                "number",
                "GSM8K test questions with large numbers (PAL's GSM-Hard v2); numeric answers, some fractional.",
                "Apache-2.0",
                1319,
                "gsm_hard/test.jsonl.gz",
                "https://github.com/reasoning-machines/pal",
            ),
            _info(
                "mmlu",
                "choice",
                "MMLU test questions, a fixed 1000-question random subset over all 57 subjects; options A-D.",
                "MIT",
                1000,
                "mmlu/test_subset1000_seed0.jsonl",
                "https://github.com/hendrycks/test",
            ),
            _info(
                "aqua_rat",
                "choice",
                "Algebraic word problems (AQuA-RAT test split); options A-E.",
                "Apache-2.0",
                254,
                "aqua_rat/test.jsonl",
                "https://github.com/google-deepmind/AQuA",
            ),
        )
    }
)
