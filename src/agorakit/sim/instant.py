"""The instant model of a simulation: the scenario's own answer, with no model behind it.

Every reply is drawn from a random source seeded by the simulation's seed and
the request's text (which names the agent and the round), through a stable
hash: the same run gives the same replies in any order, in any process, on any
worker. It is a :class:`~agorakit.models.ScriptedModel`, so each step is still
a real call through the kernel (queued, traced, counted).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from agorakit.models.base import ChatModel, ModelRequest
from agorakit.models.scripted import ScriptedModel
from agorakit.models.uri import resolve_model
from agorakit.sim.scenario import Scenario

#: The model that answers with the scenario's own instant reply.
INSTANT = "instant"


def sim_model(scenario: Scenario[Any, Any], model: str | ChatModel, seed: int) -> ChatModel:
    """The model a simulation's agents ask: ``"instant"``, a model URI, or a model object."""
    return instant_model(scenario, seed) if model == INSTANT else resolve_model(model)


class HashRandom(random.Random):
    """A random source drawn from a hash of ``key`` and a counter. Seeding ``random.Random``
    fills 624 words of state, which costs more than the rest of an instant step; this costs
    one hash a draw. Every method of ``random.Random`` works: they draw on :meth:`random`."""

    def __init__(self, key: bytes) -> None:  # no super().__init__: nothing to seed
        self._key = key
        self._draws = 0

    def random(self) -> float:
        self._draws += 1
        digest = hashlib.blake2b(self._key + self._draws.to_bytes(8, "big"), digest_size=8).digest()
        return (int.from_bytes(digest, "big") >> 11) * 2.0**-53


def instant_model(scenario: Scenario[Any, Any], seed: int) -> ScriptedModel:
    def reply(request: ModelRequest) -> str:
        text = "\n".join(message.content or "" for message in request.messages)
        key = hashlib.blake2b(f"{seed}\n{text}".encode(), digest_size=16).digest()
        return scenario.instant(request.messages[-1].content or "", HashRandom(key))

    return ScriptedModel(reply, name=f"instant-{scenario.name}", record=False)
