"""Rounds that advance as soon as their inputs are ready.

In lockstep every agent's turn in a round waits for the whole round before.
Here an agent's turn in round ``r`` waits only for its own turn and the turns
of the agents it hears from (:meth:`~agorakit.sim.Scenario.inputs`) in round
``r - 1``: a quiet corner of a network runs rounds ahead of a busy one, and a
slow call holds up only those who hear from its agent. Each action is applied
as it comes (:meth:`~agorakit.sim.Scenario.deliver`), and a round is reported
once every agent's turn in it is over, so the rounds' results are the ones
lockstep gives.

Turns that become ready together go to their group as one batch, and the
batches of one lane (a Ray worker's groups; in process, each group is a lane)
in one step; steps run concurrently.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from agorakit.core.errors import ConfigError
from agorakit.kernel.run import RunLedger
from agorakit.sim.group import Step, Turn
from agorakit.sim.scenario import Scenario

#: Steps each group's turns (in process, or on the Ray workers): a Step per group, in order.
StepAll = Callable[[dict[int, list[Turn]], RunLedger], Awaitable[list[Step]]]
Report = Callable[[dict[str, Any]], None]


def require_ready(scenario: Scenario[Any, Any]) -> None:
    """A clear error for a scenario that can only advance in lockstep."""
    kind = type(scenario)
    if not kind.delivers_each_action() or kind.inputs is Scenario.inputs:
        raise ConfigError(
            f"the scenario {scenario.name!r} advances in lockstep only",
            hint="advancing as inputs are ready needs the scenario's inputs, deliver and report (see docs/sim.md)",
        )


class ReadyRounds:
    """One simulation's turns, each started once the turns it waits for are over."""

    def __init__(
        self,
        scenario: Scenario[Any, Any],
        world: Any,
        agents: int,
        rounds: int,
        group_size: int,
        lane: Callable[[int], int] | None = None,
    ) -> None:
        self.scenario = scenario
        #: Groups stepped together (one call to a Ray worker for its groups), by group; else each alone.
        self.lane: Callable[[int], int] = lane or (lambda index: index)
        self.world = world
        self.agents = agents
        self.rounds = rounds
        self.group_size = group_size
        self.hears = [sorted(set(scenario.inputs(world, agent) or ()) - {agent}) for agent in range(agents)]
        self.heard_by: list[list[int]] = [[] for _ in range(agents)]
        for agent, sources in enumerate(self.hears):
            for source in sources:
                self.heard_by[source].append(agent)
        #: The last round each agent's turn is over in (-1: none yet).
        self.over = [-1] * agents
        #: For each agent, how many it hears from are still behind it (its next turn waits for them).
        self.behind = [0] * agents
        self.done_in_round = [0] * rounds
        self.acted = [0] * rounds
        self.failed = [0] * rounds
        self.reported = 0
        self.ready: deque[int] = deque(range(agents))  # round 0 waits for no one
        self.batch: dict[int, list[Turn]] = {}

    async def run(self, step_all: StepAll, ledger: RunLedger, report: Report) -> None:
        """Every round, reporting each as it ends (in order)."""
        running: set[asyncio.Task[tuple[dict[int, list[Turn]], list[Step]]]] = set()
        while True:
            self._take_turns(report)
            lanes: dict[int, dict[int, list[Turn]]] = {}
            for index, turns in sorted(self.batch.items()):  # a step per lane: none waits for another's
                lanes.setdefault(self.lane(index), {})[index] = turns
            for batch in lanes.values():
                running.add(asyncio.ensure_future(_step(step_all, batch, ledger)))
            self.batch = {}
            if not running:
                break
            finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                batch, steps = task.result()
                self._finish(batch, steps)
        if self.reported < self.rounds:
            raise RuntimeError(f"rounds stopped at {self.reported} of {self.rounds}")  # a bug, not a user's error

    def _take_turns(self, report: Report) -> None:
        """The turns of every ready agent: asked (into the batch) or, if it sits out, over at once."""
        while self.ready:
            agent = self.ready.popleft()
            round_index = self.over[agent] + 1
            prompt = self.scenario.prompt(self.world, agent, round_index)
            if prompt is None:
                self._over(agent)
            else:
                self.batch.setdefault(agent // self.group_size, []).append((agent, prompt))
        self._report(report)

    def _finish(self, batch: dict[int, list[Turn]], steps: list[Step]) -> None:
        for turns, step in zip(batch.values(), steps, strict=True):
            for agent, _ in turns:  # in agent order within a group: deliveries as in lockstep
                round_index = self.over[agent] + 1
                if agent in step.actions:
                    self.scenario.deliver(self.world, agent, step.actions[agent], round_index)
                    self.acted[round_index] += 1
                else:
                    self.failed[round_index] += 1
            for agent, _ in turns:
                self._over(agent)

    def _over(self, agent: int) -> None:
        """``agent``'s turn is over: it and those who hear from it may be ready for their next."""
        over = self.over[agent] = self.over[agent] + 1
        self.done_in_round[over] += 1
        if over + 1 < self.rounds:
            self.behind[agent] = sum(1 for source in self.hears[agent] if self.over[source] < over)
            if not self.behind[agent]:
                self.ready.append(agent)
        for listener in self.heard_by[agent]:
            # It waited for this agent only if it is already over the round this agent just finished.
            if self.over[listener] == over and over + 1 < self.rounds:
                self.behind[listener] -= 1
                if not self.behind[listener]:
                    self.ready.append(listener)

    def _report(self, report: Report) -> None:
        while self.reported < self.rounds and self.done_in_round[self.reported] == self.agents:
            number = self.reported
            row = {"round": number, **self.scenario.report(self.world, number)}
            row.update(acted=self.acted[number], failed=self.failed[number])
            report(row)
            self.reported += 1


async def _step(
    step_all: StepAll, batch: dict[int, list[Turn]], ledger: RunLedger
) -> tuple[dict[int, list[Turn]], list[Step]]:
    turns = sum(len(t) for t in batch.values())
    with ledger.tracer.span("turns", {"agorakit.sim.turns": turns, "agorakit.sim.groups": len(batch)}):
        return batch, await step_all(batch, ledger)
