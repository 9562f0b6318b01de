"""Each served entry as an A2A agent, through the official ``a2a-sdk`` (protocol 1.0, and 0.3 clients too).

Routes, for an entry named ``NAME``:

- ``POST /a2a/NAME``: the agent's JSON-RPC endpoint (send, stream, get, list, cancel,
  subscribe), the SDK's own dispatcher and request handler over an
  :class:`~agorakit.server.a2a_executor.EntryExecutor`;
- ``GET /a2a/NAME/.well-known/agent-card.json``: its agent card, so an A2A client
  given the base URL ``http://host:port/a2a/NAME`` finds it;
- ``GET /.well-known/agent-card.json``: the server's card: the default entry (the
  first) with a skill for every entry (each skill says its endpoint).

A card's interface URL is built from the request's base URL, so it is right on
any host and port (and behind a proxy that sets the forwarded headers). The
key guard is in front of all of it; cards declare the bearer scheme. Tasks are
kept per key: one key cannot read or cancel another's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, PROTOCOL_VERSION_0_3, PROTOCOL_VERSION_1_0
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import JSONResponse, Response

from agorakit import __version__
from agorakit.server.a2a_executor import KEY_STATE, EntryExecutor
from agorakit.server.entries import Entry
from agorakit.server.errors import APIError
from agorakit.server.guard import request_key
from agorakit.server.state import ServerState

PREFIX = "/a2a"
BEARER = "bearer"
TEXT = ["text/plain"]


def install(app: FastAPI, state: ServerState) -> None:
    """Serve every entry of ``state`` as an A2A agent (see the module's doc)."""
    builder = KeyContextBuilder()
    handlers: dict[str, DefaultRequestHandler] = {}
    dispatchers: dict[str, JsonRpcDispatcher] = {}
    for entry in state.entries.values():
        # The handler's card only says what the agent can do (streaming); clients get theirs per request.
        handler = DefaultRequestHandler(
            agent_executor=EntryExecutor(entry, state),
            task_store=InMemoryTaskStore(),
            agent_card=entry_card(entry, "http://localhost", auth=state.settings.auth),
        )
        handlers[entry.name] = handler
        dispatchers[entry.name] = JsonRpcDispatcher(handler, context_builder=builder, enable_v0_3_compat=True)
    router = APIRouter(tags=["A2A"])

    @router.post(PREFIX + "/{name}", summary="A2A JSON-RPC endpoint of an entry")
    async def rpc(name: str, request: Request) -> Response:
        response: Response = await dispatchers[state.entry(name).name].handle_requests(request)
        return response

    @router.get(PREFIX + "/{name}" + AGENT_CARD_WELL_KNOWN_PATH, summary="An entry's A2A agent card")
    async def entry_card_route(name: str, request: Request) -> Response:
        entry = state.entry(name)
        return _card_response(entry_card(entry, endpoint(request, entry), auth=state.settings.auth))

    @router.get(AGENT_CARD_WELL_KNOWN_PATH, summary="The server's A2A agent card (its default entry)")
    async def server_card(request: Request) -> Response:
        entries = list(state.entries.values())
        if not entries:
            raise APIError(
                404,
                "this server serves no entries, so it has no agent card",
                kind="not_found",
                hint="start it with at least one agent or method",
            )
        skills = [skill(e, endpoint(request, e)) for e in entries]
        return _card_response(
            entry_card(entries[0], endpoint(request, entries[0]), auth=state.settings.auth, skills=skills)
        )

    app.include_router(router)
    _close_on_shutdown(app, list(handlers.values()))


def endpoint(request: Request, entry: Entry) -> str:
    """Where A2A clients post to reach ``entry``, as seen by this request."""
    return f"{str(request.base_url).rstrip('/')}{PREFIX}/{quote(entry.name, safe='')}"


def entry_card(entry: Entry, url: str, *, auth: bool, skills: Sequence[AgentSkill] | None = None) -> AgentCard:
    """``entry``'s agent card, its JSON-RPC interface at ``url`` (A2A 1.0 and 0.3)."""
    card = AgentCard(
        name=entry.name,
        description=entry.description,
        version=__version__,
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=PROTOCOL_VERSION_1_0),
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=PROTOCOL_VERSION_0_3),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=TEXT,
        default_output_modes=TEXT,
        skills=list(skills) if skills is not None else [skill(entry)],
    )
    if auth:
        card.security_schemes[BEARER].CopyFrom(
            SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer", description="an agorakit API key (`agora keys create NAME` makes one)"
                )
            )
        )
        card.security_requirements.append(SecurityRequirement(schemes={BEARER: StringList()}))
    return card


def skill(entry: Entry, url: str | None = None) -> AgentSkill:
    """The skill an entry offers; with ``url``, the description says where it is served."""
    where = f" (A2A endpoint: {url})" if url else ""
    return AgentSkill(
        id=entry.name,
        name=entry.name,
        description=entry.description + where,
        tags=[entry.kind],
        input_modes=TEXT,
        output_modes=TEXT,
    )


def _card_response(card: AgentCard) -> Response:
    return JSONResponse(agent_card_to_dict(card))


class KeyUser(User):
    """The A2A user of a request: the name of the key it came with."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._name


class KeyContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context, with the request's key as its user (tasks are stored per user)
    and in its state (so the executor charges the key for the run)."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        record = request_key(request.scope)
        if record is not None:
            context.state[KEY_STATE] = record
        return context

    def build_user(self, request: Request) -> User:
        record = request_key(request.scope)
        return KeyUser(record.name) if record is not None else super().build_user(request)


def _close_on_shutdown(app: FastAPI, handlers: list[DefaultRequestHandler]) -> None:
    """Drain the handlers' running tasks when the server stops (after the app's own shutdown)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as value:
            try:
                yield value
            finally:
                for handler in handlers:
                    await handler.aclose()

    app.router.lifespan_context = lifespan
