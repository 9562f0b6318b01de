"""The tool dispatcher: runs a model's tool calls and turns every outcome into text.

Whatever happens (unknown tool, bad arguments, the tool raising, a timeout),
:meth:`ToolDispatcher.execute` returns a :class:`ToolResult` whose ``content``
is an observation the model can read and act on. Only cancellation (and
``BaseException`` such as ``KeyboardInterrupt``) propagates.

A call whose arguments hold :data:`agorakit.core.messages.INVALID_ARGUMENTS_KEY`
(a backend could not parse the model's arguments as JSON) is rejected before
schema validation, with an observation quoting the start of the raw text.

With a policy, every call whose arguments are valid passes the policy gate
before its tool runs (see :mod:`agorakit.policy`): a refused call becomes an
``Error: policy denied ...`` observation, or raises :class:`PolicyStopped`
when its fallback is ``stop``. Without one, every call is allowed, and the
trace says so once per run (a ``policy.none`` event).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any

import pydantic_core
from pydantic import BaseModel

from agorakit.core.context import current_context, using_call_key
from agorakit.core.errors import (
    AwaitingApproval,
    ConfigError,
    NeedsConfirmation,
    ToolArgumentsError,
    ToolError,
    ToolExecutionError,
    ToolNotFound,
    ToolTimeout,
)
from agorakit.core.messages import INVALID_ARGUMENTS_KEY, ToolCall
from agorakit.core.provenance import Trust, active_provenance
from agorakit.core.stream import ToolCallFinished, ToolCallStarted, emit, listening
from agorakit.kernel.journal import active_journal
from agorakit.models.base import ToolSpec
from agorakit.policy import Policy, PolicyGate, PolicyStopped
from agorakit.policy.gate import NO_POLICY, NONE_EVENT, REASON
from agorakit.tools.durable import call_allowed, run_journaled
from agorakit.tools.result import ToolResult
from agorakit.tools.tool import Tool
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Tracer

DEFAULT_MAX_OUTPUT_CHARS = 20_000
TRUST = "agorakit.tool.trust"
"""The tool span's attribute: the trust of its output (``trusted`` or ``untrusted``)."""
# Failures the tool itself produced: their text may carry what the tool read, so it is recorded
# (as untrusted). The dispatcher's own refusals echo the call's arguments and are not.
_TOOL_FAILURES = frozenset({"ToolExecutionError", "ToolTimeout"})
INVALID_ARGUMENTS_PREVIEW = 200
"""How much of unparsable tool-call arguments the model is shown back."""


