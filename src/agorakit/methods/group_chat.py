"""AutoGen group chat (Wu et al., "AutoGen: Enabling Next-Gen LLM Applications via
Multi-Agent Conversation", COLM 2024; microsoft/autogen ``GroupChat`` and
``SelectorGroupChat``).

Algorithm: a few role-playing assistants share one conversation that starts
with the task. Each turn a manager picks the next speaker, either in a fixed
rotation (``speaker="round_robin"``) or by asking a model which participant
should speak given the roles and the conversation (``speaker="model"``, the
``auto`` selection of AutoGen); the chosen agent answers the whole
conversation and its reply is broadcast to everyone. The chat ends when a
message contains the termination phrase (``TERMINATE``) or after
``max_turns`` replies. The answer is the terminating message (the phrase
removed; if nothing else is left, the message before it), else the last message.

Where agorakit differs, on purpose:

- The speaker choice is a structured output (``{"speaker": name}``, the
  names as an enum, grammar-constrained on llamacpp), validated and retried
  with the problem shown, then a clear ``StructuredOutputError``; AutoGen
  parses a free-text name and silently falls back to another speaker.
- As in AutoGen 0.4's ``SelectorGroupChat`` (not 0.2's default), the
  previous speaker is not a candidate unless ``allow_repeated_speaker``;
  with one candidate left no selector call is made.
- ``max_turns`` counts agent replies (AutoGen's ``max_round`` also counts
  the opening task message).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agorakit.agents.agent import Agent
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.methods.topology import ChatResult, GroupChat

ROLES: dict[str, str] = {
    "solver": "Solves the problem step by step and proposes an answer.",
    "critic": "Checks the latest proposed solution for mistakes and says what to fix.",
    "verifier": "Recomputes the answer independently and confirms it when the group agrees.",
}

# What every participant is told comes first and the role last: an engine's prompt cache
# then serves the shared part of one participant's prompt from another's.
INSTRUCTIONS = (
    "You are in a small team solving a problem together. "
    "Everyone sees the whole conversation. Keep your message short and build on what the others said. "
    'When the team has an answer you are confident in, write "The answer is <answer>" and end your '
    "message with the word {phrase}. In this team you are the {role}: {description}"
)


@dataclass(frozen=True)
class GroupChatConfig:
    roles: tuple[str, ...] = ("solver", "critic", "verifier")
    speaker: Literal["round_robin", "model"] = "model"
    max_turns: int = 10
    terminate_on: str = "TERMINATE"
    allow_repeated_speaker: bool = False


class AutoGenGroupChat(Method):
    name = "group_chat"
    summary = "AutoGen group chat: model-selected (or round-robin) speakers until TERMINATE or max turns."
    paper = "Wu et al., AutoGen: Enabling Next-Gen LLM Applications via Multi-Agent Conversation, COLM 2024"
    Config = GroupChatConfig
    config: GroupChatConfig

    async def solve(self, task: str, session: Session) -> str:
        config = self.config
        descriptions = {role: ROLES.get(role, f"The team's {role}.") for role in config.roles}
        participants = [
            Agent(
                role,
                session.model_for(role),
                instructions=INSTRUCTIONS.format(role=role, description=descriptions[role], phrase=config.terminate_on),
                kernel=session.kernel,
                sampling=session.sampling,
                max_steps=1,
            )
            for role in config.roles
        ]
        chat = GroupChat(
            participants,
            speaker=config.speaker,
            selector=Agent("selector", session.model_for("selector"), kernel=session.kernel, sampling=session.sampling),
            max_turns=config.max_turns,
            terminate_on=config.terminate_on,
            allow_repeated_speaker=config.allow_repeated_speaker,
            descriptions=descriptions,
        )
        result = await chat.run(task, context=session)
        assert isinstance(result, ChatResult)
        return self.answer_of(result)

    def answer_of(self, result: ChatResult) -> str:
        replies = [m for m in result.messages if m.role == "assistant"]
        if not replies:
            return ""
        if not result.terminated:
            return replies[-1].content or ""
        text = (replies[-1].content or "").replace(self.config.terminate_on, "").strip()
        if text or len(replies) == 1:
            return text
        return replies[-2].content or ""


__all__ = ["ROLES", "AutoGenGroupChat", "GroupChatConfig"]
