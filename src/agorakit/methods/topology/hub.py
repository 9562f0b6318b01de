"""A broadcast hub: participants share one conversation, so each sees every message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from agorakit.agents.result import RunResult
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.topology.scope import Context, Participant, Scope, Views, result, view_for
from agorakit.methods.topology.team import Team


async def speak(
    participant: Participant, conversation: Sequence[Message], scope: Scope, views: Views | None = None
) -> RunResult[Any]:
    """One turn of ``participant`` on the shared ``conversation`` (as it sees it);
    the reply is recorded but not added to ``conversation``.

    ``views``, kept across the turns of one conversation, makes the view
    incremental instead of rebuilt each turn."""
    seen = views.of(participant.name, conversation) if views is not None else view_for(participant.name, conversation)
    outcome = await participant.run(seen, context=scope.run)
    if outcome.output is not None:
        scope.record(Message("assistant", outcome.output, name=participant.name))
    return outcome


class Hub(Team):
    """Every participant sees every message: ``rounds`` rounds in which each
    participant in turn answers the whole conversation so far.

    ``parallel=True`` lets a round's participants speak at once, each seeing
    the conversation as it was when the round began (then their replies join
    it in participant order).
    """

    def __init__(
        self, participants: Sequence[Participant], *, rounds: int = 1, parallel: bool = False, name: str = "hub"
    ) -> None:
        if not participants:
            raise ConfigError("a hub needs at least one participant")
        if rounds < 1:
            raise ConfigError(f"rounds must be at least 1, got {rounds}")
        self.participants = list(participants)
        self.rounds = rounds
        self.parallel = parallel
        self.name = name

    async def _run(self, conversation: list[Message], scope: Scope) -> RunResult[str]:
        messages = list(conversation)
        views = Views()
        steps = 0
        for _ in range(self.rounds):
            if self.parallel:
                snapshot = list(messages)
                outcomes = await asyncio.gather(*(speak(p, snapshot, scope, views) for p in self.participants))
            else:
                outcomes = []
                for participant in self.participants:
                    outcomes.append(outcome := await speak(participant, messages, scope, views))
                    if outcome.output is None:
                        break
                    messages.append(Message("assistant", outcome.output, name=participant.name))
            for participant, outcome in zip(self.participants, outcomes, strict=False):
                steps += 1
                if outcome.output is None:
                    return result(scope, None, messages, steps, last=outcome)
                if self.parallel:
                    messages.append(Message("assistant", outcome.output, name=participant.name))
        return result(scope, messages[-1].content, messages, steps)


async def broadcast(
    agents: Sequence[Participant], task: str | Sequence[Message], *, rounds: int = 1, context: Context = None
) -> RunResult[str]:
    """Each agent in turn answers the conversation so far (task and every earlier reply)."""
    return await Hub(agents, rounds=rounds).run(task, context=context)
