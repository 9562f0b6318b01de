"""A group of agents that answer together: many agents to one worker.

A simulation packs its agents into groups (a group to an actor on Ray, as
AgentSociety packs a hundred or more). A group asks each of its agents'
prompts through the kernel, with up to ``concurrency`` calls at once, turns the
replies into actions, and keeps each agent's last ``memory`` exchanges: that
memory is the group's only state, plain data for a checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agorakit.core.errors import AgorakitError
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, default_kernel
from agorakit.kernel.run import RunLedger
from agorakit.models.base import ChatModel, ModelRequest
from agorakit.sim.scenario import Scenario

Turn = tuple[int, str]  # an agent and its prompt


@dataclass(slots=True)
class Step:
    """A group's round: the actions its agents took (by agent), and how many could not act."""

    actions: dict[int, Any] = field(default_factory=dict)
    failed: int = 0


class AgentGroup:
    def __init__(
        self,
        scenario: Scenario[Any, Any],
        model: ChatModel,
        *,
        memory: int = 0,
        concurrency: int = 1,
        kernel: Kernel | None = None,
    ) -> None:
        if memory < 0 or concurrency < 1:
            raise ValueError(f"memory must be >= 0 and concurrency >= 1, got {memory} and {concurrency}")
        self.scenario = scenario
        self.model = model
        self.memory = memory
        self.concurrency = concurrency
        self.kernel = kernel or default_kernel()
        self.remembered: dict[int, list[tuple[str, str]]] = {}
        self._system = Message("system", scenario.instructions)

    async def step(self, turns: Sequence[Turn], ledger: RunLedger) -> Step:
        """Ask every turn's agent its prompt; a reply that fails or makes no action counts as failed."""
        step = Step()
        pending: Iterator[Turn] = iter(turns)

        async def work() -> None:  # workers share one iterator: each takes the next turn
            for agent, prompt in pending:
                reply = await self._ask(agent, prompt, ledger)
                action = None if reply is None else self.scenario.act(agent, reply)
                if action is None:
                    step.failed += 1
                else:
                    step.actions[agent] = action

        if self.concurrency == 1 or len(turns) < 2:
            await work()
        else:
            await asyncio.gather(*(work() for _ in range(min(self.concurrency, len(turns)))))
        step.actions = dict(sorted(step.actions.items()))  # the same order whoever finished first
        return step

    async def _ask(self, agent: int, prompt: str, ledger: RunLedger) -> str | None:
        messages = [self._system]
        for asked, replied in self.remembered.get(agent, ()):
            messages += (Message("user", asked), Message("assistant", replied))
        messages.append(Message("user", prompt))
        scenario = self.scenario
        request = ModelRequest(
            messages, response_schema=scenario.reply_schema, describe_schema=scenario.describe_schema
        )
        try:
            completion = await self.kernel.complete(self.model, request, run=ledger, agent=f"agent-{agent}")
        except AgorakitError:  # already retried by the kernel, and in the trace: this agent sits the round out
            return None
        reply = completion.message.content or ""
        if self.memory:
            kept = self.remembered.setdefault(agent, [])
            kept.append((prompt, reply))
            del kept[: -self.memory]
        return reply

    def checkpoint(self, agents: Iterable[int] | None = None) -> dict[str, Any]:
        """The group's state, or only ``agents``' part of it, as plain data (JSON-ready)."""
        chosen = list(self.remembered) if agents is None else [a for a in agents if a in self.remembered]
        return {"remembered": {str(agent): [list(pair) for pair in self.remembered[agent]] for agent in chosen}}

    def restore(self, state: dict[str, Any]) -> None:
        """Take a checkpoint (or part of one) over: each agent it names gets the memory it holds."""
        self.remembered.update(
            (int(agent), [(str(asked), str(replied)) for asked, replied in kept])
            for agent, kept in state.get("remembered", {}).items()
        )
