"""Rounds in lockstep against rounds that advance as inputs are ready, with slow calls.

The spread scenario over a follow graph, its instant replies each held back as
a served model would hold them: most calls take 5 to 15 ms, one in ten 100 to
300 ms (the same call waits as long in both runs: the delay is drawn from the
call's text). In lockstep every round waits for its slowest call; advancing as
inputs are ready, a slow call holds up only the users who follow its agent.
Both runs must give the same rounds, and the table says so.

    PYTHONPATH=src .venv/bin/python bench/sim_ready.py [--agents 10000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from agorakit.models.base import ModelRequest
from agorakit.models.scripted import Delay, ScriptedModel
from agorakit.sim import Simulation
from agorakit.sim.instant import instant_model
from agorakit.sim.scenarios import MessageSpread


def served(scenario: MessageSpread, seed: int) -> ScriptedModel:
    replies = instant_model(scenario, seed)

    def reply(request: ModelRequest) -> Delay:
        text = request.messages[-1].content or ""
        draw = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") / 2**32
        seconds = 0.1 + 2 * (draw - 0.9) if draw >= 0.9 else 0.005 + draw / 90
        return Delay(seconds, replies._next_item(request))

    return ScriptedModel(reply, name="served", record=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--share", type=float, default=0.5, help="how often a user shares")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = MessageSpread(follows=5, share_chance=args.share)
    runs: dict[str, Any] = {}
    for advance in ("lockstep", "ready"):
        sim = Simulation(
            scenario, agents=args.agents, rounds=args.rounds, seed=args.seed, model=served(scenario, args.seed),
            group_size=100, concurrency=64, advance=advance,
        )  # fmt: skip
        runs[advance] = asyncio.run(sim.run())
    same = [{k: v for k, v in row.items() if k != "seconds"} for row in runs["ready"].rounds] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in runs["lockstep"].rounds
    ]
    table = Table(title=f"spread, {args.agents:,} agents, {args.rounds} rounds, slow calls ({os.cpu_count()} cores)")
    for column in ("advance", "model calls", "seconds", "vs lockstep", "same rounds"):
        table.add_column(column, justify="right")
    for advance, result in runs.items():
        ratio = runs["lockstep"].seconds / result.seconds
        table.add_row(advance, f"{result.usage.calls:,}", f"{result.seconds:.2f}", f"{ratio:.2f}x faster",
                      "yes" if same else "NO")  # fmt: skip
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
