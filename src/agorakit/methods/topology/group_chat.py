"""A group chat: speakers take turns on one shared conversation, chosen
round-robin or by a model, until a termination condition or ``max_turns``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agorakit.agents.agent import Agent
from agorakit.agents.result import RunResult
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.structured import DEFAULT_RETRIES
from agorakit.methods.topology.hub import speak
from agorakit.methods.topology.scope import Participant, Scope, Views, result
from agorakit.methods.topology.selector import select_speaker
from agorakit.methods.topology.team import Team
from agorakit.models.base import ChatModel, Sampling
from agorakit.models.uri import resolve_model

Terminate = str | Callable[[Message], bool] | None


@dataclass(slots=True)
class ChatResult(RunResult[str]):
    """A group chat's outcome: who spoke, in order, and whether the termination condition fired."""

    speakers: list[str] = field(default_factory=list)
    terminated: bool = False


def describe(participant: Participant) -> str:
    """A participant's description for the selector: its ``description``, else its instructions' first line."""
    text = getattr(participant, "description", None) or getattr(participant, "instructions", None) or ""
    return str(text).strip().split("\n")[0] or participant.name


class GroupChat(Team):
    """Participants share one conversation; each turn one of them speaks.

    ``speaker="round_robin"`` cycles through ``participants`` in order;
    ``speaker="model"`` asks ``selector`` (an Agent, a model or a model URI;
    default: the first Agent participant's model) for a structured
    ``{"speaker": name}`` given each participant's description (from
    ``descriptions``, else its ``description`` or its instructions' first
    line) and the conversation (fences tolerated, invalid names retried, then
    :class:`~agorakit.methods.structured.StructuredOutputError`). As in
    AutoGen's selector, the previous speaker is not a candidate unless
    ``allow_repeated_speaker``. The chat ends after a message containing
    ``terminate_on`` (a phrase) or for which it returns true (a callable),
    or after ``max_turns`` replies (``terminated`` is then false). The
    output is the last message.
    """

    def __init__(
        self,
        participants: Sequence[Participant],
        *,
        speaker: Literal["round_robin", "model"] = "round_robin",
        selector: Agent | ChatModel | str | None = None,
        max_turns: int = 10,
        terminate_on: Terminate = "TERMINATE",
        allow_repeated_speaker: bool = False,
        selector_retries: int = DEFAULT_RETRIES,
        descriptions: Mapping[str, str] | None = None,
        name: str = "group_chat",
    ) -> None:
        if not participants:
            raise ConfigError("a group chat needs at least one participant")
        names = [p.name for p in participants]
        if len(set(names)) != len(names):
            raise ConfigError(f"participant names must be unique, got {names}")
        if speaker not in ("round_robin", "model"):
            raise ConfigError(f"unknown speaker selection {speaker!r}", hint="use 'round_robin' or 'model'")
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}")
        self.participants = list(participants)
        self.speaker = speaker
        self.selector = selector
        self.max_turns = max_turns
        self.terminate_on = terminate_on
        self.allow_repeated_speaker = allow_repeated_speaker
        self.selector_retries = selector_retries
        self.descriptions = dict(descriptions or {})
        self.name = name

    def is_termination(self, message: Message) -> bool:
        if self.terminate_on is None:
            return False
        if isinstance(self.terminate_on, str):
            return self.terminate_on in (message.content or "")
        return bool(self.terminate_on(message))

    async def _next(self, turn: int, previous: str | None, conversation: list[Message], scope: Scope) -> Participant:
        if self.speaker == "round_robin":
            return self.participants[turn % len(self.participants)]
        everyone = {p.name: self.descriptions.get(p.name) or describe(p) for p in self.participants}
        candidates = dict(everyone)
        if not self.allow_repeated_speaker and previous is not None and len(candidates) > 1:
            del candidates[previous]
        if len(candidates) == 1:
            chosen = next(iter(candidates))
        else:
            agent, model, instructions, sampling = self._selector()
            chosen = await select_speaker(
                scope,
                scope.kernel(self.selector),
                model,
                agent,
                conversation,
                candidates,
                participants=everyone,
                instructions=instructions,
                retries=self.selector_retries,
                sampling=sampling,
            )
        return next(p for p in self.participants if p.name == chosen)

    def _selector(self) -> tuple[str, ChatModel, str | None, Sampling | None]:
        selector = self.selector
        if isinstance(selector, Agent):
            return selector.name, selector.model, None, selector.sampling
        if selector is not None:
            return "selector", resolve_model(selector), None, None
        for participant in self.participants:
            if isinstance(participant, Agent):
                return "selector", participant.model, None, None
        raise ConfigError("speaker='model' needs a selector (an Agent, a model or a model URI)")

    async def _run(self, conversation: list[Message], scope: Scope) -> ChatResult:
        messages = list(conversation)
        speakers: list[str] = []
        previous: str | None = None
        last: RunResult[Any] | None = None
        views = Views()
        for turn in range(self.max_turns):
            participant = await self._next(turn, previous, messages, scope)
            last = await speak(participant, messages, scope, views)
            speakers.append(participant.name)
            if last.output is None:
                break
            reply = Message("assistant", last.output, name=participant.name)
            messages.append(reply)
            previous = participant.name
            if self.is_termination(reply):
                return self._result(scope, messages, speakers, terminated=True, last=last)
        return self._result(scope, messages, speakers, terminated=False, last=last)

    @staticmethod
    def _result(
        scope: Scope, messages: list[Message], speakers: list[str], *, terminated: bool, last: RunResult[Any] | None
    ) -> ChatResult:
        output = messages[-1].content if last is not None and last.output is not None else None
        return result(
            scope, output, messages, len(speakers), last=last, kind=ChatResult, speakers=speakers, terminated=terminated
        )
