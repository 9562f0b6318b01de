"""CodeAct: Python code as the action space (Wang et al., "Executable Code
Actions Elicit Better LLM Agents", ICML 2024).

Each step the model either writes a block of Python, which runs in the run's
sandbox (one persistent interpreter, so variables carry over), or gives its
final answer. The block's output and errors come back as the observation, so
the model can debug itself. The agent's tools are plain functions inside the
sandbox that call back to the host's tool dispatcher, so every call made from
code passes the same policy check as a native tool call.

As in the paper, an answer without code ends the episode. Where agorakit
differs: the embedded model is grammar-constrained to a JSON action
(``{"code": ...}`` or ``{"answer": ...}``), because a 270M base model cannot be
relied on to close a markdown fence; other models write a fenced block.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from agorakit.agents.strategy import Outcome, Play, Reading, Setup, Strategy, Turn
from agorakit.core.messages import Message
from agorakit.models.base import ChatModel, ModelRequest, ToolSpec

if TYPE_CHECKING:
    from agorakit.tools.sandbox import ExecResult, SandboxLimits

MAX_CODE_CHARS = 1000  # llama.cpp refuses grammars with much longer bounded strings
MAX_OBSERVATION_CHARS = 4000

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    # Short enough that a model repeating digits still closes the JSON before max_tokens.
    "properties": {"answer": {"type": "string", "maxLength": 200}},
    "required": ["answer"],
    "additionalProperties": False,
}
ACTION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "properties": {"code": {"type": "string", "maxLength": MAX_CODE_CHARS}},
            "required": ["code"],
            "additionalProperties": False,
        },
        ANSWER_SCHEMA,
    ]
}

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_FINAL = re.compile(r"^\s*final answer\s*:\s*", re.IGNORECASE)


def uses_json_actions(model: ChatModel) -> bool:
    """The embedded backend gets grammar-constrained JSON actions."""
    return model.provider == "llamacpp"


_SAMPLES: dict[str, str] = {"string": '"..."', "integer": "1", "number": "1.5", "boolean": "True", "array": "[]"}


def _signature(spec: ToolSpec) -> str:
    properties = spec.parameters.get("properties", {})
    arguments = ", ".join(f"{name}: {prop.get('type', 'value')}" for name, prop in properties.items())
    return f"{spec.name}({arguments})"


def _example_call(spec: ToolSpec) -> str:
    # A call a model can imitate; small models copy templates, not prose.
    properties = spec.parameters.get("properties", {})
    required = spec.parameters.get("required", list(properties))
    arguments = ", ".join(_SAMPLES.get(str(properties[name].get("type")), "None") for name in required)
    return f"print({spec.name}({arguments}))"


def instructions(tools: list[ToolSpec], *, json_actions: bool) -> str:
    """How to act: what the sandbox offers and how to write an action."""
    lines = [
        "You act by writing Python code, which is run for you. Variables persist between your code blocks.",
        "Use print() to see values: the output and any error of each block is shown to you.",
    ]
    if tools:
        lines.append("Functions you can call in your code (each returns a string):")
        for spec in tools:
            summary = spec.description.strip().splitlines()[0] if spec.description.strip() else ""
            lines.append(f"- {_signature(spec)}: {summary}")
            example = _example_call(spec)
            lines.append(f"  {json.dumps({'code': example})}" if json_actions else f"  for example: {example}")
    if json_actions:
        lines.append('To run code, reply with JSON: {"code": string}')
        lines.append('When you know the final answer, reply with JSON: {"answer": string}')
    else:
        lines.append("To run code, reply with one block:\n```python\n# your code\n```")
        lines.append("When you know the final answer, reply with: Final answer: <answer>")
    return "\n".join(lines)


def parse_action(text: str, *, json_actions: bool) -> tuple[Literal["code", "answer"], str]:
    """What the model wants to do: run ``code`` or give its ``answer``."""
    if json_actions:
        try:
            data = json.loads(text, strict=False)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("code"), str):
            return "code", data["code"]
        if isinstance(data, dict) and "answer" in data:
            return "answer", str(data["answer"])
    match = _FENCE.search(text)
    if match:
        return "code", match.group(1).strip()
    return "answer", _FINAL.sub("", text.strip(), count=1)


def observation_text(result: ExecResult) -> str:
    """The block's outcome as the model reads it. (Plain words work better than
    an "Observation:" label: the embedded model then quotes the output.)"""
    text = result.observation()
    if result.limit_hit == "output" and not result.restarted:
        text += "\n(The output was cut at the sandbox's output limit.)"
    elif result.limit_hit:
        text += f"\nThe code was stopped: it hit the sandbox's {result.limit_hit.replace('_', ' ')} limit."
    if len(text) > MAX_OBSERVATION_CHARS:
        text = text[:MAX_OBSERVATION_CHARS] + f"\n...[{len(text) - MAX_OBSERVATION_CHARS} more characters]"
    if result.error or (result.limit_hit and result.limit_hit != "output"):
        return "The code failed:\n" + text
    if not (result.stdout or result.stderr):
        return "The code ran and printed nothing."
    return "The code printed: " + text


@dataclass(frozen=True, slots=True)
class CodeAct(Strategy):
    """Python code as the action space; ``limits`` bound the run's sandbox (see :class:`SandboxLimits`)."""

    limits: SandboxLimits | None = None
    name: str = "codeact"

    def instructions(self, tools: list[ToolSpec], model: ChatModel) -> str | None:
        return instructions(tools, json_actions=uses_json_actions(model))

    def play(self, setup: Setup) -> Play:
        return _CodeActPlay(self, setup)


class _CodeActPlay(Play):
    """One persistent sandbox for the agent's part of the run; its tools call back to the dispatcher."""

    def __init__(self, strategy: CodeAct, setup: Setup) -> None:
        from agorakit.tools.sandbox import Sandbox

        self.setup = setup
        self.json_actions = uses_json_actions(setup.model)
        self.sandbox = Sandbox(limits=strategy.limits, tools=setup.dispatcher, tracer=setup.tracer)
        self.code = ""

    async def __aenter__(self) -> Play:
        await self.sandbox.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.sandbox.__aexit__(kind, error, traceback)

    def request(self, messages: list[Message], turn: Turn) -> ModelRequest:
        sampling = self.setup.sampling
        if turn.output_schema is not None and turn.answer_now:
            return ModelRequest(messages, [], "none", turn.output_schema, sampling)
        schema = None
        if self.json_actions:
            # After a repeated block the model has seen its output twice: it must answer.
            schema = ANSWER_SCHEMA if turn.answer_now else ACTION_SCHEMA
        return ModelRequest(messages, [], "none", schema, sampling)

    def read(self, reply: Message) -> Reading:
        kind, text = parse_action(reply.content or "", json_actions=self.json_actions)
        if kind == "answer":
            return Reading(answer=text)
        self.code = text
        return Reading(actions=(text,))

    async def act(self, reply: Message) -> Outcome:
        # The sandbox traces the block itself (an ``execute_code`` span with the
        # code, output, limits and any tool calls made from it as children).
        result = await self.sandbox.exec(self.code)
        return Outcome([Message("user", observation_text(result), name="sandbox")])
