"""The policy gate in the tool dispatcher: fallbacks, audit events, approval, policy.none."""

from __future__ import annotations

import asyncio
import enum
import io
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from agorakit.core.errors import ConfigError
from agorakit.core.messages import ToolCall
from agorakit.policy import Decision, Policy, PolicyError, PolicyGate, PolicyStopped, cli_approver
from agorakit.tools import ToolDispatcher, calculator, tool
from agorakit.trace import MemorySink, Tracer
from agorakit.trace import attributes as attr


class Currency(enum.Enum):
    EUR = "EUR"
    USD = "USD"


class Bank:
    """Records which tools really ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def tools(self) -> list[Any]:
        @tool
        def send_money(recipient: str, amount: float, currency: Currency = Currency.EUR) -> str:
            """Send money."""
            self.ran.append(f"send_money {recipient} {amount} {currency.value}")
            return "sent"

        @tool
        def get_balance() -> float:
            """The balance."""
            self.ran.append("get_balance")
            return 100.0

        return [send_money, get_balance, calculator]


def policy(fallback: str = "error", deny_fallback: str | None = None) -> Policy:
    extra = {"fallback": deny_fallback} if deny_fallback else {}
    return Policy.from_dict(
        {
            "version": 1,
            "fallback": fallback,
            "tools": {
                "send_money": [
                    {"effect": "allow", "when": {"recipient": {"enum": ["alice"]}, "amount": {"maximum": 100}}},
                    {
                        "effect": "deny",
                        "priority": 5,
                        "when": {"currency": {"const": "USD"}},
                        "reason": "euros only",
                        **extra,
                    },
                ],
                "get_balance": [{"effect": "allow"}],
            },
        }
    )


def send(recipient: str = "alice", amount: float = 10, call_id: str = "c1", **more: Any) -> ToolCall:
    return ToolCall(call_id, "send_money", {"recipient": recipient, "amount": amount, **more})


def events(sink: MemorySink, name: str) -> list[dict[str, Any]]:
    return [record[5] for record in sink.records if record[0] == "event" and record[4] == name]


class Approvals:
    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, dict[str, Any], Decision]] = []

    async def __call__(self, tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
        self.asked.append((tool, dict(arguments), decision))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


# --- allowed calls -----------------------------------------------------------------------------------


async def test_allowed_call_runs_and_is_audited() -> None:
    bank, sink = Bank(), MemorySink()
    dispatcher = ToolDispatcher(bank.tools(), policy=policy())
    result = await dispatcher.execute(send(), Tracer("run1", sink))
    assert (result.ok, result.content) == (True, "sent")
    assert bank.ran == ["send_money alice 10.0 EUR"]
    [event] = events(sink, "policy.decision")
    assert event == {
        attr.TOOL_NAME: "send_money",
        attr.TOOL_CALL_ID: "c1",
        "agorakit.policy.allowed": True,
        "agorakit.policy.reason": "allowed by rule send_money[0]",
        "agorakit.policy.rule": "send_money[0]",
        "agorakit.policy.fallback": "error",
    }
    # On the tool's span.
    [span_start] = [r for r in sink.records if r[0] == "span_start"]
    [record] = [r for r in sink.records if r[0] == "event" and r[4] == "policy.decision"]
    assert record[2] == span_start[2]
    assert events(sink, "policy.none") == []


async def test_policy_sees_validated_values_as_json() -> None:
    """Coerced values, filled-in defaults and enums as their JSON value."""
    bank = Bank()
    dispatcher = ToolDispatcher(bank.tools(), policy=policy())
    assert (await dispatcher.execute(send(amount="99"))).ok  # type: ignore[arg-type]
    denied = await dispatcher.execute(send(currency="USD"))
    assert denied.content == "Error: policy denied send_money: denied by rule send_money[1]: euros only"
    assert bank.ran == ["send_money alice 99.0 EUR"]


# --- fallback: error ---------------------------------------------------------------------------------


async def test_error_fallback_returns_an_observation_and_does_not_run() -> None:
    bank, sink = Bank(), MemorySink()
    dispatcher = ToolDispatcher(bank.tools(), policy=policy())
    result = await dispatcher.execute(ToolCall("c9", "calculator", {"expression": "1+1"}), Tracer("run1", sink))
    assert result.content == "Error: policy denied calculator: tool not in policy"
    assert (result.ok, result.error_type) == (False, "PolicyDenied")
    [event] = events(sink, "policy.decision")
    assert event == {
        attr.TOOL_NAME: "calculator",
        attr.TOOL_CALL_ID: "c9",
        "agorakit.policy.allowed": False,
        "agorakit.policy.reason": "tool not in policy",
        "agorakit.policy.fallback": "error",
    }
    [span_end] = [r for r in sink.records if r[0] == "span_end"]
    assert (span_end[4], span_end[5][attr.ERROR_TYPE]) == ("error", "PolicyDenied")


async def test_no_rule_allows_observation() -> None:
    bank = Bank()
    result = await ToolDispatcher(bank.tools(), policy=policy()).execute(send(recipient="mallory"))
    assert result.content == "Error: policy denied send_money: no rule of the policy allows this call"
    assert bank.ran == []


async def test_invalid_arguments_are_reported_before_the_policy() -> None:
    sink = MemorySink()
    dispatcher = ToolDispatcher(Bank().tools(), policy=policy())
    result = await dispatcher.execute(ToolCall("c1", "send_money", {"recipient": "alice"}), Tracer("r", sink))
    assert result.error_type == "ToolArgumentsError"
    assert events(sink, "policy.decision") == []
    unknown = await dispatcher.execute(ToolCall("c2", "nope", {}))
    assert unknown.error_type == "ToolNotFound"


# --- fallback: stop ----------------------------------------------------------------------------------


async def test_stop_fallback_raises_policy_stopped() -> None:
    bank, sink = Bank(), MemorySink()
    dispatcher = ToolDispatcher(bank.tools(), policy=policy("stop"))
    with pytest.raises(PolicyStopped) as caught:
        await dispatcher.execute(send(recipient="mallory", call_id="c7"), Tracer("run1", sink))
    stopped = caught.value
    assert stopped.decision == Decision(False, "no rule of the policy allows this call", None, "stop")
    assert (stopped.tool, stopped.call_id) == ("send_money", "c7")
    assert stopped.message == "policy stopped the run: send_money denied: no rule of the policy allows this call"
    assert bank.ran == []
    assert events(sink, "policy.decision")[0]["agorakit.policy.fallback"] == "stop"
    [span_end] = [r for r in sink.records if r[0] == "span_end"]
    assert span_end[5][attr.ERROR_TYPE] == "PolicyStopped"


async def test_stop_from_a_rule_in_execute_all_is_not_wrapped_in_a_group() -> None:
    bank = Bank()
    dispatcher = ToolDispatcher(bank.tools(), policy=policy("error", deny_fallback="stop"))
    calls = [ToolCall("c1", "get_balance", {}), send(currency="USD", call_id="c2"), send(call_id="c3")]
    with pytest.raises(PolicyStopped) as caught:
        await dispatcher.execute_all(calls)
    assert caught.value.decision.rule == "send_money[1]"
    await asyncio.sleep(0.05)  # a sync tool started by mistake would have run in its thread by now
    assert bank.ran == []  # no call of the batch ran, not even the allowed ones


async def test_stop_in_execute_all_is_audited_once() -> None:
    sink = MemorySink()
    dispatcher = ToolDispatcher(Bank().tools(), policy=policy("stop"))
    with pytest.raises(PolicyStopped):
        await dispatcher.execute_all(
            [ToolCall("c1", "get_balance", {}), send(recipient="eve", call_id="c2")], Tracer("r", sink)
        )
    assert [(e[attr.TOOL_CALL_ID], e["agorakit.policy.allowed"]) for e in events(sink, "policy.decision")] == [
        ("c2", False)
    ]


async def test_execute_all_without_a_stop_returns_every_result() -> None:
    dispatcher = ToolDispatcher(Bank().tools(), policy=policy())
    results = await dispatcher.execute_all(
        [ToolCall("c1", "get_balance", {}), ToolCall("c2", "calculator", {"expression": "2"})]
    )
    assert [(r.ok, r.error_type) for r in results] == [(True, None), (False, "PolicyDenied")]


# --- fallback: ask -----------------------------------------------------------------------------------


async def test_ask_approved_runs_the_call() -> None:
    bank, sink = Bank(), MemorySink()
    approver = Approvals(True)
    dispatcher = ToolDispatcher(bank.tools(), policy=PolicyGate(policy("ask"), approver))
    result = await dispatcher.execute(send(recipient="bob"), Tracer("run1", sink))
    assert (result.ok, result.content) == (True, "sent")
    assert bank.ran == ["send_money bob 10.0 EUR"]
    [(tool, arguments, decision)] = approver.asked
    assert (tool, arguments) == ("send_money", {"recipient": "bob", "amount": 10.0, "currency": "EUR"})
    assert decision == Decision(False, "no rule of the policy allows this call", None, "ask")
    assert events(sink, "policy.approval") == [
        {attr.TOOL_NAME: "send_money", attr.TOOL_CALL_ID: "c1", "agorakit.policy.approved": True}
    ]


async def test_ask_refused_does_not_run() -> None:
    bank, sink = Bank(), MemorySink()
    dispatcher = ToolDispatcher(bank.tools(), policy=PolicyGate(policy("ask"), Approvals(False)))
    result = await dispatcher.execute(send(recipient="bob"), Tracer("run1", sink))
    assert (
        result.content == "Error: policy denied send_money: no rule of the policy allows this call (approval refused)"
    )
    assert (result.ok, result.error_type) == (False, "PolicyDenied")
    assert bank.ran == []
    assert events(sink, "policy.approval")[0]["agorakit.policy.approved"] is False


async def test_ask_without_an_approver_is_an_error_observation() -> None:
    bank = Bank()
    result = await ToolDispatcher(bank.tools(), policy=policy("ask")).execute(send(recipient="bob"))
    assert result.content == (
        "Error: policy denied send_money: no rule of the policy allows this call (no approver is configured)"
    )
    assert bank.ran == []


async def test_a_failing_approver_refuses() -> None:
    bank, sink = Bank(), MemorySink()
    gate = PolicyGate(policy("ask"), Approvals(RuntimeError("no human around")))
    result = await ToolDispatcher(bank.tools(), policy=gate).execute(send(recipient="bob"), Tracer("r", sink))
    assert result.content.endswith("(approval refused)")
    assert bank.ran == []
    assert events(sink, "policy.approval")[0]["agorakit.policy.approver_error"] == "RuntimeError: no human around"


async def test_approvals_are_asked_one_at_a_time() -> None:
    active, peak = 0, 0

    async def slow_human(tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return True

    bank = Bank()
    dispatcher = ToolDispatcher(bank.tools(), policy=PolicyGate(policy("ask"), slow_human))
    results = await dispatcher.execute_all([send(recipient=f"r{i}", call_id=f"c{i}") for i in range(4)])
    assert all(r.ok for r in results)
    assert peak == 1
    assert len(bank.ran) == 4


# --- no policy -----------------------------------------------------------------------------------------


async def test_no_policy_is_said_once_per_run() -> None:
    sink = MemorySink()
    dispatcher = ToolDispatcher(Bank().tools())
    assert dispatcher.policy is None
    run1 = Tracer("run1", sink)
    await dispatcher.execute(ToolCall("c1", "get_balance", {}), run1)
    await dispatcher.execute_all([ToolCall("c2", "get_balance", {}), ToolCall("c3", "get_balance", {})], run1)
    await dispatcher.execute(ToolCall("c4", "get_balance", {}), Tracer("run2", sink))
    await dispatcher.execute(ToolCall("c5", "get_balance", {}), Tracer("run2", sink))
    none = [r for r in sink.records if r[0] == "event" and r[4] == "policy.none"]
    assert [(r[1], r[5]) for r in none] == [
        ("run1", {"agorakit.policy.reason": "no policy configured: every tool call is allowed"}),
        ("run2", {"agorakit.policy.reason": "no policy configured: every tool call is allowed"}),
    ]
    assert events(sink, "policy.decision") == []


async def test_no_policy_concurrent_first_calls_say_it_once() -> None:
    sink = MemorySink()
    dispatcher = ToolDispatcher(Bank().tools())
    await dispatcher.execute_all([ToolCall(f"c{i}", "get_balance", {}) for i in range(5)], Tracer("run1", sink))
    assert len(events(sink, "policy.none")) == 1


async def test_allow_all_policy_audits_every_call() -> None:
    sink = MemorySink()
    dispatcher = ToolDispatcher(Bank().tools(), policy=Policy.allow_all())
    result = await dispatcher.execute(ToolCall("c1", "calculator", {"expression": "2*3"}), Tracer("r", sink))
    assert result.content == "6"
    assert events(sink, "policy.decision")[0]["agorakit.policy.reason"] == "allow_all mode: every call is allowed"
    assert events(sink, "policy.none") == []


# --- construction -------------------------------------------------------------------------------------


def test_dispatcher_takes_a_policy_or_a_gate() -> None:
    tools = Bank().tools()
    assert isinstance(ToolDispatcher(tools, policy=policy()).policy, PolicyGate)
    gate = PolicyGate(policy())
    assert ToolDispatcher(tools, policy=gate).policy is gate
    with pytest.raises(ConfigError, match="policy must be a Policy or a PolicyGate, got dict"):
        ToolDispatcher(tools, policy={"tools": {}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="PolicyGate takes a Policy"):
        PolicyGate("policy.yaml")  # type: ignore[arg-type]


def test_dispatcher_rejects_a_rule_on_an_argument_its_tool_lacks() -> None:
    typo = Policy.from_dict(
        {"tools": {"send_money": [{"effect": "deny", "when": {"recipent": {"const": "x"}}}]}}, source="p.yaml"
    )
    with pytest.raises(
        PolicyError, match=r"p.yaml: tools.send_money\[0\].when.recipent: tool send_money has no argument"
    ):
        ToolDispatcher(Bank().tools(), policy=typo)


# --- updates through the gate --------------------------------------------------------------------------


async def test_gate_update_narrows_and_is_traced() -> None:
    sink = MemorySink()
    gate = PolicyGate(policy())
    update = Policy.from_dict({"tools": {"get_balance": [{"effect": "allow"}]}}, source="update.yaml")
    narrowed = await gate.update(update, Tracer("r", sink))
    assert gate.policy is narrowed
    assert not gate.decide("send_money", {"recipient": "alice", "amount": 1}).allowed
    assert events(sink, "policy.update") == [
        {"agorakit.policy.source": "update.yaml", "agorakit.policy.accepted": True}
    ]


async def test_gate_update_widening_asks_the_approver() -> None:
    approver = Approvals(False, True)
    gate = PolicyGate(policy(), approver)
    widening = Policy.from_dict({"tools": {"calculator": [{"effect": "allow"}]}})
    before = gate.policy
    with pytest.raises(PolicyError):
        await gate.update(widening)
    assert gate.policy is before
    await gate.update(widening)
    assert gate.decide("calculator", {"expression": "1"}).allowed
    assert [asked[0] for asked in approver.asked] == ["calculator", "calculator"]


# --- the terminal approver ----------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_cli_approver_refuses_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    decision = Decision(False, "tool not in policy", None, "ask")
    assert await asyncio.wait_for(cli_approver("calculator", {"expression": "1"}, decision), 5) is False


async def test_cli_approver_asks_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    decision = Decision(False, "tool not in policy", None, "ask")
    monkeypatch.setattr(sys, "stdin", FakeTTY("y\n"))
    assert await cli_approver("calculator", {"expression": "1"}, decision) is True
    monkeypatch.setattr(sys, "stdin", FakeTTY("n\n"))
    assert await cli_approver("calculator", {"expression": "1"}, decision) is False
    monkeypatch.setattr(sys, "stdin", FakeTTY(""))  # end of input
    assert await cli_approver("calculator", {"expression": "1"}, decision) is False
