"""Loading policies: files, text, dicts, and every load error with its exact message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agorakit.core.errors import ConfigError
from agorakit.models.base import ToolSpec
from agorakit.policy import Policy, PolicyError, Rule
from agorakit.tools import tool

EXAMPLE = """\
version: 1
mode: enforce            # enforce (default) | allow_all
fallback: error
tools:
  send_money:
    - effect: allow
      priority: 10
      when:
        recipient: {enum: ["GB29NWBK60161331926819"]}
        amount: {maximum: 1000, minimum: 0}
      fallback: ask
      reason: "pay only known payees"
    - effect: deny
      priority: 20
      when: {recipient: {pattern: ".*evil.*"}}
  get_balance:
    - effect: allow
"""

KNOWN = ("send_money", "get_balance", "read_file")


def load_error(data: Any, known_tools: Any = None) -> str:
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(data, known_tools, source="policy.yaml")
    return caught.value.message


def rules(tool_rules: Any) -> dict[str, Any]:
    return {"version": 1, "tools": {"send_money": tool_rules}}


# --- sources -------------------------------------------------------------------------------


def test_load_example_text() -> None:
    policy = Policy.load(EXAMPLE, known_tools=KNOWN)
    assert policy.mode == "enforce"
    assert policy.fallback == "error"
    assert policy.tools == ("send_money", "get_balance")
    assert policy.source == "<policy>"
    first, second = policy.rules("send_money")
    assert first == Rule(
        "send_money",
        "allow",
        10,
        {"recipient": {"enum": ["GB29NWBK60161331926819"]}, "amount": {"maximum": 1000, "minimum": 0}},
        "ask",
        "pay only known payees",
    )
    assert (second.effect, second.priority, second.fallback, second.reason) == ("deny", 20, None, None)
    assert policy.rules("get_balance") == (Rule("get_balance", "allow"),)
    assert policy.rules("unknown") == ()


def test_load_yaml_file_and_json_file(tmp_path: Path) -> None:
    yaml_file = tmp_path / "policy.yaml"
    yaml_file.write_text(EXAMPLE, encoding="utf-8")
    from_yaml = Policy.load(yaml_file)
    assert from_yaml.source == str(yaml_file)

    json_file = tmp_path / "policy.json"
    json_file.write_text(json.dumps(from_yaml.to_dict()), encoding="utf-8")
    from_json = Policy.load(str(json_file))  # a str naming a file is a path
    assert from_json.to_dict() == from_yaml.to_dict()


def test_load_json_text() -> None:
    policy = Policy.load('{"version": 1, "tools": {"get_balance": [{"effect": "allow"}]}}')
    assert policy.check("get_balance", {}).allowed


def test_missing_file_is_an_error() -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.load("no/such/policy.yaml")
    assert caught.value.message == "policy file not found: no/such/policy.yaml"


def test_to_dict_round_trips() -> None:
    policy = Policy.load(EXAMPLE)
    data = policy.to_dict()
    assert data == {
        "version": 1,
        "mode": "enforce",
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
    assert Policy.from_dict(data).to_dict() == data


def test_defaults_version_mode_fallback_and_empty_tools() -> None:
    policy = Policy.from_dict({"tools": {}})
    assert (policy.mode, policy.fallback, policy.tools) == ("enforce", "error", ())
    assert not policy.check("anything", {}).allowed
    assert Policy.from_dict({"version": 1, "tools": None}).tools == ()


def test_yaml_keeps_dates_and_yes_no_as_strings() -> None:
    policy = Policy.load(
        """
version: 1
tools:
  book:
    - effect: allow
      when:
        day: {enum: [2024-05-01]}
        country: {enum: [NO, yes, on]}
        confirmed: {const: true}