class ToolDispatcher:
    """Validates and runs tool calls, concurrently when there are several.

    ``default_timeout`` (seconds; ``None`` for no limit) applies to tools that
    set no timeout of their own. Observations longer than ``max_output_chars``
    are cut, with a ``...[truncated N chars]`` marker appended.

    A sync tool runs in a worker thread. When it times out, the model gets the
    timeout observation at once, but Python cannot stop the thread: it runs to
    completion in the background and its result is discarded. A sync tool
    that provably cannot block (straight-line operators on scalar arguments,
    see :mod:`agorakit.tools.inline`) runs on the loop instead.

    ``policy`` (a :class:`Policy`, or a :class:`PolicyGate` to add an
    approver) is checked for every call after its arguments are validated and
    before its tool runs. A rule naming an argument one of ``tools`` does not
    take is a :class:`~agorakit.policy.PolicyError` here. ``None`` allows
    every call.
    """

    __slots__ = ("_gate", "_last_run_id", "_specs", "_tools", "default_timeout", "max_output_chars")

    def __init__(
        self,
        tools: Sequence[Tool[..., Any]],
        *,
        default_timeout: float | None = 30.0,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        policy: PolicyGate | Policy | None = None,
    ) -> None:
        if default_timeout is not None and not default_timeout > 0:
            raise ConfigError(f"default_timeout must be a positive number of seconds, got {default_timeout}")
        if max_output_chars < 1:
            raise ConfigError(f"max_output_chars must be at least 1, got {max_output_chars}")
        self._tools: dict[str, Tool[..., Any]] = {}
        for item in tools:
            if not isinstance(item, Tool):
                raise ConfigError(
                    f"ToolDispatcher takes Tool objects, got {type(item).__name__}",
                    hint="decorate the function with @tool",
                )
            if item.name in self._tools:
                raise ConfigError(f"two tools are named {item.name!r}", hint="give one of them @tool(name=...)")
            self._tools[item.name] = item
        self._specs = [item.spec for item in self._tools.values()]
        self.default_timeout = default_timeout
        self.max_output_chars = max_output_chars
        if isinstance(policy, Policy):
            policy = PolicyGate(policy)
        elif policy is not None and not isinstance(policy, PolicyGate):
            raise ConfigError(
                f"policy must be a Policy or a PolicyGate, got {type(policy).__name__}",
                hint="load one with Policy.load(path)",
            )
        if policy is not None:
            policy.policy.validate_arguments(self._specs)
        self._gate = policy
        # The run last told "no policy": one event per run, and no state that grows.
        self._last_run_id: str | None = None

    @property
    def specs(self) -> list[ToolSpec]:
        """The specs of all tools, in the order given, for a model request."""
        return list(self._specs)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool[..., Any] | None:
        return self._tools.get(name)

    @property
    def policy(self) -> PolicyGate | None:
        """The gate every call passes, or None when no policy is configured (allow-all)."""
        return self._gate

    async def execute(self, call: ToolCall, tracer: Tracer | None = None) -> ToolResult:
        """Run one call. Never raises for a failed call: the failure is the observation.

        Raises :class:`PolicyStopped` when the policy refuses the call with
        the ``stop`` fallback (the call did not run).
        """
        if listening():
            return await self._execute_announced(call, tracer)
        return await self._execute(call, tracer)

    async def _execute_announced(self, call: ToolCall, tracer: Tracer | None) -> ToolResult:
        """``_execute`` for a streamed run: the call's start and outcome are events too."""
        context = current_context()
        agent = context.agent if context is not None else None
        emit(ToolCallStarted(agent, call))
        result = await self._execute(call, tracer)
        emit(ToolCallFinished(agent, call, result.content, result.ok))
        return result

    def trust(self, tool: str) -> Trust:
        """The trust the policy gives ``tool``'s output (``untrusted`` without a policy)."""
        return self._gate.policy.trust(tool) if self._gate is not None else "untrusted"

    async def _execute(self, call: ToolCall, tracer: Tracer | None) -> ToolResult:
        result = await self._execute_once(call, tracer)
        if result.ok:
            result.trust = self.trust(call.name)
        provenance = active_provenance()
        if provenance is not None and (result.ok or result.error_type in _TOOL_FAILURES):
            provenance.add_output(call.name, result.content, result.trust)
        return result

    async def _execute_once(self, call: ToolCall, tracer: Tracer | None) -> ToolResult:
        journal = active_journal()
        if journal is not None:
            return await run_journaled(journal, call, self._tools.get(call.name), tracer, self._execute_now)
        tool = self._tools.get(call.name)
        if tool is not None and tool.takes_context:
            context = current_context()
            with using_call_key(f"{context.run_id if context is not None else ''}:{call.id}"):
                return await self._execute_now(call, tracer)
        return await self._execute_now(call, tracer)

    async def _execute_now(self, call: ToolCall, tracer: Tracer | None) -> ToolResult:
        if tracer is None:
            start = time.perf_counter()
            content, error = await self._run(call, None)
            return ToolResult(call, content, error is None, _error_type(error), time.perf_counter() - start)

        if self._gate is None and tracer.run_id != self._last_run_id:
            self._last_run_id = tracer.run_id
            tracer.event(NONE_EVENT, {REASON: NO_POLICY})

        attributes: dict[str, Any] = {
            attr.OPERATION: attr.OP_EXECUTE_TOOL,
            attr.TOOL_NAME: call.name,
            attr.TOOL_CALL_ID: call.id,
        }
        if tracer.capture_content:
            attributes[attr.TOOL_CALL_ARGUMENTS] = _arguments_json(call.arguments)
        # The span's context manager ends it on every path, cancellation included.
        with tracer.span(f"{attr.OP_EXECUTE_TOOL} {call.name}", attributes) as span:
            start = time.perf_counter()
            content, error = await self._run(call, tracer)
            duration = time.perf_counter() - start
            if tracer.capture_content:
                span.set(attr.TOOL_CALL_RESULT, content)
            span.set(attr.TOOL_OUTCOME, "ok" if error is None else "error")
            if self._gate is not None:  # with no policy every output is untrusted: not worth a label
                span.set(TRUST, self.trust(call.name) if error is None else "untrusted")
            if error is not None:
                span.record_error(error)  # sets error.type to the error class name and the status to "error"
        return ToolResult(call, content, error is None, _error_type(error), duration)

    async def execute_all(self, calls: Sequence[ToolCall], tracer: Tracer | None = None) -> list[ToolResult]:
        """Run calls concurrently; results come back in the order of ``calls``.

        Cancelling the caller cancels every call still running. If the policy
        stops any call of the batch, none of them runs: :class:`PolicyStopped`
        is raised (not wrapped in an exception group).
        """
        if len(calls) <= 1:
            return [await self.execute(call, tracer) for call in calls]
        if self._gate is not None:
            # Looked for before any call starts: a started sync tool cannot be called back,
            # and "stop" means the run ends here.
            for call in calls:
                if self._stops(call):
                    await self.execute(call, tracer)  # audits the decision, then raises PolicyStopped
        # Each task copies the current context, so its span is a child of the caller's span.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.execute(call, tracer)) for call in calls]
        except* (PolicyStopped, NeedsConfirmation, AwaitingApproval) as stopped:
            raise _first(stopped) from None
        return [task.result() for task in tasks]

    def _stops(self, call: ToolCall) -> bool:
        """Whether the policy would refuse ``call`` with the ``stop`` fallback (no audit, no side effect)."""
        tool = self._tools.get(call.name)
        arguments = call.arguments
        if self._gate is None or tool is None or not isinstance(arguments, dict) or INVALID_ARGUMENTS_KEY in arguments:
            return False
        try:
            values = tool.validate(arguments)
        except ToolArgumentsError:
            return False
        decision = self._gate.decide(call.name, values)
        return not decision.allowed and decision.fallback == "stop"

    async def _run(self, call: ToolCall, tracer: Tracer | None) -> tuple[str, ToolError | None]:
        """(observation, error or None). Exceptions other than ``Exception`` propagate."""
        tool = self._tools.get(call.name)
        if tool is None:
            available = ", ".join(self._tools) or "none"
            return self._failure(ToolNotFound(f"Error: unknown tool {call.name!r}. Available tools: {available}."))

        arguments = call.arguments
        if not isinstance(arguments, dict):  # a malformed call from a model or a hand-built ToolCall
            return self._failure(
                ToolArgumentsError(
                    f"Error: invalid arguments for tool {call.name!r}: "
                    f"arguments must be a JSON object, got {type(arguments).__name__}"
                )
            )
        # Checked before the schema, so the model hears what really went wrong (not "missing
        # argument; unexpected argument __invalid_json__") and no tool runs on arguments the
        # model never managed to write, whatever its schema would accept.
        if INVALID_ARGUMENTS_KEY in arguments:
            raw = _preview(arguments[INVALID_ARGUMENTS_KEY], INVALID_ARGUMENTS_PREVIEW)
            return self._failure(
                ToolArgumentsError(
                    f"Error: the arguments for tool {call.name!r} are not valid JSON: {raw}. "
                    "Send the arguments as a JSON object."
                )
            )
        try:
            values = tool.validate(arguments)
        except ToolArgumentsError as error:
            return self._failure(
                ToolArgumentsError(f"Error: invalid arguments for tool {call.name!r}: {error.message}")
            )
        # After validation (judging arguments the tool would reject is pointless, and the
        # policy sees what the tool would get: defaults filled in, coercions applied).
        if self._gate is not None:
            refusal = await self._gate.authorize(call, values, tracer)
            if refusal is not None:
                return self._failure(refusal)
        call_allowed()

        timeout = tool.timeout if tool.timeout is not None else self.default_timeout
        if tool.runs_inline(values):
            # Cannot block (agorakit.tools.inline): no thread hop, and no timer to arm. A call that
            # still took longer than its timeout (a huge power, say) is reported as timed out, as
            # the thread would have been, since it holds the GIL either way.
            started = time.perf_counter()
            try:
                value = tool.call(values)
                if timeout is not None and time.perf_counter() - started > timeout:
                    return self._timed_out(call, timeout)
                content = serialize_output(value)
            except Exception as error:
                return self._failure(ToolExecutionError(f"Error: tool {call.name!r} failed: {_describe(error)}"))
            return self._truncate(content), None
        try:
            async with asyncio.timeout(timeout) as deadline:
                value = await tool.invoke(values)
            content = serialize_output(value)
        except Exception as error:
            # asyncio.timeout turns its own cancellation into TimeoutError; a TimeoutError the
            # tool raised itself (say, from an HTTP client) is an ordinary failure.
            if isinstance(error, TimeoutError) and deadline.expired():
                return self._timed_out(call, timeout)
            return self._failure(ToolExecutionError(f"Error: tool {call.name!r} failed: {_describe(error)}"))
        return self._truncate(content), None

    def _timed_out(self, call: ToolCall, timeout: float | None) -> tuple[str, ToolError]:
        return self._failure(ToolTimeout(f"Error: tool {call.name!r} timed out after {float(timeout or 0)}s"))

    def _failure(self, error: ToolError) -> tuple[str, ToolError]:
        return self._truncate(error.message), error

    def _truncate(self, text: str) -> str:
        limit = self.max_output_chars
        if len(text) <= limit:
            return text
        return f"{text[:limit]}...[truncated {len(text) - limit} chars]"


