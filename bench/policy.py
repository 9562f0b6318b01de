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
(h) a rule with ``source: [user, trusted]`` on the recipient and the amount, in a
    run that has seen 100 KB of untrusted tool output (mail with IBANs, links,
    amounts) and 10 KB of trusted output: a value the user gave (allowed), and one
    found only in the untrusted mail (denied, with where it was found). Indexing
    the run's data happens once, before the first check; its time is shown apart.

Each decision figure is the best of 5 runs of 100,000 decisions; each call
figure the best of 5 runs of 20,000 calls.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from agorakit.core.messages import ToolCall
from agorakit.core.provenance import Provenance
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


UNTRUSTED_BYTES = 100_000
TRUSTED_BYTES = 10_000
USER_IBAN = "DE89 3704 0044 0532 0130 00"


def run_data(seed: int = 7) -> tuple[Provenance, str]:
    """A run's record holding ~100 KB of untrusted mail and ~10 KB of trusted output, and an IBAN
    that occurs only in the mail."""
    rng = random.Random(seed)
    words = [
        "please",
        "pay",
        "the",
        "invoice",
        "for",
        "March",
        "rent",
        "deposit",
        "urgent",
        "account",
        "meeting",
        "link",
        "report",
    ]

    def iban() -> str:
        return f"{rng.choice(['GB', 'FR', 'US', 'CH'])}{rng.randint(10, 99)}" + "".join(
            rng.choice(string.digits) for _ in range(18)
        )

    def message() -> str:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 30)))
        return (
            f"From: user{rng.randint(1, 999)}@mail.example\n{text.capitalize()}. Send {rng.randint(1, 99)},"
            f"{rng.randint(100, 999)}.00 to {iban()} or see https://www.site{rng.randint(1, 99)}.example/p/ "
            f"by 2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}.\n\n"
        )

    record = Provenance([f"Pay the rent of 1,000 to my landlord, {USER_IBAN}, and read my mail."])
    size = 0
    while size < TRUSTED_BYTES:
        text = f"balance {rng.randint(1, 9999)}.{rng.randint(10, 99)} account {iban()}\n"
        record.add_output("get_transactions", text, "trusted")
        size += len(text)
    size, attacker = 0, ""
    while size < UNTRUSTED_BYTES:
        mail = "".join(message() for _ in range(20))
        attacker = attacker or mail.split(" to ")[1].split()[0]
        record.add_output("read_inbox", mail, "untrusted")
        size += len(mail)
    return record, attacker


def sourced_policy() -> Policy:
    sources = {"source": ["user", "trusted"]}
    rule = {"effect": "allow", "when": {"recipient": sources, "amount": {**sources, "maximum": 5000}}}
    return Policy.from_dict({"version": 1, "trust": {"get_transactions": "trusted"}, "tools": {"send_money": [rule]}})


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
    sourced = sourced_policy()
    record, attacker = run_data()
    from_user = {"recipient": USER_IBAN.replace(" ", ""), "amount": 1000.0}
    from_mail = {"recipient": attacker, "amount": 1000.0}
    started = time.perf_counter()
    record.index()  # once per recorded text; a check would otherwise do it when it first needs it
    indexing_ms = (time.perf_counter() - started) * 1e3
    assert sourced.check("send_money", from_user, record).allowed
    refused = sourced.check("send_money", from_mail, record)
    assert not refused.allowed and "only in untrusted output of read_inbox" in refused.reason, refused
    rows += [
        (
            "(h) source rule, 100 KB seen: the user's value",
            per_decision(lambda: sourced.check("send_money", from_user, record)),
        ),
        (
            "(h) source rule, 100 KB seen: value from mail",
            per_decision(lambda: sourced.check("send_money", from_mail, record)),
        ),
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
    table.add_row("(h) indexing the run's 110 KB, once", f"{indexing_ms:.0f} ms", "", "")
    Console().print(table)


async def _narrow_twice(p: Policy) -> Policy:
    update = Policy.from_dict({"version": 1, "tools": {"send_money": [{"effect": "allow"}]}})
    return await (await p.narrow(update)).narrow(update)


if __name__ == "__main__":
    main()
