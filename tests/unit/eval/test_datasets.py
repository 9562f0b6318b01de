"""Datasets: every shipped benchmark loads with its documented size, custom JSONL mappings, seeded subsets."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agorakit.core.errors import ConfigError
from agorakit.eval.datasets import DATASETS, load_dataset, select
from agorakit.eval.datasets.registry import DATA_DIR

EXPECTED = {
    "gsm8k": ("number", 1319),
    "math500": ("math", 500),
    "humaneval": ("code", 164),
    "mbpp": ("code", 257),
    "gsm_hard": ("number", 1319),
    "mmlu": ("choice", 1000),
    "aqua_rat": ("choice", 254),
}


def test_registry_lists_the_seven_benchmarks() -> None:
    assert {name: (info.kind, info.records) for name, info in DATASETS.items()} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_dataset_loads_with_its_record_count(name: str) -> None:
    samples = load_dataset(name)
    kind, records = EXPECTED[name]
    assert len(samples) == records == DATASETS[name].records
    assert {sample.kind for sample in samples} == {kind}
    assert {sample.dataset for sample in samples} == {name}
    assert len({sample.id for sample in samples}) == records  # ids are unique: resume keys on them
    assert all(sample.question.strip() and sample.answer.strip() for sample in samples)
    folder = DATASETS[name].path.parent
    assert (folder / "LICENSE").is_file() and (folder / "SOURCE.md").is_file()


def test_data_files_stay_small_for_the_wheel() -> None:
    big = [path.name for path in DATA_DIR.rglob("*") if path.is_file() and path.stat().st_size > 1024 * 1024]
    assert big == []
    assert sorted(path.name for path in (DATA_DIR / "who_and_when").iterdir()) == [
        "LICENSE",
        "SOURCE.md",
        "algorithm_generated.jsonl.gz",
        "hand_crafted.jsonl.gz",
    ]


def test_gsm8k_answer_is_the_number_after_the_hashes_without_commas() -> None:
    samples = {sample.id: sample for sample in load_dataset("gsm8k")}
    first = samples["1"]
    assert first.question.startswith("Janet’s ducks lay 16 eggs per day.")
    assert first.answer == "18"
    assert first.meta["solution"].endswith("#### 18")
    assert samples["3"].answer == "70000"  # "#### 70,000" upstream
    assert not any("," in sample.answer for sample in samples.values())


def test_gsm_hard_keeps_float_targets() -> None:
    samples = load_dataset("gsm_hard")
    assert samples[0].answer == "-9867630"  # -9867630.0 upstream
    assert samples[7].answer == "3244047.0999999996"
    assert samples[0].question.startswith("Janet’s ducks lay 16 eggs per day.")


def test_math500_uses_the_problem_and_answer() -> None:
    first = load_dataset("math500")[0]
    assert first.id == "test/precalculus/807.json"
    assert first.question.startswith("Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.")
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.meta["level"] == 2 and first.meta["subject"] == "Precalculus"


def test_mmlu_renders_lettered_options() -> None:
    first = load_dataset("mmlu")[0]
    assert first.id == "abstract_algebra/1"
    assert first.question == (
        "Let p = (1, 2, 5, 4)(2, 3) in S_5 . Find the index of <p> in S_5.\n\n"
        "A) 8\nB) 2\nC) 24\nD) 120\n\n"
        "Answer with the letter of the correct option."
    )
    assert first.answer == "C"
    assert first.meta["choices"] == ["8", "2", "24", "120"]


def test_aqua_options_lose_their_letter_prefix() -> None:
    first = load_dataset("aqua_rat")[0]
    assert first.meta["choices"][0] == "5(√3 + 1)"
    assert "\nA) 5(√3 + 1)\nB) 6(√3 + √2)\n" in first.question
    assert first.question.endswith("\nE) None of these\n\nAnswer with the letter of the correct option.")
    assert first.answer == "A"


def test_humaneval_prompt_and_tests() -> None:
    first = load_dataset("humaneval")[0]
    assert first.id == "HumanEval/0"
    assert first.question.startswith("```python\nfrom typing import List\n")
    assert "Complete the function `has_close_elements` above." in first.question
    assert first.answer.rstrip().endswith("check(has_close_elements)")
    assert "def check(candidate):" in first.answer
    assert first.meta["entry_point"] == "has_close_elements"
    assert first.meta["setup"].startswith("from typing import List")


def test_mbpp_shows_the_first_assert_and_tests_all_of_them() -> None:
    samples = {sample.id: sample for sample in load_dataset("mbpp")}
    first = samples["11"]
    assert first.question.startswith("Write a python function to remove first and last occurrence")
    assert 'assert remove_Occ("hello","l") == "heo"' in first.question
    assert first.answer == (
        'assert remove_Occ("hello","l") == "heo"\n'
        'assert remove_Occ("abcda","a") == "bcd"\n'
        'assert remove_Occ("PHP","P") == "H"\n'
    )
    with_imports = [sample for sample in samples.values() if sample.meta["test_imports"]]
    assert len(with_imports) == 13
    assert all(sample.answer.startswith("import math\n") for sample in with_imports)


def test_names_are_case_and_dash_insensitive() -> None:
    assert len(load_dataset("GSM-Hard")) == 1319


# --- custom JSONL -------------------------------------------------------------


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_custom_file_with_query_mapping(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [{"q": "1+1?", "a": 2, "uid": "x1", "topic": "sums"}, {"q": "2+2?", "a": "4", "uid": "x2"}],
    )
    samples = load_dataset(f"{path}?question=q&answer=a&id=uid&kind=number")
    assert [(s.dataset, s.id, s.question, s.answer, s.kind) for s in samples] == [
        ("mine", "x1", "1+1?", "2", "number"),
        ("mine", "x2", "2+2?", "4", "number"),
    ]
    assert samples[0].meta == {"topic": "sums"}


def test_custom_file_keyword_form_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "free.jsonl"
    path.write_text(
        '{"question": "Capital of France?", "answer": "Paris"}\n\n{"question": "Capital of Italy?", "answer": "Rome"}\n'
    )
    samples = load_dataset(path, name="capitals")
    assert [(s.dataset, s.id, s.answer, s.kind) for s in samples] == [
        ("capitals", "1", "Paris", "text"),  # no id field: the line number (blank lines still count)
        ("capitals", "3", "Rome", "text"),
    ]
    remapped = load_dataset(f"{path}?kind=number", fields={"answer": "question"}, kind="choice")
    assert remapped[0].answer == "Capital of France?" and remapped[0].kind == "choice"  # keywords win
    assert remapped[0].meta == {"answer": "Paris"}


def test_custom_choices_are_rendered(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mc.jsonl", [{"question": "2+2?", "opts": ["3", "4"], "answer": "B"}])
    sample = load_dataset(f"{path}?choices=opts&kind=choice")[0]
    assert sample.question == "2+2?\n\nA) 3\nB) 4\n\nAnswer with the letter of the correct option."
    assert sample.meta == {"choices": ["3", "4"]}


def test_custom_gzipped_file(tmp_path: Path) -> None:
    path = tmp_path / "z.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"question": "q", "answer": "a", "id": 7}) + "\n")
    samples = load_dataset(path)
    assert [(s.dataset, s.id) for s in samples] == [("z", "7")]


def test_missing_field_lists_the_record_keys(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "target": 3}])
    with pytest.raises(ConfigError) as caught:
        load_dataset(path)
    assert caught.value.message == f"{path}:1: no field 'question' for the question"
    assert caught.value.hint == f"the record's keys are: prompt, target; map one with {path}?question=KEY"


def test_mapped_id_must_exist(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ids.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(ConfigError, match="no field 'uid' for the id"):
        load_dataset(f"{path}?id=uid")


def test_unknown_mapping_key_and_kind(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "k.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(ConfigError) as caught:
        load_dataset(f"{path}?questoin=q")
    assert caught.value.message.startswith("unknown field mapping key(s) questoin")
    assert caught.value.hint == "the keys are: question, answer, id, choices, kind"
    with pytest.raises(ConfigError, match="unknown answer kind 'numeric'"):
        load_dataset(f"{path}?kind=numeric")


def test_duplicate_ids_and_bad_lines(tmp_path: Path) -> None:
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"question": "q", "answer": "a", "id": 1}] * 2)
    with pytest.raises(ConfigError, match="id '1' is also the id of line 1"):
        load_dataset(dup)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "q", "answer": "a"}\n{"question": \n')
    with pytest.raises(ConfigError, match=r"broken.jsonl:2 is not valid JSON"):
        load_dataset(broken)
    listed = tmp_path / "list.jsonl"
    listed.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match=r"list.jsonl:1 is a JSON list, not an object"):
        load_dataset(listed)


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_dataset("gsm9k")
    assert caught.value.message == "unknown dataset 'gsm9k'"
    assert caught.value.hint.startswith("use one of: gsm8k, math500, humaneval, mbpp, gsm_hard, mmlu, aqua_rat")
    with pytest.raises(ConfigError, match="no such file"):
        load_dataset(tmp_path / "absent.jsonl")
    with pytest.raises(ConfigError, match="registered dataset"):
        load_dataset("gsm8k", kind="number")


# --- select -----------------------------------------------------------------


def test_select_is_pinned_for_seed_0() -> None:
    gsm8k = load_dataset("gsm8k")
    assert [s.id for s in select(gsm8k, 3, seed=0)] == ["148", "505", "1052"]
    assert [s.id for s in select(gsm8k, 3, seed=1)] == ["522", "581", "1102"]
    assert [s.id for s in select(load_dataset("humaneval"), 3, seed=0)] == [
        "HumanEval/129",
        "HumanEval/146",
        "HumanEval/161",
    ]


def test_select_smaller_limit_is_a_subset_in_file_order() -> None:
    samples = load_dataset("mmlu")
    small, large = select(samples, 10, seed=4), select(samples, 50, seed=4)
    assert {s.id for s in small} < {s.id for s in large}
    positions = {s.id: index for index, s in enumerate(samples)}
    assert [positions[s.id] for s in large] == sorted(positions[s.id] for s in large)


def test_select_everything_and_nothing() -> None:
    samples = load_dataset("aqua_rat")
    assert select(samples, None, seed=3) == samples
    assert select(samples, 10_000, seed=3) == samples
    assert select(samples, 0, seed=3) == []
    with pytest.raises(ConfigError):
        select(samples, -1, seed=0)


def test_select_ignores_the_python_hash_seed() -> None:
    code = (
        "from agorakit.eval.datasets import load_dataset, select;"
        "print(','.join(s.id for s in select(load_dataset('gsm8k'), 3, seed=0)))"
    )
    ids = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert ids == {"148,505,1052"}