"""
    )
    [rule] = policy.rules("book")
    assert rule.when == {
        "day": {"enum": ["2024-05-01"]},
        "country": {"enum": ["NO", "yes", "on"]},
        "confirmed": {"const": True},
    }
    assert policy.check("book", {"day": "2024-05-01", "country": "NO", "confirmed": True}).allowed


def test_allow_all_keeps_its_rules_but_ignores_them() -> None:
    policy = Policy.load("version: 1\nmode: allow_all\ntools:\n  get_balance:\n    - effect: deny\n")
    assert policy.mode == "allow_all"
    assert policy.rules("get_balance") == (Rule("get_balance", "deny"),)
    assert policy.check("get_balance", {}).allowed


def test_policy_error_is_a_config_error() -> None:
    assert issubclass(PolicyError, ConfigError)


# --- every load error, with its message ---------------------------------------------------------


def test_unknown_tool_lists_the_known_ones() -> None:
    message = load_error({"version": 1, "tools": {"send_mony": [{"effect": "allow"}]}}, KNOWN)
    assert (
        message
        == "policy.yaml: tools.send_mony: unknown tool 'send_mony' (known tools: get_balance, read_file, send_money)"
    )


def test_unknown_tool_with_no_known_tools() -> None:
    message = load_error({"version": 1, "tools": {"x": []}}, [])
    assert message == "policy.yaml: tools.x: unknown tool 'x' (known tools: none)"


def test_unsupported_keyword() -> None:
    data = rules([{"effect": "allow"}, {"effect": "allow", "when": {"amount": {"exclusiveMaximum": 10}}}])
    assert load_error(data) == (
        "policy.yaml: tools.send_money[1].when.amount: unsupported keyword 'exclusiveMaximum' "
        "(supported: enum, const, pattern, minimum, maximum, minLength, maxLength, items, format, anyOf, not, source)"
    )


def test_unsupported_keyword_nested_in_items() -> None:
    data = rules([{"effect": "allow", "when": {"to": {"items": {"type": "string"}}}}])
    assert load_error(data).startswith("policy.yaml: tools.send_money[0].when.to.items: unsupported keyword 'type'")


def test_invalid_regex_names_tool_rule_and_regex_error() -> None:
    data = rules([{"effect": "allow"}, {"effect": "deny", "when": {"recipient": {"pattern": "(evil"}}}])
    assert load_error(data) == (
        "policy.yaml: tools.send_money[1].when.recipient.pattern: "
        "invalid regex '(evil': missing ), unterminated subpattern at position 0"
    )


def test_bad_effect() -> None:
    assert load_error(rules([{"effect": "permit"}])) == (
        "policy.yaml: tools.send_money[0].effect: expected one of allow, deny, got 'permit'"
    )


def test_missing_effect() -> None:
    assert load_error(rules([{"priority": 1}])) == "policy.yaml: tools.send_money[0]: missing effect (allow or deny)"


@pytest.mark.parametrize(("priority", "shown"), [("high", "'high'"), (1.5, "1.5"), (True, "True"), (None, "None")])
def test_bad_priority(priority: Any, shown: str) -> None:
    assert load_error(rules([{"effect": "allow", "priority": priority}])) == (
        f"policy.yaml: tools.send_money[0].priority: expected an integer, got {shown}"
    )


def test_bad_rule_fallback() -> None:
    assert load_error(rules([{"effect": "allow", "fallback": "retry"}])) == (
        "policy.yaml: tools.send_money[0].fallback: expected one of error, stop, ask, got 'retry'"
    )


def test_bad_default_fallback() -> None:
    assert load_error({"version": 1, "fallback": "panic", "tools": {}}) == (
        "policy.yaml: fallback: expected one of error, stop, ask, got 'panic'"
    )


def test_bad_mode() -> None:
    assert load_error({"version": 1, "mode": "audit", "tools": {}}) == (
        "policy.yaml: mode: expected one of enforce, allow_all, got 'audit'"
    )


def test_unknown_top_level_key() -> None:
    assert load_error({"version": 1, "tool": {}}) == (
        "policy.yaml: unknown top-level key 'tool' (allowed: version, mode, fallback, trust, tools)"
    )


def test_unsupported_version() -> None:
    assert load_error({"version": 2, "tools": {}}) == (
        "policy.yaml: version: unsupported version 2 (this agorakit reads version 1)"
    )


def test_unknown_rule_key() -> None:
    assert load_error(rules([{"effect": "allow", "if": {}}])) == (
        "policy.yaml: tools.send_money[0]: unknown key 'if' (allowed: effect, priority, when, fallback, reason)"
    )


def test_unknown_format() -> None:
    message = load_error(rules([{"effect": "allow", "when": {"to": {"format": "phone"}}}]))
    assert message == (
        "policy.yaml: tools.send_money[0].when.to.format: unknown format 'phone' "
        "(supported: date, date-time, email, hostname, ipv4, ipv6, uri, url)"
    )


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({"enum": []}, "when.x.enum: expected a non-empty list of values, got []"),
        ({"enum": "a"}, "when.x.enum: expected a non-empty list of values, got 'a'"),
        ({"minimum": "1"}, "when.x.minimum: expected a number, got '1'"),
        ({"maximum": True}, "when.x.maximum: expected a number, got True"),
        ({"minLength": -1}, "when.x.minLength: expected a non-negative integer, got -1"),
        ({"maxLength": 2.5}, "when.x.maxLength: expected a non-negative integer, got 2.5"),
        ({"pattern": 5}, "when.x.pattern: expected a regex string, got 5"),
        ({"anyOf": []}, "when.x.anyOf: expected a non-empty list of constraints, got []"),
        ({"anyOf": [{"bogus": 1}]}, "when.x.anyOf[0]: unsupported keyword 'bogus'"),
        ({"not": "x"}, "when.x.not: a constraint must be a mapping of keywords, got str 'x'"),
        ({"items": [1]}, "when.x.items: a constraint must be a mapping of keywords, got a list"),
        ({"const": {1, 2}}, "when.x.const: not a JSON value (set: {1, 2})"),
        ("abc", "when.x: a constraint must be a mapping of keywords, got str 'abc'"),
    ],
)
def test_bad_constraint_values(constraint: Any, message: str) -> None:
    assert load_error(rules([{"effect": "allow", "when": {"x": constraint}}])).startswith(
        f"policy.yaml: tools.send_money[0].{message}"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "policy.yaml: a policy must be a mapping with version, mode, fallback and tools, got a list"),
        ({"tools": []}, "policy.yaml: tools: expected a mapping of tool name to a list of rules, got a list"),
        ({"tools": {"a": None}}, "policy.yaml: tools.a: expected a list of rules, got null"),
        ({"tools": {"a": {"effect": "allow"}}}, "policy.yaml: tools.a: expected a list of rules, got a mapping"),
        (
            {"tools": {"a": ["allow"]}},
            "policy.yaml: tools.a[0]: a rule must be a mapping with an effect, got str 'allow'",
        ),
        (
            {"tools": {"a": [{"effect": "allow", "when": ["x"]}]}},
            "policy.yaml: tools.a[0].when: expected a mapping of argument name to constraint, got a list",
        ),
        (
            {"tools": {"a": [{"effect": "allow", "reason": 3}]}},
            "policy.yaml: tools.a[0].reason: expected a string, got int 3",
        ),
    ],
)
def test_structural_errors(data: Any, message: str) -> None:
    assert load_error(data) == message


def test_invalid_yaml_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.load("version: 1\ntools: {send_money: [\n")
    assert caught.value.message.startswith("<policy>: not valid YAML or JSON:")


# --- argument names, when the tools' schemas are known ------------------------------------------


@tool
def send_money(recipient: str, amount: float) -> str:
    """Send money."""
    return "sent"


def test_known_tools_as_specs_check_argument_names() -> None:
    data = rules([{"effect": "deny", "when": {"recipent": {"pattern": ".*evil.*"}}}])
    assert load_error(data, [send_money.spec]) == (
        "policy.yaml: tools.send_money[0].when.recipent: tool send_money has no argument 'recipent' "
        "(it takes: recipient, amount)"
    )
    # A Tool works as well as its spec; a right name loads.
    good = rules([{"effect": "deny", "when": {"recipient": {"pattern": ".*evil.*"}}}])
    assert Policy.from_dict(good, [send_money]).tools == ("send_money",)


def test_open_schema_does_not_pin_argument_names() -> None:
    open_spec = ToolSpec("send_money", "", {"type": "object", "properties": {"recipient": {"type": "string"}}})
    data = rules([{"effect": "allow", "when": {"memo": {"maxLength": 10}}}])
    assert Policy.from_dict(data, [open_spec]).tools == ("send_money",)


def test_validate_arguments_against_tools() -> None:
    policy = Policy.from_dict(rules([{"effect": "allow", "when": {"amout": {"maximum": 5}}}]), source="p.yaml")
    with pytest.raises(PolicyError) as caught:
        policy.validate_arguments([send_money.spec])
    assert caught.value.message == (
        "p.yaml: tools.send_money[0].when.amout: tool send_money has no argument 'amout' (it takes: recipient, amount)"
    )
    policy.validate_arguments([])  # tools the caller lacks are fine


def test_known_tools_must_not_be_a_bare_string() -> None:
    with pytest.raises(PolicyError, match="not one string"):
        Policy.from_dict({"tools": {}}, "send_money")  # type: ignore[arg-type]
