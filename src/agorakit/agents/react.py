"""The ReAct loop on native tool calls (the default strategy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agorakit.agents.events import message_event
from agorakit.agents.result import RunResult, StopReason
from agorakit.agents.steps import ask_model, finish
from agorakit.core.errors import AgorakitError, BudgetExceeded
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, RunContext
from agorakit.models.base import ChatModel, ModelRequest
from agorakit.policy.errors import PolicyStopped
from agorakit.trace import attributes as attr

if TYPE_CHECKING:
    from agorakit.agents.agent import Agent


async def react_loop(
    agent: Agent, model: ChatModel, kernel: Kernel, run: RunContext, messages: list[Message]
) -> RunResult:
    """Call the model; run the tool calls in its reply; show it the results; repeat.

    Stops on a reply with no tool call (the final answer), after
    ``max_steps``, when one identical call has been requested ``loop_limit``
    times, when the budget is spent, or when a policy stops the run.
    """
    tracer = run.tracer
    specs = agent.dispatcher.specs
    seen: dict[str, int] = {}
    answer_now = False
    stop: StopReason = "max_steps"
    output: str | None = None
    error: AgorakitError | None = None
    steps = 0
    while steps < agent.max_steps:
        steps += 1
        with tracer.span(f"agent_turn {steps}", {attr.OPERATION: attr.OP_TURN, attr.STEP: steps}):
            if not specs or answer_now:
                choice = "none"
            else:
                choice = "required" if agent.tool_first and steps == 1 else agent.tool_choice
            request = ModelRequest(messages, specs, choice, None, agent.sampling)
            reply = await ask_model(agent, model, kernel, run, request, messages)
            if isinstance(reply, BudgetExceeded):
                stop, error = "budget_exceeded", reply
                steps -= 1  # the refused step never ran
                break
            if not reply.tool_calls:
                stop, output = "final_answer", reply.content or ""
                break
            repeats = count_repeats(reply, seen)
            if repeats >= agent.loop_limit:
                tracer.event("loop_detected", {attr.TOOL_NAME: reply.tool_calls[0].name})
                stop = "loop_detected"
                break
            # A call the model already made: it has that result, so the next
            # step must answer (small models otherwise copy their last call).
            answer_now = repeats >= 2
            try:
                results = await agent.dispatcher.execute_all(reply.tool_calls, tracer)
            except PolicyStopped as stopped:
                stop, error = "policy_stopped", stopped
                break
            for result in results:
                observation = result.to_message()
                messages.append(observation)
                message_event(tracer, observation)
            if agent.answer_after_tools and all(result.ok for result in results):
                answer_now = True
    return finish(run, messages, stop, steps, output, error)


def count_repeats(reply: Message, seen: dict[str, int]) -> int:
    """Record the reply's calls; return how often its most repeated call has been made."""
    most = 0
    for call in reply.tool_calls:
        signature = call.signature()
        seen[signature] = count = seen.get(signature, 0) + 1
        most = max(most, count)
    return most
