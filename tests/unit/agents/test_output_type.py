"""Typed outputs: validated instances, retried with the error shown, ``output_invalid`` at the end."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from agorakit import Agent, ScriptedModel, call, tool
from agorakit.agents import CodeAct
from agorakit.core.errors import ConfigError, OutputInvalid


class City(BaseModel):
    title: str = "city"  # a field named like the schema keyword stays in the schema
    name: str
    country: str
    population: int = Field(ge=0)


@dataclass
class Point:
    x: int
    y: int


class Pair(TypedDict):
    left: str
    right: str


async def test_a_pydantic_output_is_validated_and_typed() -> None:
    model = ScriptedModel(['{"name": "Lyon", "country": "France", "population": 522000}'])
    agent = Agent("a", model, output_type=City, trace=False)
    result = await agent.run("A French city?")
    assert result.output == City(name="Lyon", country="France", population=522000)
    request = model.requests[0]
    assert request.response_schema is not None and "title" in request.response_schema["properties"]
    assert "title" not in request.response_schema  # pydantic's generated titles are dropped
    # Without tools the first step asks for the schema directly (the embedded model's grammar holds it).
    assert request.response_schema is not None and request.response_schema["required"] == [
        "name",
        "country",
        "population",
    ]
    assert request.tools == [] and request.tool_choice == "none"


async def test_an_invalid_answer_is_shown_its_error_and_retried() -> None:
    model = ScriptedModel(
        [
            '{"name": "Lyon", "country": "France", "population": -5}',
            'Sure! ```json\n{"name": "Lyon", "country": "France", "population": 522000}\n```',
        ]
    )
    result = await Agent("a", model, output_type=City, trace=False).run("A French city?")
    assert result.output is not None and result.output.population == 522000 and result.steps == 2
    retry = model.requests[1].messages[-1]
    assert retry.role == "user" and "population: Input should be greater than or equal to 0" in (retry.content or "")


async def test_output_invalid_after_the_retries_names_the_last_error() -> None:
    model = ScriptedModel(["no idea", "still none", '{"name": "X"}'])
    result = await Agent("a", model, output_type=City, output_retries=2, trace=False).run("?")
    assert result.stop_reason == "output_invalid" and result.output is None and result.steps == 3
    assert isinstance(result.error, OutputInvalid)
    assert "country: Field required" in result.error.message and "population: Field required" in result.error.message


@pytest.mark.parametrize(
    ("output_type", "reply", "expected"),
    [
        (Point, '{"x": 1, "y": 2}', Point(1, 2)),
        (Pair, '{"left": "a", "right": "b"}', {"left": "a", "right": "b"}),
        (int, '{"result": 42}', 42),
        (bool, '{"result": true}', True),
        (list[int], '{"result": [1, 2, 3]}', [1, 2, 3]),
    ],
)
async def test_dataclasses_typeddicts_and_primitives(output_type: type, reply: str, expected: object) -> None:
    model = ScriptedModel([reply])
    result = await Agent("a", model, output_type=output_type, trace=False).run("?")
    assert result.output == expected
    schema = model.requests[0].response_schema
    assert schema is not None and schema["type"] == "object"
    if output_type in (int, bool) or output_type == list[int]:
        assert schema["required"] == ["result"]  # wrapped: JSON modes want an object at the top


async def test_with_tools_the_answer_after_tool_use_is_parsed_then_forced_into_the_schema() -> None:
    @tool
    def population(city: str) -> int:
        """The population of a city."""
        return 522000

    model = ScriptedModel(
        [
            call("population", city="Lyon"),
            "Lyon has 522000 people.",  # prose: not valid, so the next step is asked for the schema alone
            json.dumps({"name": "Lyon", "country": "France", "population": 522000}),
        ]
    )
    result = await Agent("a", model, tools=[population], output_type=City, trace=False).run("Lyon?")
    assert result.output is not None and result.output.population == 522000
    assert model.requests[0].tools and model.requests[0].response_schema is None
    forced = model.requests[2]
    assert forced.tools == [] and forced.response_schema is not None and forced.tool_choice == "none"


async def test_codeact_answers_are_validated_too() -> None:
    model = ScriptedModel(["```python\nprint(2 + 3)\n```", 'Final answer: {"result": 5}'])
    result = await Agent("a", model, strategy=CodeAct(), output_type=int, trace=False).run("2 + 3?")
    assert result.output == 5


def test_a_type_pydantic_cannot_describe_fails_at_definition() -> None:
    with pytest.raises(ConfigError, match="cannot be described as JSON"):
        Agent("a", ScriptedModel([]), output_type=object.__class__)
