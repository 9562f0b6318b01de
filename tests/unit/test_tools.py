"""The @tool decorator and Tool: names, descriptions, schemas, validation, invocation."""

import asyncio
import threading
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from agorakit.core.errors import ToolArgumentsError, ToolDefinitionError
from agorakit.models.base import ToolSpec
from agorakit.tools import Tool, tool
from agorakit.tools.tool import parse_docstring


class Unit(Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Location(BaseModel):
    city: str
    country: str | None = None


def get_weather(
    location: Location,
    days: int,
    unit: Unit = Unit.CELSIUS,
    detailed: bool = False,
    hours: list[int] | None = None,
    mode: Literal["fast", "slow"] = "fast",
    scale: float = 1.0,
) -> str:
    """Get the weather forecast
    for a place.

    This second paragraph is not part of the description.

    Args:
        location: Where to look.
        days (int): How many days
            ahead to forecast.
        unit: Temperature unit.

    Returns:
        The forecast as text.
    """
    return f"{location.city}:{days}:{unit.value}:{detailed}:{hours}:{mode}:{scale}"


WEATHER_SCHEMA: dict[str, Any] = {
    "$defs": {
        "Location": {
            "properties": {
                "city": {"type": "string"},
                "country": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            },
            "required": ["city"],
            "type": "object",
        },
        "Unit": {"enum": ["celsius", "fahrenheit"], "type": "string"},
    },
    "additionalProperties": False,
    "properties": {
        "location": {"$ref": "#/$defs/Location", "description": "Where to look."},
        "days": {"description": "How many days ahead to forecast.", "type": "integer"},
        "unit": {"$ref": "#/$defs/Unit", "default": "celsius", "description": "Temperature unit."},
        "detailed": {"default": False, "type": "boolean"},
        "hours": {"anyOf": [{"items": {"type": "integer"}, "type": "array"}, {"type": "null"}], "default": None},
        "mode": {"default": "fast", "enum": ["fast", "slow"], "type": "string"},
        "scale": {"default": 1.0, "type": "number"},
    },
    "required": ["location", "days"],
    "type": "object",
}


# --- definition -------------------------------------------------------------


def test_schema_of_a_typed_function() -> None:
    weather = tool(get_weather)
    assert weather.name == "get_weather"
    assert weather.description == "Get the weather forecast for a place."
    assert weather.parameters == WEATHER_SCHEMA
    assert list(weather.parameters["properties"]) == [
        "location",
        "days",
        "unit",
        "detailed",
        "hours",
        "mode",
        "scale",
    ]


def test_spec_is_a_tool_spec() -> None:
    weather = tool(get_weather)
    assert weather.spec == ToolSpec("get_weather", "Get the weather forecast for a place.", WEATHER_SCHEMA)
    assert weather.spec.to_openai()["function"]["name"] == "get_weather"


def test_bare_decorator_keeps_the_function_callable() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    assert isinstance(add, Tool)
    assert add(2, 3) == 5
    assert add(a=2, b=3) == 5
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two integers."
    assert add.__wrapped__ is add.fn
    assert add.timeout is None
    assert not add.is_async
    assert repr(add) == "Tool(name='add')"


def test_decorator_with_options() -> None:
    @tool(name="sum_two", description="Sum of two numbers.", timeout=2.5)
    def add(a: int, b: int) -> int:
        """Ignored docstring summary.

        Args:
            a: The first.
        """
        return a + b

    assert add.name == "sum_two"
    assert add.description == "Sum of two numbers."
    assert add.timeout == 2.5
    # An explicit description replaces the summary, but Args still describe the parameters.
    assert add.parameters["properties"]["a"] == {"description": "The first.", "type": "integer"}
    assert add(1, 1) == 2


def test_decorator_with_empty_parentheses() -> None:
    @tool()
    def ping() -> str:
        return "pong"

    assert ping.name == "ping"
    assert ping.description == ""
    assert ping.parameters == {"additionalProperties": False, "properties": {}, "type": "object"}


def test_redecorating_a_tool_wraps_the_original_function() -> None:
    @tool
    def ping() -> str:
        return "pong"

    renamed = tool(name="ping2")(ping)
    assert renamed.name == "ping2"
    assert renamed.fn is ping.fn
    assert renamed() == "pong"


def test_async_function() -> None:
    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        await asyncio.sleep(0)
        return url.upper()

    assert fetch.is_async
    assert asyncio.run(fetch("x")) == "X"  # still callable like the original coroutine function
    assert asyncio.run(fetch.run({"url": "abc"})) == "ABC"


def test_async_callable_object_is_detected() -> None:
    class Fetcher:
        async def __call__(self, url: str) -> str:
            return url

    fetcher = tool(name="fetcher")(Fetcher())
    assert fetcher.is_async
    assert fetcher.parameters["required"] == ["url"]


def test_missing_annotation_is_refused() -> None:
    def bad(a: int, b) -> int:  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(ToolDefinitionError, match=r"parameter 'b' has no type annotation") as info:
        tool(bad)
    assert isinstance(info.value, TypeError)  # ToolDefinitionError is also a TypeError
    assert "annotate every parameter" in str(info.value)


def test_methods_are_wrapped_bound() -> None:
    class Counter:
        def __init__(self) -> None:
            self.step = 2

        def bump(self, n: int) -> int:
            """Add the step."""
            return n + self.step

    with pytest.raises(ToolDefinitionError, match=r"tool\(instance.method\)"):
        tool(Counter.bump)
    bump = tool(Counter().bump)
    assert bump.parameters["required"] == ["n"]
    assert asyncio.run(bump.run({"n": 1})) == 3


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("def bad(*args: int) -> int: return 0", r"\*args"),
        ("def bad(**kwargs: int) -> int: return 0", r"\*\*kwargs"),
        ("def bad(a: int, *rest: int, **extra: int) -> int: return 0", r"\*rest"),
    ],
)
def test_variadic_parameters_are_refused(source: str, shown: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(ToolDefinitionError, match=shown):
        tool(namespace["bad"])


def test_invalid_names_are_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="invalid tool name '<lambda>'"):
        tool(lambda: 1)
    with pytest.raises(ToolDefinitionError, match="invalid tool name 'has space'"):
        tool(name="has space")(get_weather)
    with pytest.raises(ToolDefinitionError, match="invalid tool name"):
        tool(name="x" * 65)(get_weather)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_non_positive_timeout_is_refused(timeout: float) -> None:
    with pytest.raises(ToolDefinitionError, match="timeout must be a positive number"):
        tool(timeout=timeout)(get_weather)


