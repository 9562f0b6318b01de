"""The one agent loop: strategies as objects, handoffs inside the loop, immutable specs."""

from __future__ import annotations

import pytest

from agorakit import Agent, CodeAct, ReAct, ScriptedModel, call, tool
from agorakit.agents import DEFAULT_INSTRUCTIONS, Outcome, Play, Reading, Setup, Strategy, Turn
from agorakit.core.errors import ConfigError, StrategyError
from agorakit.core.messages import Message
from agorakit.kernel import RunLedger
from agorakit.methods.topology import HandoffTeam
from agorakit.models.base import ModelRequest
from agorakit.trace import MemorySink


@tool
def lookup(order: str) -> str:
    """Look an order up."""
    return f"order {order}: refunded"


def block(code: str) -> str:
    return f"```python\n{code}\n```"


async def test_a_handoff_team_runs_each_agents_own_strategy() -> None:
    coder_model = ScriptedModel([block("print(6 * 7)"), "Final answer: 42"])
    coder = Agent("coder", coder_model, instructions="Compute with code.", strategy=CodeAct())
    triage_model = ScriptedModel([call("transfer_to_coder")])
    triage = Agent("triage", triage_model, instructions="Route it.", handoffs=[coder])
    result = await HandoffTeam([triage, coder]).run("What is 6 * 7?", context=RunLedger.create())
    assert result.output == "42" and result.handoffs == [("triage", "coder")] and result.active == "coder"
    # ReAct: native tool specs. CodeAct: no tool specs, code instructions, the sandbox's output.
    assert [s.name for s in triage_model.requests[0].tools] == ["transfer_to_coder"]
    first = coder_model.requests[0]
    assert first.tools == [] and "You act by writing Python code" in (first.messages[0].content or "")
    assert first.messages[0].content.startswith("Compute with code.")  # type: ignore[union-attr]
    assert coder_model.requests[1].messages[-1].content == "The code printed: 42"


async def test_a_codeact_agent_hands_off_from_code_and_limits_follow_the_active_agent() -> None:
    react_model = ScriptedModel([call("lookup", order="7"), call("lookup", order="7"), call("lookup", order="7")])
    helper = Agent("helper", react_model, tools=[lookup], loop_limit=3)
    coder_model = ScriptedModel([block("transfer_to_helper()")])
    coder = Agent("coder", coder_model, strategy=CodeAct(), handoffs=[helper])
    result = await coder.run("refund 7", context=RunLedger.create())
    # The handoff was made from inside the sandbox; the helper's own loop_limit ended the run.
    assert result.stop_reason == "loop_detected"
    assert result.messages[0].content == DEFAULT_INSTRUCTIONS  # the helper's, in place of the coder's
    assert len(react_model.requests) == 3


async def test_agents_own_max_steps_bound_its_part_of_a_handoff_run() -> None:
    b_model = ScriptedModel([call("lookup", order=str(i)) for i in range(5)])
    b = Agent("b", b_model, tools=[lookup], max_steps=2)
    a = Agent("a", ScriptedModel([call("transfer_to_b")]), handoffs=[b])
    result = await a.run("go", context=RunLedger.create())
    assert result.stop_reason == "max_steps" and result.steps == 3 and len(b_model.requests) == 2


async def test_handoff_by_name_to_an_unknown_agent_is_a_config_error() -> None:
    agent = Agent("a", ScriptedModel([]), handoffs=["ghost"])
    with pytest.raises(ConfigError, match="hands off to ghost"):
        await agent.run("x", context=RunLedger.create())


def test_an_agent_is_immutable_and_clone_changes_a_copy() -> None:
    agent = Agent("a", ScriptedModel([]), instructions="Be brief.", max_steps=4)
    with pytest.raises(AttributeError, match="immutable"):
        agent.max_steps = 5  # type: ignore[misc]
    copy = agent.clone(name="b", max_steps=7)
    assert (copy.name, copy.max_steps, copy.instructions) == ("b", 7, "Be brief.")
    assert (agent.name, agent.max_steps) == ("a", 4)
    assert copy.model is agent.model  # the resolved backend is shared
    with pytest.raises(ConfigError, match="unknown Agent setting"):
        agent.clone(colour="red")


def test_instructions_and_strategy_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Agent("a", ScriptedModel([]), "instructions")  # type: ignore[misc]
    with pytest.raises(ConfigError, match="strategy must be a Strategy object"):
        Agent("a", ScriptedModel([]), strategy="codeact")  # type: ignore[arg-type]


class Exploding(Strategy):
    name = "exploding"

    def play(self, setup: Setup) -> Play:
        return _ExplodingPlay()


class _ExplodingPlay(Play):
    def request(self, messages: list[Message], turn: Turn) -> ModelRequest:
        return ModelRequest(messages)

    def read(self, reply: Message) -> Reading:
        raise KeyError("no reading today")

    async def act(self, reply: Message) -> Outcome:
        return Outcome()


async def test_a_strategy_that_raises_ends_the_run_with_a_typed_error_and_a_complete_trace() -> None:
    sink = MemorySink()
    agent = Agent("a", ScriptedModel(["hello"]), strategy=Exploding(), trace=sink)
    with pytest.raises(StrategyError, match="strategy 'exploding' raised KeyError") as raised:
        await agent.run("hi")
    assert raised.value.run_id is not None
    starts = {r[2]: r for r in sink.records if r[0] == "span_start"}
    ends = {r[2]: r for r in sink.records if r[0] == "span_end"}
    assert set(starts) == set(ends)  # every span was closed
    root = next(span for span, r in starts.items() if r[4] == "invoke_agent a")
    assert ends[root][4] == "error" and ends[root][5]["error.type"] == "StrategyError"
    assert sorted(r[4] for r in starts.values()) == ["agent_turn 1", "chat scripted", "invoke_agent a"]


class Echo(Strategy):
    """A user's own strategy: answer with the model's text in capitals."""

    name = "echo"

    def play(self, setup: Setup) -> Play:
        return _EchoPlay(setup)


class _EchoPlay(Play):
    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    def request(self, messages: list[Message], turn: Turn) -> ModelRequest:
        return ModelRequest(messages, [], "none", None, self.setup.sampling)

    def read(self, reply: Message) -> Reading:
        return Reading(answer=(reply.content or "").upper())

    async def act(self, reply: Message) -> Outcome:
        return Outcome()


async def test_a_users_own_strategy_plugs_into_the_loop() -> None:
    result = await Agent("a", ScriptedModel(["quiet words"]), strategy=Echo(), trace=False).run("x")
    assert result.output == "QUIET WORDS" and result.stop_reason == "final_answer" and result.steps == 1


async def test_react_settings_live_on_the_strategy() -> None:
    model = ScriptedModel([call("lookup", order="1"), "done"])
    agent = Agent("a", model, tools=[lookup], strategy=ReAct(tool_first=True, answer_after_tools=True), trace=False)
    assert (await agent.run("x")).output == "done"
    assert [r.tool_choice for r in model.requests] == ["required", "none"]
