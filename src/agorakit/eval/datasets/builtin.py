"""Turning each shipped benchmark's records into :class:`Sample` s: the prompt a method sees and the reference.

Every method gets the same prompt for a sample (the harness's fairness point):
the dataset's question as published, with the options rendered for multiple
choice and a one-line instruction for code. Records without their own id are
named by their line number, counting from 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from agorakit.eval.datasets.jsonl import read_jsonl
from agorakit.eval.datasets.registry import DatasetInfo
from agorakit.eval.sample import Sample

LETTERS = "ABCDEFGHIJ"
CHOICE_INSTRUCTION = "Answer with the letter of the correct option."
_AQUA_PREFIX = re.compile(r"^\s*[A-E]\s*\)\s*")

Record = dict[str, Any]
Builder = Callable[[DatasetInfo, int, Record], Sample]


def render_choices(question: str, choices: Sequence[str]) -> str:
    """The question, its options as ``A) ...`` lines, and the instruction to answer with a letter."""
    options = "\n".join(f"{LETTERS[index]}) {text}" for index, text in enumerate(choices))
    return f"{question.strip()}\n\n{options}\n\n{CHOICE_INSTRUCTION}"


def number_text(value: float | int | str) -> str:
    """A reference number as text: ``18.0`` -> ``"18"``, commas dropped, other floats kept exactly."""
    if isinstance(value, str):
        return value.replace(",", "").strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _gsm8k(info: DatasetInfo, line: int, record: Record) -> Sample:
    solution = str(record["answer"])
    final = solution.rsplit("####", 1)[-1]
    return Sample(info.name, str(line), str(record["question"]), number_text(final), info.kind, {"solution": solution})


def _gsm_hard(info: DatasetInfo, line: int, record: Record) -> Sample:
    return Sample(
        info.name, str(line), str(record["input"]), number_text(record["target"]), info.kind, {"code": record["code"]}
    )


def _math500(info: DatasetInfo, line: int, record: Record) -> Sample:
    meta = {"subject": record["subject"], "level": record["level"], "solution": record["solution"]}
    return Sample(info.name, str(record["unique_id"]), str(record["problem"]), str(record["answer"]), info.kind, meta)


def _mmlu(info: DatasetInfo, line: int, record: Record) -> Sample:
    choices = [str(choice) for choice in record["choices"]]
    return Sample(
        info.name,
        f"{record['subject']}/{record['source_row']}",
        render_choices(str(record["question"]), choices),
        str(record["answer"]).strip(),
        info.kind,
        {"choices": choices, "subject": record["subject"]},
    )


def _aqua(info: DatasetInfo, line: int, record: Record) -> Sample:
    choices = [_AQUA_PREFIX.sub("", str(option), count=1).strip() for option in record["options"]]
    return Sample(
        info.name,
        str(line),
        render_choices(str(record["question"]), choices),
        str(record["correct"]).strip(),
        info.kind,
        {"choices": choices, "rationale": record["rationale"]},
    )


def _humaneval(info: DatasetInfo, line: int, record: Record) -> Sample:
    prompt, entry = str(record["prompt"]), str(record["entry_point"])
    question = (
        f"```python\n{prompt.rstrip()}\n```\n\n"
        f"Complete the function `{entry}` above. Reply with the complete function, "
        "its signature and any imports included, in one ```python code block."
    )
    tests = f"{str(record['test']).rstrip()}\n\n\ncheck({entry})\n"
    # "setup" runs before the answer's code (the checker's key): the prompt's imports and helpers.
    meta = {"entry_point": entry, "setup": prompt, "canonical_solution": record["canonical_solution"]}
    return Sample(info.name, str(record["task_id"]), question, tests, info.kind, meta)


def _mbpp(info: DatasetInfo, line: int, record: Record) -> Sample:
    tests_list = [str(test) for test in record["test_list"]]
    imports = [str(line) for line in record["test_imports"]]
    question = (
        f"{str(record['prompt']).strip()}\n"
        f"Your code should pass tests like this one:\n{tests_list[0]}\n"
        "Reply with the complete Python code in one ```python code block."
    )
    tests = "\n".join([*imports, *tests_list]) + "\n"
    meta = {"reference_code": record["code"], "test_imports": imports, "test_list": tests_list}
    return Sample(info.name, str(record["task_id"]), question, tests, info.kind, meta)


BUILDERS: dict[str, Builder] = {
    "gsm8k": _gsm8k,
    "gsm_hard": _gsm_hard,
    "math500": _math500,
    "mmlu": _mmlu,
    "aqua_rat": _aqua,
    "humaneval": _humaneval,
    "mbpp": _mbpp,
}


def load_builtin(info: DatasetInfo) -> list[Sample]:
    """Every sample of a registered dataset, in file order."""
    build = BUILDERS[info.name]
    return [build(info, line, record) for line, record in read_jsonl(info.path)]
