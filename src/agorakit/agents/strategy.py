"""What an agent strategy is: how a step's request is made, how a reply is read, how an action runs.

The one agent loop (:mod:`agorakit.agents.runner`) owns everything strategies
have in common: steps and their limits, the budget, loop detection, typed
outputs, handoffs, tracing and streaming. A strategy says only what differs:
:class:`~agorakit.agents.react.ReAct` acts through native tool calls,
:class:`~agorakit.agents.codeact.CodeAct` through Python code. A user's own
strategy subclasses :class:`Strategy` and returns its own :class:`Play`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NamedTuple

from agorakit.core.messages import Message
from agorakit.models.base import ChatModel, ModelRequest, Sampling, ToolSpec
from agorakit.tools import ToolDispatcher
from agorakit.trace.tracer import Tracer


class Turn(NamedTuple):
    """What the loop tells the strategy about the step it is to request.

    ``answer_now``: the model must answer this step (it repeated itself, or
    its tools succeeded under ``answer_after_tools``, or its last answer was
    invalid). ``output_schema``: the JSON schema the answer must match, when the
    agent has an ``output_type``.
    """

    step: int
    answer_now: bool
    output_schema: dict[str, Any] | None = None


class Reading(NamedTuple):
    """A reply as the strategy reads it: a final ``answer``, or actions.

    ``actions`` are the actions' identities (a tool call's signature, a code
    block), which the loop counts to detect a model repeating itself.
    """

    answer: str | None = None
    actions: tuple[str, ...] = ()


class Outcome(NamedTuple):
    """What running a reply's actions gave: observations for the model, and
    whether the next step must answer."""

    observations: Sequence[Message] = ()
    answer_next: bool = False


class Setup(NamedTuple):
    """What a strategy works with, for one agent in one run."""

    model: ChatModel
    tools: list[ToolSpec]
    dispatcher: ToolDispatcher
    tracer: Tracer
    sampling: Sampling


class Play(ABC):
    """A strategy at work for one agent in one run (it may hold resources, e.g. a sandbox)."""

    @abstractmethod
    def request(self, messages: list[Message], turn: Turn) -> ModelRequest:
        """The model request for this step."""

    @abstractmethod
    def read(self, reply: Message) -> Reading:
        """What the model's reply asks for."""

    @abstractmethod
    async def act(self, reply: Message) -> Outcome:
        """Run the reply's actions (every tool call passes the agent's policy)."""

    async def __aenter__(self) -> Play:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None


class Strategy(ABC):
    """How an agent acts. Strategies are small immutable settings objects."""

    name: str = "strategy"

    def instructions(self, tools: list[ToolSpec], model: ChatModel) -> str | None:
        """Text added to the agent's instructions (how to act), or None."""
        return None

    @abstractmethod
    def play(self, setup: Setup) -> Play:
        """A fresh :class:`Play` for one agent's part of a run (entered with ``async with``)."""
