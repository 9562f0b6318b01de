"""A session on the embedded model that outgrows the model's context is compacted, and still answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agorakit import Agent
from agorakit.memory import SessionStore
from agorakit.trace.store import open_store

pytestmark = pytest.mark.integration

QUESTIONS = [
    "My name is Ada and I live in Lyon. I ordered a blue bicycle, order number 4411, on Monday. "
    "It has not arrived yet and the tracking page has not changed for three days. What should I do?",
    "The shop says it was handed to the carrier on Tuesday. The carrier is called Rapido. "
    "I would like to know when it will arrive, and whether I can change the delivery address to my office.",
    "My office is at 12 rue de la Paix. Also, the bicycle was a birthday present for my son, whose birthday "
    "is on Saturday, so the timing matters a lot to me. Can you summarise my options?",
    "What is my order number?",
]


def test_a_session_over_the_context_window_is_compacted_by_the_model_and_still_answers(
    model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path))
    monkeypatch.setenv("AGORAKIT_SESSIONS_DB", str(tmp_path / "sessions.db"))
    trace_db = tmp_path / "traces.db"
    # A 1024-token context: three quarters of it, less a quarter for the answer, is 512 tokens of
    # conversation, which the questions and answers outgrow by the last run.
    agent = Agent("support", "llamacpp:gemma-3-270m?n_ctx=1024", trace=trace_db)
    results = [agent.run_sync(question, session="ada") for question in QUESTIONS]

    assert all(result.stop_reason == "final_answer" and result.output for result in results)
    stored = SessionStore().load("ada")
    assert stored.summary, "the conversation was never compacted"
    assert len(stored.messages) < 2 * len(QUESTIONS)  # the older turns are in the summary only
    assert open_store(trace_db).flush(timeout=10)
    with sqlite3.connect(trace_db) as db:
        compactions = db.execute("SELECT count(*) FROM events WHERE name = 'session.compacted'").fetchone()[0]
    assert compactions >= 1
