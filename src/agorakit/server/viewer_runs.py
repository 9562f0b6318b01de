"""The viewer's run pages: the runs list (search, filters, pages), one run, and the small JSON
document a running run's page polls for live updates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from agorakit.core.errors import ConfigError
from agorakit.server.viewer_pages import SECURITY_HEADERS, Pages
from agorakit.server.viewer_query import STATUSES, RunFilter, facets, find_runs, run_version
from agorakit.server.viewer_tree import run_view
from agorakit.trace.reader import load_run

#: Seconds between two polls of a running run's page.
POLL_SECONDS = 1.5


def _day(value: str | None, problems: list[str], label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label} {value!r} is not a date (YYYY-MM-DD); ignored")
        return None


def read_filter(params: dict[str, str]) -> tuple[RunFilter, list[str]]:
    """The runs list's query parameters as a filter, and what was wrong with them (ignored)."""
    problems: list[str] = []
    status = params.get("status", "")
    if status and status not in STATUSES:
        problems.append(f"status {status!r} is not one of {', '.join(STATUSES)}; ignored")
        status = ""
    try:
        page = max(int(params.get("page") or 1), 1)
    except ValueError:
        page = 1
    found = RunFilter(
        text=params.get("q", "")[:200],
        agent=params.get("agent", ""),
        method=params.get("method", ""),
        status=status,
        since=_day(params.get("from"), problems, "from"),
        until=_day(params.get("to"), problems, "to"),
        page=page,
    )
    return found, problems


def query_string(where: RunFilter, **changes: Any) -> str:
    """The list's URL query for ``where`` (with ``changes``), empty fields left out."""
    where = replace(where, **changes)
    fields = {
        "q": where.text,
        "agent": where.agent,
        "method": where.method,
        "status": where.status,
        "from": where.since.isoformat() if where.since else "",
        "to": where.until.isoformat() if where.until else "",
        "page": str(where.page) if where.page > 1 else "",
    }
    return urlencode({key: value for key, value in fields.items() if value})


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/ui", response_model=None)
    def runs_list(request: Request) -> Response:
        where, problems = read_filter(dict(request.query_params))
        context: dict[str, Any] = {"db": pages.trace_db, "where": where, "problems": problems, "statuses": STATUSES}
        try:
            found = find_runs(pages.trace_db, where)
            agents, methods = facets(pages.trace_db)
        except ConfigError as error:
            return pages.render(request, "runs.html", **context, missing=error.message, runs=[], agents=[],
                                methods=[], older=None, newer=None)  # fmt: skip
        return pages.render(
            request, "runs.html", **context, missing=None, runs=found.runs, agents=agents, methods=methods,
            older=query_string(where, page=where.page + 1) if found.has_next else None,
            newer=query_string(where, page=where.page - 1) if where.page > 1 else None,
        )  # fmt: skip

    @routes.get("/ui/runs/{ref}", response_model=None)
    def run_page(request: Request, ref: str) -> Response:
        try:
            version = run_version(pages.trace_db, ref)  # read first: a change after it shows at the next poll
            trace = load_run(pages.trace_db, ref)
        except ConfigError as error:
            return pages.render(request, "missing.html", status=404, message=error.message, hint=error.hint)
        if trace.run_id != ref:  # a prefix or `last`: show the run under its own address
            return RedirectResponse(pages.link(request, f"/ui/runs/{quote(trace.run_id, safe='')}"), status_code=302)
        return pages.render(request, "run.html", view=run_view(trace), version=version, poll_seconds=POLL_SECONDS)

    @routes.get("/ui/api/runs/{run_id}", response_model=None)
    def run_state(request: Request, run_id: str, version: str = "") -> Response:
        """``{"run_id", "version", "changed"}``, and when the run changed since ``version``: its
        ``status``, whether it ``finished``, and ``html``, the page's live part rendered again."""
        try:
            current = run_version(pages.trace_db, run_id)
            body: dict[str, Any] = {"run_id": run_id, "version": current, "changed": current != version}
            if body["changed"]:
                trace = load_run(pages.trace_db, run_id)
                body["status"] = trace.summary.status
                body["finished"] = trace.summary.finished
                body["html"] = pages.html(request, "run_live.html", {"view": run_view(trace)})
        except ConfigError as error:
            return JSONResponse({"error": {"message": error.message, "type": "not_found"}}, status_code=404)
        return JSONResponse(body, headers=SECURITY_HEADERS)

    return routes
