"""Entries served as A2A agents, driven by the official a2a-sdk client against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, ClientFactory
from a2a.helpers import get_artifact_text, get_message_text, new_text_message
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError

from agorakit import Agent, ScriptedModel, call, tool
from agorakit.core.errors import ModelRequestError
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import Delay, ScriptItem
from agorakit.server import KeyStore, ServerSettings, agent_entry, create_app


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _adder(request: ModelRequest) -> ScriptItem:
    # Call the tool first, then answer with what it returned.
    last = request.messages[-1]
    return f"the sum is {last.content}" if last.role == "tool" else call("add", a=2, b=3)


@dataclass
class Hang:
    """A model's sleep that never ends by itself; says when it began and when it was cancelled."""

    started: threading.Event
    cancelled: threading.Event

    async def __call__(self, seconds: float) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@dataclass
class Served:
    base: str
    keys: KeyStore
    key: str
    other_key: str
    hang: Hang


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home: Path = tmp_path_factory.mktemp("a2a")
    hang = Hang(threading.Event(), threading.Event())

    def refuse(request: ModelRequest) -> ScriptItem:
        raise ModelRequestError("the scripted backend rejected the request", hint="fix the scripted request")

    entries = [
        agent_entry(
            Agent("helper", ScriptedModel(lambda r: "hello there friend"), instructions="Be nice.", trace=False),
            description="Says hello",
        ),
        agent_entry(Agent("adder", ScriptedModel(_adder), tools=[add], trace=False), description="Adds"),
        agent_entry(Agent("broken", ScriptedModel(refuse), trace=False), description="Always fails"),
        agent_entry(
            Agent("looper", ScriptedModel(lambda r: call("add", a=1, b=1)), tools=[add], max_steps=1, trace=False),
            description="Never answers",
        ),
        agent_entry(
            Agent("slow", ScriptedModel(lambda r: Delay(3600, "late"), sleep=hang), trace=False),
            description="Takes forever",
        ),
    ]
    keys = KeyStore(home / "server.db")
    key, other_key = keys.create("test"), keys.create("other")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGORAKIT_HOME", str(home))
        with _serving(create_app(entries, keys=keys)) as base:
            yield Served(base, keys, key, other_key, hang)


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server on a free port of 127.0.0.1 (in a thread); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server did not start")
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()


