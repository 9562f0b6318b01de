"""MCP: every served entry as a tool, over streamable HTTP at ``/mcp``.

A tool is named after its entry (characters MCP does not allow become ``_``)
and takes ``{"task": "...", "messages": [{"role", "content"}, ...]}``: the
earlier turns, if any, then the task as the last user message. It answers with
the entry's answer as text, or ``isError`` with the error's message and hint
when the run fails or stops without an answer. A call that asks for progress
(a progress token) gets a notification per model call, tool call and handoff.

The official SDK's low-level server speaks the protocol, in stateless mode:
each tool call is a whole run, so there is no state to keep between calls, and
without sessions there is none to expire or to be used with another key, nor a
long-lived GET stream that would hold up a graceful shutdown. A caller cancels
a call by closing its request. The key guard covers ``/mcp`` like any route.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio
import mcp_types as types
from fastapi import APIRouter, FastAPI
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agorakit import __version__
from agorakit.core.errors import ConfigError
from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.core.stream import HandoffEvent, PolicyDecision, ToolCallFinished, ToolCallStarted, UsageEvent
from agorakit.server.entries import Answer, Entry
from agorakit.server.errors import APIError, error_response
from agorakit.server.guard import request_key
from agorakit.server.running import as_api_error, keep_running
from agorakit.server.state import ServerState

MCP_PATH: Final = "/mcp"
#: The key of a call result's ``_meta`` that names its run (for ``agora trace show``).
RUN_ID_META: Final = "agorakit/run_id"
#: Every tool's arguments: the task, and optionally the conversation before it.
INPUT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "task": {"type": "string", "minLength": 1, "description": "what to do or answer"},
        "messages": {
            "type": "array",
            "description": "earlier turns of the conversation, oldest first (the task comes after them)",
            "items": {
                "type": "object",
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                    "content": {"type": "string"},
                },
                "required": ["role", "content"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["task"],
    "additionalProperties": False,
}
_VALIDATOR = Draft202012Validator(INPUT_SCHEMA)
_NOT_A_TOOL_CHAR = re.compile(r"[^A-Za-z0-9._-]")
_MAX_TOOL_NAME = 128


def install(app: FastAPI, state: ServerState) -> None:
    """Serve ``state``'s entries as MCP tools at ``/mcp``; the endpoint runs with the app's lifespan."""
    endpoint = MCPEndpoint(build_server(state), max_body_bytes=state.settings.max_body_bytes)
    # An included router's lifespan is merged into the app's: FastAPI's way for a part to start and stop with it.
    app.include_router(
        APIRouter(routes=[Route(MCP_PATH, endpoint, include_in_schema=False)], lifespan=endpoint.lifespan)
    )


def tool_names(entries: Mapping[str, Entry]) -> dict[str, Entry]:
    """Each entry under its MCP tool name: its own name, with characters MCP does not allow
    turned into ``_`` and cut to 128 (a name taken already gets ``_2``, ``_3``, ...)."""
    named: dict[str, Entry] = {}
    for entry in entries.values():
        base = _NOT_A_TOOL_CHAR.sub("_", entry.name)[:_MAX_TOOL_NAME] or "entry"
        name, n = base, 1
        while name in named:
            n += 1
            name = f"{base[: _MAX_TOOL_NAME - len(str(n)) - 1]}_{n}"
        named[name] = entry
    return named


def build_server(state: ServerState) -> Server[Any]:
    """The MCP server (the SDK's low-level one): ``tools/list`` and ``tools/call`` over the entries."""
    tools = tool_names(state.entries)
    listed = types.ListToolsResult(
        tools=[
            types.Tool(name=name, title=entry.name, description=entry.description, input_schema=INPUT_SCHEMA)
            for name, entry in tools.items()
        ]
    )

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listed

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        entry = tools.get(params.name)
        if entry is None:
            served = ", ".join(tools) or "none"
            raise MCPError(types.INVALID_PARAMS, f"no tool is named {params.name!r}; the tools are: {served}")
        try:
            messages = conversation(params.arguments or {})
            answer = await _run(state, entry, messages, ctx)
        except Exception as error:
            failure = as_api_error(error)
            return _failed(failure.message, failure.hint)
        _charge(state, ctx, answer)
        if not answer.answered:
            why = f": {answer.explanation}" if answer.explanation else ""
            message = f"{entry.name} stopped without an answer ({answer.stop_reason}){why}"
            return _failed(message, "ask a simpler or more precise task, or raise the entry's limits", answer.run_id)
        return types.CallToolResult(content=[types.TextContent(text=answer.text)], _meta={RUN_ID_META: answer.run_id})

    return Server(
        "agorakit",
        version=__version__,
        instructions="Each tool runs one agorakit agent or method on a task and returns its answer.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def conversation(arguments: Mapping[str, Any]) -> list[Message]:
    """The conversation a tool call asks about: ``messages``, then ``task`` as a user message.
    Raises :class:`ConfigError` when the arguments do not fit :data:`INPUT_SCHEMA`."""
    problem = best_match(_VALIDATOR.iter_errors(dict(arguments)))
    if problem is not None:
        where = ".".join(str(part) for part in problem.absolute_path)
        raise ConfigError(
            f"the arguments are not valid: {where + ': ' if where else ''}{problem.message}",
            hint='call it with {"task": "...", "messages": [{"role": "user", "content": "..."}]} (messages optional)',
        )
    earlier = [Message(turn["role"], turn["content"]) for turn in arguments.get("messages", ())]
    return [*earlier, Message("user", arguments["task"])]


class MCPEndpoint:
    """The ASGI app at ``/mcp``: hands each request to the SDK's session manager of the running
    lifespan (a manager runs once, so each lifespan makes its own)."""

    def __init__(self, server: Server[Any], *, max_body_bytes: int) -> None:
        self.server = server
        self.max_body_bytes = max_body_bytes
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        manager = StreamableHTTPSessionManager(self.server, stateless=True, max_request_body_size=self.max_body_bytes)
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.manager is None:
            hint = "run the app with its lifespan (uvicorn and `agora serve` do)"
            refusal = error_response(503, "the MCP endpoint is not running", kind="unavailable", hint=hint)
            await refusal(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


async def _run(state: ServerState, entry: Entry, messages: list[Message], ctx: ServerRequestContext[Any]) -> Answer:
    """Run ``entry`` for one call. A client that goes away (closes the request) cancels the run,
    or with ``on_disconnect="continue"`` leaves it to finish (its trace kept)."""
    work = _answer(entry, messages, ctx, timeout=state.settings.run_timeout)
    if state.settings.on_disconnect != "continue":
        return await work
    return await asyncio.shield(keep_running(asyncio.ensure_future(work)))


async def _answer(entry: Entry, messages: list[Message], ctx: ServerRequestContext[Any], *, timeout: float) -> Answer:
    """The entry's answer within ``timeout``, with a progress note per step when the caller asked for them."""
    run_id = new_run_id()
    async with asyncio.timeout(timeout):
        if not _progress_token(ctx):
            return await entry.run(messages, run_id)
        steps = 0
        events = entry.stream(messages, run_id)
        try:
            async for event in events:
                if isinstance(event, Answer):
                    return event
                note = _progress_note(event)
                if note is not None:
                    steps += 1
                    # Best effort: a caller that left gets no notes, and the run goes on.
                    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await ctx.session.report_progress(steps, message=note)
        finally:
            await events.aclose()
    raise APIError(500, "the run ended without an answer", kind="server_error")  # pragma: no cover


def _progress_token(ctx: ServerRequestContext[Any]) -> bool:
    return ctx.meta is not None and ctx.meta.get("progress_token") is not None


def _progress_note(event: object) -> str | None:
    """What a progress notification says about a run event (None: not worth one)."""
    if isinstance(event, UsageEvent):
        return f"{event.agent or 'the run'}: model call done ({event.total.output_tokens} tokens out so far)"
    if isinstance(event, ToolCallStarted):
        return f"{event.agent or 'the run'}: calling {event.call.name}"
    if isinstance(event, ToolCallFinished):
        return f"{event.agent or 'the run'}: {event.call.name} {'done' if event.ok else 'failed'}"
    if isinstance(event, PolicyDecision) and not event.allowed:
        return f"policy denied {event.tool}: {event.reason}"
    if isinstance(event, HandoffEvent):
        return f"handoff: {event.source} -> {event.target}"
    return None


def _failed(message: str, hint: str | None, run_id: str | None = None) -> types.CallToolResult:
    text = message + (f"\nhint: {hint}" if hint else "")
    meta = {RUN_ID_META: run_id} if run_id else None
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True, _meta=meta)


def _charge(state: ServerState, ctx: ServerRequestContext[Any], answer: Answer) -> None:
    """Charge the run's usage to the key the HTTP request came in with."""
    scope = getattr(ctx.request, "scope", None)
    record = request_key(scope) if scope is not None else None
    if record is not None and state.keys is not None:
        state.keys.charge(record.name, answer.usage)
