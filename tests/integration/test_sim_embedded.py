"""Simulations on the embedded model: every agent's reply is an action, since the
scenarios' reply schemas are enforced by grammar-constrained decoding."""

from __future__ import annotations

import random

import pytest

from agorakit.models.llamacpp import LlamaCppModel
from agorakit.sim import Simulation
from agorakit.sim.scenarios import GuessTwoThirds, MessageSpread

pytestmark = pytest.mark.integration


async def test_every_embedded_player_guesses_a_whole_number_within_the_rules(gemma: LlamaCppModel) -> None:
    result = await Simulation(GuessTwoThirds(), agents=5, rounds=2, model=gemma, trace=False).run()
    assert [(row["acted"], row["failed"]) for row in result.rounds] == [(5, 0), (5, 0)]
    for row in result.rounds:
        assert 0 <= row["average"] <= 100 and 0 <= row["winner"] < 5
        assert float(row["winning_guess"]).is_integer()
    assert result.usage.calls == 10


async def test_every_embedded_user_asked_decides_whether_to_share(gemma: LlamaCppModel) -> None:
    scenario = MessageSpread(follows=3)
    posters_followers = len(scenario.start(30, random.Random(1)).followers[0])
    result = await Simulation(scenario, agents=30, rounds=2, model=gemma, seed=1, trace=False).run()
    first = result.rounds[0]
    assert first["asked"] == first["acted"] == posters_followers > 0 and first["failed"] == 0
    assert result.usage.calls == sum(row["asked"] for row in result.rounds)
