"""Sequential pipeline and broadcast hub: call order, who saw what, shared usage."""

from __future__ import annotations

from agorakit import ScriptedModel
from agorakit.agents import Agent
from agorakit.core.messages import Message
from agorakit.kernel import RunLedger
from agorakit.methods.topology import Hub, broadcast, sequential_pipeline


def contents(model: ScriptedModel, index: int = 0) -> list[tuple[str, str | None, str | None]]:
    return [(m.role, m.name, m.content) for m in model.requests[index].messages]


async def test_pipeline_passes_each_output_to_the_next_agent_in_order() -> None:
    models = {name: ScriptedModel([f"{name} out"]) for name in ("a", "b", "c")}
    agents = [Agent(name, models[name], instructions=f"you are {name}") for name in ("a", "b", "c")]
    run = RunLedger.create()
    result = await sequential_pipeline(agents, "task", context=run)
    assert result.output == "c out"
    assert contents(models["a"]) == [("system", None, "you are a"), ("user", "user", "task")]
    assert contents(models["b"])[1:] == [("user", None, "a out")]
    assert contents(models["c"])[1:] == [("user", None, "b out")]
    assert [(m.name, m.content) for m in result.messages] == [
        ("user", "task"),
        ("a", "a out"),
        ("b", "b out"),
        ("c", "c out"),
    ]
    # One run: every agent's calls are accounted to it.
    assert result.run_id == run.run_id
    assert run.usage.calls == 3
    assert {name: usage.calls for name, usage in run.usage_by_agent.items()} == {"a": 1, "b": 1, "c": 1}


async def test_pipeline_stops_at_an_agent_without_an_answer() -> None:
    from agorakit.models.scripted import call

    stuck = Agent("stuck", ScriptedModel([call("calculator", expression="1+1")]), tools=[], max_steps=1)
    never = ScriptedModel([])
    result = await sequential_pipeline([stuck, Agent("never", never)], "task", context=RunLedger.create())
    # No tools offered -> the scripted tool call is still "a tool call": the agent never answers.
    assert result.output is None and result.stop_reason == "max_steps"
    assert not never.requests


async def test_hub_every_participant_sees_every_earlier_message() -> None:
    models = {name: ScriptedModel([f"{name} r1", f"{name} r2"]) for name in ("a", "b", "c")}
    agents = [Agent(name, models[name]) for name in ("a", "b", "c")]
    result = await broadcast(agents, "topic", rounds=2, context=RunLedger.create())
    # Round 1: c sees the task, a's and b's replies, as named user messages.
    assert contents(models["c"], 0)[1:] == [("user", "user", "topic"), ("user", "a", "a r1"), ("user", "b", "b r1")]
    # Round 2: a sees its own reply as the assistant's, everyone else's as theirs.
    assert contents(models["a"], 1)[1:] == [
        ("user", "user", "topic"),
        ("assistant", "a", "a r1"),
        ("user", "b", "b r1"),
        ("user", "c", "c r1"),
    ]
    assert result.output == "c r2" and result.steps == 6
    assert [m.name for m in result.messages] == ["user", "a", "b", "c", "a", "b", "c"]


async def test_parallel_hub_round_sees_only_the_previous_rounds() -> None:
    models = {name: ScriptedModel([f"{name} r1", f"{name} r2"]) for name in ("a", "b")}
    hub = Hub([Agent(n, models[n]) for n in ("a", "b")], rounds=2, parallel=True)
    result = await hub.run("topic", context=RunLedger.create())
    assert contents(models["b"], 0)[1:] == [("user", "user", "topic")]  # not a's round-1 reply
    assert contents(models["b"], 1)[1:] == [
        ("user", "user", "topic"),
        ("user", "a", "a r1"),
        ("assistant", "b", "b r1"),
    ]
    assert [(m.name, m.content) for m in result.messages][-2:] == [("a", "a r2"), ("b", "b r2")]


async def test_history_comes_before_the_task() -> None:
    model = ScriptedModel(["x"])
    history = [Message("user", "earlier", name="user")]
    await Hub([Agent("b", model)]).run("now", history=history, context=RunLedger.create())
    assert contents(model)[1:] == [("user", "user", "earlier"), ("user", "user", "now")]
