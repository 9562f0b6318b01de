"""Structured control outputs: speaker choices, ledgers, rankings, votes, verdicts.

The model is asked for JSON matching a pydantic model's schema (grammar-
constrained on ``llamacpp``, ``response_format`` on ``openai``); the reply is
read tolerantly (markdown fences, prose around the object, an object cut
short), validated with pydantic, and on failure asked again with the validation error shown, before
failing with a clear :class:`StructuredOutputError`. (AutoGen's orchestrator
crashed when a model wrapped its ledger in a fence.)
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from agorakit.agents.output import describe_problem, read_json
from agorakit.agents.output import retry_message as output_retry_message
from agorakit.core.errors import ModelResponseError
from agorakit.core.messages import Message

T = TypeVar("T", bound=BaseModel)

DEFAULT_RETRIES = 2

__all__ = ["DEFAULT_RETRIES", "StructuredOutputError", "describe_problem", "parse_structured", "retry_message"]


class StructuredOutputError(ModelResponseError):
    default_hint = "the model could not produce valid structured output; use a stronger model or simplify the schema"


def parse_structured(text: str, schema: type[T]) -> T:
    """Validate ``text`` (JSON, possibly fenced or inside prose) as ``schema``."""
    return schema.model_validate(read_json(text))


def retry_message(schema: type[BaseModel], problem: str) -> Message:
    return output_retry_message(schema.model_json_schema(), problem)
