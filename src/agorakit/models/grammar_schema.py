"""JSON schemas made safe for grammar-constrained decoding.

A grammar built from a schema forces a small model to produce valid JSON, but
not to finish it: a model repeating itself inside an unbounded string runs to
its token limit and the object is never closed. :func:`bounded_schema` bounds
such strings and forbids undeclared keys. Used for the embedded model and for
OpenAI-compatible servers that turn a schema into a grammar (llama.cpp's
``json_object`` with ``schema``).
"""

from __future__ import annotations

import math
from typing import Any

MAX_STRING_CHARS = 200


def bounded_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy with ``additionalProperties: false`` on objects, so the grammar
    offers no keys beyond the declared ones, and a length bound on strings
    that have none, so a model stuck repeating itself still closes its JSON."""
    out = dict(schema)
    if out.get("type") == "string" and "maxLength" not in out and "enum" not in out and "const" not in out:
        out["maxLength"] = MAX_STRING_CHARS
        # Not empty either: a small model that is unsure how to begin would close it at once.
        out.setdefault("minLength", 1)
    if out.get("type") == "array" and isinstance(out.get("items"), dict):
        out["items"] = bounded_schema(out["items"])
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
        out["properties"] = {k: bounded_schema(v) for k, v in out["properties"].items()}
    for key in ("$defs", "definitions"):
        if key in out:
            out[key] = {k: bounded_schema(v) for k, v in out[key].items()}
    return out


#: The widest integer range :func:`enumerated_ranges` writes out value by value.
MAX_ENUMERATED = 1000


def enumerated_ranges(node: Any) -> Any:
    """A copy with each integer bounded on both sides (to at most :data:`MAX_ENUMERATED`
    values) written as the enum of its values. llama-cpp-python's schema-to-grammar
    converter drops ``minimum`` and ``maximum``, and the embedded model then answers
    numbers like 1000000000000000; an enum it keeps."""
    if isinstance(node, list):
        return [enumerated_ranges(value) for value in node]
    if not isinstance(node, dict):
        return node
    out = {key: enumerated_ranges(value) for key, value in node.items()}
    if out.get("type") == "integer" and "enum" not in out:
        low = _bound(out, "minimum", "exclusiveMinimum", 1)
        high = _bound(out, "maximum", "exclusiveMaximum", -1)
        if low is not None and high is not None and 0 <= high - low < MAX_ENUMERATED:
            kept = {key: value for key, value in out.items() if key in ("title", "description")}
            return {**kept, "enum": list(range(low, high + 1))}
    return out


def _bound(node: dict[str, Any], inclusive: str, exclusive: str, step: int) -> int | None:
    """The closest integer allowed at one end (``step`` 1: the low end, -1: the high end), or None if open."""
    for key, shift in ((exclusive, step), (inclusive, 0)):
        edge = node.get(key)
        if isinstance(edge, int | float) and not isinstance(edge, bool):
            if shift:  # an exclusive edge: the next integer past it
                return math.floor(edge) + 1 if step > 0 else math.ceil(edge) - 1
            return math.ceil(edge) if step > 0 else math.floor(edge)
    return None
