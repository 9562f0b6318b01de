"""A tool's rules made ready to check: in evaluation order, each with the decision it gives.

Evaluation order is priority descending, deny before allow at equal
priority, then as written; every :class:`Decision` a rule can give is built
here, once, so that checking a call only runs predicates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agorakit.policy.decision import Decision, Fallback
from agorakit.policy.loader import Rule
from agorakit.policy.sources import Requirements

NO_RULE = "no rule of the policy allows this call"


class CompiledRule:
    """A rule ready to check: its argument predicates, its source constraints and the decision it gives."""

    __slots__ = ("checks", "decision", "sources")

    def __init__(
        self, checks: tuple[tuple[str, Callable[[Any], bool]], ...], decision: Decision, sources: Requirements
    ) -> None:
        self.checks = checks
        self.decision = decision
        self.sources = sources


def compile_rules(
    tool: str, rules: tuple[Rule, ...], *, label: str | None, fallback: Fallback, suffix: str
) -> tuple[tuple[CompiledRule, ...], Decision]:
    """``tool``'s rules in evaluation order, and the decision when none holds.

    Rules are named ``TOOL[i]`` by their place as written (``LABEL:TOOL[i]`` in a
    labelled policy); ``fallback`` is the policy's, for rules that set none.
    """
    prefix = f"{label}:" if label else ""
    named = [(f"{prefix}{tool}[{index}]", rule) for index, rule in enumerate(rules)]
    ordered = sorted(named, key=lambda item: (-item[1].priority, item[1].effect != "deny"))
    compiled = tuple(
        CompiledRule(rule.checks, rule_decision(name, rule, fallback), rule.sources) for name, rule in ordered
    )
    # A call no rule holds for takes the fallback of the first allow rule that sets one:
    # an allow rule's fallback says what to do with calls that fall outside it.
    unmatched = next(
        (rule.fallback for _, rule in ordered if rule.effect == "allow" and rule.fallback is not None),
        fallback,
    )
    return compiled, Decision(False, NO_RULE + suffix, None, unmatched)


def rule_decision(name: str, rule: Rule, fallback: Fallback) -> Decision:
    """What ``rule`` decides when it holds."""
    allowed = rule.effect == "allow"
    reason = f"{'allowed' if allowed else 'denied'} by rule {name}"
    if rule.reason:
        reason = f"{reason}: {rule.reason}"
    return Decision(allowed, reason, name, rule.fallback or fallback)