def test_unsupported_parameter_type_is_refused() -> None:
    class Opaque:
        pass

    def bad(thing: Opaque) -> str:
        return ""

    with pytest.raises(ToolDefinitionError, match="parameter type is not supported"):
        tool(bad)


def test_string_annotations_are_resolved() -> None:
    def add(a: "int", b: "list[int]") -> "int":
        return a + sum(b)

    added = tool(add)
    assert added.parameters["properties"]["b"] == {"items": {"type": "integer"}, "type": "array"}


def test_unresolvable_annotation_is_refused() -> None:
    def bad(a: "NoSuchType") -> int:  # type: ignore[name-defined]  # noqa: F821
        return 0

    with pytest.raises(ToolDefinitionError, match="cannot resolve a type annotation"):
        tool(bad)


def test_parameter_names_that_clash_with_pydantic_are_fine() -> None:
    @tool
    def configure(model_name: str, json: bool, schema: str = "s", _private: int = 0) -> str:
        return f"{model_name}/{json}/{schema}/{_private}"

    assert list(configure.parameters["properties"]) == ["model_name", "json", "schema", "_private"]
    values = configure.validate({"model_name": "m", "json": True, "_private": 3})
    assert values == {"model_name": "m", "json": True, "schema": "s", "_private": 3}
    assert asyncio.run(configure.invoke(values)) == "m/True/s/3"


def test_a_property_named_title_is_kept() -> None:
    @tool
    def publish(title: str) -> str:
        return title

    assert publish.parameters["properties"] == {"title": {"type": "string"}}
    assert "title" not in publish.parameters


