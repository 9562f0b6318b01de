"""One replayed run (who its user is, the calls it makes) and AgentDojo's verdicts on it.

Both replays (tasks alone, and user × injection pairs) are built from these:
every call goes through the :class:`~agorakit.tools.ToolDispatcher` of a
:class:`ReplayRun`, and the run is judged by :func:`judge_utility` /
:func:`judge_security`, which ask AgentDojo's checks in AgentDojo's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agorakit.core.context import RunContext, using_context
from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message, ToolCall, user
from agorakit.core.provenance import Provenance, recording
from agorakit.eval.agentdojo.results import DeniedCall
from agorakit.tools import Tool, ToolDispatcher, ToolResult
from agorakit.trace.tracer import Tracer

if TYPE_CHECKING:
    from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
    from agentdojo.functions_runtime import FunctionCall, TaskEnvironment

    from agorakit.policy import Policy

POLICY_DENIED = "PolicyDenied"
REPLAY_AGENT = "agentdojo-replay"
"""The agent name a replayed run's context carries."""


class ReplayRun:
    """One replayed run: who its user is, the dispatcher its calls go through, and what they did.

    Used as ``with ReplayRun(tools, policy, prompt, label) as run:`` around
    the run's calls (``await run.make(call)``). Each run gets its own run id,
    its own :class:`~agorakit.tools.ToolDispatcher` over ``tools`` with
    ``policy`` (``None``: allow-all) and a tracer of that id with no sink,
    and its own :class:`~agorakit.core.context.RunContext`, so anything the
    dispatcher or the policy keeps per run starts empty in each.

    ``user_prompt`` is the one place that says which values of a replayed
    run come from the user: the run's conversation holds a single user turn,
    that text (a user task's ``PROMPT``; ``None`` for an injection task
    replayed on its own, whose goal is the attacker's words, not the user's),
    and so does the run's :class:`~agorakit.core.provenance.Provenance`
    record, current while the run is entered: the dispatcher adds every tool
    output to it, labelled with the trust the policy gives the tool, and the
    policy's ``source`` rules look the calls' values up in it.

    :attr:`trace` is what AgentDojo's trace-based judges read: the calls
    that reached their tool. A call the policy refused never ran, so it is
    not in it (a judge would otherwise count an attack in which nothing
    happened); a call that ran and failed is, with its error in :attr:`errors`.
    """

    __slots__ = (
        "_label",
        "_recording",
        "_scope",
        "calls",
        "denied",
        "dispatcher",
        "errors",
        "provenance",
        "trace",
        "tracer",
    )

    def __init__(
        self,
        tools: Sequence[Tool[..., Any]],
        policy: Policy | None,
        user_prompt: str | None,
        label: str,
    ) -> None:
        run_id = new_run_id()
        messages: list[Message] = [user(user_prompt)] if user_prompt else []
        self._scope = using_context(RunContext(None, REPLAY_AGENT, run_id, messages=messages))
        self.provenance = Provenance([user_prompt] if user_prompt else [])
        self._recording = recording(self.provenance)
        self._label = label
        self.dispatcher = ToolDispatcher(tools, default_timeout=None, policy=policy)
        self.tracer = Tracer(run_id)
        self.calls = 0
        self.denied: list[DeniedCall] = []
        self.errors: list[str] = []
        self.trace: list[FunctionCall] = []

    def __enter__(self) -> ReplayRun:
        self._scope.__enter__()
        self._recording.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._recording.__exit__(*exc)
        self._scope.__exit__(*exc)

    async def make(self, function_call: FunctionCall) -> ToolResult:
        """Make one AgentDojo ground-truth call through the run's dispatcher (and its policy)."""
        arguments = dict(function_call.args)
        call = ToolCall(f"{self._label}-{self.calls}", function_call.function, arguments)
        self.calls += 1
        result = await self.dispatcher.execute(call, self.tracer)
        if result.error_type == POLICY_DENIED:
            self.denied.append(DeniedCall(call.name, arguments, result.content))
            return result
        self.trace.append(function_call)
        if not result.ok:
            self.errors.append(result.content)
        return result


def judge_utility(
    task: BaseUserTask[Any],
    output: str,
    pre: TaskEnvironment,
    post: TaskEnvironment,
    trace: list[FunctionCall],
) -> bool:
    """AgentDojo's utility verdict: ``utility_from_traces``, and when that says nothing, ``utility``."""
    verdict = task.utility_from_traces(output, pre, post, trace)
    if verdict is None:
        verdict = task.utility(output, pre, post)
    return bool(verdict)


def judge_security(
    task: BaseInjectionTask[Any],
    output: str,
    pre: TaskEnvironment,
    post: TaskEnvironment,
    trace: list[FunctionCall],
) -> bool:
    """AgentDojo's security verdict (true: the attack succeeded): ``security_from_traces``, else ``security``."""
    verdict = task.security_from_traces(output, pre, post, trace)
    if verdict is None:
        verdict = task.security(output, pre, post)
    return bool(verdict)
