"""Privilege control over tool calls (after Progent): policies, decisions, audit, approval.

``Policy.load("policy.yaml")`` reads a policy; ``policy.check(tool, arguments)``
decides one call in microseconds; ``ToolDispatcher(tools, policy=...)`` puts
it in front of every call, through a :class:`PolicyGate` that audits each
decision in the trace and applies the refused call's fallback (an error
observation, stopping the run, or asking a human). See ``docs/policies.md``.

``source`` rules look values up in the run's
:class:`~agorakit.core.provenance.Provenance` (re-exported here with
``recording``), which agent runs keep and the dispatcher fills.

``generate_policy`` (it needs the kernel) and ``cli_approver`` (it needs rich)
are loaded on first use, so importing the dispatcher stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agorakit.core.provenance import Provenance, Trust, recording
from agorakit.policy.decision import Decision, Effect, Fallback, Mode
from agorakit.policy.errors import PolicyDenied, PolicyError, PolicyStopped
from agorakit.policy.gate import PolicyGate
from agorakit.policy.loader import KnownTools, Rule
from agorakit.policy.policy import Approver, Policy

if TYPE_CHECKING:
    from agorakit.policy.approval import cli_approver
    from agorakit.policy.generate import generate_policy, policy_json_schema

_LAZY = {
    "cli_approver": "agorakit.policy.approval",
    "generate_policy": "agorakit.policy.generate",
    "policy_json_schema": "agorakit.policy.generate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agorakit.policy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Approver",
    "Decision",
    "Effect",
    "Fallback",
    "KnownTools",
    "Mode",
    "Policy",
    "PolicyDenied",
    "PolicyError",
    "PolicyGate",
    "PolicyStopped",
    "Provenance",
    "Rule",
    "Trust",
    "cli_approver",
    "generate_policy",
    "policy_json_schema",
    "recording",
]
