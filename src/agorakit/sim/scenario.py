"""A scenario: the one class a user writes to simulate many agents.

The world is plain data kept by the simulation's driver. Each round the
scenario says what every agent is asked (:meth:`Scenario.prompt`: this is
where messages are routed, since an agent sees only what its prompt holds),
the agents answer through the kernel, :meth:`Scenario.act` turns each reply
into an action, and :meth:`Scenario.apply` changes the world and reports the
round. :meth:`Scenario.instant` answers for an agent without a model, from a
seeded random source, for tests and for measuring the framework alone.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
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

    @abstractmethod
    def start(self, agents: int, rng: random.Random) -> WorldT:
        """The world before round 0, for ``agents`` agents numbered from 0."""

    @abstractmethod
    def prompt(self, world: WorldT, agent: int, round_index: int) -> str | None:
        """What ``agent`` is asked in round ``round_index`` (from 0), or None if it sits the round out."""

    @abstractmethod
    def act(self, agent: int, reply: str) -> ActionT | None:
        """The action ``reply`` stands for, or None if it is unusable (the agent then does nothing)."""

    @abstractmethod
    def apply(self, world: WorldT, actions: dict[int, ActionT], round_index: int) -> dict[str, Any]:
        """Change ``world`` by the round's actions (agents in order); the round's results, as plain data."""

    @abstractmethod
    def instant(self, prompt: str, rng: random.Random) -> str:
        """A reply to ``prompt`` with no model: what the instant model answers."""

    def summary(self, world: WorldT) -> dict[str, Any]:
        """What the whole simulation found, once its last round is applied."""
        return {}
