"""Structured control outputs: speaker choices, ledgers, rankings, votes, verdicts.

The model is asked for JSON matching a pydantic model's schema (grammar-
constrained on ``llamacpp``, ``response_format`` on ``openai``); the reply is
read tolerantly (markdown fences, prose around the object, an object cut
short), validated with pydantic, and on failure asked again with the validation error shown, before
failing with a clear :class:`StructuredOutputError`. (AutoGen's orchestrator
crashed when a model wrapped its ledger in a fence.)
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agorakit.core.errors import ModelResponseError
from agorakit.core.messages import Message
from agorakit.models.json_reply import extract_json

T = TypeVar("T", bound=BaseModel)

DEFAULT_RETRIES = 2


class StructuredOutputError(ModelResponseError):
    default_hint = "the model could not produce valid structured output; use a stronger model or simplify the schema"


def parse_structured(text: str, schema: type[T]) -> T:
    """Validate ``text`` (JSON, possibly fenced or inside prose) as ``schema``."""
    try:
        data = json.loads(text, strict=False)
    except json.JSONDecodeError:
        data = extract_json(text)
        if not isinstance(data, dict):  # none, or only a list inside an object cut short
            data = _repaired(text) or data
    if data is None:
        raise ValueError("the reply contains no JSON object")
    return schema.model_validate(data)


def _repaired(text: str) -> dict[str, object] | None:
    """The object in a reply cut short (out of tokens, or stopped mid-string by a
    server whose grammar lets strings hold newlines), closed by ``json_repair``;
    pydantic still decides whether what is left is valid."""
    start = text.find("{")
    if start < 0:
        return None
    import json_repair  # only for replies that failed to parse

    value = json_repair.loads(text[start:])
    return value if isinstance(value, dict) and value else None


def retry_message(schema: type[BaseModel], problem: str) -> Message:
    return Message(
        "user",
        f"That reply was not valid: {problem}. Reply again with only a JSON object matching this schema: "
        + json.dumps(schema.model_json_schema()),
    )


def describe_problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()[:5]]
        return "; ".join(parts)
    return str(error)
