"""The runs API: start a run in the background, follow its events, cancel it, decide its approvals.

``POST /runs`` starts an entry and answers at once (201, the run's record); ``GET /runs`` and
``GET /runs/{id}`` show runs; ``GET /runs/{id}/events`` streams its events as SSE (``id: N``,
``event: <type>``, ``data: <json>``), from the start or after the ``Last-Event-ID`` header (or
``?after=N``), live until the run stops; ``GET /runs/{id}/wait`` blocks until it stops;
``POST /runs/{id}/cancel`` cancels it. A durable run that pauses for a human
(``awaiting_approval``) lists its calls at ``GET /runs/{id}/approvals`` and goes on once
``POST /runs/{id}/approvals/{call_id}`` has decided each of them. Each key sees the runs it started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from agorakit.core.errors import ResumeError
from agorakit.core.messages import Message
from agorakit.kernel.journal import pending_approvals
from agorakit.server.errors import APIError
from agorakit.server.guard import request_key
from agorakit.server.openai_api import ChatMessage
from agorakit.server.runs import ACTIVE, FINAL, MAX_EVENTS, MAX_RUNS, RunRecord, RunRegistry, RunStatus
from agorakit.server.state import ServerState

router = APIRouter(prefix="/runs", tags=["runs"])


def install(app: FastAPI, state: ServerState) -> None:
    state.runs = RunRegistry(keys=state.keys, timeout=state.settings.run_timeout)
    app.include_router(router)


class RunRequest(BaseModel):
    """``{"entry": name, "input": "task"}`` or ``{"entry": name, "messages": [{role, content}, ...]}``."""

    model_config = ConfigDict(extra="forbid")

    entry: str = Field(min_length=1)
    input: str | None = None
    messages: list[ChatMessage] | None = None

    @model_validator(mode="after")
    def _one_input(self) -> RunRequest:
        if (self.input is None) == (self.messages is None):
            raise ValueError("give either input (a string) or messages (a conversation), not both")
        if self.input is not None and not self.input.strip():
            raise ValueError("input is empty")
        if self.messages is not None and not any(m.role == "user" and m.text().strip() for m in self.messages):
            raise ValueError("the conversation needs a user message with text")
        return self

    def conversation(self) -> list[Message]:
        if self.messages is None:
            return [Message("user", self.input or "")]
        return [Message("system" if m.role == "developer" else m.role, m.text(), name=m.name) for m in self.messages]


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "deny"]
    reason: str | None = Field(default=None, max_length=2000)


def registry_of(request: Request) -> RunRegistry:
    state: ServerState = request.app.state.agora
    assert state.runs is not None, "install() sets the registry"
    return state.runs


def caller(request: Request) -> str | None:
    """The name of the request's key (None when the server has no auth)."""
    record = request_key(request.scope)
    return record.name if record is not None else None


async def run_of(run_id: str, request: Request) -> RunRecord:
    """The run ``run_id``, if the caller's key started it (another key's run is not found)."""
    record = registry_of(request).get(run_id)
    owner = caller(request)
    if record is None or (owner is not None and record.key != owner):
        raise APIError(404, f"no run {run_id!r} on this server", kind="not_found",
                       hint="GET /runs lists your runs; they are kept in memory until the server restarts")  # fmt: skip
    return record


