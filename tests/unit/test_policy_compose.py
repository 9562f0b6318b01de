"""Composing policies (base + task) and narrowing them during a run, with property tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agorakit.policy import Decision, Policy, PolicyError

BASE = Policy.from_dict(
    {
        "version": 1,
        "fallback": "stop",
        "tools": {
            "send_money": [{"effect": "deny", "priority": 100, "when": {"recipient": {"pattern": ".*evil.*"}}}],
            "get_balance": [{"effect": "allow"}],
        },
    },
    source="base.yaml",
)
TASK = Policy.from_dict(
    {
        "version": 1,
        "tools": {
            "send_money": [
                {"effect": "allow", "when": {"recipient": {"pattern": ".*"}, "amount": {"maximum": 100}}},
            ],
            "read_file": [{"effect": "allow", "when": {"path": {"enum": ["notes.txt"]}}}],
        },
    },
    source="task.yaml",
)


class Approvals:
    """An approver that answers from a list and records what it was asked."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, dict[str, Any], Decision]] = []

    async def __call__(self, tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
        self.asked.append((tool, dict(arguments), decision))
        return self.answers.pop(0)


# --- compose ---------------------------------------------------------------------------------------


def test_compose_merges_rules_per_tool() -> None:
    policy = BASE.compose(TASK)
    assert policy.tools == ("send_money", "get_balance", "read_file")
    assert policy.source == "base.yaml+task.yaml"
    assert policy.fallback == "stop"
    # Allowed by the task's rule, which is send_money[1] in the merged list.
    assert policy.check("send_money", {"recipient": "bob", "amount": 50}) == Decision(
        True, "allowed by rule send_money[1]", "send_money[1]", "error"
    )
    # The base's higher-priority deny beats the task's allow.
    assert policy.check("send_money", {"recipient": "evil", "amount": 50}) == Decision(
        False, "denied by rule send_money[0]", "send_money[0]", "stop"
    )
    assert policy.check("get_balance", {}).allowed  # only in the base
    assert policy.check("read_file", {"path": "notes.txt"}).allowed  # only in the task
    assert not policy.check("read_file", {"path": "/etc/passwd"}).allowed
    assert policy.check("delete_file", {}) == Decision(False, "tool not in policy", None, "stop")


def test_compose_keeps_the_right_policys_fallback_on_its_rules() -> None:
    merged = BASE.compose(TASK).to_dict()
    assert merged["fallback"] == "stop"
    assert merged["tools"]["send_money"][1]["fallback"] == "error"  # TASK's default, made explicit
    assert merged["tools"]["read_file"] == [
        {"effect": "allow", "when": {"path": {"enum": ["notes.txt"]}}, "fallback": "error"}
    ]
    # Calls to read_file that no rule allows still get the task's fallback.
    assert BASE.compose(TASK).check("read_file", {"path": "x"}).fallback == "error"


def test_deny_wins_ties_across_policies() -> None:
    allow = Policy.from_dict({"tools": {"t": [{"effect": "allow", "priority": 5}]}})
    deny = Policy.from_dict({"tools": {"t": [{"effect": "deny", "priority": 5}]}})
    assert not allow.compose(deny).check("t", {}).allowed
    assert not deny.compose(allow).check("t", {}).allowed


def test_compose_with_allow_all_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"cannot compose base.yaml \(mode enforce\) with <allow_all>"):
        BASE.compose(Policy.allow_all())
    assert Policy.allow_all().compose(Policy.allow_all()).check("t", {}).allowed


async def test_compose_after_narrowing_is_refused() -> None:
    narrowed = await BASE.narrow(Policy.from_dict({"tools": {"get_balance": [{"effect": "allow"}]}}))
    with pytest.raises(PolicyError, match="compose policies before narrowing them"):
        narrowed.compose(TASK)
    with pytest.raises(PolicyError, match="a narrowed policy has no single rule list"):
        narrowed.to_dict()


# --- narrow ---------------------------------------------------------------------------------------

CURRENT = Policy.from_dict(
    {
        "tools": {
            "send_money": [{"effect": "allow", "when": {"amount": {"maximum": 1000}}}],
            "get_balance": [{"effect": "allow"}],
        }
    }
)


