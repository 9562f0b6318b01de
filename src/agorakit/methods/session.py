"""A method's run: its models per role, the kernel, the transcript, and the
two ways an agent speaks (free text, or a validated structured output)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from agorakit.agents.events import message_event
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, RunLedger
from agorakit.methods.structured import (
    DEFAULT_RETRIES,
    StructuredOutputError,
    describe_problem,
    parse_structured,
    retry_message,
)
from agorakit.models.base import ChatModel, ModelRequest, Sampling
from agorakit.trace import attributes as attr

T = TypeVar("T", bound=BaseModel)


class Session:
    """Everything one run of a method shares.

    ``models`` maps a role (an agent's name, or the part of it before the
    first ``_`` or digit, e.g. ``"judge"`` for ``"judge"``, ``"debater"`` for
    ``"debater_2"``) to a backend; other agents use ``default``.
    """

    def __init__(
        self,
        method: str,
        default: ChatModel,
        kernel: Kernel,
        run: RunLedger,
        *,
        models: Mapping[str, ChatModel] | None = None,
        sampling: Sampling | None = None,
    ) -> None:
        self.method = method
        self.default = default
        self.kernel = kernel
        self.run = run
        self.models = dict(models or {})
        self.sampling = sampling or Sampling()
        self.transcript: list[Message] = []
        self.calls = 0
        #: What the method wants to report beyond its answer (votes, scores,
        #: importance...); copied into ``MethodResult.details``.
        self.details: dict[str, object] = {}

    def sampling_with(self, temperature: float | None = None, max_tokens: int | None = None) -> Sampling:
        """The run's sampling with a method's own temperature or token cap (``None`` keeps the run's)."""
        changes: dict[str, Any] = {}
        if temperature is not None:
            changes["temperature"] = temperature
        if max_tokens is not None:
            changes["max_tokens"] = max_tokens
        return dataclasses.replace(self.sampling, **changes) if changes else self.sampling

    def model_for(self, agent: str) -> ChatModel:
        if agent in self.models:
            return self.models[agent]
        role = agent.rstrip("0123456789").rstrip("_- ").split("_")[0]
        return self.models.get(role, self.default)

    def note(self, message: Message) -> None:
        """Put a message in the transcript (and the trace) without a model call."""
        self.transcript.append(message)
        message_event(self.run.tracer, message)

    async def chat(
        self,
        agent: str,
        messages: Sequence[Message],
        *,
        sampling: Sampling | None = None,
        response_schema: dict[str, Any] | None = None,
        describe_schema: bool = True,
    ) -> str:
        """One model call as ``agent``; its reply joins the transcript."""
        request = ModelRequest(
            list(messages),
            response_schema=response_schema,
            sampling=sampling or self.sampling,
            describe_schema=describe_schema,
        )
        tracer = self.run.tracer
        attributes = {attr.OPERATION: attr.OP_TURN, attr.AGENT_NAME: agent} if tracer.enabled else None
        with tracer.span(f"agent_turn {agent}", attributes):
            completion = await self.kernel.complete(self.model_for(agent), request, run=self.run, agent=agent)
        self.calls += 1
        text = completion.message.content or ""
        self.note(Message("assistant", text, name=agent))
        return text

    async def structured(
        self,
        agent: str,
        messages: Sequence[Message],
        schema: type[T],
        *,
        retries: int = DEFAULT_RETRIES,
        sampling: Sampling | None = None,
        describe_schema: bool = True,
    ) -> T:
        """A validated ``schema`` instance from ``agent``, asked again (with the
        problem shown) up to ``retries`` times before :class:`StructuredOutputError`.
        ``describe_schema=False`` when ``messages`` already say what to reply (see
        :class:`~agorakit.models.base.ModelRequest`)."""
        value, _ = await self.structured_reply(
            agent, messages, schema, retries=retries, sampling=sampling, describe_schema=describe_schema
        )
        return value

    async def structured_reply(
        self,
        agent: str,
        messages: Sequence[Message],
        schema: type[T],
        *,
        retries: int = DEFAULT_RETRIES,
        sampling: Sampling | None = None,
        describe_schema: bool = True,
    ) -> tuple[T, str]:
        """As :meth:`structured`, with the reply as the model wrote it: what an agent's own
        history should hold, so its next prompt begins with exactly what the model's
        prompt cache holds (a re-serialised value differs in spacing)."""
        conversation = list(messages)
        json_schema = schema.model_json_schema()
        problem = ""
        for _ in range(retries + 1):
            text = await self.chat(
                agent, conversation, sampling=sampling, response_schema=json_schema, describe_schema=describe_schema
            )
            try:
                return parse_structured(text, schema), text
            except ValueError as error:  # pydantic's ValidationError is a ValueError
                problem = describe_problem(error)
                conversation += [Message("assistant", text), retry_message(schema, problem)]
        raise StructuredOutputError(
            f"{agent} gave no valid {schema.__name__} in {retries + 1} tries (last problem: {problem})"
        )