def serialize_output(value: Any) -> str:
    """Turn a tool's return value into the text the model reads.

    ``str`` as is; ``None`` as ``null``; pydantic models, dataclasses, dicts,
    lists, tuples and bools as compact JSON (unknown objects inside fall back
    to ``str``); anything else (numbers included) as ``str(value)``.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, dict | list | tuple | bool) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        return pydantic_core.to_json(value, fallback=str).decode()
    return str(value)


def _describe(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _preview(raw: Any, limit: int) -> str:
    text = raw if isinstance(raw, str) else _arguments_json(raw)
    return text if len(text) <= limit else f"{text[:limit]}…"


def _first(
    group: BaseExceptionGroup[PolicyStopped | NeedsConfirmation | AwaitingApproval],
) -> PolicyStopped | NeedsConfirmation | AwaitingApproval:
    """The first error that stops the run in a (possibly nested) exception group."""
    leaf = group.exceptions[0]
    return leaf if isinstance(leaf, PolicyStopped | NeedsConfirmation | AwaitingApproval) else _first(leaf)


def _error_type(error: ToolError | None) -> str | None:
    return type(error).__name__ if error is not None else None


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time.
_ENCODE_ARGUMENTS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _arguments_json(arguments: Any) -> str:
    try:
        return _ENCODE_ARGUMENTS(arguments)
    except (TypeError, ValueError):
        return str(arguments)