def start_after(
    after: Annotated[int | None, Query(ge=0, description="Send the events numbered above this.")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> int:
    """Where an event stream starts: ``?after=N``, else the ``Last-Event-ID`` a reconnecting client sends."""
    if after is not None:
        return after
    if last_event_id is None or not last_event_id.strip():
        return 0
    if not last_event_id.strip().isdigit():
        raise APIError(400, f"Last-Event-ID must be an event number, got {last_event_id!r}",
                       kind="invalid_request_error", hint="send the id: of the last event you received")  # fmt: skip
    return int(last_event_id)


Run = Annotated[RunRecord, Depends(run_of)]


def _json(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


@router.post("", status_code=201)
async def create_run(body: RunRequest, request: Request) -> Response:
    entry = request.app.state.agora.entry(body.entry)
    record = registry_of(request).start(entry, body.conversation(), caller(request))
    return _json(record.to_json(), 201, {"Location": f"/runs/{record.run_id}"})


@router.get("")
async def list_runs(
    request: Request,
    status: RunStatus | None = None,
    entry: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS)] = 20,
) -> Response:
    found = registry_of(request).find(key=caller(request), status=status, entry=entry, limit=limit)
    return _json({"runs": [record.to_json() for record in found]})


@router.get("/{run_id}")
async def get_run(record: Run) -> Response:
    return _json(record.to_json())


@router.get("/{run_id}/events", response_class=EventSourceResponse)
async def run_events(record: Run, after: Annotated[int, Depends(start_after)]) -> AsyncIterator[ServerSentEvent]:
    seen = after
    if record.dropped > seen:
        yield ServerSentEvent(comment=f"events {seen + 1} to {record.dropped} were dropped: a run keeps {MAX_EVENTS}")
    while True:
        for event in record.events_after(seen):
            yield ServerSentEvent(raw_data=orjson.dumps(event.data).decode(), event=event.type, id=str(event.id))
            seen = event.id
        if record.status not in ACTIVE and record.last_event_id <= seen:
            return
        await record.wait(seen)


@router.get("/{run_id}/wait")
async def wait_run(
    record: Run, timeout: Annotated[float, Query(gt=0, le=3600, description="Seconds to wait at most.")] = 30.0
) -> Response:
    """The run's record once it no longer runs, or after ``timeout`` seconds (its ``status`` says which)."""
    try:
        async with asyncio.timeout(timeout):
            while record.status in ACTIVE:
                await record.wait(record.last_event_id)
    except TimeoutError:
        pass
    return _json(record.to_json())


@router.post("/{run_id}/cancel")
async def cancel_run(record: Run, request: Request) -> Response:
    if record.status in FINAL:
        raise APIError(409, f"run {record.run_id} has already ended ({record.status})", kind="conflict",
                       hint="only a queued, running or paused run can be cancelled")  # fmt: skip
    await registry_of(request).cancel(record)
    return _json(record.to_json())


@router.get("/{run_id}/approvals")
async def list_approvals(record: Run) -> Response:
    """The tool calls the paused run waits on: call (id, name, arguments), tool, arguments, reason."""
    waiting = await _waiting(record)
    return _json({"run_id": record.run_id, "status": record.status, "approvals": waiting})


@router.post("/{run_id}/approvals/{call_id}")
async def decide_approval(record: Run, call_id: str, body: ApprovalDecision, request: Request) -> Response:
    """Approve or deny one waiting call; once none waits, the run goes on (its events follow on)."""
    if record.status != "awaiting_approval":
        raise APIError(409, f"run {record.run_id} is not waiting for approval ({record.status})", kind="conflict",
                       hint="GET /runs/{id}/approvals lists what a paused run waits for")  # fmt: skip
    waiting = await _waiting(record)
    if call_id not in [item["call"]["id"] for item in waiting]:
        ids = ", ".join(item["call"]["id"] for item in waiting) or "none"
        raise APIError(404, f"run {record.run_id} has no call {call_id!r} waiting for approval", kind="not_found",
                       hint=f"the calls waiting: {ids}")  # fmt: skip
    key = caller(request)
    by = f"runs API (key {key})" if key is not None else "runs API"
    try:
        left = await registry_of(request).decide(
            record, call_id, approved=body.decision == "approve", by=by, reason=body.reason
        )
    except ResumeError as error:  # decided meanwhile by another request (or `agora approve`)
        raise APIError(409, error.message, kind="conflict", hint=error.hint or None) from error
    return _json({**record.to_json(), "approvals": left})


async def _waiting(record: RunRecord) -> list[dict[str, Any]]:
    if record.status != "awaiting_approval":
        return []
    return await asyncio.to_thread(pending_approvals, record.run_id)
