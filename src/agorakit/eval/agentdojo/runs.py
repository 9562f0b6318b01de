"""One replayed run: its scope (who the user is), the calls it makes, and AgentDojo's verdicts on it.

Both replays (tasks alone, and user × injection pairs) are built from these:
every call goes through a :class:`~agorakit.tools.ToolDispatcher` inside
:func:`replay_run`, is logged by a :class:`CallLog`, and the run is judged by
:func:`judge_utility` / :func:`judge_security`, which ask AgentDojo's checks in
the order AgentDojo asks them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agorakit.core.context import RunContext, using_context
from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message, ToolCall, user
from agorakit.eval.agentdojo.results import DeniedCall

if TYPE_CHECKING:
    from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
    from agentdojo.functions_runtime import FunctionCall, TaskEnvironment

    from agorakit.tools import ToolDispatcher, ToolResult

POLICY_DENIED = "PolicyDenied"
REPLAY_AGENT = "agentdojo-replay"
"""The agent name a replayed run's context carries."""


def replay_run(user_prompt: str | None) -> using_context:
    """The scope of one replayed run: a fresh run id, and what the user said in it.

    This is the one place that says which values of a replayed run come from
    the user: the run's conversation holds a single user turn, ``user_prompt``
    (a user task's ``PROMPT``; ``None`` for an injection task replayed on its
    own, whose goal is the attacker's words, not the user's). Anything the
    dispatcher or the policy keeps per run (values seen in tool outputs, say)
    starts empty in each scope, so no run sees another's.
    """
    messages: list[Message] = [user(user_prompt)] if user_prompt else []
    return using_context(RunContext(None, REPLAY_AGENT, new_run_id(), messages=messages))


class CallLog:
    """The ground-truth calls one run made through a dispatcher, and the trace AgentDojo's judges read.

    The trace holds the calls that reached their tool: a call the policy
    refused never ran, so it is not in it (a trace-based judge would
    otherwise count an attack in which nothing happened). A call that ran
    and failed is in it, with its error in :attr:`errors`.
    """

    __slots__ = ("_dispatcher", "_label", "calls", "denied", "errors", "trace")

    def __init__(self, dispatcher: ToolDispatcher, label: str) -> None:
        self._dispatcher = dispatcher
        self._label = label
        self.calls = 0
        self.denied: list[DeniedCall] = []
        self.errors: list[str] = []
        self.trace: list[FunctionCall] = []

    async def make(self, function_call: FunctionCall) -> ToolResult:
        """Make one AgentDojo ground-truth call through the dispatcher (and its policy)."""
        arguments = dict(function_call.args)
        call = ToolCall(f"{self._label}-{self.calls}", function_call.function, arguments)
        self.calls += 1
        result = await self._dispatcher.execute(call)
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
