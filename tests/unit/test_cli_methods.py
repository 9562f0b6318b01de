"""`agora methods` and `agora run --method` with scripted model files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from typer.testing import CliRunner

from agorakit.cli.main import app
from agorakit.cli.methods_cmd import coerce, describe_settings, parse_settings
from agorakit.core.errors import ConfigError

pytestmark = pytest.mark.usefixtures("cli_environment")


@pytest.fixture(autouse=True)
def _mapcoder_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """MapCoder has int, float and str settings; registered here whether or not the registry has it yet."""
    from agorakit.methods import REGISTRY

    monkeypatch.setitem(REGISTRY, "mapcoder", "agorakit.methods.mapcoder:MapCoder")


def script(tmp_path: Path, responses: list[Any], name: str = "script.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(responses), encoding="utf-8")
    return f"scripted:{path}"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_methods_lists_every_registered_method_with_summary_and_paper() -> None:
    from agorakit.methods import available

    result = invoke("methods")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("vanilla", "cot"):
        assert any(line.split("\t")[0] == name for line in lines), result.output
    assert "One model call on the task as given." in result.output
    assert "Wei et al., Chain-of-Thought Prompting" in result.output
    assert len([cls for cls in available()]) >= 2


def test_run_method_prints_answer_final_answer_usage_and_run_id(tmp_path: Path) -> None:
    uri = script(tmp_path, ["Six sevens are 42.\nThe answer is 42"])
    result = invoke("run", "--method", "cot", "What is 6 * 7?", "--model", uri)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Six sevens are 42.\nThe answer is 42" in out
    assert "final answer: 42" in out
    assert "agent\tcalls\tinput tokens\toutput tokens\n" in out  # piped: the usage table as plain lines
    row = next(line for line in out.splitlines() if line.startswith("assistant\t"))
    assert row.split("\t") == [
        "assistant",
        "1",
        "27",
        "8",
    ]  # scripted: words in, words out
    assert "run id: " in out


def test_set_values_are_coerced_to_the_config_types(tmp_path: Path) -> None:
    recall = {"problems": [{"description": "d", "code": "c", "planning": "p"}] * 3, "algorithm": "a"}
    uri = script(
        tmp_path,
        [json.dumps(recall), "PLAN", json.dumps({"explanation": "ok", "confidence": 90}), "```python\nprint(2)\n```"],
    )
    result = invoke("run", "--method", "mapcoder", "Print 2.", "-m", uri, "--set", "k=1", "--set", "t=0", "--no-trace")
    assert result.exit_code == 0, result.output
    assert "print(2)" in result.output and "final answer: print(2)" in result.output
    assert "run id" not in result.output
    agents = [line.split("\t")[0] for line in result.output.splitlines()[1:] if "\t" in line][1:]
    assert agents == ["retriever", "planner", "planner_confidence", "coder", "total"]
    assert parse_settings("mapcoder", ["k=2", "test_timeout_s=1.5", "language=Python"]) == {
        "k": 2,
        "test_timeout_s": 1.5,
        "language": "Python",
    }


@dataclass(frozen=True)
class Probe:
    flag: bool = False
    mode: Literal["vote", "judge"] = "vote"
    limit: int | None = None
    ratio: float = 0.5


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("yes", bool, True),
        ("false", bool, False),
        ("judge", Literal["vote", "judge"], "judge"),
        ("3", Literal[1, 3], 3),
        ("none", int | None, None),
        ("7", int | None, 7),
        ("2.5", float, 2.5),
        ("[1, 2]", list[int], [1, 2]),
    ],
)
def test_coerce(value: str, kind: Any, expected: Any) -> None:
    assert coerce(value, kind, "x") == expected


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("maybe", bool, "setting x: cannot read 'maybe' as bool"),
        ("two", int, "setting x: cannot read 'two' as int"),
        ("chat", Literal["vote", "judge"], "setting x: 'chat' is not one of 'vote', 'judge'"),
    ],
)
def test_coerce_errors(value: str, kind: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        coerce(value, kind, "x")
    assert raised.value.message == message


def test_describe_settings() -> None:
    assert describe_settings(Probe) == (
        "flag: bool = False, mode: 'vote' | 'judge' = 'vote', limit: int | None = None, ratio: float = 0.5"
    )


def test_unknown_setting_and_unknown_method_are_config_errors(tmp_path: Path) -> None:
    uri = script(tmp_path, ["unused"])
    result = invoke("run", "--method", "mapcoder", "task", "-m", uri, "--set", "rounds=2")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "unknown setting 'rounds' for method 'mapcoder'"
    assert (result.exception.hint or "").startswith("settings of mapcoder: k: int = 3, t: int = 5")
    result = invoke("run", "--method", "nope", "task", "-m", uri)
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "unknown method 'nope'"
    assert "cot" in (result.exception.hint or "") and "vanilla" in (result.exception.hint or "")
    result = invoke("run", "--method", "cot", "task", "-m", uri, "--set", "oops")
    assert isinstance(result.exception, ConfigError) and "expected KEY=VALUE" in result.exception.message


def test_set_without_method_is_a_usage_error() -> None:
    result = invoke("run", "task", "--set", "k=1")
    assert result.exit_code == 2
    assert "--set and --role-model need --method" in result.output


def test_role_model_gives_one_role_its_own_script(tmp_path: Path) -> None:
    default = script(tmp_path, [], name="default.yaml")
    assistant = script(tmp_path, ["The answer is 5"], name="assistant.yaml")
    result = invoke("run", "--method", "vanilla", "2 + 3?", "-m", default, "--role-model", f"assistant={assistant}")
    assert result.exit_code == 0, result.output
    assert "final answer: 5" in result.output


def test_unknown_setting_is_one_error_line_from_the_real_entry_point(tmp_path: Path) -> None:
    uri = script(tmp_path, ["unused"])
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    process = subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", "run", "--method", "vanilla", "task", "-m", uri, "--set", "k=1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert process.returncode == 1
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1, process.stderr
    assert "error: unknown setting 'k' for method 'vanilla'" in lines[0] and "settings of vanilla: none" in lines[0]
