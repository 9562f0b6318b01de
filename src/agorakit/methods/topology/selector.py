"""Choosing the next speaker as a structured output (a JSON object naming one participant)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, create_model

from agorakit.core.messages import Message
from agorakit.kernel import Kernel
from agorakit.methods.structured import (
    DEFAULT_RETRIES,
    StructuredOutputError,
    describe_problem,
    parse_structured,
    retry_message,
)
from agorakit.methods.topology.scope import Scope
from agorakit.models.base import ChatModel, ModelRequest, Sampling

# Every participant is listed and the candidates are named last, after the conversation (as
# AutoGen's selector prompt does): the instructions and the conversation so far then stay the
# same from one turn to the next, and a serving engine reuses them from its prompt cache.
SELECTOR_INSTRUCTIONS = (
    "You run a group conversation and decide who speaks next. The participants are:\n{roles}\n"
    "Read the conversation, then pick the participant whose turn it should be. "
    'Reply with only a JSON object of the form {{"speaker": "<name>"}}.'
)


def speaker_schema(names: Sequence[str]) -> type[BaseModel]:
    """``{"speaker": one of names}``: the enum constrains decoding and validation rejects other names."""
    choice: Any = Literal.__getitem__(tuple(names))
    model: type[BaseModel] = create_model("SpeakerChoice", speaker=(choice, ...))
    return model


def transcript_text(conversation: Sequence[Message]) -> str:
    return "\n\n".join(f"{m.name or m.role}: {m.content or ''}" for m in conversation)


async def structured_call(
    scope: Scope,
    kernel: Kernel,
    model: ChatModel,
    agent: str,
    messages: Sequence[Message],
    schema: type[BaseModel],
    *,
    retries: int = DEFAULT_RETRIES,
    sampling: Sampling | None = None,
) -> BaseModel:
    """A validated ``schema`` instance from ``model`` as ``agent``: fences
    tolerated, invalid replies retried with the problem shown, then
    :class:`StructuredOutputError`. Each reply joins the transcript."""
    conversation = list(messages)
    json_schema = schema.model_json_schema()
    problem = ""
    for _ in range(retries + 1):
        request = ModelRequest(conversation, response_schema=json_schema, sampling=sampling or Sampling())
        completion = await kernel.complete(model, request, run=scope.run, agent=agent)
        text = completion.message.content or ""
        scope.note(Message("assistant", text, name=agent))
        try:
            return parse_structured(text, schema)
        except ValueError as error:
            problem = describe_problem(error)
            conversation += [Message("assistant", text), retry_message(schema, problem)]
    raise StructuredOutputError(
        f"{agent} gave no valid {schema.__name__} in {retries + 1} tries (last problem: {problem})"
    )


async def select_speaker(
    scope: Scope,
    kernel: Kernel,
    model: ChatModel,
    agent: str,
    conversation: Sequence[Message],
    candidates: dict[str, str],
    *,
    participants: Mapping[str, str] | None = None,
    instructions: str | None = None,
    retries: int = DEFAULT_RETRIES,
    sampling: Sampling | None = None,
) -> str:
    """The name of the next speaker among ``candidates`` (name -> description); ``participants``
    (default: the candidates) are everyone in the conversation, described to the selector."""
    names = list(candidates)
    everyone = participants if participants is not None else candidates
    roles = "\n".join(f"- {name}: {description}" for name, description in everyone.items())
    system = (instructions or SELECTOR_INSTRUCTIONS).format(roles=roles, names=", ".join(names))
    ask = f"The conversation so far:\n\n{transcript_text(conversation)}\n\nWho speaks next? One of: {', '.join(names)}."
    choice = await structured_call(
        scope,
        kernel,
        model,
        agent,
        [Message("system", system), Message("user", ask)],
        speaker_schema(names),
        retries=retries,
        sampling=sampling,
    )
    speaker: str = choice.speaker  # type: ignore[attr-defined]
    return speaker
