"""A run stopped by cancellation (Ctrl-C in the CLI) is recorded as cancelled, not unfinished or failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agorakit.agents import Agent
from agorakit.models import Delay, ScriptedModel
from agorakit.trace.reader import list_runs, load_run
from agorakit.trace.store import TraceStore


async def test_a_cancelled_agent_run_is_cancelled_in_the_trace(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    store = TraceStore(db)
    agent = Agent("assistant", ScriptedModel([Delay(60, "too late")]), trace=store)
    task = asyncio.create_task(agent.run("What is 17 * 23?"))
    await asyncio.sleep(0.2)  # the model call is waiting out its 60 s delay
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.close()
    (run,) = list_runs(db)
    assert (run.status, run.stop_reason, run.finished) == ("cancelled", "cancelled", True)
    spans = load_run(db, run.run_id).spans
    assert sorted((span.name, span.status) for span in spans) == [
        ("agent_turn 1", "cancelled"),
        ("chat scripted", "cancelled"),
        ("invoke_agent assistant", "cancelled"),
    ]
    assert all("error.type" not in span.attributes for span in spans)
