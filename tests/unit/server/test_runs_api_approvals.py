"""Approvals over the runs API: a durable run its policy sends to a human pauses, lists the call it
waits on, and goes on (same run, events numbered on) once the call is approved or denied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from runs_helpers import Serve, read_events, usage

from agorakit import Agent, tool
from agorakit.core.messages import Message, ToolCall
from agorakit.core.usage import Usage
from agorakit.kernel.journal import pending_approvals
from agorakit.models.base import Completion, ModelRequest
from agorakit.models.scripted import ScriptedModel
from agorakit.policy import Policy
from agorakit.server import agent_entry

POLICY = """
version: 1
fallback: ask
tools:
  send_money:
    - effect: allow
      when:
        amount: {maximum: 100}
"""

CALL = {"id": "pay-1", "name": "send_money", "arguments": {"recipient": "ACME", "amount": 500}}
WAITING = {"call": CALL, "tool": "send_money", "arguments": {"recipient": "ACME", "amount": 500},
           "reason": "no rule of the policy allows this call"}  # fmt: skip
#: The events of the run until it pauses.
PAUSED = [
    (1, "text_delta", {"type": "text_delta", "agent": "bank", "text": "Paying "}),
    (2, "text_delta", {"type": "text_delta", "agent": "bank", "text": "ACME "}),
    (3, "text_delta", {"type": "text_delta", "agent": "bank", "text": "now."}),
    (4, "usage", {"type": "usage", "agent": "bank", "call": usage(1, 26, 5), "total": usage(1, 26, 5)}),
    (5, "tool_call_started", {"type": "tool_call_started", "agent": "bank", "call": CALL}),
    (6, "policy_decision", {"type": "policy_decision", "tool": "send_money", "allowed": False,
                            "reason": "no rule of the policy allows this call"}),
    (7, "awaiting_approval", {"type": "awaiting_approval", "approvals": [WAITING]}),
]  # fmt: skip


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.db"
    monkeypatch.setenv("AGORAKIT_JOURNAL_DB", str(path))
    return path


def bank(sent: list[tuple[str, int]]) -> Agent[Any, Any]:
    """Pays ACME 500 (over the policy's limit, so the policy asks), then reports the payment."""

    @tool(idempotent="key")
    def send_money(recipient: str, amount: int) -> str:
        """Send money."""
        sent.append((recipient, amount))
        return f"sent {amount} to {recipient}"

    def respond(request: ModelRequest) -> Any:
        results = [m.content for m in request.messages if m.role == "tool"]
        if not results:  # says what it does (streamed word by word, replayed whole on resume), and does it
            call = ToolCall("pay-1", "send_money", {"recipient": "ACME", "amount": 500})
            return Completion(Message("assistant", "Paying ACME now.", [call]), Usage(1, 26, 5), "tool_calls")
        return f"Done: {results[-1]}"

    return Agent("bank", ScriptedModel(respond), tools=[send_money], policy=Policy.load(POLICY), trace=False)


def paused_run(server: Any) -> str:
    response = httpx.post(f"{server.url}/runs", json={"entry": "bank", "input": "Pay ACME 500."},
                          headers=server.headers)  # fmt: skip
    run_id: str = response.json()["run_id"]
    run = httpx.get(f"{server.url}/runs/{run_id}/wait", headers=server.headers, timeout=30).json()
    assert run["status"] == "awaiting_approval" and run["stop_reason"] == "awaiting_approval"
    return run_id


def decide(server: Any, run_id: str, call_id: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/runs/{run_id}/approvals/{call_id}", json=body, headers=server.headers)


def test_an_approved_call_runs_and_the_run_goes_on_under_the_same_id(serve: Serve, journal: Path) -> None:
    sent: list[tuple[str, int]] = []
    server = serve([agent_entry(bank(sent))])
    run_id = paused_run(server)
    assert sent == []
    events_url = f"{server.url}/runs/{run_id}/events"
    assert read_events(events_url, server.headers) == PAUSED  # the stream ends with the pause
    approvals = httpx.get(f"{server.url}/runs/{run_id}/approvals", headers=server.headers).json()
    assert approvals == {"run_id": run_id, "status": "awaiting_approval", "approvals": [WAITING]}

    decided = decide(server, run_id, "pay-1", decision="approve", reason="finance said yes")
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "queued" and decided.json()["approvals"] == []
    done = httpx.get(f"{server.url}/runs/{run_id}/wait", headers=server.headers, timeout=30).json()
    assert done["status"] == "succeeded" and done["answer"] == "Done: sent 500 to ACME"
    assert done["usage"] == usage(2, 59, 10)
    assert sent == [("ACME", 500)]
    assert pending_approvals(run_id) == []

    # The replayed steps (the first reply, replayed whole, the call's start, the policy's verdict)
    # are not sent again.
    rest = read_events(events_url, {**server.headers, "Last-Event-ID": "7"})
    assert [(i, kind) for i, kind, _ in rest] == [
        (8, "approval_decided"), (9, "run_resumed"), (10, "tool_call_finished"), (11, "text_delta"),
        (12, "text_delta"), (13, "text_delta"), (14, "text_delta"), (15, "text_delta"), (16, "usage"),
        (17, "run_finished"),
    ]  # fmt: skip
    assert rest[0][2] == {"type": "approval_decided", "call": CALL, "approved": True,
                          "by": "runs API (key tester)", "reason": "finance said yes"}  # fmt: skip
    assert rest[2][2]["content"] == "sent 500 to ACME" and rest[2][2]["ok"] is True
    assert "".join(data["text"] for _, kind, data in rest if kind == "text_delta") == "Done: sent 500 to ACME"
    assert rest[-2][2]["total"] == usage(2, 59, 10)
    key = server.keys.get("tester")
    assert (key.calls, key.tokens) == (2, 69)  # the pause and the end each charged what was new


def test_a_denied_call_does_not_run_and_the_run_fails_with_the_denial(serve: Serve, journal: Path) -> None:
    sent: list[tuple[str, int]] = []
    server = serve([agent_entry(bank(sent))])
    run_id = paused_run(server)
    assert decide(server, run_id, "pay-1", decision="deny").status_code == 200
    ended = httpx.get(f"{server.url}/runs/{run_id}/wait", headers=server.headers, timeout=30).json()
    assert ended["status"] == "failed" and ended["stop_reason"] == "policy_stopped" and sent == []
    assert ended["error"]["type"] == "run_stopped" and ended["error"]["code"] == "policy_stopped"
    assert "denied by the approver" in ended["error"]["message"]
    rest = read_events(f"{server.url}/runs/{run_id}/events", server.headers, after=7)
    assert [(i, kind) for i, kind, _ in rest] == [(8, "approval_decided"), (9, "run_resumed"), (10, "run_failed")]
    assert rest[0][2]["approved"] is False and rest[0][2]["reason"] is None


def test_deciding_needs_a_paused_run_and_a_waiting_call(serve: Serve, journal: Path) -> None:
    sent: list[tuple[str, int]] = []
    server = serve([agent_entry(bank(sent))])
    run_id = paused_run(server)
    unknown = decide(server, run_id, "pay-2", decision="approve")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == f"run {run_id} has no call 'pay-2' waiting for approval"
    assert unknown.json()["error"]["hint"] == "the calls waiting: pay-1"
    assert decide(server, run_id, "pay-1", decision="maybe").status_code == 400
    assert decide(server, run_id, "pay-1", decision="approve").status_code == 200
    httpx.get(f"{server.url}/runs/{run_id}/wait", headers=server.headers, timeout=30)
    again = decide(server, run_id, "pay-1", decision="approve")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == f"run {run_id} is not waiting for approval (succeeded)"
    listed = httpx.get(f"{server.url}/runs/{run_id}/approvals", headers=server.headers).json()
    assert listed["approvals"] == [] and sent == [("ACME", 500)]


def test_a_paused_run_can_be_cancelled(serve: Serve, journal: Path) -> None:
    server = serve([agent_entry(bank([]))])
    run_id = paused_run(server)
    cancelled = httpx.post(f"{server.url}/runs/{run_id}/cancel", headers=server.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    events = read_events(f"{server.url}/runs/{run_id}/events", server.headers, after=7)
    assert events == [(8, "run_cancelled", {"type": "run_cancelled"})]
    assert decide(server, run_id, "pay-1", decision="approve").status_code == 409
    assert server.keys.get("tester").calls == 1  # the pause was charged; the cancel used nothing
