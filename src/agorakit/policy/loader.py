"""Reading a policy: YAML/JSON text to plain data, plain data to checked rules.

Everything is validated here, once, so that checking a call never meets a
malformed rule: unknown keys, effects, fallbacks and modes, non-integer
priorities, unsupported constraint keywords, regexes that do not compile,
tools the caller does not have and (when their schemas are known) arguments
those tools do not take.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from agorakit.core.provenance import Source, Trust
from agorakit.policy.constraints import Check, compile_constraint, kind_of, parse_sources
from agorakit.policy.decision import EFFECTS, FALLBACKS, MODES, Effect, Fallback, Mode
from agorakit.policy.errors import PolicyError

VERSION = 1
TOP_LEVEL_KEYS = ("version", "mode", "fallback", "trust", "tools")
TRUST_LEVELS: tuple[Trust, ...] = ("trusted", "untrusted")
RULE_KEYS = ("effect", "priority", "when", "fallback", "reason")


class ToolLike(Protocol):
    """Anything with a tool's name and JSON schema: a ``ToolSpec`` or a ``Tool``."""

    @property
    def name(self) -> str: ...

    @property
    def parameters(self) -> Mapping[str, Any]: ...


KnownTools = Collection["str | ToolLike"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a tool's list, as written, with its compiled argument checks.

    ``when`` is the constraints as given (plain JSON data); ``checks`` pairs
    each argument name with its compiled predicate; ``sources`` pairs each
    argument that has a ``source`` keyword with the sources it allows.
    """

    tool: str
    effect: Effect
    priority: int = 0
    when: Mapping[str, Any] = field(default_factory=dict)
    fallback: Fallback | None = None
    reason: str | None = None
    checks: tuple[tuple[str, Check], ...] = field(default=(), compare=False, repr=False)
    sources: tuple[tuple[str, tuple[Source, ...]], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        # A Rule built by hand gets its checks compiled here: a rule whose ``when`` had
        # no checks would hold for every call, which for an allow rule is a hole.
        if len(self.checks) != len(self.when):
            checks = tuple(
                (name, compile_constraint(constraint, f"{self.tool}.when.{name}"))
                for name, constraint in self.when.items()
            )
            object.__setattr__(self, "checks", checks)
            object.__setattr__(self, "sources", compile_sources(self.when, f"{self.tool}.when"))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"effect": self.effect}
        if self.priority:
            data["priority"] = self.priority
        if self.when:
            data["when"] = dict(self.when)
        if self.fallback is not None:
            data["fallback"] = self.fallback
        if self.reason is not None:
            data["reason"] = self.reason
        return data


@dataclass(frozen=True, slots=True)
class ParsedPolicy:
    mode: Mode
    fallback: Fallback
    rules: dict[str, tuple[Rule, ...]]
    trust: dict[str, Trust]


# --- text ---------------------------------------------------------------------------


def read_source(path_or_text: str | Path) -> tuple[Any, str]:
    """(parsed data, a name for messages) from a file path or the policy text itself.

    A ``str`` is a path when it names an existing file or, on one line, ends
    in ``.yaml``/``.yml``/``.json``; otherwise it is the policy's text.
    """
    if isinstance(path_or_text, Path) or _looks_like_path(path_or_text):
        path = Path(path_or_text)
        if not path.is_file():
            raise PolicyError(f"policy file not found: {path}")
        return parse_text(path.read_text(encoding="utf-8"), str(path)), str(path)
    return parse_text(path_or_text, "<policy>"), "<policy>"


def _looks_like_path(text: str) -> bool:
    if "\n" in text or not text.strip():
        return False
    if text.strip().endswith((".yaml", ".yml", ".json")):
        return True
    try:
        return Path(text).is_file()
    except OSError:  # a name too long for the file system is text
        return False


def parse_text(text: str, source: str) -> Any:
    """YAML (which includes JSON) with two YAML 1.1 surprises switched off.

    Unquoted dates stay strings (``2024-05-01`` must compare equal to the
    string argument a tool receives) and ``yes``/``no``/``on``/``off`` stay
    strings (``enum: [NO]`` means Norway, not false). Only ``true`` and
    ``false`` are booleans.
    """
    import yaml  # deferred: only loading a policy file needs it

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [
            (tag, regex)
            for tag, regex in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise PolicyError(f"{source}: not valid YAML or JSON: {error}") from None


# --- data -----------------------------------------------------------------------------


def parse_data(data: Any, source: str, known_tools: KnownTools | None) -> ParsedPolicy:
    """Validate plain policy data and compile its rules."""
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"{source}: a policy must be a mapping with version, mode, fallback and tools, got {kind_of(data)}"
        )
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise PolicyError(f"{source}: unknown top-level key {key!r} (allowed: {', '.join(TOP_LEVEL_KEYS)})")
    version = data.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise PolicyError(f"{source}: version: unsupported version {version!r} (this agorakit reads version {VERSION})")
    mode = _choice(data.get("mode", "enforce"), MODES, f"{source}: mode")
    fallback = _choice(data.get("fallback", "error"), FALLBACKS, f"{source}: fallback")
    tools = data.get("tools", {})
    if tools is None:
        tools = {}
    if not isinstance(tools, Mapping):
        raise PolicyError(f"{source}: tools: expected a mapping of tool name to a list of rules, got {kind_of(tools)}")

    schemas = _known(known_tools)
    rules: dict[str, tuple[Rule, ...]] = {}
    for name, raw_rules in tools.items():
        where = f"{source}: tools.{name}"
        if not isinstance(name, str):
            raise PolicyError(f"{where}: a tool name must be a string")
        if schemas is not None and name not in schemas:
            known = ", ".join(sorted(schemas)) or "none"
            raise PolicyError(f"{where}: unknown tool {name!r} (known tools: {known})")
        if not isinstance(raw_rules, list):
            raise PolicyError(f"{where}: expected a list of rules, got {kind_of(raw_rules)}")
        arguments = schemas.get(name) if schemas is not None else None
        rules[name] = tuple(
            parse_rule(name, raw, f"{where}[{index}]", arguments) for index, raw in enumerate(raw_rules)
        )
    trust = parse_trust(data.get("trust"), f"{source}: trust", schemas)
    return ParsedPolicy(cast(Mode, mode), cast(Fallback, fallback), rules, trust)


def parse_trust(raw: Any, where: str, schemas: Mapping[str, Any] | None) -> dict[str, Trust]:
    """``trust``: tool name -> ``trusted`` or ``untrusted`` (the default for every tool)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: expected a mapping of tool name to trusted or untrusted, got {kind_of(raw)}")
    trust: dict[str, Trust] = {}
    for name, level in raw.items():
        if not isinstance(name, str):
            raise PolicyError(f"{where}: a tool name must be a string, got {name!r}")
        if schemas is not None and name not in schemas:
            known = ", ".join(sorted(schemas)) or "none"
            raise PolicyError(f"{where}.{name}: unknown tool {name!r} (known tools: {known})")
        trust[name] = cast(Trust, _choice(level, TRUST_LEVELS, f"{where}.{name}"))
    return trust


def parse_rule(tool: str, raw: Any, where: str, arguments: Collection[str] | None) -> Rule:
    """One rule; ``arguments`` (when known) are the names the tool accepts."""
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: a rule must be a mapping with an effect, got {kind_of(raw)}")
    for key in raw:
        if key not in RULE_KEYS:
            raise PolicyError(f"{where}: unknown key {key!r} (allowed: {', '.join(RULE_KEYS)})")
    if "effect" not in raw:
        raise PolicyError(f"{where}: missing effect (allow or deny)")
    effect = _choice(raw["effect"], EFFECTS, f"{where}.effect")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise PolicyError(f"{where}.priority: expected an integer, got {priority!r}")
    fallback = raw.get("fallback")
    if fallback is not None:
        fallback = _choice(fallback, FALLBACKS, f"{where}.fallback")
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise PolicyError(f"{where}.reason: expected a string, got {kind_of(reason)}")
    when = raw.get("when") or {}
    if not isinstance(when, Mapping):
        raise PolicyError(f"{where}.when: expected a mapping of argument name to constraint, got {kind_of(when)}")
    checks: list[tuple[str, Check]] = []
    for argument, constraint in when.items():
        if not isinstance(argument, str):
            raise PolicyError(f"{where}.when: argument names must be strings, got {argument!r}")
        if arguments is not None and argument not in arguments:
            takes = ", ".join(arguments) or "no arguments"
            raise PolicyError(f"{where}.when.{argument}: tool {tool} has no argument {argument!r} (it takes: {takes})")
        checks.append((argument, compile_constraint(constraint, f"{where}.when.{argument}")))
    return Rule(
        tool,
        cast(Effect, effect),
        priority,
        dict(when),
        cast("Fallback | None", fallback),
        reason,
        tuple(checks),
        compile_sources(when, f"{where}.when"),
    )


def compile_sources(when: Mapping[str, Any], where: str) -> tuple[tuple[str, tuple[Source, ...]], ...]:
    """(argument, allowed sources) for each argument whose constraint has a ``source`` keyword."""
    return tuple(
        (name, allowed)
        for name, constraint in when.items()
        if (allowed := parse_sources(constraint, f"{where}.{name}")) is not None
    )


def argument_names(parameters: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The argument names a tool's JSON schema admits, or None if it admits any.

    Only a closed schema (``additionalProperties: false``, as every ``@tool``
    has) pins the names down; an open one (common from MCP servers) does not.
    """
    properties = parameters.get("properties", {})
    if parameters.get("additionalProperties", True) is not False or not isinstance(properties, Mapping):
        return None
    return tuple(properties)


def _known(known_tools: KnownTools | None) -> dict[str, tuple[str, ...] | None] | None:
    """{tool name: its argument names, or None when not known}, or None if every tool is known."""
    if known_tools is None:
        return None
    if isinstance(known_tools, str):
        raise PolicyError("known_tools must be a collection of tool names or tool specs, not one string")
    known: dict[str, tuple[str, ...] | None] = {}
    for item in known_tools:
        if isinstance(item, str):
            known[item] = None
        else:
            known[item.name] = argument_names(item.parameters)
    return known


def _choice(value: Any, allowed: Iterable[str], where: str) -> str:
    options = tuple(allowed)
    if value not in options or not isinstance(value, str):
        raise PolicyError(f"{where}: expected one of {', '.join(options)}, got {value!r}")
    return value
