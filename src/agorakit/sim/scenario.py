"""A scenario: the one class a user writes to simulate many agents.

The world is plain data kept by the simulation's driver. Each round the
scenario says what every agent is asked (:meth:`Scenario.prompt`: this is
where messages are routed, since an agent sees only what its prompt holds),
the agents answer through the kernel, :meth:`Scenario.act` turns each reply
into an action, and :meth:`Scenario.apply` changes the world and reports the
round. :meth:`Scenario.instant` answers for an agent without a model, from a
seeded random source, for tests and for measuring the framework alone.

Rounds advance in lockstep: each waits for every agent's action in the one
before. A scenario whose agents each hear from a few others can also advance
as soon as an agent's inputs are ready (``Simulation(advance="ready")``): it
says whom each agent hears from (:meth:`Scenario.inputs`), applies actions one
at a time as they come (:meth:`Scenario.deliver`), and reports a round once it
is over (:meth:`Scenario.report`); its :meth:`Scenario.apply` is then those two.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, ClassVar, Generic, TypeVar

WorldT = TypeVar("WorldT")
ActionT = TypeVar("ActionT")


class Scenario(ABC, Generic[WorldT, ActionT]):
    #: The name ``agora sim`` knows the scenario by.
    name: ClassVar[str]
    #: Every agent's system message.
    instructions: ClassVar[str]
    #: The JSON schema a reply must match (grammar-constrained on the embedded model), or None for free text.
    reply_schema: ClassVar[dict[str, Any] | None] = None
    #: False when ``instructions`` already say what to reply: the embedded model's prompt then
    #: does not spell the schema out too (a shorter prompt, a faster call).
    describe_schema: ClassVar[bool] = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Scenario[Any, Any]:
        # As an abstract method would, a scenario with no way to change the world fails when it is
        # made, not at the end of its first round (Scenario's own deliver and report only refuse).
        if cls.apply is Scenario.apply and not cls.delivers_each_action():
            raise TypeError(f"{cls.__name__} must define apply, or deliver and report, to change its world")
        return super().__new__(cls)

    @abstractmethod
    def start(self, agents: int, rng: random.Random) -> WorldT:
        """The world before round 0, for ``agents`` agents numbered from 0."""

    @abstractmethod
    def prompt(self, world: WorldT, agent: int, round_index: int) -> str | None:
        """What ``agent`` is asked in round ``round_index`` (from 0), or None if it sits the round out."""

    @abstractmethod
    def act(self, agent: int, reply: str) -> ActionT | None:
        """The action ``reply`` stands for, or None if it is unusable (the agent then does nothing)."""

    def apply(self, world: WorldT, actions: dict[int, ActionT], round_index: int) -> dict[str, Any]:
        """Change ``world`` by the round's actions (agents in order); the round's results, as plain data.

        Override it, or :meth:`deliver` and :meth:`report`, which it is by default."""
        for agent, action in actions.items():
            self.deliver(world, agent, action, round_index)
        return self.report(world, round_index)

    @classmethod
    def delivers_each_action(cls) -> bool:
        """Whether the scenario defines :meth:`deliver` and :meth:`report` (not only :meth:`apply`)."""
        return cls.deliver is not Scenario.deliver and cls.report is not Scenario.report

    def inputs(self, world: WorldT, agent: int) -> Collection[int] | None:
        """The agents ``agent`` hears from, fixed for the run: with ``advance="ready"`` its turn in
        a round waits only for their turns (and its own) in the round before. None (the default)
        for everyone: the scenario then advances in lockstep only."""
        return None

    def deliver(self, world: WorldT, agent: int, action: ActionT, round_index: int) -> None:
        """Change ``world`` by one agent's action. With ``advance="ready"`` actions come as they are
        taken: those of a round in any order, and mixed with later rounds' actions of agents that
        do not hear from this one, so the world must come out the same in any such order."""
        raise NotImplementedError(f"{type(self).__name__} applies a whole round at once (apply), not one action")

    def report(self, world: WorldT, round_index: int) -> dict[str, Any]:
        """The results of round ``round_index`` once every agent's turn in it is over (with
        ``advance="ready"``, agents who hear from none of its actors may be rounds ahead)."""
        raise NotImplementedError(f"{type(self).__name__} reports a round from apply")

    @abstractmethod
    def instant(self, prompt: str, rng: random.Random) -> str:
        """A reply to ``prompt`` with no model: what the instant model answers."""

    def summary(self, world: WorldT) -> dict[str, Any]:
        """What the whole simulation found, once its last round is applied."""
        return {}
