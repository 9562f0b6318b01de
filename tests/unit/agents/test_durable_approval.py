"""Approval across processes: a durable run pauses on an ``ask`` call, `agora approve` in another
process decides, and the resumed run follows the decision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agorakit import Agent, tool
from agorakit.core import errors
from agorakit.core.messages import ToolCall
from agorakit.kernel.journal import decide, pending_approvals
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptedModel
from agorakit.policy import Policy
from agorakit.trace.tracer import MemorySink

POLICY = """
version: 1
fallback: ask
tools:
  send_money:
    - effect: allow
      when:
        amount: {maximum: 100}
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_JOURNAL_DB", str(tmp_path / "journal.db"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGORAKIT_", "OPENAI_"))}
    return {**clean, "AGORAKIT_HOME": str(tmp_path / "home"), "AGORAKIT_JOURNAL_DB": str(tmp_path / "journal.db")}


def respond(request: ModelRequest) -> Any:
    results = [m.content for m in request.messages if m.role == "tool"]
    if not results:
        return ToolCall("pay-1", "send_money", {"recipient": "ACME", "amount": 500})
    return f"Done: {results[-1]}"


def bank(sent: list[tuple[str, int]]) -> Agent[None, str]:
    @tool(idempotent="key")
    def send_money(recipient: str, amount: int) -> str:
        """Send money."""
        sent.append((recipient, amount))
        return f"sent {amount} to {recipient}"

    return Agent("bank", ScriptedModel(respond), tools=[send_money], policy=Policy.load(POLICY), trace=False)


def agora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


async def test_a_call_the_policy_asks_about_pauses_the_run_and_approval_from_another_process_resumes_it(
    env: dict[str, str],
) -> None:
    sent: list[tuple[str, int]] = []
    paused = await bank(sent).run("Pay ACME 500.", durability="sync", run_id="pay")
    assert paused.stop_reason == "awaiting_approval"
    assert isinstance(paused.error, errors.AwaitingApproval) and paused.error.call_id == "pay-1"
    assert sent == []
    [waiting] = pending_approvals("pay")
    assert waiting["tool"] == "send_money" and waiting["arguments"] == {"recipient": "ACME", "amount": 500}
    assert waiting["reason"] == "no rule of the policy allows this call"

    approved = agora(env, "approve", "pay", "--yes", "--no-resume")
    assert approved.returncode == 0, approved.stderr
    out = approved.stdout
    assert "run pay waits to call send_money (id pay-1)" in out
    assert 'arguments: {"recipient": "ACME", "amount": 500}' in out
    assert "approved: send_money (recorded by agora approve (" in out

    sink = MemorySink()
    done = await bank(sent).clone(trace=sink).resume("pay")
    assert done.stop_reason == "final_answer" and done.output == "Done: sent 500 to ACME"
    assert sent == [("ACME", 500)]
    events = [r for r in sink.records if r[0] == "event" and r[4] == "policy.approval"]
    assert [e[5]["agorakit.policy.approved"] for e in events] == [True]
    assert pending_approvals("pay") == []


async def test_a_denial_ends_the_run_with_the_denial_in_its_trace(env: dict[str, str]) -> None:
    sent: list[tuple[str, int]] = []
    await bank(sent).run("Pay ACME 500.", durability="sync", run_id="no")
    denied = agora(env, "approve", "no", "--deny", "--no-resume")
    assert denied.returncode == 0, denied.stderr
    assert "denied: send_money" in denied.stdout

    sink = MemorySink()
    ended = await bank(sent).clone(trace=sink).resume("no")
    assert ended.stop_reason == "policy_stopped" and sent == []
    assert ended.error is not None and "denied by the approver" in ended.error.message
    events = [r for r in sink.records if r[0] == "event" and r[4] == "policy.approval"]
    assert [e[5]["agorakit.policy.approved"] for e in events] == [False]


async def test_deciding_needs_a_waiting_call(env: dict[str, str]) -> None:
    sent: list[tuple[str, int]] = []
    await bank(sent).run("Pay ACME 500.", durability="sync", run_id="twice")
    decide("twice", approved=True)
    with pytest.raises(errors.ResumeError, match="no tool calls waiting"):
        decide("twice", approved=False)
    with pytest.raises(errors.ResumeError, match="no tool call other-id waiting"):
        decide("twice", approved=True, call_id="other-id")
    nothing = agora(env, "approve", "twice", "--yes")
    assert nothing.returncode == 1 and "has no tool call waiting for approval" in nothing.stdout
    no_terminal = agora(env, "approve", "missing-run")
    assert no_terminal.returncode == 1 and "has no journal" in no_terminal.stdout


async def test_a_side_effecting_agent_is_journaled_by_default_and_pauses_rather_than_refusing(
    env: dict[str, str],
) -> None:
    sent: list[tuple[str, int]] = []
    result = await bank(sent).run("Pay ACME 500.")
    assert result.stop_reason == "awaiting_approval" and sent == []
    assert [item["tool"] for item in pending_approvals(result.run_id)] == ["send_money"]


async def test_without_a_journal_an_ask_with_no_approver_is_refused_as_before(env: dict[str, str]) -> None:
    sent: list[tuple[str, int]] = []
    result = await bank(sent).run("Pay ACME 500.", durability="off")
    assert result.stop_reason == "final_answer" and sent == []
    assert "no approver is configured" in (result.output or "")