def test_annotated_field_description_wins_over_docstring() -> None:
    @tool
    def search(query: Annotated[str, Field(description="From Annotated.", min_length=1)], limit: int = 5) -> str:
        """Search.

        Args:
            query: From the docstring.
            limit: Maximum hits.
        """
        return query

    props = search.parameters["properties"]
    assert props["query"] == {"description": "From Annotated.", "minLength": 1, "type": "string"}
    assert props["limit"] == {"default": 5, "description": "Maximum hits.", "type": "integer"}
    with pytest.raises(ToolArgumentsError, match="query: String should have at least 1 character"):
        search.validate({"query": ""})


# --- validation and invocation ---------------------------------------------


def test_validate_fills_defaults_and_builds_models() -> None:
    weather = tool(get_weather)
    values = weather.validate({"location": {"city": "Paris"}, "days": "3", "unit": "fahrenheit"})
    assert values == {
        "location": Location(city="Paris"),
        "days": 3,  # lax mode: "3" -> 3
        "unit": Unit.FAHRENHEIT,
        "detailed": False,
        "hours": None,
        "mode": "fast",
        "scale": 1.0,
    }
    assert isinstance(values["location"], Location)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"location": {"city": "P"}}, "days: missing required argument"),
        ({"location": {"city": "P"}, "days": [1, 2]}, "days: Input should be a valid integer, got [1, 2]"),
        ({"location": {"city": "P"}, "days": 1.5}, "days: Input should be a valid integer"),
        ({"location": {"city": "P"}, "days": 1, "mode": "medium"}, "mode: Input should be 'fast' or 'slow'"),
        ({"location": {"city": "P"}, "days": 1, "unit": "kelvin"}, "unit: Input should be 'celsius' or 'fahrenheit'"),
        ({"location": {"city": "P"}, "days": 1, "hours": [1, "x"]}, "hours.1: Input should be a valid integer"),
        ({"location": {}, "days": 1}, "location.city: missing required argument"),
        (
            {"location": {"city": "P"}, "days": 1, "color": "red"},
            "color: unexpected argument (expected: location, days, unit, detailed, hours, mode, scale)",
        ),
    ],
)
def test_validate_reports_each_problem(arguments: dict[str, Any], message: str) -> None:
    weather = tool(get_weather)
    with pytest.raises(ToolArgumentsError) as info:
        weather.validate(arguments)
    assert message in info.value.message
    assert info.value.hint == "fix the arguments and call the tool again"


def test_validate_caps_the_number_of_problems() -> None:
    @tool
    def many(a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> int:
        return 0

    with pytest.raises(ToolArgumentsError) as info:
        many.validate({})
    assert info.value.message.count("missing required argument") == 5
    assert info.value.message.endswith("and 2 more")


def test_sync_tools_run_in_a_worker_thread() -> None:
    seen: list[int] = []

    @tool
    def where() -> str:
        seen.append(threading.get_ident())
        return "here"

    assert asyncio.run(where.run({})) == "here"
    assert seen and seen[0] != threading.get_ident()


def test_positional_only_parameters() -> None:
    @tool
    def divide(a: float, b: float = 2.0, /, *, digits: int = 2) -> float:
        return round(a / b, digits)

    assert asyncio.run(divide.run({"a": 1, "b": 3})) == 0.33
    assert asyncio.run(divide.run({"a": 5, "digits": 0})) == 2.0


# --- docstrings ---------------------------------------------------------------


def test_parse_docstring_variants() -> None:
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("") == ("", {})
    assert parse_docstring("One line.") == ("One line.", {})
    assert parse_docstring(
        """Args:
            x: Only args.
        """
    ) == ("", {"x": "Only args."})
    doc = """
    Summary line one
    and two.

    Details.

    Arguments:
        a (int, optional): First.
        b: Second, which
            goes on.

            Still the second.
        *rest: Extra.
    Raises:
        ValueError: never.
    """
    assert parse_docstring(doc) == (
        "Summary line one and two.",
        {"a": "First.", "b": "Second, which goes on. Still the second.", "rest": "Extra."},
    )


def test_summary_stops_at_a_section_header() -> None:
    assert parse_docstring("Do it.\nArgs:\n    a: A.") == ("Do it.", {"a": "A."})
