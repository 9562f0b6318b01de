"""CodeAct on the real embedded model: a tool called from sandboxed code,
under a policy, with the decision visible in `agora trace show`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agorakit import Agent, CodeAct, tool
from agorakit.cli.main import app
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.policy import Policy
from agorakit.trace.reader import load_run
from agorakit.trace.store import open_store

pytestmark = pytest.mark.integration


@tool
def secret_number() -> int:
    """Return the secret number."""
    return 7316


POLICY = """
version: 1
tools:
  secret_number:
    - effect: allow
      reason: reading the secret is this task's purpose
"""


async def test_codeact_calls_a_tool_from_code_under_a_policy(gemma: LlamaCppModel, tmp_path: Path) -> None:
    db = tmp_path / "trace.db"
    agent = Agent(
        "coder",
        gemma,
        instructions="You are a careful programmer.",
        tools=[secret_number],
        strategy=CodeAct(),
        policy=Policy.load(POLICY, known_tools=["secret_number"]),
        max_steps=4,
        trace=db,
    )
    result = await agent.run("What is the secret number?")
    assert result.stop_reason == "final_answer"
    assert result.output == "7316"  # only the tool knows it
    first_action = result.messages[2].content or ""
    assert "secret_number()" in first_action
    assert result.messages[3].content == "The code printed: 7316"

    assert open_store(db).flush(timeout=10)
    trace = load_run(db, result.run_id)
    decisions = [e for e in trace.events if e.name == "policy.decision"]
    assert decisions and all(e.attributes["agorakit.policy.allowed"] is True for e in decisions)
    assert decisions[0].attributes["gen_ai.tool.name"] == "secret_number"
    code_spans = [s for s in trace.spans if s.name.startswith("execute_code")]
    tool_spans = [s for s in trace.spans if s.name == "execute_tool secret_number"]
    assert tool_spans and all(s.parent_id in {c.span_id for c in code_spans} for s in tool_spans)

    shown = CliRunner().invoke(app, ["trace", "show", result.run_id, "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "execute_code" in shown.output
    assert "execute_tool secret_number" in shown.output
    assert "policy" in shown.output and "allow" in shown.output
