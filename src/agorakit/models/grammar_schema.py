"""JSON schemas made safe for grammar-constrained decoding.

A grammar built from a schema forces a small model to produce valid JSON, but
not to finish it: a model repeating itself inside an unbounded string runs to
its token limit and the object is never closed. :func:`bounded_schema` bounds
such strings and forbids undeclared keys. Used for the embedded model and for
OpenAI-compatible servers that turn a schema into a grammar (llama.cpp's
``json_object`` with ``schema``).
"""

from __future__ import annotations

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
