"""generate_policy with a scripted model: prompt contents, schema, fences, retries."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from agorakit.kernel import Kernel
from agorakit.models import ScriptedModel
from agorakit.policy import PolicyError, generate_policy, policy_json_schema
from agorakit.policy.generate import parse_policy_reply
from agorakit.tools import tool


@tool
def send_money(recipient: str, amount: float, tags: list[str] | None = None) -> str:
    """Send money to a bank account.

    Args:
        recipient: IBAN of the payee.
        amount: How much to send.
        tags: Labels for the payment.
    """
    return "sent"


@tool
def get_balance() -> float:
    """The account balance."""
    return 0.0


@tool
def read_url(url: str, verbose: bool = False) -> str:
    """Fetch a web page."""
    return ""


TOOLS = [send_money.spec, get_balance.spec, read_url.spec]
TASK = "Pay 50 to GB29NWBK60161331926819 for the rent."
GOOD = {
    "version": 1,
    "tools": {
        "send_money": [
            {
                "effect": "allow",
                "when": {"recipient": {"enum": ["GB29NWBK60161331926819"]}, "amount": {"maximum": 50}},
                "reason": "the rent",
            }
        ]
    },
}


def model_answering(*replies: str) -> ScriptedModel:
    answers = list(replies)
    return ScriptedModel(lambda request: answers.pop(0))


async def test_generates_a_policy_from_plain_json() -> None:
    model = model_answering(json.dumps(GOOD))
    policy = await generate_policy(TASK, TOOLS, model, kernel=Kernel())
    assert policy.tools == ("send_money",)
    assert policy.source == "<generated>"
    assert policy.check("send_money", {"recipient": "GB29NWBK60161331926819", "amount": 50}).allowed
    assert not policy.check("send_money", {"recipient": "GB29NWBK60161331926819", "amount": 51}).allowed
    assert not policy.check("get_balance", {}).allowed

    [request] = model.requests
    assert request.response_schema == policy_json_schema(TOOLS)
    system, user = request.messages
    assert system.role == "system" and "least privilege" in (system.content or "")
    assert user.content is not None
    assert user.content.startswith(f"User task: {TASK}")
    for spec in TOOLS:
        assert f"- {spec.name}: {spec.description}" in user.content
    assert '"recipient": {"description": "IBAN of the payee.", "type": "string"}' in user.content


async def test_accepts_tool_objects_and_a_fenced_reply() -> None:
    fenced = "Here is the policy:\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nDone."
    policy = await generate_policy(TASK, [send_money, get_balance], model_answering(fenced), kernel=Kernel())  # type: ignore[list-item]
    assert policy.tools == ("send_money",)


async def test_retries_with_the_validation_error() -> None:
    bad_tool = json.dumps({"version": 1, "tools": {"delete_everything": [{"effect": "allow"}]}})
    bad_regex = json.dumps(
        {"version": 1, "tools": {"read_url": [{"effect": "allow", "when": {"url": {"pattern": "(x"}}}]}}
    )
    model = model_answering(bad_tool, bad_regex, json.dumps(GOOD))
    policy = await generate_policy(TASK, TOOLS, model, kernel=Kernel())
    assert policy.tools == ("send_money",)
    assert len(model.requests) == 3

    second = model.requests[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[2].content == bad_tool
    assert second[3].content == (
        "That policy is invalid: <generated>: tools.delete_everything: unknown tool 'delete_everything' "
        "(known tools: get_balance, read_url, send_money)\n"
        "Reply with the corrected policy as one JSON object. Use only these tools: send_money, get_balance, read_url."
    )
    third = model.requests[2].messages
    assert third[-1].content is not None
    assert third[-1].content.startswith(
        "That policy is invalid: <generated>: tools.read_url[0].when.url.pattern: invalid regex '(x': missing )"
    )


async def test_gives_up_after_three_attempts() -> None:
    model = model_answering("no idea", "{not json", json.dumps({"version": 1, "mode": "allow_all", "tools": {}}))
    with pytest.raises(PolicyError) as caught:
        await generate_policy(TASK, TOOLS, model, kernel=Kernel())
    assert caught.value.message == (
        "the model did not write a valid policy in 3 attempts; last problem: "
        "<generated>: mode: a generated policy must enforce (allow_all is not allowed)"
    )
    assert len(model.requests) == 3
    assert model.requests[1].messages[-1].content is not None
    assert (
        model.requests[1]
        .messages[-1]
        .content.startswith("That policy is invalid: <generated>: the reply holds no JSON object")
    )
    assert model.requests[2].messages[-1].content is not None
    assert "the reply is not valid JSON" in model.requests[2].messages[-1].content


async def test_fallback_is_applied_and_checked() -> None:
    policy = await generate_policy(TASK, TOOLS, model_answering(json.dumps(GOOD)), kernel=Kernel(), fallback="stop")
    assert policy.fallback == "stop"
    with pytest.raises(PolicyError, match="fallback must be one of error, stop, ask"):
        await generate_policy(TASK, TOOLS, model_answering(), fallback="panic")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="at least one tool"):
        await generate_policy(TASK, [], model_answering())


def test_schema_lists_only_the_tools_and_their_arguments() -> None:
    schema = policy_json_schema(TOOLS)
    tools = schema["properties"]["tools"]
    assert tools["additionalProperties"] is False
    assert list(tools["properties"]) == ["send_money", "get_balance", "read_url"]
    send_rule = tools["properties"]["send_money"]["items"]
    when = send_rule["properties"]["when"]["properties"]
    assert list(when) == ["recipient", "amount", "tags"]
    assert set(when["recipient"]["properties"]) == {"enum", "pattern", "format", "minLength", "maxLength", "source"}
    assert set(when["amount"]["properties"]) == {"enum", "minimum", "maximum", "source"}
    # Optional[list[str]]: constraints for each tag, and a source for them all
    assert set(when["tags"]["properties"]) == {"items", "source"}
    assert "source" not in when["tags"]["properties"]["items"]["properties"]
    assert "when" not in tools["properties"]["get_balance"]["items"]["properties"]  # no arguments
    assert set(tools["properties"]["read_url"]["items"]["properties"]["when"]["properties"]) == {"url", "verbose"}

    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(GOOD, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "tools": {"rm": []}}, schema)


async def test_a_generated_policy_may_require_values_from_the_user() -> None:
    from agorakit.core.provenance import Provenance

    reply = {
        "version": 1,
        "tools": {"send_money": [{"effect": "allow", "when": {"recipient": {"source": ["user"]}}}]},
    }
    task = "Pay my landlord (GB29 NWBK 6016 1331 9268 19) the rent."
    model = model_answering(json.dumps(reply))
    policy = await generate_policy(task, TOOLS, model, kernel=Kernel())
    jsonschema.validate(reply, policy_json_schema(TOOLS))
    assert '"source": ["user"]' in (model.requests[0].messages[0].content or "")
    record = Provenance([task])
    assert policy.check("send_money", {"recipient": "GB29NWBK60161331926819", "amount": 5}, record).allowed
    assert not policy.check("send_money", {"recipient": "GB00EVIL", "amount": 5}, record).allowed


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure! {"a": {"b": 2}} Hope it helps.', {"a": {"b": 2}}),
        ('{"a": "line\nbreak"}', {"a": "line\nbreak"}),
    ],
)
def test_parse_policy_reply(reply: str, expected: Any) -> None:
    assert parse_policy_reply(reply) == expected


async def test_model_string_is_resolved(tmp_path: Any) -> None:
    script = tmp_path / "writer.yaml"
    script.write_text(json.dumps([json.dumps(GOOD)]), encoding="utf-8")
    policy = await generate_policy(TASK, TOOLS, f"scripted:{script}", kernel=Kernel())
    assert policy.tools == ("send_money",)


def test_signature_takes_only_the_task_and_the_tools() -> None:
    # No conversation, no observations: nothing a tool returned can reach the policy writer.
    import inspect

    assert list(inspect.signature(generate_policy).parameters) == [
        "task",
        "tools",
        "model",
        "kernel",
        "run",
        "sampling",
        "fallback",
    ]
