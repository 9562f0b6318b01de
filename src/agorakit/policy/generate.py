"""Policies written by a model from the user's task and the tool schemas.

Progent's observation: the user's request says which tools a task needs and
with what arguments (whom to pay, which site to read), so a model can write a
least-privilege policy for the task before the agent starts. The model sees
the task and the tool schemas only, never a tool's output: outputs can carry
an attacker's instructions, and a policy written from them would be theirs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agorakit.core.messages import Message
from agorakit.core.provenance import SOURCES
from agorakit.kernel import Kernel, RunLedger, default_kernel
from agorakit.models.base import ChatModel, ModelRequest, Sampling, ToolSpec
from agorakit.models.uri import resolve_model
from agorakit.policy.decision import FALLBACKS, Fallback
from agorakit.policy.errors import PolicyError
from agorakit.policy.formats import FORMATS
from agorakit.policy.policy import Policy

MAX_ATTEMPTS = 3
"""One attempt plus two retries that show the model what was wrong."""
DEFAULT_MAX_TOKENS = 1024
_MAX_LIST = 16  # bounds enum lists: a small model that starts repeating still closes its JSON
_SOURCE_SCHEMA = {"type": "array", "items": {"enum": list(SOURCES)}, "minItems": 1, "maxItems": len(SOURCES)}
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|yaml)?[ \t]*\r?\n?(.*?)```", re.DOTALL)

INSTRUCTIONS = """\
You write security policies for an AI agent's tool calls, following least privilege.
Given the user's task and the tools the agent has, write the policy that lets the agent do \
exactly this task and nothing more.

The policy is a JSON object: {"version": 1, "tools": {TOOL: [RULE, ...]}}.
- List only the tools the task needs. A tool not listed is denied.
- A RULE is {"effect": "allow" or "deny", "priority": integer, "when": {ARGUMENT: CONSTRAINT}, \
"reason": text}. Only "effect" is required.
- A call is allowed when an allow rule's "when" constraints all hold; the highest priority \
rule that holds decides, and deny wins ties.
- CONSTRAINT keywords: "enum" (list of allowed values), "const" (the one allowed value), \
"pattern" (a regex the WHOLE value must match), "minimum"/"maximum" (numbers), \
"minLength"/"maxLength" (text length), "format" (one of: FORMATS), "items" (a constraint \
for every element of a list).
- Pin arguments to the values the task states (recipients, amounts, addresses, file names). \
Leave an argument unconstrained only when the task does not determine it.
- When the task names a value only by description ("my landlord", "the link in the message"), \
use "source": ["user"] to require that the value appears in the user's own words, or \
["user", "trusted"] to accept it from trusted tool output too; never from untrusted data \
such as emails or web pages.
"""


def policy_json_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """The JSON schema of a policy for these tools: only their names, only their arguments.

    Used as the response schema, so the embedded model is grammar-constrained
    to it and OpenAI-compatible models get it as ``json_schema``.
    """
    per_tool: dict[str, Any] = {}
    for spec in tools:
        rule: dict[str, Any] = {
            "type": "object",
            "properties": {
                "effect": {"enum": ["allow", "deny"]},
                "priority": {"type": "integer"},
            },
            "required": ["effect"],
            "additionalProperties": False,
        }
        when = {name: schema for name, schema in _arguments(spec).items() if schema is not None}
        if when:
            rule["properties"]["when"] = {"type": "object", "properties": when, "additionalProperties": False}
        rule["properties"]["reason"] = {"type": "string", "maxLength": 120}
        per_tool[spec.name] = {"type": "array", "items": rule, "maxItems": 4}
    return {
        "type": "object",
        "properties": {
            "version": {"const": 1},
            "tools": {"type": "object", "properties": per_tool, "additionalProperties": False},
        },
        "required": ["version", "tools"],
        "additionalProperties": False,
    }


async def generate_policy(
    task: str,
    tools: Sequence[ToolSpec],
    model: ChatModel | str,
    *,
    kernel: Kernel | None = None,
    run: RunLedger | None = None,
    sampling: Sampling | None = None,
    fallback: Fallback = "error",
) -> Policy:
    """Ask ``model`` for a least-privilege policy for ``task`` over ``tools``.

    The prompt holds the user's task and the tools' names, descriptions and
    argument schemas ONLY: never tool outputs or anything else a third party
    may have written, since a policy derived from attacker-controlled text
    would serve the attacker. Call it before the agent reads anything.

    ``tools`` are ``ToolSpec`` objects (``Tool`` objects work too: their
    ``.spec`` is used). The request goes through the kernel with the policy's
    JSON schema as ``response_schema``. The reply may be fenced in
    ```json. An invalid policy is shown back to the model with the error, up
    to two more times; then :class:`PolicyError`. The result is an enforcing
    policy whose default fallback is ``fallback``.
    """
    if fallback not in FALLBACKS:
        raise PolicyError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    specs = [_spec(item) for item in tools]
    if not specs:
        raise PolicyError("generate_policy needs at least one tool")
    chat = resolve_model(model)
    door = kernel if kernel is not None else default_kernel()
    messages = [
        Message("system", INSTRUCTIONS.replace("FORMATS", ", ".join(FORMATS))),
        Message("user", _task_prompt(task, specs)),
    ]
    schema = policy_json_schema(specs)
    settings = sampling if sampling is not None else Sampling(max_tokens=DEFAULT_MAX_TOKENS)
    names = [spec.name for spec in specs]
    problem = ""
    for _attempt in range(MAX_ATTEMPTS):
        request = ModelRequest(list(messages), response_schema=schema, sampling=settings)
        completion = await door.complete(chat, request, run=run, agent="policy-writer")
        text = completion.message.content or ""
        try:
            return _to_policy(text, specs, fallback)
        except PolicyError as error:
            problem = error.message
        messages.append(Message("assistant", text))
        messages.append(
            Message(
                "user",
                f"That policy is invalid: {problem}\nReply with the corrected policy as one JSON object. "
                f"Use only these tools: {', '.join(names)}.",
            )
        )
    raise PolicyError(
        f"the model did not write a valid policy in {MAX_ATTEMPTS} attempts; last problem: {problem}",
        hint="use a stronger model, or write the policy by hand",
    )


def parse_policy_reply(text: str) -> Any:
    """The JSON object in a model's reply: bare, in a ```json fence, or amid prose."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    body = body.strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise PolicyError("<generated>: the reply holds no JSON object")
        body = body[start : end + 1]
    try:
        # strict=False: models put raw newlines inside strings.
        return json.loads(body, strict=False)
    except json.JSONDecodeError as error:
        raise PolicyError(f"<generated>: the reply is not valid JSON: {error}") from None


