"""Errors of the policy layer.

``PolicyError`` is a :class:`~agorakit.core.errors.ConfigError`: a policy that
cannot be loaded, composed or updated as given. ``PolicyDenied`` is the tool
error the dispatcher turns into an observation. ``PolicyStopped`` ends the run.
"""

from __future__ import annotations

from agorakit.core.errors import AgorakitError, ConfigError, ToolError
from agorakit.policy.decision import Decision


class PolicyError(ConfigError):
    """A policy file, composition or update that cannot be used as given.

    The message starts with where the problem is, e.g.
    ``policy.yaml: tools.send_money[1].when.amount: unsupported keyword 'exclusiveMaximum' (...)``.
    """


class PolicyDenied(ToolError):
    """The policy refused a tool call. ``message`` is the observation the model reads."""

    def __init__(self, message: str, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision


class PolicyStopped(AgorakitError):
    """A refused call whose fallback is ``stop``: the agent must end the run.

    Raised out of :meth:`ToolDispatcher.execute` and ``execute_all``; the
    call was not run. ``decision`` says which rule refused it and why.
    """

    default_hint = "the policy's fallback for this call is 'stop'; allow the call in the policy or change the task"

    def __init__(self, decision: Decision, *, tool: str, call_id: str | None = None) -> None:
        super().__init__(f"policy stopped the run: {tool} denied: {decision.reason}")
        self.decision = decision
        self.tool = tool
        self.call_id = call_id
