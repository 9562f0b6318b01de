"""The ASGI app: one FastAPI app serving the OpenAI-compatible routes, the runs API,
A2A, MCP and the web viewer for a set of entries, behind the key guard."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from agorakit.server.direct import DirectRoutes
from agorakit.server.entries import Entry
from agorakit.server.errors import APIError, describe_problems, error_response
from agorakit.server.guard import ASGIApp, Guard, Receive, Scope, Send
from agorakit.server.keys import KeyStore
from agorakit.server.state import ServerSettings, ServerState

log = logging.getLogger("agorakit.server")


def create_app(
    entries: Sequence[Entry], settings: ServerSettings | None = None, *, keys: KeyStore | None = None
) -> Any:
    """The server for ``entries``. With ``settings.auth`` (the default) every route but
    ``/health`` needs a key from ``keys``."""
    settings = settings or ServerSettings()
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"two entries are named {duplicates[0]!r}: each served name must be unique")
    if settings.auth and keys is None:
        raise ValueError("a server with auth needs a key store (keys=KeyStore(path))")
    state = ServerState(entries={e.name: e for e in entries}, settings=settings, keys=keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if state.runs is not None:
            await state.runs.shutdown()
        if keys is not None:
            keys.flush()  # the last charges, before the process ends

    app = ServedApp(
        title="agorakit",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.agora = state
    _install_error_handlers(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "entries": len(state.entries)}

    from agorakit.server import openai_api

    app.include_router(openai_api.router)
    for install in _parts():
        install(app, state)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    app.front = Guard(DirectRoutes(functools.partial(FastAPI.__call__, app), openai_api.DIRECT_ROUTES), state)
    return app


class ServedApp(FastAPI):
    """FastAPI with the key guard and the direct routes in front of it, not among its middleware:
    the chat route then skips FastAPI's own layers (its telemetry check, body limit and error
    wrapper: about 20 us of a request's 130 us in the app, measured in process)."""

    front: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # as FastAPI sets it, for the routes the front answers
        await self.front(scope, receive, send)


def _parts() -> list[Any]:
    """The server's other parts, each ``install(app, state)``: its routes or its mounted app."""
    from agorakit.server import a2a_app, mcp_app, runs_api, viewer

    return [runs_api.install, a2a_app.install, mcp_app.install, viewer.install]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, error: APIError) -> Response:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        problems = error.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(
                400,
                "the request body is not valid JSON",
                kind="invalid_request_error",
                hint="send a JSON object with Content-Type: application/json",
            )
        return error_response(
            400,
            f"the request is not valid: {describe_problems(problems, skip=1)}",
            kind="invalid_request_error",
            hint="see docs/serve.md for the request shapes",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        hint = "GET /v1/models lists what this server serves" if error.status_code == 404 else None
        return error_response(
            error.status_code, str(error.detail), kind=kind, hint=hint, headers=getattr(error, "headers", None)
        )
