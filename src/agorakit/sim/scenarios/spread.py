"""A message spreading over a follow graph (after OASIS's information-spreading runs).

Each user follows a few others drawn from the seed. User 0 posts a message in
round 0; a user who has not seen it before sees it when someone they follow
shares it, and is then asked, in the next round, whether to share it on. The
rounds say who saw and who re-shared it; a user decides once.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from agorakit.sim.scenario import Scenario

POST = "Researchers report that city parks lower summer temperatures in nearby streets by up to 3 degrees."


@dataclass(slots=True)
class SpreadWorld:
    #: followers[u]: the users who see what u shares.
    followers: list[list[int]]
    #: follows[u]: the users whose shares u sees.
    follows: list[list[int]]
    #: The round each user first saw the message (-1: not yet); the poster saw it "before" round 0.
    seen: list[int]
    #: The round each user shared it (-1: did not); the poster's is 0, a user sharing in round r: r + 1.
    shared: list[int]
    #: Whose share each user first saw (the lowest-numbered, of those in the same round; -1: none).
    source: list[int]


class MessageSpread(Scenario[SpreadWorld, bool]):
    name = "spread"
    instructions = (
        "You are a user of a social network. You see what the people you follow share. "
        'Reply with JSON only: {"share": true} to share the post with your own followers, '
        'or {"share": false} to let it go.'
    )
    reply_schema: ClassVar[dict[str, Any] | None] = {
        "type": "object",
        "properties": {"share": {"type": "boolean"}},
        "required": ["share"],
    }
    describe_schema = False

    def __init__(self, follows: int = 5, share_chance: float = 0.3) -> None:
        if follows < 1 or not 0 <= share_chance <= 1:
            raise ValueError("follows must be at least 1 and share_chance within [0, 1]")
        self.follows = follows
        self.share_chance = share_chance  # how often the instant model shares

    def start(self, agents: int, rng: random.Random) -> SpreadWorld:
        followers: list[list[int]] = [[] for _ in range(agents)]
        follows = [_followed(rng, agents, user, self.follows) for user in range(agents)]
        for user, followed in enumerate(follows):
            for other in followed:
                followers[other].append(user)
        world = SpreadWorld(followers, follows, seen=[-1] * agents, shared=[-1] * agents, source=[-1] * agents)
        world.seen[0] = world.shared[0] = 0  # user 0 posts in round 0: its followers are asked first
        for follower in followers[0]:
            world.seen[follower], world.source[follower] = 0, 0
        return world

    def prompt(self, world: SpreadWorld, agent: int, round_index: int) -> str | None:
        source = world.source[agent]
        if world.seen[agent] != round_index or source < 0:
            return None  # asked once: in the round after someone it follows first shared
        return f'You are user {agent}. User {source}, whom you follow, shared this post: "{POST}" Do you share it?'

    def act(self, agent: int, reply: str) -> bool | None:
        try:
            parsed = json.loads(reply)
        except ValueError:
            return _yes_or_no(reply)  # a base model may answer in words
        share = parsed.get("share") if isinstance(parsed, dict) else None
        return share if isinstance(share, bool) else None

    def inputs(self, world: SpreadWorld, agent: int) -> list[int]:
        return world.follows[agent]

    def deliver(self, world: SpreadWorld, agent: int, action: bool, round_index: int) -> None:
        if not action:
            return
        world.shared[agent] = seen = round_index + 1
        for follower in world.followers[agent]:
            # The earliest round wins, then the lowest sharer: the same whatever order shares come in.
            if world.seen[follower] < 0 or (world.seen[follower], world.source[follower]) > (seen, agent):
                world.seen[follower], world.source[follower] = seen, agent

    def report(self, world: SpreadWorld, round_index: int) -> dict[str, Any]:
        now, after = round_index, round_index + 1
        return {
            "asked": sum(1 for u, r in enumerate(world.seen) if r == now and world.source[u] >= 0),
            "shared": sum(1 for r in world.shared if r == after),
            "newly_seen": sum(1 for r in world.seen if r == after),
            "seen": sum(1 for r in world.seen if 0 <= r <= after),
            "shared_total": sum(1 for r in world.shared if 0 <= r <= after),
        }

    def instant(self, prompt: str, rng: random.Random) -> str:
        return '{"share": true}' if rng.random() < self.share_chance else '{"share": false}'

    def summary(self, world: SpreadWorld) -> dict[str, Any]:
        return {
            "seen": sum(1 for r in world.seen if r >= 0),
            "shared": sum(1 for r in world.shared if r >= 0),
            "users": len(world.seen),
        }


def _yes_or_no(reply: str) -> bool | None:
    words = reply.lower()
    if "true" in words or "yes" in words:
        return True
    if "false" in words or "no" in words:
        return False
    return None


def _followed(rng: random.Random, agents: int, user: int, count: int) -> list[int]:
    """The ``count`` users ``user`` follows (all the others, in a network that small)."""
    if agents - 1 <= count:
        return [other for other in range(agents) if other != user]
    chosen: list[int] = []
    while len(chosen) < count:  # draws with rejection: fast when agents >> count
        other = rng.randrange(agents)
        if other != user and other not in chosen:
            chosen.append(other)
    return chosen
