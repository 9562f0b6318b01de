"""Rendering the viewer's pages: the Jinja2 templates (every value escaped), shared links and headers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from starlette.responses import HTMLResponse

from agorakit.core import settings as global_settings
from agorakit.server.guard import presented_key
from agorakit.server.state import ServerState
from agorakit.server.viewer_format import FILTERS

ASSETS = Path(__file__).parent / "viewer_assets"

#: Sent with every page: scripts and styles only from this server, no framing, no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Pages:
    """Renders the viewer's templates for one server."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(ASSETS / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(FILTERS)

    @property
    def trace_db(self) -> Path:
        return self.state.settings.trace_db or global_settings.trace_db_path()

    @property
    def bench_db(self) -> Path:
        return self.state.settings.bench_db or global_settings.bench_db_path()

    @staticmethod
    def link(request: Request, path: str) -> str:
        """``path`` under the app's root path (when it is served behind a prefix)."""
        return str(request.scope.get("root_path", "")).rstrip("/") + path

    def html(self, request: Request, template: str, context: Mapping[str, Any]) -> str:
        """``template`` rendered, with what every page needs: links under the app's root path,
        and whether there is a sign-out button."""
        signed_in = self.state.settings.auth and presented_key(request.scope) is not None
        page = self.env.get_template(template)
        return page.render({"url": lambda path: self.link(request, path), "signed_in": signed_in, **context})

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.html(request, template, context), status_code=status, headers=SECURITY_HEADERS)
