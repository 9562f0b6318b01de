"""Errors as JSON in the OpenAI shape, each with a hint: ``{"error": {"message", "type", "code", "hint"}}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response


def error_body(message: str, *, kind: str, hint: str | None = None, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code or kind}
    if hint:
        error["hint"] = hint
    return {"error": error}


def error_response(
    status: int,
    message: str,
    *,
    kind: str,
    hint: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(error_body(message, kind=kind, hint=hint, code=code)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class APIError(Exception):
    """Raised by a route: becomes an error response with this status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.hint = hint
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.message, kind=self.kind, hint=self.hint, headers=self.headers)


def describe_problems(problems: Sequence[Mapping[str, Any]], *, skip: int = 0) -> str:
    """Pydantic's validation errors as one line: ``messages.0.role: Input should be ...; ...``
    (the first five; ``skip`` leading parts of each location, e.g. FastAPI's ``body``)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ())[skip:]) or 'body'}: {problem.get('msg')}"
        for problem in problems[:5]
    )
