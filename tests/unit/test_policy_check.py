"""Policy.check: every constraint keyword, full-match patterns, priorities, ties, modes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agorakit.policy import Decision, Policy, PolicyError, Rule


def one_rule(constraint: dict[str, Any], effect: str = "allow") -> Policy:
    return Policy.from_dict({"version": 1, "tools": {"t": [{"effect": effect, "when": {"x": constraint}}]}})


def allows(constraint: dict[str, Any], value: Any) -> bool:
    return one_rule(constraint).check("t", {"x": value}).allowed


# --- keywords: (constraint, values that pass, values that fail) ---------------------------------

CASES: list[tuple[dict[str, Any], list[Any], list[Any]]] = [
    ({"enum": ["a", "b"]}, ["a", "b"], ["c", "A", "", None, 1, ["a"]]),
    ({"enum": [1, 2.5, None]}, [1, 1.0, 2.5, None], [True, "1", 3, 0]),
    ({"enum": [True]}, [True], [1, 1.0, "true", False]),
    ({"enum": [[1, 2], {"k": "v"}]}, [[1, 2], (1, 2), {"k": "v"}], [[2, 1], [1, 2, 3], {"k": "w"}, [True, 2]]),
    ({"const": "GB29"}, ["GB29"], ["GB29 ", "gb29", None]),
    ({"const": 0}, [0, 0.0], [False, "0", None]),
    ({"const": False}, [False], [0, None, "false"]),
    ({"pattern": "[a-z]+"}, ["abc", "z"], ["", "abc1", "ABC", "abc\n", 5, None]),
    ({"minimum": 0}, [0, 0.0, 1, 1e9], [-1, -0.5, "5", True, None, float("nan")]),
    ({"maximum": 1000}, [1000, -5, 999.99], [1000.01, 1001, float("inf"), "10", False]),
    ({"minimum": 1, "maximum": 3}, [1, 2, 3, 2.5], [0, 3.5, 4]),
    ({"minLength": 2}, ["ab", "abc"], ["", "a", ["a", "b"], 12]),
    ({"maxLength": 3}, ["", "abc"], ["abcd", ["a"], 1]),
    ({"minLength": 1, "maxLength": 1}, ["x"], ["", "xy"]),
    ({"items": {"enum": ["a", "b"]}}, [[], ["a"], ["a", "b", "a"], ("b",)], [["c"], ["a", "c"], "ab", None]),
    ({"items": {"items": {"maximum": 1}}}, [[[0, 1], []]], [[[2]], [1]]),
    (
        {"format": "email"},
        ["a@b.co", "first.last+tag@mail.example.org"],
        ["a@b", "a b@c.d", "@b.co", "a@@b.co", "a@b.co\n", 1],
    ),
    (
        {"format": "uri"},
        ["https://x.y/p?q=1", "mailto:a@b.c", "urn:isbn:1"],
        ["no scheme", "/path", "http://x y", "1http://x", "http://[::1"],
    ),
    (
        {"format": "url"},
        ["https://www.trusted.com/a", "http://10.0.0.1:8080"],
        ["mailto:a@b.c", "https://", "www.trusted.com"],
    ),
    ({"format": "date"}, ["2024-05-01", "2024-02-29"], ["2023-02-29", "2024-5-1", "20240501", "2024-05-01T00:00:00"]),
    (
        {"format": "date-time"},
        ["2024-05-01T10:00:00Z", "2024-05-01t10:00:00.5+02:00", "2024-05-01 10:00:00-05:00"],
        ["2024-05-01T10:00:00", "2024-05-01T25:00:00Z", "2024-05-01", "2024-05-01T10:00Z"],
    ),
    ({"format": "ipv4"}, ["192.168.0.1", "0.0.0.0"], ["256.1.1.1", "1.2.3", "01.2.3.4", "::1", "1.2.3.4 "]),
    ({"format": "ipv6"}, ["::1", "2001:db8::8a2e:370:7334"], ["1.2.3.4", ":::", "2001:db8::g"]),
    ({"format": "hostname"}, ["www.trusted.com", "localhost"], ["-bad.com", "a..b", "under_score.com", "a b"]),
    ({"anyOf": [{"const": "a"}, {"pattern": "b+"}]}, ["a", "bbb"], ["ab", "c"]),
    ({"not": {"pattern": ".*evil.*"}}, ["good.com"], ["evil.com", "very-evil"]),
    ({}, ["anything", 0, None, []], []),
]


@pytest.mark.parametrize(("constraint", "good", "bad"), CASES, ids=[str(c) for c, _, _ in CASES])
def test_keyword(constraint: dict[str, Any], good: list[Any], bad: list[Any]) -> None:
    assert [value for value in good if not allows(constraint, value)] == []
    assert [value for value in bad if allows(constraint, value)] == []


def test_every_keyword_of_a_constraint_must_hold() -> None:
    constraint = {"pattern": "[a-z]+", "maxLength": 3, "enum": ["ab", "abcd", "AB"]}
    assert allows(constraint, "ab")
    assert not allows(constraint, "abcd")  # too long
    assert not allows(constraint, "AB")  # pattern


# --- full-match patterns ---------------------------------------------------------------------------

EVIL = "https://evil.example/?a=www.trusted.com"


def test_pattern_is_a_full_match_not_a_search() -> None:
    assert re.search(r"www\.trusted\.com", EVIL)  # what an unanchored pattern (Progent's) lets through
    assert not allows({"pattern": r"www\.trusted\.com"}, EVIL)
    assert allows({"pattern": r"www\.trusted\.com"}, "www.trusted.com")


def test_url_pattern_for_a_host_rejects_the_host_in_a_query() -> None:
    host_urls = r"https://www\.trusted\.com(/[^?#]*)?(\?[^#]*)?"
    assert allows({"pattern": host_urls}, "https://www.trusted.com/page?id=1")
    assert not allows({"pattern": host_urls}, EVIL)
    assert not allows({"pattern": host_urls}, "https://www.trusted.com.evil.example/")
    assert not allows({"pattern": host_urls}, "https://www.trusted.com@evil.example/")
    assert not allows({"pattern": r"https?://[^/]*www\.trusted\.com.*"}, EVIL)


def test_anchored_looking_patterns() -> None:
    anchored = r"^www\.trusted\.com$"
    assert allows({"pattern": anchored}, "www.trusted.com")
    assert not allows({"pattern": anchored}, "www.trusted.com\n")  # re.match with $ would accept this
    assert not allows({"pattern": anchored}, EVIL)
    assert not allows({"pattern": r"^https://www\.trusted\.com"}, "https://www.trusted.com.evil.example")


def test_alternation_is_matched_as_a_whole() -> None:
    assert allows({"pattern": "alice|bob"}, "bob")
    assert not allows({"pattern": "alice|bob"}, "alice-and-mallory")
    assert not allows({"pattern": "alice|bob"}, "mallory-bob")


# --- rules, priorities, ties -------------------------------------------------------------------------

PAYMENTS = Policy.from_dict(
    {
        "version": 1,
        "fallback": "error",
        "tools": {
            "send_money": [
                {
                    "effect": "allow",
                    "priority": 10,
                    "when": {
                        "recipient": {"enum": ["GB29NWBK60161331926819"]},
                        "amount": {"maximum": 1000, "minimum": 0},
                    },
                    "fallback": "ask",
                    "reason": "pay only known payees",
                },
                {"effect": "deny", "priority": 20, "when": {"recipient": {"pattern": ".*evil.*"}}},
            ],
            "get_balance": [{"effect": "allow"}],
        },
    }
)


def test_allowed_by_a_rule() -> None:
    decision = PAYMENTS.check("send_money", {"recipient": "GB29NWBK60161331926819", "amount": 500})
    assert decision == Decision(True, "allowed by rule send_money[0]: pay only known payees", "send_money[0]", "ask")


def test_rule_without_when_matches_every_call() -> None:
    assert PAYMENTS.check("get_balance", {}) == Decision(
        True, "allowed by rule get_balance[0]", "get_balance[0]", "error"
    )
    assert PAYMENTS.check("get_balance", {"anything": 1}).allowed


def test_no_rule_holds_takes_the_allow_rules_fallback() -> None:
    decision = PAYMENTS.check("send_money", {"recipient": "GB29NWBK60161331926819", "amount": 5000})
    assert decision == Decision(False, "no rule of the policy allows this call", None, "ask")


def test_tool_not_in_policy_is_denied() -> None:
    assert PAYMENTS.check("calculator", {"expression": "1+1"}) == Decision(False, "tool not in policy", None, "error")


def test_higher_priority_deny_wins() -> None:
    policy = Policy.from_dict(
        {
            "tools": {
                "send_money": [
                    {"effect": "allow", "priority": 10, "when": {"recipient": {"pattern": ".*"}}},
                    {"effect": "deny", "priority": 20, "when": {"recipient": {"pattern": ".*evil.*"}}},
                ]
            }
        }
    )
    assert policy.check("send_money", {"recipient": "evil-corp"}) == Decision(
        False, "denied by rule send_money[1]", "send_money[1]", "error"
    )
    assert policy.check("send_money", {"recipient": "bob"}).rule == "send_money[0]"


def test_higher_priority_allow_beats_lower_deny() -> None:
    policy = Policy.from_dict(
        {
            "tools": {
                "read": [
                    {"effect": "deny", "priority": 0},
                    {"effect": "allow", "priority": 5, "when": {"path": {"pattern": "/tmp/.*"}}},
                ]
            }
        }
    )
    assert policy.check("read", {"path": "/tmp/x"}).allowed
    assert policy.check("read", {"path": "/etc/passwd"}).rule == "read[0]"


def test_deny_wins_a_tie_whatever_the_order() -> None:
    for order in ([{"effect": "allow"}, {"effect": "deny"}], [{"effect": "deny"}, {"effect": "allow"}]):
        policy = Policy.from_dict({"tools": {"t": [dict(r, priority=3) for r in order]}})
        decision = policy.check("t", {})
        assert not decision.allowed
        assert decision.rule == f"t[{order.index({'effect': 'deny'})}]"


def test_first_rule_written_decides_among_equal_allows() -> None:
    policy = Policy.from_dict(
        {"tools": {"t": [{"effect": "allow", "reason": "one"}, {"effect": "allow", "reason": "two"}]}}
    )
    assert policy.check("t", {}).reason == "allowed by rule t[0]: one"


def test_missing_argument_does_not_match() -> None:
    allow = one_rule({"maximum": 10})
    assert not allow.check("t", {}).allowed
    # ... which also means a deny rule on an absent argument does not fire.
    policy = Policy.from_dict(
        {"tools": {"t": [{"effect": "allow"}, {"effect": "deny", "priority": 1, "when": {"x": {"const": 1}}}]}}
    )
    assert policy.check("t", {}).allowed
    assert not policy.check("t", {"x": 1}).allowed


def test_tool_with_no_rules_denies_every_call() -> None:
    policy = Policy.from_dict({"tools": {"t": []}})
    assert policy.check("t", {}) == Decision(False, "no rule of the policy allows this call", None, "error")


def test_deny_rule_fallback_and_reason() -> None:
    policy = Policy.from_dict(
        {
            "fallback": "error",
            "tools": {"t": [{"effect": "deny", "fallback": "stop", "reason": "never", "when": {"x": {"const": 1}}}]},
        }
    )
    assert policy.check("t", {"x": 1}) == Decision(False, "denied by rule t[0]: never", "t[0]", "stop")
    assert policy.check("t", {"x": 2}).fallback == "error"


def test_allow_all_mode() -> None:
    policy = Policy.allow_all()
    assert policy.check("anything", {"x": 1}) == Decision(True, "allow_all mode: every call is allowed", None, "error")
    assert Policy.from_dict({"mode": "allow_all"}).check("t", {}).allowed


def test_check_accepts_any_mapping() -> None:
    from types import MappingProxyType

    assert allows({"const": 1}, 1)
    assert one_rule({"const": 1}).check("t", MappingProxyType({"x": 1})).allowed


def test_decisions_are_shared_not_rebuilt() -> None:
    arguments = {"recipient": "GB29NWBK60161331926819", "amount": 1}
    assert PAYMENTS.check("send_money", arguments) is PAYMENTS.check("send_money", arguments)


def test_a_rule_built_by_hand_compiles_its_constraints() -> None:
    rule = Rule("t", "allow", when={"x": {"maximum": 3}})
    policy = Policy({"t": [rule]})
    assert policy.check("t", {"x": 3}).allowed
    assert not policy.check("t", {"x": 4}).allowed
    with pytest.raises(PolicyError, match=r"t.when.x: unsupported keyword 'type'"):
        Rule("t", "allow", when={"x": {"type": "string"}})
