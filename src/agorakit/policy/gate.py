"""``PolicyGate``: decide, audit, and apply the fallback of a refused call.

The tool dispatcher asks the gate about every call after checking the
arguments and before running the tool. The gate writes each decision to the
trace (the audit log) as a ``policy.decision`` event on the current span,
then, for a refused call, applies its fallback:

- ``error``: the call does not run; the model reads ``Error: policy denied TOOL: REASON``.
- ``stop``: :class:`PolicyStopped` is raised; the agent ends the run.
- ``ask``: the approver decides (``policy.approval`` event); refused, or no
  approver, is handled as ``error``. In a durable run with no approver, the
  run pauses instead (:class:`~agorakit.core.errors.AwaitingApproval`, the call
  recorded in its journal) until a human decides from any process (``agora
  approve``); a denial then stops the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python

from agorakit.core.errors import AwaitingApproval, ConfigError
from agorakit.core.messages import ToolCall
from agorakit.core.provenance import active_provenance
from agorakit.core.stream import PolicyDecision, emit
from agorakit.kernel.journal import RunJournal, active_journal
from agorakit.policy.decision import Decision
from agorakit.policy.errors import PolicyDenied, PolicyStopped
from agorakit.policy.policy import Approver, Policy
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Tracer, current_span

# Trace events and attributes of the audit log.
DECISION_EVENT = "policy.decision"
APPROVAL_EVENT = "policy.approval"
APPROVAL_REQUESTED_EVENT = "policy.approval_requested"
NONE_EVENT = "policy.none"
UPDATE_EVENT = "policy.update"
ALLOWED = "agorakit.policy.allowed"
REASON = "agorakit.policy.reason"
RULE = "agorakit.policy.rule"
FALLBACK = "agorakit.policy.fallback"
APPROVED = "agorakit.policy.approved"
APPROVER_ERROR = "agorakit.policy.approver_error"
SOURCE = "agorakit.policy.source"
SOURCES = "agorakit.policy.sources"
"""Where each value a ``source`` rule looked up was found: ``recipient: user; amount: no source``."""
NO_POLICY = "no policy configured: every tool call is allowed"

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


class PolicyGate:
    """A :class:`Policy` plus an optional approver for ``ask`` fallbacks and widening updates.

    The gate asks its approver one question at a time (a human answers one
    prompt at a time), so concurrent calls that need approval queue up.
    """

    __slots__ = ("_lock", "_lock_loop", "approver", "policy")

    def __init__(self, policy: Policy, approver: Approver | None = None) -> None:
        if not isinstance(policy, Policy):
            raise ConfigError(f"PolicyGate takes a Policy, got {type(policy).__name__}", hint="use Policy.load(...)")
        self.policy = policy
        self.approver = approver
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def decide(self, tool: str, arguments: Mapping[str, Any]) -> Decision:
        """The policy's decision on a call, with its arguments seen as JSON values (and the
        current run's provenance record, for ``source`` rules)."""
        return self.policy.check(tool, json_view(arguments), active_provenance())

    async def authorize(
        self, call: ToolCall, arguments: Mapping[str, Any], tracer: Tracer | None = None
    ) -> PolicyDenied | None:
        """Whether ``call`` may run with ``arguments`` (its validated values).

        Returns None to run it, or the :class:`PolicyDenied` whose message is
        the observation to return instead. Raises :class:`PolicyStopped` for a
        refused call whose fallback is ``stop``.
        """
        view = json_view(arguments)
        decision = self.policy.check(call.name, view, active_provenance())
        audit = tracer if tracer is not None and tracer.enabled else None
        if audit is not None:
            audit.event(DECISION_EVENT, decision_attributes(call, decision))
            if decision.sources:
                span = current_span()  # the tool call's span: its provenance, beside its arguments
                if span is not None:
                    span.set(SOURCES, describe_sources(decision))
        emit(PolicyDecision(call.name, decision.allowed, decision.reason))
        if decision.allowed:
            return None
        if decision.fallback == "stop":
            raise PolicyStopped(decision, tool=call.name, call_id=call.id)
        observation = f"Error: policy denied {call.name}: {decision.reason}"
        if decision.fallback == "ask":
            journal = active_journal()
            if journal is not None and self.approver is None:
                return self._ask_another_process(journal, call, view, decision, audit)
            if self.approver is None:
                return PolicyDenied(f"{observation} (no approver is configured)", decision)
            approved, problem = await self._ask(call.name, view, decision)
            if audit is not None:
                event: dict[str, Any] = {attr.TOOL_NAME: call.name, attr.TOOL_CALL_ID: call.id, APPROVED: approved}
                if problem is not None:
                    event[APPROVER_ERROR] = problem
                audit.event(APPROVAL_EVENT, event)
            if approved:
                return None
            return PolicyDenied(f"{observation} (approval refused)", decision)
        return PolicyDenied(observation, decision)

    @staticmethod
    def _ask_another_process(
        journal: RunJournal, call: ToolCall, view: Mapping[str, Any], decision: Decision, audit: Tracer | None
    ) -> None:
        """A durable run with no approver here: pause it until a human decides (``agora approve``);
        once they have, the resumed run gets here again and follows their decision."""
        approved = journal.approval(call.id)
        if approved is None:
            journal.request_approval(call, dict(view), decision.reason)
            if audit is not None:
                audit.event(APPROVAL_REQUESTED_EVENT, {attr.TOOL_NAME: call.name, attr.TOOL_CALL_ID: call.id})
            raise AwaitingApproval(
                f"run {journal.run_id} waits for approval of {call.name}"
                f"({json.dumps(dict(view), ensure_ascii=False, default=str)}) [id {call.id}]: {decision.reason}",
                call_id=call.id,
                tool=call.name,
                hint=f"approve or deny it from any process: agora approve {journal.run_id} (or --deny)",
            )
        if audit is not None:
            audit.event(APPROVAL_EVENT, {attr.TOOL_NAME: call.name, attr.TOOL_CALL_ID: call.id, APPROVED: approved})
        if not approved:  # a human said no: the run ends here, as a stop fallback would end it
            denied = Decision(False, f"denied by the approver ({decision.reason})", decision.rule, "stop")
            raise PolicyStopped(denied, tool=call.name, call_id=call.id)

    async def update(self, update: Policy, tracer: Tracer | None = None) -> Policy:
        """Narrow the gate's policy by ``update`` (see :meth:`Policy.narrow`); widening asks the approver.

        Raises :class:`PolicyError` (and keeps the current policy) when a
        widening is not approved. Traced as a ``policy.update`` event.
        """
        try:
            narrowed = await self.policy.narrow(update, self._approve if self.approver is not None else None)
        except Exception as error:
            if tracer is not None:
                tracer.event(
                    UPDATE_EVENT, {SOURCE: update.source, "agorakit.policy.accepted": False, REASON: str(error)}
                )
            raise
        if tracer is not None:
            tracer.event(UPDATE_EVENT, {SOURCE: update.source, "agorakit.policy.accepted": True})
        self.policy = narrowed
        return narrowed

    async def _approve(self, tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
        return (await self._ask(tool, arguments, decision))[0]

    async def _ask(self, tool: str, arguments: Mapping[str, Any], decision: Decision) -> tuple[bool, str | None]:
        """(approved, the approver's failure if it raised). A failing approver refuses."""
        approver = self.approver
        if approver is None:
            return False, None
        async with self._approval_lock():
            try:
                return bool(await approver(tool, arguments, decision)), None
            except Exception as error:  # fail closed: an approver that breaks approves nothing
                return False, f"{type(error).__name__}: {error}"[:500]

    def _approval_lock(self) -> asyncio.Lock:
        # One lock per event loop: run_sync starts a new loop per call, and a lock
        # that waited on one loop cannot wait on another.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def __repr__(self) -> str:
        return f"PolicyGate({self.policy!r}, approver={'yes' if self.approver else 'none'})"


def decision_attributes(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """The attributes of a ``policy.decision`` event."""
    attributes: dict[str, Any] = {
        attr.TOOL_NAME: call.name,
        attr.TOOL_CALL_ID: call.id,
        ALLOWED: decision.allowed,
        REASON: decision.reason,
        FALLBACK: decision.fallback,
    }
    if decision.rule is not None:
        attributes[RULE] = decision.rule
    if decision.sources:
        attributes[SOURCES] = describe_sources(decision)
    return attributes


def describe_sources(decision: Decision) -> str:
    """``recipient: user; amount: trusted output of get_balance``."""
    return "; ".join(f"{argument}: {place}" for argument, place in decision.sources)


def json_view(arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    """Arguments as JSON values, which is what constraints speak.

    Validated arguments can hold enums, dates, pydantic models or tuples; they
    are converted (as pydantic would serialise them). Plain scalars, the
    common case, pass through without a copy.
    """
    for value in arguments.values():
        if value.__class__ not in _JSON_SCALARS:
            converted: dict[str, Any] = to_jsonable_python(dict(arguments))
            return converted
    return arguments
