"""The agent loop: the one place where an agent's steps run, whatever its strategy.

Each step asks the active agent's strategy for a request, calls the model
through the kernel, has the strategy read the reply, and then either ends the
run (an answer, validated against the agent's ``output_type``) or runs the
reply's actions and shows the model what they gave. Around that the loop owns
what every strategy shares: ``max_steps``, ``loop_limit``, the budget,
policy stops, output retries, handoffs to other agents, the run's
:class:`~agorakit.core.context.RunContext`, and the trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from agorakit.agents.events import message_event
from agorakit.agents.output import OutputSpec, describe_problem
from agorakit.agents.result import RunResult, StopReason
from agorakit.agents.strategy import Play, Reading, Setup, Strategy, Turn
from agorakit.core.context import RunContext
from agorakit.core.errors import (
    AgorakitError,
    AwaitingApproval,
    BudgetExceeded,
    NeedsConfirmation,
    OutputInvalid,
    StrategyError,
)
from agorakit.core.messages import Message
from agorakit.core.stream import HandoffEvent, emit
from agorakit.kernel import Kernel, RunLedger, default_kernel
from agorakit.models.base import ChatModel, Sampling
from agorakit.policy.errors import PolicyStopped
from agorakit.tools import ToolDispatcher
from agorakit.trace import attributes as attr

if TYPE_CHECKING:  # a Protocol class costs import time; only the type checker needs it

    class Actor(Protocol):
        """What the loop needs of an agent (an :class:`~agorakit.agents.Agent` is one)."""

        @property
        def name(self) -> str: ...
        @property
        def model(self) -> ChatModel: ...
        @property
        def kernel(self) -> Kernel | None: ...
        @property
        def strategy(self) -> Strategy: ...
        @property
        def dispatcher(self) -> ToolDispatcher: ...
        @property
        def handoff_tools(self) -> frozenset[str]: ...
        @property
        def output_spec(self) -> OutputSpec[Any] | None: ...
        @property
        def sampling(self) -> Sampling: ...
        @property
        def max_steps(self) -> int: ...
        @property
        def loop_limit(self) -> int: ...
        @property
        def output_retries(self) -> int: ...

        def system_message(self, context: RunContext[Any]) -> Message: ...


DEFAULT_MAX_HANDOFFS = 10


class Limits(NamedTuple):
    """Bounds a caller puts on a whole run across its agents (a handoff team's)."""

    max_handoffs: int = DEFAULT_MAX_HANDOFFS
    max_steps: int | None = None  # all agents' steps together; None: each agent's own max_steps only


class _Progress:
    __slots__ = ("handoffs", "steps")

    def __init__(self) -> None:
        self.steps = 0  # all agents' steps
        self.handoffs: list[tuple[str, str]] = []


class Ending(NamedTuple):
    """How the run ended, before it is turned into a :class:`RunResult`."""

    stop: StopReason
    output: Any = None
    error: AgorakitError | None = None


async def run_loop(
    start: Actor,
    messages: list[Message],
    ledger: RunLedger,
    context: RunContext[Any],
    *,
    members: Mapping[str, Actor] | None = None,
    limits: Limits | None = None,
) -> tuple[Ending, int, Actor, list[tuple[str, str]]]:
    """Run ``start`` (and whoever it hands off to) on ``messages`` (the system message first).

    Returns how the run ended, the steps taken, the agent that ended it and the handoffs made.
    """
    limits = limits or Limits()
    agents = dict(members) if members is not None else {start.name: start}
    progress = _Progress()
    active = start
    while True:
        ending, target = await _run_agent(active, messages, ledger, context, limits, progress)
        if target is None:
            return ending, progress.steps, active, progress.handoffs
        progress.handoffs.append((active.name, target))
        ledger.tracer.event("handoff", {"agorakit.from": active.name, "agorakit.to": target})
        emit(HandoffEvent(active.name, target))
        active = agents[target]
        context.agent = active.name
        messages[0] = active.system_message(context)


async def _run_agent(
    agent: Actor,
    messages: list[Message],
    ledger: RunLedger,
    context: RunContext[Any],
    limits: Limits,
    progress: _Progress,
) -> tuple[Ending, str | None]:
    """The active agent's steps, until it answers, stops, or hands off (the target is returned)."""
    tracer = ledger.tracer
    model = agent.model
    kernel = agent.kernel or default_kernel()
    may_hand_off = len(progress.handoffs) < limits.max_handoffs
    tools = (
        agent.dispatcher.specs
        if may_hand_off
        else [s for s in agent.dispatcher.specs if s.name not in agent.handoff_tools]
    )
    output: OutputSpec[Any] | None = agent.output_spec
    schema = output.schema if output is not None else None
    setup = Setup(model, tools, agent.dispatcher, tracer, agent.sampling)
    seen: dict[str, int] = {}
    answer_now = False
    retries = 0
    steps = 0
    try:
        play: Play = agent.strategy.play(setup)
    except Exception as error:
        raise _strategy_failed(agent, error) from error
    async with play:
        while steps < agent.max_steps:
            if limits.max_steps is not None and progress.steps >= limits.max_steps:
                break
            steps += 1
            progress.steps += 1
            context.step = steps
            turn_attributes = {attr.OPERATION: attr.OP_TURN, attr.STEP: steps} if tracer.enabled else None
            with tracer.span(f"agent_turn {steps}", turn_attributes):
                request = _call(agent, play.request, messages, Turn(steps, answer_now, schema))
                try:
                    completion = await kernel.complete(model, request, run=ledger, agent=agent.name)
                except BudgetExceeded as exceeded:
                    tracer.event("budget_exceeded", {"agorakit.budget.limit": exceeded.limit})
                    progress.steps -= 1
                    return Ending("budget_exceeded", error=exceeded), None
                reply = completion.message
                reply.name = agent.name
                messages.append(reply)
                message_event(tracer, reply)
                reading: Reading = _call(agent, play.read, reply)
                if reading.answer is not None:
                    if output is None:
                        return Ending("final_answer", reading.answer), None
                    try:
                        return Ending("final_answer", output.parse(reading.answer)), None
                    except ValueError as invalid:  # pydantic's ValidationError is a ValueError
                        problem = describe_problem(invalid)
                        tracer.event("output_invalid", {attr.ERROR_MESSAGE: problem[:500]})
                        if retries >= agent.output_retries:
                            failure = OutputInvalid(f"{agent.name}'s answer is not a valid {output.name}: {problem}")
                            return Ending("output_invalid", error=failure), None
                        retries += 1
                        messages.append(retry := output.retry_message(problem))
                        message_event(tracer, retry)
                        answer_now = True
                        continue
                repeats = _count(reading.actions, seen)
                if repeats >= agent.loop_limit:
                    tracer.event("loop_detected", {"agorakit.action": reading.actions[0][:500]})
                    return Ending("loop_detected"), None
                try:
                    outcome = await play.act(reply)
                except PolicyStopped as stopped:
                    return Ending("policy_stopped", error=stopped), None
                except AwaitingApproval as waiting:
                    return Ending("awaiting_approval", error=waiting), None
                except NeedsConfirmation as pending:
                    tracer.event(
                        "needs_confirmation", {attr.TOOL_CALL_ID: pending.call_id, attr.TOOL_NAME: pending.tool}
                    )
                    return Ending("needs_confirmation", error=pending), None
                except (AgorakitError, OSError):
                    raise
                except Exception as error:
                    raise _strategy_failed(agent, error) from error
                for observation in outcome.observations:
                    messages.append(observation)
                    message_event(tracer, observation)
                target, context.handoff_to = context.handoff_to, None
                if target is not None and may_hand_off:
                    return Ending("final_answer"), target
                # A repeated action: the model has its result, so the next step must answer
                # (small models otherwise copy their last action).
                answer_now = repeats >= 2 or outcome.answer_next
    return Ending("max_steps"), None


def _call(agent: Actor, method: Any, *args: Any) -> Any:
    """A strategy's synchronous method; whatever it raises ends the run as a StrategyError."""
    try:
        return method(*args)
    except Exception as error:
        raise _strategy_failed(agent, error) from error


def _strategy_failed(agent: Actor, error: Exception) -> StrategyError:
    return StrategyError(f"{agent.name}'s strategy {agent.strategy.name!r} raised {type(error).__name__}: {error}")


def _count(actions: tuple[str, ...], seen: dict[str, int]) -> int:
    """Record the reply's actions; return how often its most repeated one has been requested."""
    most = 0
    for action in actions:
        seen[action] = count = seen.get(action, 0) + 1
        most = max(most, count)
    return most


def build_result(
    ledger: RunLedger, ending: Ending, messages: list[Message], steps: int, **extra: Any
) -> RunResult[Any]:
    return RunResult.build(ledger, ending.output, messages, ending.stop, steps, error=ending.error, **extra)
