"""Schemas turned into grammars for the embedded model: bounded integers stay bounded on
both backends (an enum for the in-process one, the bounds themselves for the local engine,
whose own converter keeps them)."""

from __future__ import annotations

from typing import Any

import pytest

from agorakit.core.messages import Message
from agorakit.models.base import ModelRequest
from agorakit.models.grammar_schema import MAX_ENUMERATED, enumerated_ranges
from agorakit.models.llamacpp_server import LlamaServerModel

GUESS = {
    "type": "object",
    "properties": {"guess": {"type": "integer", "minimum": 0, "maximum": 100, "description": "your number"}},
    "required": ["guess"],
}


def test_a_bounded_integer_becomes_the_enum_of_its_values() -> None:
    out = enumerated_ranges(GUESS)
    assert out["properties"]["guess"] == {"description": "your number", "enum": list(range(101))}
    assert out["required"] == ["guess"] and GUESS["properties"]["guess"]["minimum"] == 0  # a copy


@pytest.mark.parametrize(
    ("bounds", "values"),
    [
        ({"exclusiveMinimum": 0, "exclusiveMaximum": 4}, [1, 2, 3]),
        ({"minimum": 0.5, "maximum": 3.5}, [1, 2, 3]),
        ({"minimum": -2, "maximum": -2}, [-2]),
    ],
)
def test_exclusive_and_fractional_bounds_keep_only_the_integers_inside(
    bounds: dict[str, Any], values: list[int]
) -> None:
    assert enumerated_ranges({"type": "integer", **bounds}) == {"enum": values}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 0},
        {"type": "integer", "minimum": 0, "maximum": MAX_ENUMERATED},
        {"type": "number", "minimum": 0, "maximum": 1},
        {"type": "integer", "minimum": 5, "maximum": 1},
        {"type": "integer", "enum": [1, 2], "minimum": 0, "maximum": 9},
    ],
)
def test_open_wide_empty_or_non_integer_ranges_are_left_as_they_are(schema: dict[str, Any]) -> None:
    assert enumerated_ranges(schema) == schema


def test_ranges_inside_arrays_and_definitions_are_enumerated_too() -> None:
    schema = {
        "anyOf": [{"$ref": "#/$defs/die"}],
        "$defs": {"die": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 6}}},
    }
    assert enumerated_ranges(schema)["$defs"]["die"]["items"] == {"enum": [1, 2, 3, 4, 5, 6]}


def _body(schema: dict[str, Any] | None) -> dict[str, Any]:
    model = LlamaServerModel.__new__(LlamaServerModel)
    request = ModelRequest([Message("user", "pick")], response_schema=schema)
    return model._body(request, schema, stream=False)


def test_the_local_engine_gets_a_schema_with_bounds_to_convert_itself_and_a_grammar_otherwise() -> None:
    bounded = _body(GUESS)
    assert bounded["json_schema"] == GUESS and "grammar" not in bounded
    free = _body({"type": "object", "properties": {"share": {"type": "boolean"}}, "required": ["share"]})
    assert "json_schema" not in free and "share" in free["grammar"] and "root ::=" in free["grammar"]
    assert "grammar" not in _body(None) and "json_schema" not in _body(None)
