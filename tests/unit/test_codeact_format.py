"""CodeAct's action format: instructions, parsing, observations (no sandbox needed)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agorakit.agents import codeact
from agorakit.tools import calculator
from agorakit.tools.sandbox import ExecResult


def test_instructions_list_tools_as_functions_and_the_action_format() -> None:
    text = codeact.instructions([calculator.spec], json_actions=True)
    assert "- calculator(expression: string): Evaluate an arithmetic expression." in text
    assert '  {"code": "print(calculator(\\"...\\"))"}' in text
    assert '{"code": string}' in text
    assert '{"answer": string}' in text
    fenced = codeact.instructions([calculator.spec], json_actions=False)
    assert '  for example: print(calculator("..."))' in fenced
    assert "```python\n# your code\n```" in fenced
    assert "Final answer: <answer>" in fenced


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"code": "print(1 + 1)"}', ("code", "print(1 + 1)")),
        ('{"code": "x = 1\ny = 2"}', ("code", "x = 1\ny = 2")),  # a raw newline, as the grammar allows
        ('{"answer": "42"}', ("answer", "42")),
    ],
)
def test_json_actions(text: str, expected: tuple[str, str]) -> None:
    assert codeact.parse_action(text, json_actions=True) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Let me compute.\n```python\nprint(17 * 23)\n```", ("code", "print(17 * 23)")),
        ("```\nx = 2\n```", ("code", "x = 2")),
        ("```py\nx = 3\n```\nand more", ("code", "x = 3")),
        ("Final answer: 391", ("answer", "391")),
        ("final answer:   It is 5.", ("answer", "It is 5.")),
        ("The answer is 12.", ("answer", "The answer is 12.")),
    ],
)
def test_fenced_actions(text: str, expected: tuple[str, str]) -> None:
    assert codeact.parse_action(text, json_actions=False) == expected


def test_the_action_schema_admits_code_or_answer_only() -> None:
    schema = codeact.ACTION_SCHEMA
    jsonschema.validate({"code": "print(1)"}, schema)
    jsonschema.validate({"answer": "1"}, schema)
    for bad in ({"code": 1}, {"answer": "x", "code": "y"}, {"tool": "calculator"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert json.dumps(schema)  # serialisable for the grammar


def result(**overrides: object) -> ExecResult:
    fields: dict[str, object] = {
        "stdout": "",
        "stderr": "",
        "exit_status": 0,
        "error": None,
        "limit_hit": None,
        "duration_s": 0.01,
        "cpu_s": 0.01,
        "max_rss_mb": 10.0,
    }
    fields.update(overrides)
    return ExecResult(**fields)  # type: ignore[arg-type]


def test_observation_text() -> None:
    assert codeact.observation_text(result(stdout="391\n")) == "The code printed: 391"
    assert codeact.observation_text(result()) == "The code ran and printed nothing."
    failed = codeact.observation_text(result(error="NameError: name 'y' is not defined", exit_status=1))
    assert failed == "The code failed:\nNameError: name 'y' is not defined"
    stopped = codeact.observation_text(result(stdout="a", limit_hit="wall_time", exit_status=-9, restarted=True))
    assert stopped.startswith("The code failed:\na\n")
    assert stopped.endswith("The code was stopped: it hit the sandbox's wall time limit.")
    cut = codeact.observation_text(result(stdout="x" * 100, limit_hit="output"))
    assert cut.endswith("(The output was cut at the sandbox's output limit.)")
    flood = codeact.observation_text(result(stdout="x" * 10_000))
    assert flood.endswith("...[6000 more characters]")
