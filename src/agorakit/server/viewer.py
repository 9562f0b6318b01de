"""The web trace viewer at ``/ui``: runs, one run's span tree and conversations, benchmark results.

Server-rendered HTML (Jinja2, every value escaped) with a little vanilla
JavaScript for tabs and live updates; the stylesheet and script are served
from ``/ui/static``, so the pages work offline and under a strict
Content-Security-Policy (no inline script, no third-party origin). The Guard
in front asks for a key: a browser signs in once at ``/ui/login`` and keeps it
in an HttpOnly cookie.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from agorakit.server import viewer_auth, viewer_bench, viewer_runs
from agorakit.server.state import ServerState
from agorakit.server.viewer_pages import ASSETS, Pages


def install(app: FastAPI, state: ServerState) -> None:
    """Mount the viewer's assets and add its pages: sign-in, runs, one run, benchmarks."""
    pages = Pages(state)
    app.mount("/ui/static", StaticFiles(directory=ASSETS / "static"), name="viewer-static")
    app.include_router(viewer_auth.router(pages))
    app.include_router(viewer_runs.router(pages))
    app.include_router(viewer_bench.router(pages))