async def test_narrowing_update_is_applied_without_approval() -> None:
    update = Policy.from_dict({"tools": {"send_money": [{"effect": "allow", "when": {"amount": {"maximum": 100}}}]}})
    narrowed = await CURRENT.narrow(update)
    assert narrowed.narrowed
    assert narrowed.check("send_money", {"amount": 50}) == Decision(
        True, "allowed by rule send_money[0]", "send_money[0]", "error"
    )
    assert narrowed.check("send_money", {"amount": 500}) == Decision(
        False, "no rule of the policy allows this call (update1)", None, "error"
    )
    assert narrowed.check("send_money", {"amount": 5000}).reason == "no rule of the policy allows this call"
    # get_balance is not in the update: the update denies it.
    assert narrowed.check("get_balance", {}) == Decision(False, "tool not in policy (update1)", None, "error")


async def test_update_rules_are_labelled_in_decisions() -> None:
    update = Policy.from_dict(
        {
            "tools": {
                "send_money": [
                    {"effect": "allow"},
                    {"effect": "deny", "priority": 1, "when": {"amount": {"minimum": 10}}},
                ]
            }
        }
    )
    first = await CURRENT.narrow(update)
    assert first.check("send_money", {"amount": 20}).rule == "update1:send_money[1]"
    second = await first.narrow(update)
    assert second.check("send_money", {"amount": 5}).allowed
    assert second.check("send_money", {"amount": 20}).rule == "update1:send_money[1]"


async def test_widening_with_a_new_tool_is_refused_without_approval() -> None:
    update = Policy.from_dict({"tools": {"delete_file": [{"effect": "allow"}]}})
    with pytest.raises(PolicyError) as caught:
        await CURRENT.narrow(update)
    assert caught.value.message == (
        "policy update refused: the update allows tool 'delete_file', which the current policy does not mention"
    )


async def test_widening_refused_by_the_approver() -> None:
    approver = Approvals(False)
    update = Policy.from_dict({"tools": {"delete_file": [{"effect": "allow"}]}})
    with pytest.raises(PolicyError, match=r"\(not approved\)$"):
        await CURRENT.narrow(update, approver)
    [(tool, arguments, decision)] = approver.asked
    assert (tool, arguments) == ("delete_file", {})
    assert decision == Decision(
        False, "the update allows tool 'delete_file', which the current policy does not mention", None, "ask"
    )


async def test_widening_with_approval_adds_the_tool() -> None:
    update = Policy.from_dict(
        {
            "tools": {
                "delete_file": [{"effect": "allow", "when": {"path": {"pattern": "/tmp/.*"}}}],
                "send_money": [{"effect": "allow", "when": {"amount": {"maximum": 10}}}],
            }
        }
    )
    widened = await CURRENT.narrow(update, Approvals(True))
    assert widened.check("delete_file", {"path": "/tmp/x"}).allowed
    assert not widened.check("delete_file", {"path": "/etc/passwd"}).allowed
    # The rest of the update still narrows.
    assert widened.check("send_money", {"amount": 5}).allowed
    assert not widened.check("send_money", {"amount": 50}).allowed
    assert not widened.check("get_balance", {}).allowed


async def test_approved_tool_reaches_through_earlier_updates() -> None:
    first = await CURRENT.narrow(Policy.from_dict({"tools": {"get_balance": [{"effect": "allow"}]}}))
    widened = await first.narrow(Policy.from_dict({"tools": {"search": [{"effect": "allow"}]}}), Approvals(True))
    assert widened.check("search", {}).allowed
    # The second update does not mention get_balance: it narrows it away, as any update would.
    assert widened.check("get_balance", {}).reason == "tool not in policy (update2)"
    assert not widened.check("send_money", {"amount": 1}).allowed


async def test_switching_to_allow_all_needs_approval() -> None:
    with pytest.raises(PolicyError, match="the update switches to allow_all mode"):
        await CURRENT.narrow(Policy.allow_all())
    approver = Approvals(True)
    widened = await CURRENT.narrow(Policy.allow_all(), approver)
    assert widened.check("anything", {}).allowed
    assert approver.asked[0][0] == "*"


async def test_an_update_that_only_denies_a_new_tool_is_not_widening() -> None:
    update = Policy.from_dict(
        {"tools": {"get_balance": [{"effect": "allow"}], "delete_file": [{"effect": "deny", "reason": "no"}]}}
    )
    narrowed = await CURRENT.narrow(update)
    assert not narrowed.check("delete_file", {}).allowed


