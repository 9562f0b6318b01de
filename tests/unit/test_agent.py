"""The ReAct agent loop on the scripted model."""

from __future__ import annotations

import pytest

from agorakit import Agent, ReAct, ScriptedModel, call, tool
from agorakit.core import errors
from agorakit.core.messages import Message
from agorakit.kernel import Budget, Kernel, RetryPolicy
from agorakit.tools import calculator
from agorakit.trace import MemorySink


def make_agent(model: ScriptedModel, **kwargs: object) -> tuple[Agent, MemorySink]:
    sink = MemorySink()
    kwargs.setdefault("tools", [calculator])
    if "tool_first" in kwargs:
        kwargs["strategy"] = ReAct(tool_first=bool(kwargs.pop("tool_first")))
    agent = Agent("solver", model, instructions="Solve it.", trace=sink, **kwargs)  # type: ignore[arg-type]
    return agent, sink


async def test_tool_call_then_final_answer() -> None:
    model = ScriptedModel([call("calculator", expression="17 * 23"), "17 * 23 = 391"])
    agent, _ = make_agent(model)
    result = await agent.run("What is 17 * 23?")
    assert result.output == "17 * 23 = 391"
    assert result.stop_reason == "final_answer"
    assert result.steps == 2
    assert result.usage.calls == 2
    # The second request shows the model the tool's result, linked to its call.
    shown = model.requests[1].messages
    assert [m.role for m in shown] == ["system", "user", "assistant", "tool"]
    assert shown[3].content == "391"
    assert shown[3].tool_call_id == shown[2].tool_calls[0].id
    assert model.requests[0].tools[0].name == "calculator"
    assert [m.role for m in result.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert result.messages[-1].name == "solver"


async def test_max_steps_stops_with_a_reason() -> None:
    model = ScriptedModel(lambda r: call("calculator", expression=f"{len(r.messages)} + 1"))
    agent, _ = make_agent(model, max_steps=3)
    result = await agent.run("loop forever")
    assert result.stop_reason == "max_steps"
    assert result.output is None
    assert result.steps == 3
    assert len(model.requests) == 3
    assert "used all its steps" in result.explanation


async def test_loop_guard_stops_a_repeated_identical_call() -> None:
    runs: list[str] = []

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        runs.append(key)
        return "nothing"

    model = ScriptedModel(lambda r: call("lookup", key="same"))
    agent, sink = make_agent(model, tools=[lookup], loop_limit=3, max_steps=10)
    result = await agent.run("find it")
    assert result.stop_reason == "loop_detected"
    assert result.steps == 3
    assert runs == ["same", "same"]  # the third identical call is not run
    # After the first repeat the model was told to answer; this one ignored it.
    assert [r.tool_choice for r in model.requests] == ["auto", "auto", "none"]
    assert any(r[0] == "event" and r[4] == "loop_detected" for r in sink.records)


async def test_tool_failures_become_observations_the_model_reads() -> None:
    @tool
    def explode(n: int) -> str:
        """Always fails."""
        raise ValueError(f"cannot handle {n}")

    model = ScriptedModel(
        [
            call("explode", n=3),
            call("no_such_tool", x=1),
            call("explode", n="not a number"),
            "gave up",
        ]
    )
    agent, _ = make_agent(model, tools=[explode])
    result = await agent.run("try")
    assert result.output == "gave up"
    observations = [m.content or "" for m in result.messages if m.role == "tool"]
    assert "cannot handle 3" in observations[0]
    assert "unknown tool 'no_such_tool'" in observations[1]
    assert "n" in observations[2] and "Error" in observations[2]


async def test_budget_ends_the_run_cleanly_and_is_traced() -> None:
    model = ScriptedModel([call("calculator", expression="1+1"), "2"])
    agent, sink = make_agent(model, budget=Budget(max_calls=1))
    result = await agent.run("1+1?")
    assert result.stop_reason == "budget_exceeded"
    assert isinstance(result.error, errors.BudgetExceeded)
    assert result.usage.calls == 1
    assert result.steps == 1  # the step the budget refused is not counted
    assert any(r[0] == "event" and r[4] == "budget_exceeded" for r in sink.records)
    root_end = [r for r in sink.records if r[0] == "span_end"][-1]
    assert root_end[4] == "error"
    assert root_end[5]["error.type"] == "BudgetExceeded"


async def test_trace_holds_the_run_tree_with_usage_matching_the_result() -> None:
    model = ScriptedModel([call("calculator", expression="2 ** 10"), "1024"])
    agent, sink = make_agent(model)
    result = await agent.run("2^10?")
    starts = {r[2]: r for r in sink.records if r[0] == "span_start"}
    ends = {r[2]: r for r in sink.records if r[0] == "span_end"}
    names = sorted(r[4] for r in starts.values())
    expected = ["invoke_agent solver", "agent_turn 1", "agent_turn 2", "chat scripted", "chat scripted"]
    assert names == sorted([*expected, "execute_tool calculator"])
    root = next(r for r in starts.values() if r[3] is None)
    assert {r[1] for r in sink.records} == {result.run_id}
    root_attrs = ends[root[2]][5]
    assert root_attrs["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert root_attrs["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    assert root_attrs["agorakit.stop_reason"] == "final_answer"
    assert root_attrs["agorakit.output"] == "1024"
    chat_tokens = sum(ends[s][5]["gen_ai.usage.input_tokens"] for s, r in starts.items() if r[4].startswith("chat"))
    assert chat_tokens == result.usage.input_tokens
    tool_span = next(s for s, r in starts.items() if r[4] == "execute_tool calculator")
    assert ends[tool_span][5]["gen_ai.tool.call.result"] == "1024"
    messages = [r[4] for r in sink.records if r[0] == "event" and r[4].startswith("gen_ai.")]
    assert messages == [
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.assistant.message",
    ]


async def test_a_model_failure_raises_and_the_trace_keeps_every_event() -> None:
    model = ScriptedModel([call("calculator", expression="1+1"), errors.ModelRequestError("rejected")])
    agent, sink = make_agent(model, kernel=Kernel(retry=RetryPolicy(max_attempts=1)))
    with pytest.raises(errors.ModelRequestError, match="rejected") as caught:
        await agent.run("1+1?")
    assert caught.value.run_id == sink.records[0][1]  # the error names the traced run
    ends = [r for r in sink.records if r[0] == "span_end"]
    assert [r[4] for r in ends][-3:] == ["error", "error", "error"]  # chat, turn, run
    assert any(r[0] == "span_end" and r[5].get("gen_ai.tool.call.result") == "2" for r in sink.records)


async def test_script_exhausted_is_a_clear_error() -> None:
    agent, _ = make_agent(ScriptedModel([call("calculator", expression="1")]))
    with pytest.raises(errors.ScriptExhausted, match="no response left"):
        await agent.run("go")


async def test_history_is_shown_before_the_task() -> None:
    model = ScriptedModel(["agreed"])
    agent, _ = make_agent(model, tools=[])
    history = [Message("assistant", "I think 4.", name="alice")]
    result = await agent.run("Do you agree?", history=history)
    assert result.output == "agreed"
    shown = model.requests[0].messages
    assert [(m.role, m.content) for m in shown] == [
        ("system", "Solve it."),
        ("assistant", "I think 4."),
        ("user", "Do you agree?"),
    ]
    assert model.requests[0].tool_choice == "none"


def test_run_sync_for_scripts() -> None:
    agent, _ = make_agent(ScriptedModel(["hello"]), tools=[])
    assert agent.run_sync("hi").output == "hello"


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(errors.ConfigError, match="max_steps"):
        Agent("a", ScriptedModel([]), max_steps=0)
    with pytest.raises(errors.InvalidModelURI):
        _ = Agent("a", "gpt-4").model


async def test_after_a_repeated_call_the_next_step_must_answer() -> None:
    model = ScriptedModel([call("calculator", expression="6*7"), call("calculator", expression="6*7"), "42"])
    agent, _ = make_agent(model)
    result = await agent.run("6 times 7?")
    assert result.output == "42"
    assert [r.tool_choice for r in model.requests] == ["auto", "auto", "none"]
    assert [r.tools[0].name for r in model.requests] == ["calculator"] * 3  # still shown, not callable


async def test_tool_first_requires_a_call_on_the_first_step_only() -> None:
    model = ScriptedModel([call("calculator", expression="2+2"), "4"])
    agent, _ = make_agent(model, tool_first=True)
    assert (await agent.run("2+2?")).output == "4"
    assert [r.tool_choice for r in model.requests] == ["required", "auto"]


POLICY = """
version: 1
fallback: error
tools:
  calculator:
    - effect: allow
      when: {expression: {maxLength: 10}}
"""


async def test_a_denied_call_is_an_observation_and_the_run_goes_on() -> None:
    from agorakit.policy import Policy

    too_long = call("calculator", expression="1 + 2 + 3 + 4 + 5")  # over the policy's maxLength
    model = ScriptedModel([too_long, call("calculator", expression="1+2"), "3"])
    agent, sink = make_agent(model, policy=Policy.load(POLICY))
    result = await agent.run("add")
    observations = [m.content or "" for m in result.messages if m.role == "tool"]
    assert observations[0].startswith("Error: policy denied calculator")
    assert observations[1] == "3"
    decisions = [r[5] for r in sink.records if r[0] == "event" and r[4] == "policy.decision"]
    assert [d["agorakit.policy.allowed"] for d in decisions] == [False, True]


async def test_a_stop_fallback_ends_the_run_with_its_reason() -> None:
    from agorakit.policy import Policy, PolicyStopped

    stop_policy = Policy.load(POLICY.replace("fallback: error", "fallback: stop"))
    model = ScriptedModel([call("calculator", expression="1 + 2 + 3 + 4 + 5"), "never"])
    agent, _ = make_agent(model, policy=stop_policy)
    result = await agent.run("add")
    assert result.stop_reason == "policy_stopped"
    assert isinstance(result.error, PolicyStopped)
    assert result.output is None
    assert len(model.requests) == 1
    assert "stops the run" in result.explanation


async def test_no_policy_is_said_once_per_run() -> None:
    model = ScriptedModel([call("calculator", expression="1"), call("calculator", expression="2"), "done"])
    agent, sink = make_agent(model)
    await agent.run("go")
    assert sum(1 for r in sink.records if r[0] == "event" and r[4] == "policy.none") == 1
