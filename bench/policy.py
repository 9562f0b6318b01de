"""Policy decision latency, against the 10 µs budget in DESIGN.md.

    .venv/bin/python bench/policy.py

(a) a call allowed by a simple rule (no ``when``);
(b) a call to a tool the policy does not mention (denied);
(c) a rule with a pattern, an enum and a range on three arguments (allowed: every check runs);
(d) twenty rules on one tool, the call allowed only by the last one checked;
(e) the same as (c) through the dispatcher's gate (JSON view + check, no trace);
(f) (c) after two narrowing updates (three policies must allow).
(g) one whole tool call through ``ToolDispatcher.execute`` (async no-op tool,
    no trace) without a policy and with the policy of (c): the gate's cost per call.

Each decision figure is the best of 5 runs of 100,000 decisions; each call
figure the best of 5 runs of 20,000 calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from agorakit.core.messages import ToolCall
from agorakit.policy import Policy, PolicyGate
from agorakit.tools import ToolDispatcher, tool

REPEATS = 5
DECISIONS = 100_000
CALLS = 20_000
BUDGET_US = 10.0

PAYMENT = {"recipient": "GB29NWBK60161331926819", "amount": 250.0, "url": "https://www.trusted.com/invoice/42"}


def policy() -> Policy:
    tools: dict[str, Any] = {
        "get_balance": [{"effect": "allow"}],
        "send_money": [
            {
                "effect": "allow",
                "priority": 10,
                "when": {
                    "recipient": {"enum": ["GB29NWBK60161331926819", "CH9300762011623852957"]},
                    "amount": {"minimum": 0, "maximum": 1000},
                    "url": {"pattern": r"https://www\.trusted\.com/[a-z0-9/]*"},
                },
            },
            {"effect": "deny", "priority": 20, "when": {"recipient": {"pattern": ".*evil.*"}}},
        ],
        # Twenty rules; the call matches only the lowest-priority allow, so all twenty are tried.
        "search": [
            {"effect": "deny", "priority": 100 - i, "when": {"query": {"enum": [f"blocked-{i}"]}}} for i in range(19)
        ]
        + [{"effect": "allow", "priority": 0, "when": {"query": {"maxLength": 100}}}],
    }
    return Policy.from_dict({"version": 1, "tools": tools})


def per_decision(decide: Callable[[], object]) -> float:
    """Microseconds per decision: best of REPEATS runs of DECISIONS calls."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(DECISIONS // 10):  # unrolled by ten so the loop itself weighs less
            decide()
            decide()
            decide()
            decide()
            decide()
            decide()
            decide()
            decide()
            decide()
            decide()
        best = min(best, time.perf_counter() - started)
    return best / DECISIONS * 1e6


async def per_call(dispatcher: ToolDispatcher) -> float:
    """Microseconds per ``execute`` of one allowed call: best of REPEATS runs of CALLS calls."""
    call = ToolCall("c1", "send_money", dict(PAYMENT))
    assert (await dispatcher.execute(call)).ok
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(CALLS):
            await dispatcher.execute(call)
        best = min(best, time.perf_counter() - started)
    return best / CALLS * 1e6


@tool
async def send_money(recipient: str, amount: float, url: str) -> str:
    """Do nothing: only the dispatcher is timed."""
    return "ok"


def main() -> None:
    p = policy()
    narrowed = asyncio.run(_narrow_twice(p))
    gate = PolicyGate(p)
    check = p.check
    query = {"query": "weather in Zurich"}
    empty: dict[str, Any] = {}
    assert check("get_balance", empty).allowed
    assert not check("delete_account", empty).allowed
    assert check("send_money", PAYMENT).allowed
    assert check("search", query).rule == "search[19]"
    assert narrowed.check("send_money", PAYMENT).allowed

    rows = [
        ("(a) allow by a simple rule", per_decision(lambda: check("get_balance", empty))),
        ("(b) deny: tool not in policy", per_decision(lambda: check("delete_account", empty))),
        ("(c) pattern + enum + range on 3 arguments", per_decision(lambda: check("send_money", PAYMENT))),
        ("(d) 20 rules on one tool, last one decides", per_decision(lambda: check("search", query))),
        ("(e) (c) through PolicyGate.decide", per_decision(lambda: gate.decide("send_money", PAYMENT))),
        ("(f) (c) after two narrowing updates", per_decision(lambda: narrowed.check("send_money", PAYMENT))),
    ]
    bare = asyncio.run(per_call(ToolDispatcher([send_money])))
    gated = asyncio.run(per_call(ToolDispatcher([send_money], policy=p)))

    table = Table(title="policy decision latency (bench/policy.py)", title_justify="left")
    for column in ("measure", "µs", "budget", "within"):
        table.add_column(column)
    for name, micros in rows:
        table.add_row(name, f"{micros:.2f}", f"< {BUDGET_US:.0f} µs", "yes" if micros < BUDGET_US else "NO")
    table.add_row("(g) dispatcher.execute, no policy", f"{bare:.2f}", "", "")
    table.add_row("(g) dispatcher.execute, policy of (c)", f"{gated:.2f}", "", "")
    table.add_row(
        "(g) the gate's cost per call",
        f"{gated - bare:.2f}",
        f"< {BUDGET_US:.0f} µs",
        "yes" if gated - bare < BUDGET_US else "NO",
    )
    Console().print(table)


async def _narrow_twice(p: Policy) -> Policy:
    update = Policy.from_dict({"version": 1, "tools": {"send_money": [{"effect": "allow"}]}})
    return await (await p.narrow(update)).narrow(update)


if __name__ == "__main__":
    main()
