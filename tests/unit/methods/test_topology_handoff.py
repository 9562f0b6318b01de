"""Handoffs: transfer tools switch the active agent; shared history; bounded transfers."""

from __future__ import annotations

import pytest

from agorakit import ScriptedModel
from agorakit.agents import Agent
from agorakit.core.errors import ConfigError
from agorakit.kernel import RunLedger
from agorakit.methods.topology import HandoffTeam
from agorakit.models.scripted import call
from agorakit.tools import tool


@tool
def lookup(order: str) -> str:
    """Look an order up."""
    return f"order {order}: refunded"


async def test_handoff_switches_the_active_agent_and_it_sees_the_shared_history() -> None:
    triage_model = ScriptedModel([call("transfer_to_refunds")])
    refunds_model = ScriptedModel([call("lookup", order="7"), "Your order 7 was refunded."])
    triage = Agent("triage", triage_model, instructions="triage", handoffs=["refunds"])
    refunds = Agent("refunds", refunds_model, instructions="refunds desk", tools=[lookup], handoffs=["triage"])
    run = RunLedger.create()
    result = await HandoffTeam([triage, refunds]).run("refund order 7", context=run)
    assert result.output == "Your order 7 was refunded." and result.stop_reason == "final_answer"
    assert result.handoffs == [("triage", "refunds")] and result.active == "refunds"
    assert len(triage_model.requests) == 1 and len(refunds_model.requests) == 2
    # The new agent: its own instructions, then the whole history including the transfer.
    first = refunds_model.requests[0]
    assert first.messages[0].content == "refunds desk"
    assert [(m.role, m.name) for m in first.messages[1:]] == [
        ("user", "user"),
        ("assistant", "triage"),
        ("tool", "transfer_to_refunds"),
    ]
    assert first.messages[-1].content == "Transferred to refunds."
    assert [spec.name for spec in first.tools] == ["lookup", "transfer_to_triage"]
    assert run.usage_by_agent["triage"].calls == 1 and run.usage_by_agent["refunds"].calls == 2


async def test_handoffs_are_bounded_then_no_longer_offered() -> None:
    a_model = ScriptedModel([call("transfer_to_b"), call("transfer_to_b")])
    b_model = ScriptedModel([call("transfer_to_a"), "b answers"])
    a = Agent("a", a_model, handoffs=["b"])
    b = Agent("b", b_model, handoffs=["a"])
    result = await HandoffTeam([a, b], max_handoffs=3).run("x", context=RunLedger.create())
    assert result.handoffs == [("a", "b"), ("b", "a"), ("a", "b")]
    assert result.output == "b answers"
    assert [s.name for s in b_model.requests[0].tools] == ["transfer_to_a"]
    assert b_model.requests[1].tools == [] and b_model.requests[1].tool_choice == "none"


async def test_last_handoff_in_a_reply_wins_and_max_turns_bounds_calls() -> None:
    a = Agent("a", ScriptedModel([[call("transfer_to_b"), call("transfer_to_c")]]), handoffs=["b", "c"])
    b = Agent("b", ScriptedModel([]))
    c_model = ScriptedModel([call("transfer_to_a")] * 5)
    c = Agent("c", c_model, handoffs=["a"])
    result = await HandoffTeam([a, b, c], max_turns=2).run("x", context=RunLedger.create())
    assert result.handoffs == [("a", "c"), ("c", "a")]
    assert result.output is None and result.stop_reason == "max_steps" and result.steps == 2


def test_handoff_to_an_agent_outside_the_team_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="hands off to ghost"):
        HandoffTeam([Agent("a", ScriptedModel([]), handoffs=["ghost"])])
