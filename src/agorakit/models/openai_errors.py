"""Failures of an OpenAI-compatible endpoint, as the typed errors of :mod:`agorakit.core.errors`.

The kernel retries only :class:`~agorakit.core.errors.TransientModelError`
subclasses, so the mapping decides what is retried: rate limits (with the
server's ``Retry-After``), timeouts, broken connections and 5xx answers are;
a rejected key, an unknown model, a full context window or an empty quota are
not. :func:`rejected_features` reads an error response as the server rejecting
a request feature (``tools``, ``response_format``), for the backend's
capability fallback.
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

import openai

from agorakit.core import errors

Feature = Literal["tools", "response_format"]

_CONTEXT_WINDOW = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|exceeds? the (available )?context"
    r"|prompt is too long|input is too long|reduce the length of the messages",
    re.IGNORECASE,
)
_TOOLS_WORDS = re.compile(r"\btools?\b|tool_choice|tool[ _-]call|function[ _-]?call|\bfunctions?\b", re.IGNORECASE)
_SCHEMA_WORDS = re.compile(r"response_format|json_schema|json_object|structured output", re.IGNORECASE)
# A 500 counts as a rejected feature only when it reads like request validation
# (``python -m llama_cpp.server`` answers 500 to a request its pydantic model rejects, "Input
# should be 'text' or 'json_object'"; older llama.cpp ``llama-server`` builds 500 with
# "response_format type must be one of ..., but got: json_schema"). Any other 500 stays transient.
_REJECTION_WORDS = re.compile(
    r"not supported|unsupported|does not support|not implemented|requires|validation error|literal_error"
    r"|extra_forbidden|unrecognized|unknown|not allowed|invalid|(should|must) be|but got",
    re.IGNORECASE,
)


def map_error(error: openai.APIError, *, base_url: str, model_name: str, timeout: float | None) -> errors.ModelError:
    """The typed error for any failure the ``openai`` client raised."""
    if isinstance(error, openai.APITimeoutError):
        return errors.ModelTimeout(f"{base_url} did not answer within the timeout ({timeout or 600} s)")
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__
        detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        return errors.ModelConnectionError(f"cannot reach {base_url}{detail}")
    if isinstance(error, openai.APIStatusError):
        return map_status_error(error, base_url=base_url, model_name=model_name)
    return errors.ModelServerError(f"{base_url}: {error}")


def map_status_error(error: openai.APIStatusError, *, base_url: str, model_name: str) -> errors.ModelError:
    """The typed error for an HTTP error response."""
    status = error.status_code
    text = _error_text(error)
    where = f"{base_url} answered {status}"
    if status == 429:
        if _error_code(error) == "insufficient_quota":
            return errors.ModelRequestError(
                f"{where}: the account has no quota left: {text}",
                hint="check the plan and billing of this API key; waiting will not help",
            )
        return errors.RateLimited(f"{where}: rate limited: {text}", retry_after=retry_after(error.response.headers))
    if status in (401, 403):
        return errors.ModelRequestError(
            f"the endpoint {base_url} rejected the API key ({status}): {text}",
            hint="set OPENAI_API_KEY to a key this endpoint accepts; this error is not retried",
        )
    if status == 404:
        return errors.UnknownModel(
            f"{where} for model {model_name!r}: {text}",
            hint=f"check the model name (GET {base_url}/models lists what the server serves) "
            "and that the base URL ends in /v1",
        )
    if status in (400, 413, 422) and _CONTEXT_WINDOW.search(text):
        return errors.ContextWindowExceeded(f"{where}: {text}")
    if status == 408:
        return errors.ModelTimeout(f"{where} (request timeout): {text}")
    if status == 409 or status >= 500:
        return errors.ModelServerError(f"{where}: {text}", status=status)
    return errors.ModelRequestError(f"{where}: {text}")


def transport_error(error: Exception, *, base_url: str, timeout: float | None, streaming: bool) -> errors.ModelError:
    """The typed error for a transport failure while a response body was being read."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if any("Timeout" in name for name in names):
        return errors.ModelTimeout(f"{base_url} stopped sending within the timeout ({timeout or 600} s)")
    if streaming:
        return errors.StreamInterrupted(
            f"the stream from {base_url} broke off: {type(error).__name__}: {error}".rstrip(": ")
        )
    return errors.ModelConnectionError(f"the connection to {base_url} broke: {type(error).__name__}: {error}")


def rejected_features(error: openai.APIStatusError) -> set[Feature]:
    """The request features an error response says the server rejected (none for any other failure)."""
    status = error.status_code
    if status not in (400, 404, 422, 500, 501):
        return set()
    text = _error_text(error)
    if status in (404, 500, 501) and not _REJECTION_WORDS.search(text):
        return set()
    if _CONTEXT_WINDOW.search(text):
        return set()
    found: set[Feature] = set()
    if _SCHEMA_WORDS.search(text):
        found.add("response_format")
    if _TOOLS_WORDS.search(text):
        found.add("tools")
    return found


def retry_after(headers: Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def describe_error_body(body: dict[str, Any]) -> str:
    """The message of a JSON error body (``{"error": {"message": ...}}`` and the usual variants)."""
    inner = body.get("error", body)
    if isinstance(inner, dict):
        return str(inner.get("message") or inner.get("detail") or json.dumps(inner)[:300])
    return str(inner)[:300]


def _error_text(error: openai.APIStatusError) -> str:
    """The server's own words about an error response, on one line."""
    body = error.body
    if isinstance(body, dict):
        text = describe_error_body(body)
        code = _error_code(error)
        if code and code not in text:
            text = f"{text} [{code}]"
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    else:
        try:
            text = error.response.text.strip()
        except Exception:  # the body was never read
            text = ""
        text = text or error.message
    return " ".join(text.split())[:500]


def _error_code(error: openai.APIStatusError) -> str | None:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
        if body.get("code"):
            return str(body["code"])
    return error.code