async def test_narrowing_allow_all_gives_the_update() -> None:
    update = Policy.from_dict({"tools": {"t": [{"effect": "allow"}]}})
    narrowed = await Policy.allow_all().narrow(update)
    assert narrowed.check("t", {}).allowed
    assert not narrowed.check("u", {}).allowed


# --- properties ------------------------------------------------------------------------------------

TOOLS = ("a", "b", "c")
ARGUMENTS = ("x", "y")

constraints = st.one_of(
    st.builds(lambda v: {"enum": v}, st.lists(st.integers(0, 4), min_size=1, max_size=3)),
    st.builds(lambda v: {"minimum": v}, st.integers(0, 4)),
    st.builds(lambda v: {"maximum": v}, st.integers(0, 4)),
    st.builds(lambda v: {"not": {"const": v}}, st.integers(0, 4)),
)
rule = st.fixed_dictionaries(
    {"effect": st.sampled_from(["allow", "deny"]), "priority": st.integers(-2, 2)},
    optional={"when": st.dictionaries(st.sampled_from(ARGUMENTS), constraints, max_size=2)},
)
policies = st.builds(
    lambda tools: Policy.from_dict({"version": 1, "tools": tools}),
    st.dictionaries(st.sampled_from(TOOLS), st.lists(rule, max_size=4), max_size=3),
)
calls = st.tuples(
    st.sampled_from((*TOOLS, "d")),
    st.dictionaries(st.sampled_from(ARGUMENTS), st.integers(0, 4), max_size=2),
)


def reference(policy: Policy, tool: str, arguments: dict[str, Any]) -> bool:
    """The semantics, written the slow and obvious way."""
    candidates = [
        rule
        for rule in policy.rules(tool)
        if all(name in arguments and _holds(c, arguments[name]) for name, c in rule.when.items())
    ]
    if not candidates:
        return False
    top = max(rule.priority for rule in candidates)
    return not any(rule.effect == "deny" for rule in candidates if rule.priority == top)


def _holds(constraint: Mapping[str, Any], value: int) -> bool:
    if "enum" in constraint:
        return value in constraint["enum"]
    if "minimum" in constraint:
        return bool(value >= constraint["minimum"])
    if "maximum" in constraint:
        return bool(value <= constraint["maximum"])
    return bool(value != constraint["not"]["const"])


@settings(max_examples=300, deadline=None)
@given(policies, st.lists(calls, min_size=1, max_size=8))
def test_check_matches_the_reference_semantics(policy: Policy, sample: list[tuple[str, dict[str, Any]]]) -> None:
    for tool, arguments in sample:
        assert policy.check(tool, arguments).allowed == reference(policy, tool, arguments)


@settings(max_examples=300, deadline=None)
@given(policies, policies, st.lists(calls, min_size=1, max_size=8))
def test_compose_allows_only_what_one_side_allows(
    p: Policy, q: Policy, sample: list[tuple[str, dict[str, Any]]]
) -> None:
    composed = p.compose(q)
    for tool, arguments in sample:
        allowed = composed.check(tool, arguments).allowed
        assert not allowed or p.check(tool, arguments).allowed or q.check(tool, arguments).allowed
        assert allowed == reference(composed, tool, arguments)


async def _refuse(tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
    return False


async def _approve(tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
    return True


@settings(max_examples=300, deadline=None)
@given(policies, policies, st.lists(calls, min_size=1, max_size=8))
async def test_narrow_never_allows_what_the_current_policy_denies(
    p: Policy, q: Policy, sample: list[tuple[str, dict[str, Any]]]
) -> None:
    try:
        narrowed = await p.narrow(q, _refuse)
    except PolicyError:
        return  # a widening update, refused: the current policy stays
    for tool, arguments in sample:
        allowed = narrowed.check(tool, arguments).allowed
        assert allowed == (p.check(tool, arguments).allowed and q.check(tool, arguments).allowed)


@settings(max_examples=200, deadline=None)
@given(policies, policies, st.lists(calls, min_size=1, max_size=8))
async def test_approved_widening_adds_nothing_beyond_the_update(
    p: Policy, q: Policy, sample: list[tuple[str, dict[str, Any]]]
) -> None:
    narrowed = await p.narrow(q, _approve)
    for tool, arguments in sample:
        allowed = narrowed.check(tool, arguments).allowed
        assert not allowed or q.check(tool, arguments).allowed
        if p.mentions(tool):
            assert not allowed or p.check(tool, arguments).allowed
