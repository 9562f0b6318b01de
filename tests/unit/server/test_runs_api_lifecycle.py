"""The run registry's edges: a server that stops interrupts the runs still going; a run keeps its
latest events only; stream events become JSON."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
import uvicorn
from runs_helpers import lookup_agent

from agorakit import Agent
from agorakit.core.messages import ToolCall
from agorakit.core.stream import HandoffEvent, PolicyDecision, TextDelta, ToolCallFinished, ToolCallStarted
from agorakit.models.scripted import Delay, ScriptedModel
from agorakit.server import ServerSettings, agent_entry, create_app
from agorakit.server.runs import MAX_EVENTS, RunRecord
from agorakit.server.runs_events import event_json


async def test_stopping_the_server_interrupts_the_runs_still_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    reached, never = asyncio.Event(), asyncio.Event()

    async def held(_seconds: float) -> None:
        reached.set()
        await never.wait()

    slow = Agent("slow", ScriptedModel([Delay(0, "too late")], sleep=held), trace=False)
    app = create_app([agent_entry(slow), agent_entry(lookup_agent())], ServerSettings(auth=False))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    async with asyncio.timeout(20):
        while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, not an event
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=url) as client:
            finished = (await client.post("/runs", json={"entry": "looker", "input": "What is it?"})).json()["run_id"]
            assert (await client.get(f"/runs/{finished}/wait")).json()["status"] == "succeeded"
            going = (await client.post("/runs", json={"entry": "slow", "input": "Take your time."})).json()["run_id"]
            await reached.wait()
        server.should_exit = True
        await serving
    runs = app.state.agora.runs
    assert runs.get(going).status == "interrupted"
    assert [event.data for event in runs.get(going).events] == [{"type": "run_interrupted"}]
    assert runs.get(finished).status == "succeeded"


def test_a_run_keeps_its_latest_events_and_says_how_many_it_dropped() -> None:
    record = RunRecord("r", agent_entry(lookup_agent()), None)
    for n in range(MAX_EVENTS + 5):
        record.add({"type": "text_delta", "agent": "a", "text": str(n)})
    assert (record.last_event_id, record.dropped, len(record.events)) == (MAX_EVENTS + 5, 5, MAX_EVENTS)
    assert record.to_json()["events"] == {"last_id": MAX_EVENTS + 5, "dropped": 5}
    assert [e.id for e in record.events_after(0)[:2]] == [6, 7]
    assert [(e.id, e.data["text"]) for e in record.events_after(MAX_EVENTS + 3)] == [
        (MAX_EVENTS + 4, str(MAX_EVENTS + 3)),
        (MAX_EVENTS + 5, str(MAX_EVENTS + 4)),
    ]
    assert record.events_after(MAX_EVENTS + 5) == []


def test_stream_events_become_json_with_their_type() -> None:
    call = ToolCall("c1", "search", {"q": "x"})
    assert event_json(TextDelta("a", "hi")) == {"type": "text_delta", "agent": "a", "text": "hi"}
    assert event_json(ToolCallStarted(None, call)) == {
        "type": "tool_call_started", "agent": None, "call": {"id": "c1", "name": "search", "arguments": {"q": "x"}}
    }  # fmt: skip
    assert event_json(ToolCallFinished("a", call, "Error: no", False))["ok"] is False
    assert event_json(PolicyDecision("search", True, "rule 1")) == {
        "type": "policy_decision", "tool": "search", "allowed": True, "reason": "rule 1"
    }  # fmt: skip
    assert event_json(HandoffEvent("triage", "billing")) == {"type": "handoff", "source": "triage", "target": "billing"}
