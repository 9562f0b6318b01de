"""Sessions: a conversation kept across runs and processes, compacted when it outgrows the budget."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agorakit import Agent
from agorakit.memory import Session, SessionStore
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptedModel
from agorakit.trace.tracer import MemorySink

CHILD = r"""
import sys
from agorakit import Agent
from agorakit.models.scripted import ScriptedModel

def respond(request):
    users = [m.content for m in request.messages if m.role == "user"]
    return f"I have seen {len(users)} question(s): " + " | ".join(users)

print(Agent("helper", ScriptedModel(respond), trace=False).run_sync(sys.argv[1], session="support-42").output)
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_SESSIONS_DB", str(tmp_path / "sessions.db"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGORAKIT_", "OPENAI_"))}
    return {**clean, "AGORAKIT_HOME": str(tmp_path / "home"), "AGORAKIT_SESSIONS_DB": str(tmp_path / "sessions.db")}


def test_three_runs_in_three_processes_share_one_conversation(env: dict[str, str], tmp_path: Path) -> None:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    outputs = [
        subprocess.run(
            [sys.executable, str(child), question], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for question in ("My order 1234 is late.", "It was shipped to Lyon.", "What is my order number?")
    ]
    assert outputs[0] == "I have seen 1 question(s): My order 1234 is late."
    assert outputs[2] == (
        "I have seen 3 question(s): My order 1234 is late. | It was shipped to Lyon. | What is my order number?"
    )
    kept = SessionStore().load("support-42").messages
    assert [m.role for m in kept] == ["user", "assistant"] * 3

    listed = subprocess.run([sys.executable, "-m", "agorakit.cli.main", "session", "list"], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert listed.stdout.startswith("support-42  6 message(s), 0 summarised")
    shown = subprocess.run([sys.executable, "-m", "agorakit.cli.main", "session", "show", "support-42"], env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert shown.stdout.splitlines()[0] == "user: My order 1234 is late."
    deleted = subprocess.run([sys.executable, "-m", "agorakit.cli.main", "session", "delete", "support-42"], env=env,
                             capture_output=True, text=True)  # fmt: skip
    assert deleted.returncode == 0 and SessionStore().list() == []


def summarising(request: ModelRequest) -> str:
    last = request.messages[-1].content or ""
    if last.startswith("Below is the start of a conversation"):
        return "The user's order 1234 was shipped to Lyon."
    users = [m.content for m in request.messages if m.role == "user"]
    return f"Noted ({len(users)} question(s) shown). " + "padding " * 40


async def test_a_conversation_over_the_budget_is_compacted_into_a_summary_and_still_answers(
    env: dict[str, str],
) -> None:
    session = Session("long", max_tokens=300, keep=2)
    model = ScriptedModel(summarising)
    sink = MemorySink()
    agent = Agent("helper", model, trace=sink)
    for question in ("My order is 1234.", "It went to Lyon.", "Is it late?", "Where did it go?"):
        result = await agent.run(question, session=session)
    assert result.stop_reason == "final_answer"

    summaries = [r for r in model.requests if (r.messages[-1].content or "").startswith("Below is the start")]
    assert summaries, "the conversation was never compacted"
    last = model.requests[-1]
    system = last.messages[0].content or ""
    assert "Summary of the earlier conversation in this session:\nThe user's order 1234 was shipped to Lyon." in system
    # The kept window (the previous question and its answer), then the task: older turns only as the summary.
    assert [m.role for m in last.messages] == ["system", "user", "assistant", "user"]
    assert last.messages[1].content == "Is it late?" and last.messages[-1].content == "Where did it go?"
    stored = SessionStore().load("long")
    assert stored.summary == "The user's order 1234 was shipped to Lyon." and len(stored.messages) == 4
    events = [r for r in sink.records if r[0] == "event" and r[4] == "session.compacted"]
    assert events and events[-1][5]["agorakit.session.summary"] == "The user's order 1234 was shipped to Lyon."
    assert events[-1][5]["agorakit.session.kept"][0]["content"] == "Is it late?"


async def test_a_durable_run_in_a_session_resumes_with_the_conversation_it_was_shown(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from agorakit.core import errors

    monkeypatch.setenv("AGORAKIT_JOURNAL_DB", str(tmp_path / "journal.db"))
    await Agent("helper", ScriptedModel(["First answer."]), trace=False).run("First question?", session="s")

    def failing(request: ModelRequest) -> str:
        raise errors.ModelRequestError("gone")

    with pytest.raises(errors.ModelRequestError):
        await Agent("helper", ScriptedModel(failing), trace=False).run(
            "Second question?", session="s", durability="sync", run_id="in-session"
        )
    # Another run adds to the session meanwhile; the resumed run is still shown what it was shown.
    await Agent("helper", ScriptedModel(["Other answer."]), trace=False).run("Other question?", session="s")
    model = ScriptedModel(["Second answer."])
    resumed = await Agent("helper", model, trace=False).resume("in-session")
    assert resumed.output == "Second answer."
    assert [m.content for m in model.requests[0].messages[1:]] == [
        "First question?",
        "First answer.",
        "Second question?",
    ]
    stored = [m.content for m in SessionStore().load("s").messages]
    assert stored == ["First question?", "First answer.", "Other question?", "Other answer.", "Second question?",
                      "Second answer."]  # fmt: skip
