"""Typed outputs: the JSON schema an ``output_type`` asks the model for, and reading a reply into it.

Any type pydantic can validate works: a ``BaseModel``, a dataclass, a
``TypedDict``, a primitive (``int``, ``bool``...), a ``list[...]``. Types whose
schema is not an object are wrapped as ``{"result": ...}`` (providers' JSON
modes want an object at the top) and unwrapped after validation. A reply is
read tolerantly (markdown fences, prose around the object, an object cut
short), then validated; the problem, if any, is said in words the model can
act on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError
from pydantic.errors import PydanticUserError

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.models.json_reply import extract_json
from agorakit.tools.signature import strip_titles

if TYPE_CHECKING:
    from pydantic import TypeAdapter

T = TypeVar("T")
WRAP_KEY = "result"


class OutputSpec(Generic[T]):
    """How to ask for and read an ``output_type``."""

    __slots__ = ("adapter", "name", "schema", "wrapped")

    def __init__(self, adapter: TypeAdapter[T], schema: dict[str, Any], wrapped: bool, name: str) -> None:
        self.adapter = adapter
        self.schema = schema
        self.wrapped = wrapped
        self.name = name

    @classmethod
    def of(cls, output_type: type[T]) -> OutputSpec[T]:
        """The spec for ``output_type``; a type pydantic cannot describe raises ConfigError."""
        name = getattr(output_type, "__name__", repr(output_type))
        from pydantic import TypeAdapter  # only agents with an output type pay for it

        try:
            adapter: TypeAdapter[T] = TypeAdapter(output_type)
            schema = adapter.json_schema()
        except (PydanticUserError, TypeError, ValueError) as error:
            raise ConfigError(
                f"output_type {name} cannot be described as JSON: {error}",
                hint="use a pydantic model, a dataclass, a TypedDict or a JSON-friendly type (int, str, list[...])",
            ) from error
        strip_titles(schema)
        wrapped = schema.get("type") != "object"
        if wrapped:
            defs = schema.pop("$defs", None)
            schema = {"type": "object", "properties": {WRAP_KEY: schema}, "required": [WRAP_KEY]}
            if defs:
                schema["$defs"] = defs
        return cls(adapter, schema, wrapped, name)

    def parse(self, text: str) -> T:
        """The reply as an instance; raises ``ValueError`` (or ``ValidationError``) saying what is wrong."""
        data = read_json(text)
        if self.wrapped:
            if not isinstance(data, dict) or WRAP_KEY not in data:
                raise ValueError(f'the reply must be a JSON object {{"{WRAP_KEY}": ...}}')
            data = data[WRAP_KEY]
        return self.adapter.validate_python(data)

    def retry_message(self, problem: str) -> Message:
        return retry_message(self.schema, problem)


def read_json(text: str) -> Any:
    """The JSON value in a model's reply: as it is, fenced, inside prose, or an object cut short."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        pass
    data = extract_json(text)
    if not isinstance(data, dict):  # none, or only a list inside an object cut short
        data = _repaired(text) or data
    if data is None:
        raise ValueError("the reply contains no JSON object")
    return data


def _repaired(text: str) -> dict[str, object] | None:
    """The object in a reply cut short (out of tokens, or stopped mid-string by a
    server whose grammar lets strings hold newlines), closed by ``json_repair``;
    validation still decides whether what is left is valid."""
    start = text.find("{")
    if start < 0:
        return None
    import json_repair  # only for replies that failed to parse

    value = json_repair.loads(text[start:])
    return value if isinstance(value, dict) and value else None


def describe_problem(error: Exception) -> str:
    """A validation failure in a line or two a model can act on."""
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()[:5]]
        return "; ".join(parts)
    return str(error)


def retry_message(schema: dict[str, Any], problem: str) -> Message:
    return Message(
        "user",
        f"That reply was not valid: {problem}. Reply again with only a JSON object matching this schema: "
        + json.dumps(schema),
    )
