"""The CodeAct strategy on the scripted model, with the real sandbox."""

from __future__ import annotations

import pytest

from agorakit import Agent, CodeAct, ScriptedModel
from agorakit.policy import Policy
from agorakit.tools import calculator, tool
from agorakit.trace import MemorySink


def block(code: str) -> str:
    return f"Let me run this.\n```python\n{code}\n```"


def codeact_agent(model: ScriptedModel, **kwargs: object) -> tuple[Agent, MemorySink]:
    sink = MemorySink()
    kwargs.setdefault("tools", [calculator])
    limits = kwargs.pop("limits", None)
    agent = Agent(
        "coder",
        model,
        instructions="Solve it with code.",
        strategy=CodeAct(limits=limits),  # type: ignore[arg-type]
        trace=sink,
        **kwargs,  # type: ignore[arg-type]
    )
    return agent, sink


async def test_code_runs_variables_persist_and_tools_are_functions() -> None:
    model = ScriptedModel(
        [
            block("x = calculator('17 * 23')"),
            block("print('result:', x)"),
            "Final answer: 391",
        ]
    )
    agent, sink = codeact_agent(model)
    result = await agent.run("What is 17 * 23?")
    assert result.output == "391"
    assert result.stop_reason == "final_answer"
    assert result.steps == 3
    observations = [m.content for m in result.messages if m.name == "sandbox"]
    assert observations == ["The code ran and printed nothing.", "The code printed: result: 391"]
    # The system prompt told the model how to act and which functions exist.
    system = model.requests[0].messages[0].content or ""
    assert "- calculator(expression: string)" in system
    assert "```python" in system
    assert model.requests[0].tools == []  # code is the action space: no native tools offered
    names = [r[4] for r in sink.records if r[0] == "span_start"]
    assert names.count("execute_code sandbox") == 2
    assert "execute_tool calculator" in names  # the call made from code went through the dispatcher


async def test_the_model_reads_its_error_and_fixes_it() -> None:
    model = ScriptedModel([block("print(undefined_name)"), block("print(6 * 7)"), "Final answer: 42"])
    agent, _ = codeact_agent(model)
    result = await agent.run("6 times 7?")
    assert result.output == "42"
    first = model.requests[1].messages[-1].content or ""
    assert "NameError: name 'undefined_name' is not defined" in first
    assert model.requests[2].messages[-1].content == "The code printed: 42"


async def test_a_policy_applies_to_calls_made_from_code() -> None:
    policy = Policy.load(
        "version: 1\ntools:\n  calculator:\n    - effect: allow\n      when: {expression: {maxLength: 5}}\n"
    )
    model = ScriptedModel(
        [
            block("try:\n    print(calculator('1 + 2 + 3 + 4'))\nexcept ToolError as e:\n    print('refused:', e)"),
            block("print(calculator('1+2'))"),
            "Final answer: 3",
        ]
    )
    agent, sink = codeact_agent(model, policy=policy)
    result = await agent.run("add")
    observations = [m.content or "" for m in result.messages if m.name == "sandbox"]
    assert observations[0].startswith("The code printed: refused: Error: policy denied calculator")
    assert observations[1] == "The code printed: 3"
    decisions = [r[5]["agorakit.policy.allowed"] for r in sink.records if r[0] == "event" and r[4] == "policy.decision"]
    assert decisions == [False, True]


async def test_a_stop_policy_ends_a_codeact_run() -> None:
    policy = Policy.load("version: 1\nfallback: stop\ntools:\n  calculator: []\n")
    model = ScriptedModel([block("calculator('1')"), "never"])
    agent, _ = codeact_agent(model, policy=policy)
    result = await agent.run("go")
    assert result.stop_reason == "policy_stopped"
    assert len(model.requests) == 1


async def test_the_same_block_three_times_is_a_loop() -> None:
    model = ScriptedModel(lambda request: block("print('again')"))
    agent, _ = codeact_agent(model, loop_limit=3, max_steps=10)
    result = await agent.run("loop")
    assert result.stop_reason == "loop_detected"
    assert result.steps == 3
    assert sum(1 for m in result.messages if m.name == "sandbox") == 2


async def test_a_runaway_block_is_stopped_and_reported() -> None:
    from agorakit.tools.sandbox import SandboxLimits

    model = ScriptedModel([block("while True:\n    pass"), "Final answer: stopped"])
    agent, _ = codeact_agent(model, limits=SandboxLimits(wall_time_s=1.0, cpu_time_s=1.0))
    result = await agent.run("spin")
    assert result.output == "stopped"
    observation = model.requests[1].messages[-1].content or ""
    assert "The code was stopped: it hit the sandbox's" in observation


def test_unknown_strategy_is_refused() -> None:
    from agorakit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy must be a Strategy object"):
        Agent("a", ScriptedModel([]), strategy="plan")  # type: ignore[arg-type]


async def test_tools_can_be_any_typed_function() -> None:
    @tool
    def secret_number() -> int:
        """The secret number."""
        return 1234

    model = ScriptedModel([block("print(int(secret_number()) + 1)"), "Final answer: 1235"])
    agent, _ = codeact_agent(model, tools=[secret_number])
    result = await agent.run("secret plus one?")
    assert model.requests[1].messages[-1].content == "The code printed: 1235"
    assert result.output == "1235"