def _http(key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(headers=headers, timeout=30)


async def _client(http: httpx.AsyncClient, url: str, *, streaming: bool) -> Client:
    return await ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create_from_url(url)


def _ask(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=new_text_message(text, role=Role.ROLE_USER))


async def _events(client: Client, text: str) -> list[StreamResponse]:
    return [event async for event in client.send_message(_ask(text))]


async def _final_task(served: Served, entry: str, text: str) -> Task:
    return await _answer(served.base, served.key, entry, text)


async def _answer(base: str, key: str, entry: str, text: str) -> Task:
    """The task a (non-streaming) send to ``entry`` returns."""
    async with _http(key) as http:
        events = await _events(await _client(http, f"{base}/a2a/{entry}", streaming=False), text)
    assert len(events) == 1 and events[0].HasField("task")
    return events[0].task


async def test_entry_card_says_what_the_entry_is_and_where_to_post(served: Served) -> None:
    async with _http(served.key) as http:
        card = await A2ACardResolver(http, f"{served.base}/a2a/helper").get_agent_card()
    assert (card.name, card.description) == ("helper", "Says hello")
    assert [(s.id, s.tags[0]) for s in card.skills] == [("helper", "agent")]
    assert {(i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces} == {
        (f"{served.base}/a2a/helper", "JSONRPC", "1.0"),
        (f"{served.base}/a2a/helper", "JSONRPC", "0.3"),
    }
    assert card.capabilities.streaming is True
    assert card.security_schemes["bearer"].http_auth_security_scheme.scheme == "Bearer"
    assert list(card.security_requirements[0].schemes) == ["bearer"]


async def test_server_card_is_the_default_entry_with_a_skill_for_every_entry(served: Served) -> None:
    async with _http(served.key) as http:
        card = await A2ACardResolver(http, served.base).get_agent_card()
        raw = (await http.get(f"{served.base}/.well-known/agent-card.json")).json()
    assert card.name == "helper"
    assert card.supported_interfaces[0].url == f"{served.base}/a2a/helper"
    assert raw["url"] == f"{served.base}/a2a/helper"  # what A2A 0.3 clients read
    assert [s.id for s in card.skills] == ["helper", "adder", "broken", "looper", "slow"]
    assert card.skills[1].description == f"Adds (A2A endpoint: {served.base}/a2a/adder)"


async def test_send_message_answers_with_a_completed_task(served: Served) -> None:
    task = await _final_task(served, "helper", "hi")
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert [get_artifact_text(a) for a in task.artifacts] == ["hello there friend"]
    assert task.artifacts[0].metadata["stop_reason"] == "final_answer"
    assert len(task.artifacts[0].metadata["agorakit_run_id"]) == 26
    assert [(m.role, get_message_text(m)) for m in task.history] == [(Role.ROLE_USER, "hi")]


async def test_a_run_is_charged_to_the_key_that_asked(served: Served) -> None:
    payer = served.keys.create("payer2")
    async with _http(payer) as http:
        events = await _events(await _client(http, f"{served.base}/a2a/helper", streaming=False), "hi")
    usage = events[0].task.artifacts[0].metadata["usage"]
    record = served.keys.get("payer2")
    assert record is not None
    assert (record.calls, record.tokens) == (1, int(usage["input_tokens"] + usage["output_tokens"]))
    assert record.tokens > 0


async def test_streaming_send_streams_the_text_then_completes(served: Served) -> None:
    async with _http(served.key) as http:
        events = await _events(await _client(http, f"{served.base}/a2a/helper", streaming=True), "hi")
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[:2] == ["task", "status_update"]
    assert events[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    assert events[1].status_update.status.state == TaskState.TASK_STATE_WORKING
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert [(get_artifact_text(c.artifact), c.append, c.last_chunk) for c in chunks] == [
        ("hello ", False, False),
        ("there ", True, False),
        ("friend", True, False),
        ("hello there friend", False, True),  # the whole answer replaces the streamed chunks
    ]
    assert kinds[-1] == "status_update"
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_tool_calls_stream_as_working_updates(served: Served) -> None:
    async with _http(served.key) as http:
        events = await _events(await _client(http, f"{served.base}/a2a/adder", streaming=True), "add 2 and 3")
    said = [get_message_text(e.status_update.status.message) for e in events if e.HasField("status_update")]
    assert said == ["", "calling add", "add returned", ""]
    started = next(
        e.status_update.status.message
        for e in events
        if e.HasField("status_update") and get_message_text(e.status_update.status.message) == "calling add"
    )
    assert started.metadata["tool"] == "add" and dict(started.metadata["arguments"]) == {"a": 2, "b": 3}
    final = [e for e in events if e.HasField("artifact_update")][-1].artifact_update
    assert get_artifact_text(final.artifact) == "the sum is 5"
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_a_run_that_raises_fails_the_task_with_its_error(served: Served) -> None:
    task = await _final_task(served, "broken", "hi")
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert get_message_text(task.status.message) == (
        "the scripted backend rejected the request\nhint: fix the scripted request"
    )
    assert task.status.message.metadata["error_type"] == "model_error"
    assert list(task.artifacts) == []


async def test_a_run_that_stops_without_an_answer_fails_with_why(served: Served) -> None:
    task = await _final_task(served, "looper", "count")
    assert task.status.state == TaskState.TASK_STATE_FAILED
    text = get_message_text(task.status.message)
    assert text.startswith("the run stopped without an answer (max_steps): ")
    assert task.status.message.metadata["stop_reason"] == "max_steps"


async def test_a_message_without_text_fails_with_a_hint(served: Served) -> None:
    task = await _final_task(served, "helper", "   ")
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert get_message_text(task.status.message) == (
        "the message has no text to answer\nhint: send a message with a text part: it is the task"
    )


async def test_cancel_stops_the_run_and_marks_the_task_canceled(served: Served) -> None:
    async with _http(served.key) as http:
        client = await _client(http, f"{served.base}/a2a/slow", streaming=True)
        stream: AsyncIterator[StreamResponse] = client.send_message(_ask("take your time"))
        first = await anext(stream)
        task_id = first.task.id
        assert await asyncio.to_thread(served.hang.started.wait, 30), "the run never reached the model"
        canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
        rest = [event async for event in stream]
        stored = await client.get_task(GetTaskRequest(id=task_id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    assert served.hang.cancelled.is_set()  # the model call was interrupted: the run really stopped
    assert rest[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
    assert get_message_text(rest[-1].status_update.status.message) == "the task was canceled; its run was stopped"
    assert stored.status.state == TaskState.TASK_STATE_CANCELED


async def test_a_run_over_the_server_deadline_fails_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path))
    hang = Hang(threading.Event(), threading.Event())
    keys = KeyStore(tmp_path / "server.db")
    key = keys.create("test")
    entry = agent_entry(Agent("slow", ScriptedModel(lambda r: Delay(3600, "late"), sleep=hang), trace=False))
    with _serving(create_app([entry], ServerSettings(run_timeout=0.2), keys=keys)) as base:
        task = await _answer(base, key, "slow", "take your time")
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert get_message_text(task.status.message) == (
        "the run took longer than the server allows"
        "\nhint: ask a shorter question, or start the server with a larger --run-timeout"
    )
    assert hang.cancelled.is_set()


async def test_a2a_0_3_clients_are_answered_on_the_same_endpoint(served: Served) -> None:
    message = {"role": "user", "parts": [{"kind": "text", "text": "hi"}], "messageId": "m-1"}
    async with _http(served.key) as http:
        response = await http.post(
            f"{served.base}/a2a/helper",
            json={"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": message}},
        )
    result = response.json()["result"]
    assert (result["kind"], result["status"]["state"]) == ("task", "completed")
    assert result["artifacts"][0]["parts"] == [{"kind": "text", "text": "hello there friend"}]


async def test_tasks_belong_to_the_key_that_made_them(served: Served) -> None:
    task = await _final_task(served, "helper", "hi")
    async with _http(served.other_key) as http:
        client = await _client(http, f"{served.base}/a2a/helper", streaming=False)
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=task.id))
    async with _http(served.key) as http:
        client = await _client(http, f"{served.base}/a2a/helper", streaming=False)
        assert (await client.get_task(GetTaskRequest(id=task.id))).status.state == TaskState.TASK_STATE_COMPLETED


async def test_without_auth_cards_declare_no_scheme_and_clients_need_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path))
    entry = agent_entry(Agent("open", ScriptedModel(lambda r: "no key needed"), trace=False))
    with _serving(create_app([entry], ServerSettings(auth=False))) as base:
        async with _http(None) as http:
            card = await A2ACardResolver(http, f"{base}/a2a/open").get_agent_card()
            events = await _events(await _client(http, f"{base}/a2a/open", streaming=False), "hi")
    assert (dict(card.security_schemes), list(card.security_requirements)) == ({}, [])
    assert [get_artifact_text(a) for a in events[0].task.artifacts] == ["no key needed"]


@pytest.mark.parametrize("key", [None, "not-a-key"])
async def test_a2a_needs_a_valid_key(served: Served, key: str | None) -> None:
    async with _http(served.key) as http:
        card = await A2ACardResolver(http, f"{served.base}/a2a/helper").get_agent_card()
    async with _http(key) as http:
        client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        with pytest.raises(A2AClientError, match="401"):
            await _events(client, "hi")
        response = await http.post(f"{served.base}/a2a/helper", json={"jsonrpc": "2.0", "id": 1, "method": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("method, path", [("POST", "/a2a/nope"), ("GET", "/a2a/nope/.well-known/agent-card.json")])
async def test_an_unknown_entry_is_a_json_404(served: Served, method: str, path: str) -> None:
    async with _http(served.key) as http:
        response = await http.request(method, served.base + path, json={} if method == "POST" else None)
    assert response.status_code == 404
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] == "no served entry is named 'nope'"
    assert error["hint"].startswith("served entries: adder, broken, helper, looper, slow")
