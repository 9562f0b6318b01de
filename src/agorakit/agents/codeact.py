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
from typing import TYPE_CHECKING, Any, Literal

from agorakit.agents.events import message_event
from agorakit.agents.result import RunResult, StopReason
from agorakit.agents.steps import ask_model, finish
from agorakit.core.errors import AgorakitError, BudgetExceeded
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, RunContext
from agorakit.models.base import ChatModel, ModelRequest, ToolSpec
from agorakit.policy.errors import PolicyStopped
from agorakit.trace import attributes as attr

if TYPE_CHECKING:
    from agorakit.agents.agent import Agent
    from agorakit.tools.sandbox import ExecResult, Sandbox

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


async def codeact_loop(
    agent: Agent, model: ChatModel, kernel: Kernel, run: RunContext, messages: list[Message]
) -> RunResult:
    """Write code, run it, read the output; until an answer, ``max_steps``, a
    repeated block (``loop_limit``), the budget, or a policy stops the run."""
    from agorakit.tools.sandbox import Sandbox

    tracer = run.tracer
    json_actions = uses_json_actions(model)
    schema = ACTION_SCHEMA if json_actions else None
    seen: dict[str, int] = {}
    answer_now = False
    stop: StopReason = "max_steps"
    output: str | None = None
    error: AgorakitError | None = None
    steps = 0
    async with Sandbox(limits=agent.sandbox_limits, tools=agent.dispatcher, tracer=tracer) as sandbox:
        while steps < agent.max_steps:
            steps += 1
            with tracer.span(f"agent_turn {steps}", {attr.OPERATION: attr.OP_TURN, attr.STEP: steps}):
                # After a repeated block the model has seen its output twice: it must answer.
                step_schema = ANSWER_SCHEMA if answer_now and json_actions else schema
                request = ModelRequest(messages, [], "none", step_schema, agent.sampling)
                reply = await ask_model(agent, model, kernel, run, request, messages)
                if isinstance(reply, BudgetExceeded):
                    stop, error = "budget_exceeded", reply
                    steps -= 1  # the refused step never ran
                    break
                kind, text = parse_action(reply.content or "", json_actions=json_actions)
                if kind == "answer":
                    stop, output = "final_answer", text
                    break
                seen[text] = seen.get(text, 0) + 1
                if seen[text] >= agent.loop_limit:
                    tracer.event("loop_detected", {"agorakit.code": text[:500]})
                    stop = "loop_detected"
                    break
                answer_now = seen[text] >= 2
                try:
                    observation = await _execute(sandbox, text)
                except PolicyStopped as stopped:
                    stop, error = "policy_stopped", stopped
                    break
                messages.append(observation)
                message_event(tracer, observation)
    return finish(run, messages, stop, steps, output, error)


async def _execute(sandbox: Sandbox, code: str) -> Message:
    # The sandbox traces the block itself (an ``execute_code`` span with the
    # code, output, limits and any tool calls made from it as children).
    result = await sandbox.exec(code)
    return Message("user", observation_text(result), name="sandbox")
