"""What every agent strategy does the same way: ask the model, end the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agorakit.agents.events import message_event
from agorakit.agents.result import RunResult, StopReason
from agorakit.core.errors import AgorakitError, BudgetExceeded
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, RunContext
from agorakit.models.base import ChatModel, ModelRequest

if TYPE_CHECKING:
    from agorakit.agents.agent import Agent


async def ask_model(
    agent: Agent, model: ChatModel, kernel: Kernel, run: RunContext, request: ModelRequest, messages: list[Message]
) -> Message | BudgetExceeded:
    """One model call through the kernel; its reply joins the conversation.

    A spent budget is returned, not raised: it ends the run cleanly."""
    try:
        completion = await kernel.complete(model, request, run=run, agent=agent.name)
    except BudgetExceeded as exceeded:
        run.tracer.event("budget_exceeded", {"agorakit.budget.limit": exceeded.limit})
        return exceeded
    reply = completion.message
    reply.name = agent.name
    messages.append(reply)
    message_event(run.tracer, reply)
    return reply


def finish(
    run: RunContext,
    messages: list[Message],
    stop: StopReason,
    steps: int,
    output: str | None = None,
    error: AgorakitError | None = None,
) -> RunResult:
    """The run's result, with its usage so far."""
    return RunResult(
        output=output,
        messages=messages,
        usage=run.usage,
        run_id=run.run_id,
        stop_reason=stop,
        steps=steps,
        usage_by_agent=run.usage_by_agent,
        error=error,
    )
