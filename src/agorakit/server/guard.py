"""The ASGI middleware in front of every route (mounted apps too): body size, keys, rate and budget.

Pure ASGI rather than a FastAPI dependency, so that the A2A and MCP apps
mounted beside the routes are guarded the same way, and so that a refused
request costs no routing, parsing or validation.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse

from agorakit.server.errors import error_response
from agorakit.server.keys import KeyRecord
from agorakit.server.state import ServerState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths anyone may reach: the health check, and the viewer's sign-in page and its assets.
PUBLIC_PATHS = ("/health",)
PUBLIC_PREFIXES = ("/ui/login", "/ui/static/")
KEY_COOKIE = "agorakit_key"


def presented_key(scope: Scope) -> str | None:
    """The bearer token, or the viewer's cookie."""
    cookie: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == KEY_COOKIE and found:
                    cookie = found
    return cookie


def request_key(scope: Scope) -> KeyRecord | None:
    """The key a request was let in with (None when auth is off)."""
    state = scope.get("state") or {}
    record = state.get("agora_key")
    return record if isinstance(record, KeyRecord) else None


class Guard:
    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        settings = self.state.settings
        if not (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)) and settings.auth:
            refusal = self._admit(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        limit = settings.max_body_bytes
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
        if length is not None and length > limit:
            await _too_large(limit)(scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # The body is read here, within the size limit and the time allowed, before any route
            # sees it: a route's own body reader would turn a refusal into a 400, and would wait
            # for a client that stalls mid-body as long as the connection lasts.
            try:
                async with asyncio.timeout(settings.body_timeout):  # no task of its own, unlike wait_for
                    body = await _read_body(receive, limit)
            except TimeoutError:
                await _too_slow(settings.body_timeout)(scope, receive, send)
                return
            except ClientGone:
                return
            if body is None:
                await _too_large(limit)(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _admit(self, scope: Scope) -> ASGIApp | None:
        """None to let the request in (its key put in ``scope["state"]``), else the refusal."""
        keys = self.state.keys
        token = presented_key(scope)
        record = keys.lookup(token) if keys is not None and token is not None else None
        if record is None and _viewer_page(scope):
            return _sign_in(scope)
        if token is None:
            return error_response(
                401,
                "this server needs an API key",
                kind="authentication_error",
                hint="send 'Authorization: Bearer <key>'; `agora keys create NAME` makes one",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if record is None:
            return error_response(
                401,
                "the API key is not valid (unknown or revoked)",
                kind="authentication_error",
                hint="`agora keys list` shows the live keys; `agora keys create NAME` makes a new one",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if record.rpm is not None:
            wait = self.state.limiter.take(record.name, record.rpm)
            if wait > 0:
                return error_response(
                    429,
                    f"key {record.name!r} is over its rate limit of {record.rpm} requests a minute",
                    kind="rate_limit_exceeded",
                    hint="retry after the time in the Retry-After header",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        spent = record.over_budget()
        if spent is not None:
            return error_response(
                429,
                f"key {record.name!r} is over its budget: {spent}",
                kind="budget_exceeded",
                # No Retry-After: a budget does not refill, and clients would wait for it.
                hint="a budget does not refill; create a key with a larger one (`agora keys create`)",
            )
        scope.setdefault("state", {})["agora_key"] = record
        return None


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` once, then what the client sends next (its disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _viewer_page(scope: Scope) -> bool:
    """A browser asking for a viewer page (not the JSON its pages poll)."""
    path: str = scope["path"]
    return (
        scope.get("method") in ("GET", "HEAD")
        and (path == "/ui" or path.startswith("/ui/"))
        and not path.startswith("/ui/api/")
    )


def _sign_in(scope: Scope) -> ASGIApp:
    """To the sign-in form, which comes back to the page asked for."""
    query = scope.get("query_string", b"").decode("latin-1")
    asked = scope["path"] + (f"?{query}" if query else "")
    root = str(scope.get("root_path", "")).rstrip("/")
    return RedirectResponse(f"{root}/ui/login?{urlencode({'next': asked})}", status_code=303)


def _too_slow(seconds: float) -> ASGIApp:
    return error_response(
        408,
        f"the request body did not arrive within {seconds:g} s",
        kind="request_timeout",
        hint="send the whole body at once; the server does not wait for a stalled client",
        headers={"Connection": "close"},
    )


def _too_large(limit: int) -> ASGIApp:
    return error_response(
        413,
        f"the request body is over the server's limit of {limit} bytes",
        kind="request_too_large",
        hint="send a shorter conversation, or start the server with a larger --max-body",
    )
