"""Dependencies: ``RunContext[Deps]`` reaches tools and dynamic instructions, never the model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agorakit import Agent, RunContext, ScriptedModel, call, tool
from agorakit.agents import CodeAct
from agorakit.core.errors import ToolDefinitionError
from agorakit.core.messages import ToolCall
from agorakit.tools import ToolDispatcher


@dataclass
class Shop:
    user: str
    orders: dict[str, str]


@tool
def order_status(ctx: RunContext[Shop], order: str) -> str:
    """The status of one of the user's orders."""
    return f"{ctx.deps.user}'s order {order}: {ctx.deps.orders.get(order, 'unknown')} (step {ctx.step})"


def greeting(ctx: RunContext[Shop]) -> str:
    return f"You serve {ctx.deps.user}."


SHOP = Shop("ada", {"7": "shipped"})


async def test_a_tool_gets_the_runs_deps_and_the_model_never_sees_the_parameter() -> None:
    model = ScriptedModel([call("order_status", order="7"), "It shipped."])
    agent = Agent("a", model, instructions=greeting, tools=[order_status], deps_type=Shop, trace=False)
    result = await agent.run("Where is order 7?", deps=SHOP)
    assert result.output == "It shipped."
    assert model.requests[1].messages[-1].content == "ada's order 7: shipped (step 1)"
    assert order_status.parameters["properties"] == {"order": {"type": "string"}}
    assert model.requests[0].messages[0].content == "You serve ada."


async def test_different_runs_get_their_own_deps() -> None:
    model = ScriptedModel([call("order_status", order="7"), "a", call("order_status", order="7"), "b"])
    agent = Agent("a", model, tools=[order_status], trace=False)
    await agent.run("?", deps=SHOP)
    await agent.run("?", deps=Shop("bob", {}))
    assert model.requests[1].messages[-1].content == "ada's order 7: shipped (step 1)"
    assert model.requests[3].messages[-1].content == "bob's order 7: unknown (step 1)"


async def test_tools_called_from_codeact_code_get_the_context_too() -> None:
    model = ScriptedModel(["```python\nprint(order_status('7'))\n```", "Final answer: shipped"])
    agent = Agent("a", model, tools=[order_status], strategy=CodeAct(), trace=False)
    await agent.run("?", deps=SHOP)
    assert model.requests[1].messages[-1].content == "The code printed: ada's order 7: shipped (step 1)"


async def test_a_context_tool_outside_a_run_is_an_error_observation() -> None:
    result = await ToolDispatcher([order_status]).execute(ToolCall("c1", "order_status", {"order": "7"}))
    assert not result.ok and "takes a RunContext, and none is active" in result.content


def test_a_mistyped_context_parameter_fails_at_definition_with_a_hint() -> None:
    def bad(ctx: dict, order: str) -> str:  # type: ignore[type-arg]
        return order

    with pytest.raises(ToolDefinitionError, match="first parameter 'ctx' is annotated dict, not RunContext") as raised:
        tool(bad)
    assert "RunContext[YourDeps]" in raised.value.hint

    def late(order: str, ctx: RunContext[Shop]) -> str:
        return order

    with pytest.raises(ToolDefinitionError, match="'ctx' is a RunContext but not the first parameter"):
        tool(late)