def _to_policy(text: str, specs: Sequence[ToolSpec], fallback: Fallback) -> Policy:
    data = parse_policy_reply(text)
    if not isinstance(data, Mapping):
        raise PolicyError("<generated>: the reply must be a JSON object")
    if data.get("mode", "enforce") != "enforce":
        raise PolicyError("<generated>: mode: a generated policy must enforce (allow_all is not allowed)")
    data = {**data, "version": data.get("version", 1), "fallback": fallback}
    return Policy.from_dict(data, known_tools=specs, source="<generated>")


def _task_prompt(task: str, specs: Sequence[ToolSpec]) -> str:
    lines = [f"User task: {task}", "", "Tools:"]
    for spec in specs:
        lines.append(f"- {spec.name}: {spec.description}")
        lines.append(f"  arguments: {json.dumps(spec.parameters.get('properties', {}), ensure_ascii=False)}")
    lines.append("")
    lines.append("Write the policy for this task.")
    return "\n".join(lines)


def _spec(item: Any) -> ToolSpec:
    spec = getattr(item, "spec", item)  # a Tool hands over its ToolSpec
    if not isinstance(spec, ToolSpec):
        raise PolicyError(f"generate_policy takes ToolSpec or Tool objects, got {type(item).__name__}")
    return spec


# --- the schema of a constraint, by argument type ----------------------------------------


def _arguments(spec: ToolSpec) -> dict[str, dict[str, Any] | None]:
    properties = spec.parameters.get("properties", {})
    if not isinstance(properties, Mapping):
        return {}
    return {name: _with_source(_constraint_schema(schema)) for name, schema in properties.items()}


def _constraint_schema(schema: Any) -> dict[str, Any] | None:
    """What a constraint on an argument of this JSON schema may say; None if it cannot be constrained."""
    schema = _unwrap_optional(schema)
    kind = _type_of(schema)
    keywords: dict[str, Any]
    if kind == "string":
        keywords = {
            "enum": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": _MAX_LIST},
            "pattern": {"type": "string"},
            "format": {"enum": list(FORMATS)},
            "minLength": {"type": "integer", "minimum": 0},
            "maxLength": {"type": "integer", "minimum": 0},
        }
    elif kind in ("integer", "number"):
        keywords = {
            "enum": {"type": "array", "items": {"type": kind}, "minItems": 1, "maxItems": _MAX_LIST},
            "minimum": {"type": kind},
            "maximum": {"type": kind},
        }
    elif kind == "boolean":
        keywords = {"const": {"type": "boolean"}}
    elif kind == "array":
        inner = _constraint_schema(schema.get("items", {}))
        if inner is None:
            return None
        keywords = {"items": inner}
    else:
        return None
    return {"type": "object", "properties": keywords, "additionalProperties": False}


def _with_source(constraint: dict[str, Any] | None) -> dict[str, Any] | None:
    """An argument's constraint schema plus ``source``, which applies to any argument as a whole."""
    if constraint is None:
        return None
    properties = {**constraint["properties"], "source": _SOURCE_SCHEMA}
    return {**constraint, "properties": properties}


def _unwrap_optional(schema: Any) -> Any:
    """X for ``Optional[X]``, which pydantic writes as ``anyOf: [X, {type: null}]``."""
    if not isinstance(schema, Mapping) or "anyOf" not in schema:
        return schema
    options = [o for o in schema["anyOf"] if isinstance(o, Mapping) and o.get("type") != "null"]
    return options[0] if len(options) == 1 else schema


def _type_of(schema: Any) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
        return "string"
    return None
