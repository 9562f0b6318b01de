"""Runs for the web viewer's tests, made by real agents, a real method and a real benchmark grid
on scripted models, traced into a trace database of their own."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agorakit import Agent, ScriptedModel, call, tool
from agorakit.eval.results import ResultsStore
from agorakit.eval.runner import GridSpec, run_grid
from agorakit.eval.sample import Sample
from agorakit.methods import method_class
from agorakit.policy import Policy
from agorakit.trace.store import open_store

BANK_SYSTEM = "You are a careful bank clerk."
BANK_TASK = "Pay mallory 5 euros, then alice 3."
#: The bank's answer: markup that would run if the page did not escape it.
HOSTILE_ANSWER = 'Paid alice. <img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
DEBATE_QUESTION = "What is 6 times 7?"
DEBATE_REPLY = "The answer is 42."
BENCH_DATASET = "arith"
BENCH_SAMPLES = (
    Sample(BENCH_DATASET, "q1", "What is 6 times 7?", "42", "number"),
    Sample(BENCH_DATASET, "q2", "What is 2 plus 5?", "7", "number"),
)

POLICY = Policy.from_dict(
    {
        "version": 1,
        "fallback": "error",
        "tools": {"send_money": [{"effect": "allow", "when": {"recipient": {"enum": ["alice"]}}}]},
    }
)


@tool
def send_money(recipient: str, amount: float) -> str:
    """Send money to someone."""
    return f"sent {amount:g} to {recipient}"


def bank_agent(trace: Path | bool = False) -> Agent:
    """Asks to pay mallory (the policy denies it), then alice (allowed), then answers."""
    model = ScriptedModel(
        [
            call("send_money", recipient="mallory", amount=5),
            call("send_money", recipient="alice", amount=3),
            HOSTILE_ANSWER,
        ]
    )
    return Agent("bank", model, instructions=BANK_SYSTEM, tools=[send_money], policy=POLICY, trace=trace)


@dataclass(frozen=True, slots=True)
class ViewerRuns:
    trace_db: Path
    bench_db: Path
    bank_run: str
    debate_run: str
    #: sample id -> the run id of its (only) benchmark row
    bench_runs: dict[str, str]


async def make_runs(folder: Path) -> ViewerRuns:
    """The bank run, an llm_debate run and a two-question llm_debate benchmark, all traced
    into ``folder/traces.db`` (the benchmark's results in ``folder/bench.db``)."""
    trace_db = folder / "traces.db"
    bench_db = folder / "bench.db"
    bank = await bank_agent(trace=trace_db).run(BANK_TASK)
    debate_method = method_class("llm_debate")
    debate = await debate_method(ScriptedModel(lambda request: DEBATE_REPLY), agents=2, rounds=1, trace=trace_db).run(
        DEBATE_QUESTION
    )
    # The grid traces where the settings say: point them at this folder while it runs.
    before = os.environ.get("AGORAKIT_TRACE_DB")
    os.environ["AGORAKIT_TRACE_DB"] = str(trace_db)
    try:
        with ResultsStore(bench_db) as store:
            await run_grid(
                GridSpec(methods=[("llm_debate", {"agents": 2, "rounds": 1})], datasets=[BENCH_DATASET],
                         models=["scripted:bench"]),
                store,
                backends={"scripted:bench": ScriptedModel(lambda request: DEBATE_REPLY, name="bench")},
                samples={BENCH_DATASET: list(BENCH_SAMPLES)},
            )  # fmt: skip
            bench_runs = {row.key.sample_id: row.run_id for row in store.rows()}
    finally:
        if before is None:
            del os.environ["AGORAKIT_TRACE_DB"]
        else:
            os.environ["AGORAKIT_TRACE_DB"] = before
    open_store(trace_db).flush()
    return ViewerRuns(trace_db, bench_db, bank.run_id, debate.run_id, bench_runs)
