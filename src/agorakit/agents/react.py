"""ReAct on native tool calls (the default strategy): the model calls tools, reads their results, answers."""

from __future__ import annotations

from dataclasses import dataclass

from agorakit.agents.strategy import Outcome, Play, Reading, Setup, Strategy, Turn
from agorakit.core.messages import Message
from agorakit.models.base import ModelRequest, ToolChoice


@dataclass(frozen=True, slots=True)
class ReAct(Strategy):
    """Native tool calls: each step the model may call tools (concurrently) or answer.

    ``tool_first=True`` makes the first step call a tool: small models (the
    embedded 270M one) otherwise answer from memory even when a tool is the
    right move. ``answer_after_tools=True`` makes the step after tool calls
    that all succeeded answer (``tool_choice="none"``): such models otherwise
    call again on their own results ("20 - 79" after "99 - 79" gave 20). A
    failed call may still be retried. ``tool_choice`` is the choice on other
    steps (``"auto"``, ``"required"``, or a tool's name).
    """

    tool_choice: ToolChoice | str = "auto"
    tool_first: bool = False
    answer_after_tools: bool = False
    name: str = "react"

    def play(self, setup: Setup) -> Play:
        return _ReActPlay(self, setup)


class _ReActPlay(Play):
    def __init__(self, strategy: ReAct, setup: Setup) -> None:
        self.strategy = strategy
        self.setup = setup

    def request(self, messages: list[Message], turn: Turn) -> ModelRequest:
        tools = self.setup.tools
        sampling = self.setup.sampling
        if turn.output_schema is not None and (turn.answer_now or not tools):
            # A structured answer is asked for on its own: the grammar (or JSON mode) then holds it.
            return ModelRequest(messages, [], "none", turn.output_schema, sampling)
        if not tools or turn.answer_now:
            return ModelRequest(messages, tools, "none", None, sampling)
        choice = "required" if self.strategy.tool_first and turn.step == 1 else self.strategy.tool_choice
        return ModelRequest(messages, tools, choice, None, sampling)

    def read(self, reply: Message) -> Reading:
        if not reply.tool_calls:
            return Reading(answer=reply.content or "")
        return Reading(actions=tuple(call.signature() for call in reply.tool_calls))

    async def act(self, reply: Message) -> Outcome:
        results = await self.setup.dispatcher.execute_all(reply.tool_calls, self.setup.tracer)
        observations = [result.to_message() for result in results]
        answer_next = self.strategy.answer_after_tools and all(result.ok for result in results)
        return Outcome(observations, answer_next)
