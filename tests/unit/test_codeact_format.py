"""CodeAct's action format: instructions, parsing, observations (no sandbox needed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest

from agorakit.agents import codeact
from agorakit.tools import calculator


def test_instructions_list_tools_as_functions_and_the_action_format() -> None:
    text = codeact.instructions([calculator.spec], json_actions=True)
    assert "- calculator(expression: string): Evaluate an arithmetic expression." in text
    assert '{"code": "<python code>"}' in text
    assert '{"answer": "<final answer>"}' in text
    fenced = codeact.instructions([calculator.spec], json_actions=False)
    assert "```python\n<python code>\n```" in fenced
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


def result(**overrides: object) -> SimpleNamespace:
    fields: dict[str, object] = {"stdout": "", "stderr": "", "error": None, "limit_hit": None}
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_observation_text() -> None:
    assert codeact.observation_text(result(stdout="391\n")) == "Observation:\n391"  # type: ignore[arg-type]
    assert codeact.observation_text(result()) == "Observation:\n(no output)"  # type: ignore[arg-type]
    failed = codeact.observation_text(result(error="NameError: name 'y' is not defined"))  # type: ignore[arg-type]
    assert failed == "Observation:\nError:\nNameError: name 'y' is not defined"
    stopped = codeact.observation_text(result(stdout="a", limit_hit="wall_time"))  # type: ignore[arg-type]
    assert stopped.endswith("The code was stopped: it hit the sandbox's wall time limit.")
    flood = codeact.observation_text(result(stdout="x" * 10_000))  # type: ignore[arg-type]
    assert flood.endswith("...[6000 more characters]")
