"""``Agent``: a model, instructions, tools and a ReAct loop on native tool calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agorakit.agents.codeact import codeact_loop
from agorakit.agents.events import message_event
from agorakit.agents.react import react_loop
from agorakit.agents.result import RunResult
from agorakit.core import settings
from agorakit.core.errors import AgorakitError, ConfigError
from agorakit.core.messages import Message
from agorakit.kernel import Budget, Kernel, RunContext, default_kernel
from agorakit.models.base import ChatModel, Sampling, ToolChoice
from agorakit.models.uri import resolve_model
from agorakit.policy import Policy, PolicyGate
from agorakit.tools import Tool, ToolDispatcher, tool
from agorakit.trace import attributes as attr
from agorakit.trace.setup import TraceOption, tracer_for
from agorakit.trace.tracer import Span

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant. Use a tool when it helps you answer correctly; "
    "when you know the answer, reply with it directly."
)

if TYPE_CHECKING:
    from agorakit.tools.sandbox import SandboxLimits


class Agent:
    """A model with instructions and tools that runs a ReAct loop.

    Each step calls the model through the kernel; tool calls in its reply run
    (concurrently) through the tool dispatcher and their results are shown to
    the model on the next step. The loop stops on a reply with no tool call
    (the final answer), after ``max_steps`` steps, or when one identical tool
    call has been requested ``loop_limit`` times. When a call repeats, the step
    after it is asked for an answer (``tool_choice="none"``).

    ``strategy="codeact"`` makes Python code the action space instead: see
    :mod:`agorakit.agents.codeact`.

    ``policy`` (a :class:`~agorakit.policy.Policy`, a gate with an approver, or
    a policy file's path) is checked before every tool call, whoever makes it;
    none means every call is allowed, said once per run in the trace.

    ``tool_first=True`` makes the first step call a tool before the model may
    answer: small models (the embedded 270M one) otherwise answer from memory
    even when a tool is the right move. ``answer_after_tools=True`` makes the
    step after tool calls that all succeeded answer (``tool_choice="none"``):
    such models otherwise call again on their own results ("20 - 79" after
    "99 - 79" gave 20). A failed call may still be retried.
    """

    def __init__(
        self,
        name: str = "assistant",
        model: str | ChatModel | None = None,
        instructions: str = DEFAULT_INSTRUCTIONS,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = (),
        *,
        max_steps: int = 10,
        loop_limit: int = 3,
        sampling: Sampling | None = None,
        tool_choice: ToolChoice | str = "auto",
        tool_first: bool = False,
        answer_after_tools: bool = False,
        strategy: Literal["react", "codeact"] = "react",
        sandbox_limits: SandboxLimits | None = None,
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
        self.name = name
        self.instructions = instructions
        self.max_steps = max_steps
        self.loop_limit = loop_limit
        self.sampling = sampling or Sampling()
        self.tool_choice = tool_choice
        self.tool_first = tool_first
        self.answer_after_tools = answer_after_tools
        if strategy not in ("react", "codeact"):
            raise ConfigError(f"unknown strategy {strategy!r}", hint="use 'react' or 'codeact'")
        self.strategy = strategy
        self.sandbox_limits = sandbox_limits
        self.budget = budget
        self.tools = [t if isinstance(t, Tool) else tool(t) for t in tools]
        if isinstance(policy, str | Path):
            policy = Policy.load(policy, known_tools=[t.name for t in self.tools])
        self.dispatcher = ToolDispatcher(self.tools, default_timeout=tool_timeout, policy=policy)
        self._model_spec: str | ChatModel = model if model is not None else settings.default_model()
        self._model: ChatModel | None = None
        self._kernel = kernel
        self._trace = trace

    @property
    def model(self) -> ChatModel:
        """The backend, resolved from its URI on first use."""
        if self._model is None:
            self._model = resolve_model(self._model_spec)
        return self._model

    def run_sync(self, task: str | Sequence[Message], **kwargs: Any) -> RunResult:
        """``run`` for scripts and notebooks without an event loop."""

        async def run_and_close() -> RunResult:
            try:
                return await self.run(task, **kwargs)
            finally:
                # The loop ends with this call: close the backend's connections
                # on it rather than leave them to be collected on a dead loop.
                close = getattr(self._model, "aclose", None)
                if close is not None:
                    await close()

        return asyncio.run(run_and_close())

    async def run(
        self,
        task: str | Sequence[Message],
        *,
        history: Sequence[Message] = (),
        context: RunContext | None = None,
    ) -> RunResult:
        """Run the agent on ``task``: a user message, or a conversation to continue
        (its last message is the one to answer).

        ``history`` comes before the task, e.g. a conversation shared with
        other agents. ``context`` joins a run another component started (a
        multi-agent method), sharing its trace, usage and budget.

        The model is shown exactly one system message, first. A conversation
        that already starts with system messages (e.g. ``result.messages`` of
        an earlier run) is continued without adding another: a system message
        equal to the agent's is dropped, a different one is merged into the
        agent's, after the agent's own instructions.

        An empty or blank task raises :class:`~agorakit.core.errors.ConfigError`.
        """
        if isinstance(task, str):
            if not task.strip():
                raise ConfigError("the task is empty", hint="give the agent something to do, e.g. 'What is 17 * 23?'")
            conversation = [*history, Message("user", task)]
        elif task:
            # A conversation to continue: its last message is what to answer,
            # the rest is history (traced by whoever produced it).
            conversation = [*history, *task]
        else:
            raise ConfigError("run() needs a task: a string or a non-empty list of messages")
        model = self.model
        kernel = self._kernel or default_kernel()
        run = context if context is not None else RunContext.create(tracer_for(self._trace), self.budget)
        tracer = run.tracer
        system, rest = _one_system_message(self._system_prompt(model), conversation)
        if not rest:
            raise ConfigError("run() needs a task: the conversation has only system messages")
        messages = [system, *rest]
        history_length = len(messages) - 2
        task_text = messages[-1].content or ""
        root_attributes: dict[str, Any] | None = None
        if tracer.enabled:
            root_attributes = {
                attr.OPERATION: attr.OP_INVOKE_AGENT,
                attr.AGENT_NAME: self.name,
                attr.REQUEST_MODEL: model.model_name,
                attr.PROVIDER: model.provider,
                "agorakit.history_messages": history_length,
            }
            if tracer.capture_content:
                root_attributes["agorakit.input"] = task_text
        try:
            with tracer.span(f"invoke_agent {self.name}", root_attributes) as root:
                if tracer.enabled:
                    # History was traced by whoever produced it; only what this run adds is recorded.
                    message_event(tracer, system)
                    message_event(tracer, messages[-1])
                loop = codeact_loop if self.strategy == "codeact" else react_loop
                result = await loop(self, model, kernel, run, messages)
                if tracer.enabled:
                    _summarise(root, result, capture=tracer.capture_content)
            return result
        except BaseException as error:
            # A failed run is exactly the one someone will want to inspect.
            tracer.flush(timeout=10.0)
            if isinstance(error, AgorakitError) and error.run_id is None and tracer.enabled:
                error.run_id = run.run_id
            raise

    def _system_prompt(self, model: ChatModel) -> str:
        if self.strategy != "codeact":
            return self.instructions
        from agorakit.agents import codeact

        how = codeact.instructions(self.dispatcher.specs, json_actions=codeact.uses_json_actions(model))
        return f"{self.instructions}\n\n{how}"


def _one_system_message(instructions: str, conversation: Sequence[Message]) -> tuple[Message, list[Message]]:
    """The agent's system message, with the conversation's leading system messages
    folded in (dropped when equal to the agent's), and the rest of the conversation."""
    start = 0
    while start < len(conversation) and conversation[start].role == "system":
        start += 1
    extra = [
        m.content
        for m in conversation[:start]
        if m.content and m.content.strip() and m.content.strip() != instructions.strip()
    ]
    merged = "\n\n".join([instructions, *dict.fromkeys(extra)])
    return Message("system", merged), list(conversation[start:])


def _summarise(root: Span, result: RunResult, *, capture: bool) -> None:
    """Put the run's outcome on its root span."""
    root.attributes.update(
        {
            attr.STOP_REASON: result.stop_reason,
            attr.INPUT_TOKENS: result.usage.input_tokens,
            attr.OUTPUT_TOKENS: result.usage.output_tokens,
            attr.COST_USD: result.usage.cost_usd,
            "agorakit.steps": result.steps,
        }
    )
    if capture and result.output is not None:
        root.attributes["agorakit.output"] = result.output
    if result.error is not None:
        root.status = "error"
        root.attributes[attr.ERROR_TYPE] = type(result.error).__name__
        root.attributes[attr.ERROR_MESSAGE] = result.error.message
