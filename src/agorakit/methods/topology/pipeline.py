"""A sequential pipeline: each participant gets the previous one's output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agorakit.agents.result import RunResult
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.topology.scope import Context, Participant, Scope, result
from agorakit.methods.topology.team import Team


class Pipeline(Team):
    """``participants[0]`` answers the task, each next one answers the previous output.

    Stops early (with that participant's stop reason) when one gives no answer.
    """

    def __init__(self, participants: Sequence[Participant], *, name: str = "pipeline") -> None:
        if not participants:
            raise ConfigError("a pipeline needs at least one participant")
        self.participants = list(participants)
        self.name = name

    async def _run(self, conversation: list[Message], scope: Scope) -> RunResult[str]:
        messages = list(conversation)
        step: RunResult[Any] | None = None
        task: str | list[Message] = conversation
        for steps, participant in enumerate(self.participants, 1):
            step = await participant.run(task, context=scope.run)
            if step.output is None:
                return result(scope, None, messages, steps, last=step)
            reply = Message("assistant", step.output, name=participant.name)
            scope.record(reply)
            messages.append(reply)
            task = step.output
        return result(scope, messages[-1].content, messages, len(self.participants), last=step)


async def sequential_pipeline(
    agents: Sequence[Participant], task: str | Sequence[Message], *, context: Context = None
) -> RunResult[str]:
    """Run ``agents`` in order, each on the previous one's output; the last output is the answer."""
    return await Pipeline(agents).run(task, context=context)
