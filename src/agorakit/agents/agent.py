"""``Agent``: a typed, immutable spec of a model, instructions, tools, a strategy and an output type."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, NamedTuple, cast

from typing_extensions import TypeVar

from agorakit.agents.conversation import assemble, record_conversation, summarise, trace_input
from agorakit.agents.durable import default_durability, open_for_resume, start_journal
from agorakit.agents.handoffs import Handoff, handoff_tool, reachable, target_description, target_name
from agorakit.agents.output import OutputSpec
from agorakit.agents.react import ReAct
from agorakit.agents.result import RunResult
from agorakit.agents.runner import Limits, build_result, run_loop
from agorakit.agents.sessions import as_session, save_turns, session_history
from agorakit.agents.strategy import Strategy
from agorakit.agents.sync import run_sync
from agorakit.core import settings
from agorakit.core.context import RunContext, using_context
from agorakit.core.errors import ConfigError
from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.core.provenance import recording
from agorakit.core.stream import RunFinished, StreamEvent, stream_events
from agorakit.kernel import Budget, Kernel, RunLedger, default_kernel
from agorakit.kernel.journal import Durability, RunJournal, journaling
from agorakit.memory.sessions import Session
from agorakit.models.base import ChatModel, Sampling
from agorakit.models.uri import resolve_model
from agorakit.policy import Policy, PolicyGate
from agorakit.tools import Tool, ToolDispatcher, tool
from agorakit.trace import attributes as attr
from agorakit.trace.run_span import traced_run
from agorakit.trace.setup import TraceOption

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant. Use a tool when it helps you answer correctly; "
    "when you know the answer, reply with it directly."
)

Deps = TypeVar("Deps", default=None)
OutputT = TypeVar("OutputT", default=str)
Instructions = str | Callable[[RunContext[Any]], str]


class Agent(Generic[Deps, OutputT]):
    """A model with instructions and tools, acting by a strategy; ``run`` returns one result.

    ``strategy`` is how it acts: :class:`~agorakit.agents.react.ReAct` (native
    tool calls, the default) or :class:`~agorakit.agents.codeact.CodeAct`
    (Python code), or your own. The run stops on a final answer, after
    ``max_steps`` steps, when one identical action has been requested
    ``loop_limit`` times (after a repeat, the next step must answer), when the
    budget is spent, or when a policy stops it.

    ``instructions`` may be a callable that receives the run's
    :class:`~agorakit.core.context.RunContext` (so it can use ``deps``).
    ``output_type`` makes the answer a validated instance of that type (a
    pydantic model, dataclass, TypedDict or primitive; grammar-constrained on
    the embedded model); an invalid answer is shown its error and retried
    ``output_retries`` times, then the run stops with ``"output_invalid"``.
    ``handoffs`` are agents (or their names) this one may hand the
    conversation to, through ``transfer_to_<name>`` tools. ``policy`` (a
    :class:`~agorakit.policy.Policy`, a gate with an approver, or a policy
    file's path) is checked before every tool call, whoever makes it.

    An agent is immutable: ``agent.clone(name=..., max_steps=...)`` makes a changed copy.
    """

    def __init__(
        self,
        name: str = "assistant",
        model: str | ChatModel | None = None,
        *,
        instructions: Instructions = DEFAULT_INSTRUCTIONS,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = (),
        handoffs: Sequence[Agent[Any, Any] | Handoff | str] = (),
        strategy: Strategy | None = None,
        output_type: type[OutputT] | None = None,
        deps_type: type[Deps] | None = None,
        description: str | None = None,
        max_steps: int = 10,
        loop_limit: int = 3,
        output_retries: int = 2,
        sampling: Sampling | None = None,
        tool_timeout: float = 30.0,
        policy: Policy | PolicyGate | str | Path | None = None,
        kernel: Kernel | None = None,
        budget: Budget | None = None,
        trace: TraceOption = None,
    ) -> None:
        if max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {max_steps}")
        if loop_limit < 2:
            raise ConfigError(f"loop_limit must be at least 2, got {loop_limit}")
        if output_retries < 0:
            raise ConfigError(f"output_retries must be at least 0, got {output_retries}")
        if strategy is not None and not isinstance(strategy, Strategy):
            raise ConfigError(
                f"strategy must be a Strategy object, got {strategy!r}",
                hint="use strategy=ReAct() or strategy=CodeAct() (from agorakit.agents)",
            )
        if not callable(instructions) and not isinstance(instructions, str):
            raise ConfigError(f"instructions must be a string or a callable, got {type(instructions).__name__}")
        own_tools = [t if isinstance(t, Tool) else tool(t) for t in tools]
        handoff_tools = [handoff_tool(target_name(t), target_description(t)) for t in handoffs]
        if isinstance(policy, str | Path):
            policy = Policy.load(policy, known_tools=[t.name for t in [*own_tools, *handoff_tools]])
        settings_given: dict[str, Any] = {
            "name": name,
            "model": model,
            "instructions": instructions,
            "tools": tuple(tools),
            "handoffs": tuple(handoffs),
            "strategy": strategy,
            "output_type": output_type,
            "deps_type": deps_type,
            "description": description,
            "max_steps": max_steps,
            "loop_limit": loop_limit,
            "output_retries": output_retries,
            "sampling": sampling,
            "tool_timeout": tool_timeout,
            "policy": policy,
            "kernel": kernel,
            "budget": budget,
            "trace": trace,
        }
        values: dict[str, Any] = {
            "_settings": settings_given,
            "name": name,
            "instructions": instructions,
            "tools": tuple(own_tools),
            "handoffs": tuple(handoffs),
            "handoff_tools": frozenset(t.name for t in handoff_tools),
            "strategy": strategy or ReAct(),
            "output_type": output_type,
            "output_spec": OutputSpec.of(output_type) if output_type not in (None, str) else None,
            "description": description,
            "max_steps": max_steps,
            "loop_limit": loop_limit,
            "output_retries": output_retries,
            "sampling": sampling or Sampling(),
            "budget": budget,
            "kernel": kernel,
            "trace": trace,
            "dispatcher": ToolDispatcher([*own_tools, *handoff_tools], default_timeout=tool_timeout, policy=policy),
            "_model_spec": model if model is not None else settings.default_model(),
            "_model": None,
            "_system": None,
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    # Declared for type checkers; set once in __init__.
    name: str
    instructions: Instructions
    tools: tuple[Tool[..., Any], ...]
    handoffs: tuple[Agent[Any, Any] | Handoff | str, ...]
    handoff_tools: frozenset[str]
    strategy: Strategy
    output_type: type[OutputT] | None
    output_spec: OutputSpec[OutputT] | None
    description: str | None
    max_steps: int
    loop_limit: int
    output_retries: int
    sampling: Sampling
    budget: Budget | None
    kernel: Kernel | None
    trace: TraceOption
    dispatcher: ToolDispatcher
    _settings: dict[str, Any]
    _model_spec: str | ChatModel
    _model: ChatModel | None
    _system: Message | None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Agent is immutable: use agent.clone({name}=...) for a changed copy")

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, model={self._model_spec!r}, strategy={self.strategy.name!r})"

    def clone(self, **changes: Any) -> Agent[Any, Any]:
        """A copy with some settings changed (any ``__init__`` parameter)."""
        unknown = sorted(set(changes) - set(self._settings))
        if unknown:
            raise ConfigError(f"unknown Agent setting(s): {', '.join(unknown)}")
        copy: Agent[Any, Any] = Agent(**{**self._settings, **changes})
        if "model" not in changes and self._model is not None:
            object.__setattr__(copy, "_model", self._model)
        return copy

    @property
    def model(self) -> ChatModel:
        """The backend, resolved from its URI on first use."""
        model = self._model
        if model is None:
            model = resolve_model(self._model_spec)
            object.__setattr__(self, "_model", model)
        return model

    def system_message(self, context: RunContext[Any]) -> Message:
        """The system message for this agent in the run ``context`` belongs to."""
        if not callable(self.instructions) and self._system is not None:
            return self._system  # fixed instructions: built once (a team runs its agents every turn)
        text = self.instructions(context) if callable(self.instructions) else self.instructions
        how = self.strategy.instructions(self.dispatcher.specs, self.model)
        message = Message("system", f"{text}\n\n{how}" if how else text)
        if not callable(self.instructions):
            object.__setattr__(self, "_system", message)
        return message

    # -- running -------------------------------------------------------------

    def run_sync(self, task: str | Sequence[Message], **kwargs: Any) -> RunResult[OutputT]:
        """``run`` for scripts and notebooks without an event loop."""
        return run_sync(lambda: self.run(task, **kwargs), lambda: [self._model])

    def run_stream(
        self, task: str | Sequence[Message], **kwargs: Any
    ) -> AsyncIterator[StreamEvent | RunFinished[RunResult[OutputT]]]:
        """``run``, yielding typed events as they happen (text deltas, tool calls,
        policy decisions, handoffs, usage), then :class:`RunFinished` with the result."""
        return stream_events(lambda: self.run(task, **kwargs))

    async def run(
        self,
        task: str | Sequence[Message],
        *,
        history: Sequence[Message] = (),
        deps: Deps | None = None,
        context: RunLedger | None = None,
        durability: Durability | Literal["off"] | None = None,
        run_id: str | None = None,
        session: str | Session | None = None,
    ) -> RunResult[OutputT]:
        """Run the agent on ``task``: a user message, or a conversation to continue
        (its last message is the one to answer).

        ``durability`` (``"sync"``, ``"async"`` or ``"exit"``) journals the run so
        that :meth:`resume` can finish it if this process dies (see
        :mod:`agorakit.kernel.journal`); ``run_id`` names the run (default: a new id).
        By default a run whose agent has a side-effecting tool (one not declared
        ``idempotent=True``) is journaled ``"sync"``, and others are not; ``"off"``
        journals nothing.
        ``session`` (an id, or a :class:`~agorakit.memory.Session`) shows the model the
        conversation of that session's earlier runs, in any process, before ``history`` and
        the task, and adds this run's task and messages to it; older turns are summarised
        by the model when the conversation outgrows its context.

        ``history`` comes before the task, e.g. a conversation shared with
        other agents. ``deps`` reaches tools and instructions through the
        :class:`~agorakit.core.context.RunContext`. ``context`` joins a run
        another component started (a team or a method), sharing its trace,
        usage and budget.

        The model is shown exactly one system message, first. A conversation
        that already starts with system messages (e.g. ``result.messages`` of
        an earlier run) is continued without adding another: a system message
        equal to the agent's is dropped, a different one is merged into the
        agent's, after the agent's own instructions.

        An empty or blank task raises :class:`~agorakit.core.errors.ConfigError`.
        """
        journal = None
        if durability not in (None, "off") and context is not None:
            raise ConfigError(
                "durability is set by the run this agent joins (context=...), not by the agent",
                hint="journal the team or method run instead",
            )
        check_task(task)  # before a journal is opened for it
        chosen = as_session(session) if session is not None else None
        mode = default_durability(self) if durability is None and context is None else durability
        if mode is not None and mode != "off":
            journal = start_journal(self, run_id or new_run_id(), mode, task, history, session=chosen)
        run = await run_agent(
            self, task, history=history, deps=deps, context=context, journal=journal, session=chosen, run_id=run_id
        )
        return cast(RunResult[OutputT], run.result)

    def resume_sync(self, run_id: str, **kwargs: Any) -> RunResult[OutputT]:
        """``resume`` for scripts and notebooks without an event loop."""
        return run_sync(lambda: self.resume(run_id, **kwargs), lambda: [self._model])

    async def resume(
        self, run_id: str, *, deps: Deps | None = None, force: bool = False, confirm: Sequence[str] = ()
    ) -> RunResult[OutputT]:
        """Finish a journaled run (``run(..., durability=...)``) that stopped: its recorded model
        completions and tool results are replayed, never sent or run again, and the run goes on
        from its first step without a record. The result, usage and trace are those of a run
        that was never interrupted.

        A tool call that had started with no recorded result is run again only if its tool is
        idempotent (with the same idempotency key for ``idempotent="key"``); otherwise the run
        stops with ``stop_reason="needs_confirmation"`` naming it, and ``confirm=[call_id]``
        runs it again. A run journaled with another agent or model is refused with the
        differences named (:class:`~agorakit.core.errors.ResumeError`) unless ``force``; one
        another live process holds raises :class:`~agorakit.core.errors.RunInUse`. Resuming
        a run that had finished replays it whole and returns its result.
        """
        journal, task, history, session = open_for_resume(self, run_id, force=force, confirm=confirm)
        run = await run_agent(self, task, history=history, deps=deps, journal=journal, session=session)
        return cast(RunResult[OutputT], run.result)


def check_task(task: str | Sequence[Message]) -> None:
    if isinstance(task, str) and not task.strip():
        raise ConfigError("the task is empty", hint="give the agent something to do, e.g. 'What is 17 * 23?'")
    if not isinstance(task, str) and not task:
        raise ConfigError("run() needs a task: a string or a non-empty list of messages")


class AgentRun(NamedTuple):
    """A run's result with who ended it and the handoffs on the way."""

    result: RunResult[Any]
    last: Agent[Any, Any]
    handoffs: list[tuple[str, str]]


async def run_agent(
    agent: Agent[Any, Any],
    task: str | Sequence[Message],
    *,
    history: Sequence[Message] = (),
    deps: Any = None,
    context: RunLedger | None = None,
    members: Sequence[Agent[Any, Any]] = (),
    limits: Limits | None = None,
    journal: RunJournal | None = None,
    session: Session | None = None,
    run_id: str | None = None,
) -> AgentRun:
    """``agent.run`` with the parts a handoff team sets: ``members`` that handoffs
    by name may reach, and ``limits`` on handoffs and all agents' steps.

    With a ``journal`` (a durable run, new or resumed) the run takes the journal's
    run id, and the journal is finished when the run ends (let go of if it raises)."""
    try:
        return await _run_agent(agent, task, history, deps, context, members, limits, journal, session, run_id)
    except BaseException:
        if journal is not None:
            journal.abandon()
        raise


async def _run_agent(
    agent: Agent[Any, Any],
    task: str | Sequence[Message],
    history: Sequence[Message],
    deps: Any,
    context: RunLedger | None,
    members: Sequence[Agent[Any, Any]],
    limits: Limits | None,
    journal: RunJournal | None,
    session: Session | None = None,
    run_id: str | None = None,
) -> AgentRun:
    check_task(task)
    agents = reachable(agent, members) if agent.handoffs or members else {agent.name: agent}
    model = agent.model
    ledger = context if context is not None else RunLedger.for_run(agent.trace, agent.budget, journal, run_id=run_id)
    tracer = ledger.tracer
    run_context: RunContext[Any] = RunContext(deps, agent.name, ledger.run_id, ledger.usage)
    system = agent.system_message(run_context)
    if session is not None:
        with journaling(ledger.journal):
            history = await session_history(
                session, agent, system, task, history, ledger, agent.kernel or default_kernel()
            )
    messages = assemble(system, history, task)
    if len(messages) < 2:
        raise ConfigError("run() needs a task: the conversation has only system messages")
    run_context.messages = messages
    record_conversation(ledger, messages, agent.dispatcher.trust)
    attributes: dict[str, Any] | None = None
    if tracer.enabled:
        attributes = {
            attr.OPERATION: attr.OP_INVOKE_AGENT,
            attr.AGENT_NAME: agent.name,
            attr.REQUEST_MODEL: model.model_name,
            attr.PROVIDER: model.provider,
            "agorakit.history_messages": len(messages) - 2,
        }
        if tracer.capture_content:
            attributes["agorakit.input"] = messages[-1].content or ""
    with (
        traced_run(tracer, f"invoke_agent {agent.name}", attributes) as root,
        using_context(run_context),
        journaling(ledger.journal),
        recording(ledger.provenance),
    ):
        if tracer.enabled:
            trace_input(ledger, messages, joined=context is not None)
        ending, steps, last, handoffs = await run_loop(
            agent, messages, ledger, run_context, members=agents, limits=limits
        )
        result = build_result(ledger, ending, messages, steps)
        if tracer.enabled:
            summarise(root, result, capture=tracer.capture_content)
    if session is not None and result.stop_reason not in ("awaiting_approval", "needs_confirmation"):
        save_turns(session, result.messages, history, ledger.run_id)  # a paused run adds its turns when it ends
    if journal is not None:
        journal.finish(result.stop_reason)
    return AgentRun(result, agents[last.name], handoffs)
