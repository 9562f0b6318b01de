"""Routes answered straight from the middleware stack, without the router.

The chat route is the server's hottest path. Behind the key guard, FastAPI's
exception and exit-stack middleware and its match against every route and
mounted app cost more than the handler around the run itself, so the route is
answered here, with the same error handling: an :class:`APIError` becomes its
response, and anything else a 500 with the error's name (and a log line). A
request with another method falls through to the router, which answers 405.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from agorakit.server.errors import APIError, error_response
from agorakit.server.guard import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("agorakit.server")


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = dict(routes)  # (method, path) -> handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get((scope.get("method", ""), _route_path(scope))) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except APIError as error:
            response = error.response()
        except Exception as error:  # a bug in a route: the server keeps serving
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = error_response(
                500,
                f"the server failed: {type(error).__name__}: {error}",
                kind="server_error",
                hint="the server's log has the traceback",
            )
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router would match: without the prefix the server is mounted under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
