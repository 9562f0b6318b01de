"""Serve configs: which agents and methods a server serves, from a YAML file, a Python
file, or one ``module:object``.

YAML (every field but ``name`` optional; see docs/serve.md)::

    entries:
      - name: assistant                 # an agent with the built-in tools
        model: llamacpp:gemma-3-270m
        instructions: You are a helpful assistant.
        tools: [calculator, current_time]
        policy: policy.yaml             # checked before every tool call
        budget: {calls: 8, tokens: 20000}
      - name: debate                    # a method from `agora methods`
        method: llm_debate
        settings: {agents: 2, rounds: 1}
      - name: support                   # any Agent (or a function returning one) in your code
        agent: mypackage.bots:support

A Python config file defines ``entries``: a list of :class:`Entry`, :class:`Agent`,
:class:`Team` or :class:`Method` objects.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agorakit.core import settings as global_settings
from agorakit.core.errors import ConfigError
from agorakit.server.entries import Entry, agent_entry, method_entry, team_entry


class BudgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calls: int | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)
    cost: float | None = Field(default=None, gt=0)


class EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str | None = None
    model: str | None = None
    # an agent built here
    instructions: str | None = None
    tools: list[str] | None = None
    max_steps: int = Field(default=6, ge=1)
    policy: Path | None = None
    # or a method
    method: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    # or an object from the user's code
    agent: str | None = None
    budget: BudgetSpec | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    timeout: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> EntrySpec:
        if self.method is not None and self.agent is not None:
            raise ValueError("an entry is a method or an agent object, not both")
        if self.method is not None and (self.instructions or self.tools is not None or self.policy):
            raise ValueError("instructions, tools and policy are for agents; a method takes settings")
        return self


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[EntrySpec] = Field(min_length=1)


def load_config(path: Path | str) -> list[Entry]:
    """The entries a config file (``.yaml``/``.yml`` or ``.py``) describes."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no serve config at {path}", hint="give a YAML or Python file (see docs/serve.md)")
    if path.suffix == ".py":
        module = _load_module(path)
        found = getattr(module, "entries", None)
        if not isinstance(found, list | tuple) or not found:
            raise ConfigError(f"{path} defines no 'entries' list", hint="entries = [my_agent, ...]")
        return [as_entry(obj) for obj in found]
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    try:
        config = ServeConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)[:5]
        )
        raise ConfigError(f"{path}: {problems}", hint="see docs/serve.md for the config's fields") from None
    base = path.parent
    return [entry_from_spec(spec, base) for spec in config.entries]


def entry_from_spec(spec: EntrySpec, base: Path = Path(".")) -> Entry:
    from agorakit.kernel import Budget

    budget = (
        Budget(max_calls=spec.budget.calls, max_tokens=spec.budget.tokens, max_cost_usd=spec.budget.cost)
        if spec.budget
        else None
    )
    model = spec.model or global_settings.default_model()
    if spec.method is not None:
        return method_entry(
            _method_factory(spec.method, model, spec.settings, budget, spec.max_tokens, spec.timeout),
            name=spec.name,
            description=spec.description or f"the {spec.method} method",
            model=model,
        )
    if spec.agent is not None:
        entry = as_entry(import_object(spec.agent))
        return Entry(spec.name, entry.kind, spec.description or entry.description, entry.runner, entry.model)
    return agent_entry(_build_agent(spec, model, budget, base), name=spec.name, description=spec.description)


def _build_agent(spec: EntrySpec, model: str, budget: Any, base: Path) -> Any:
    from agorakit.agents import DEFAULT_INSTRUCTIONS, Agent, ReAct
    from agorakit.kernel import Kernel
    from agorakit.models import Sampling, resolve_model
    from agorakit.tools import builtin_tools

    available = {t.name: t for t in builtin_tools()}
    names = list(available) if spec.tools is None else spec.tools
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ConfigError(
            f"entry {spec.name!r}: unknown tool {unknown[0]!r}",
            hint=f"built-in tools: {', '.join(available)}; for your own tools, serve your Agent ('agent: module:obj')",
        )
    backend = resolve_model(model)
    small = backend.provider == "llamacpp"  # the embedded model needs the protocol spelled out
    policy = (base / spec.policy) if spec.policy is not None else None
    return Agent(
        spec.name,
        backend,
        instructions=spec.instructions or DEFAULT_INSTRUCTIONS,
        tools=[available[n] for n in names],
        max_steps=spec.max_steps,
        strategy=ReAct(tool_first=small and bool(names), answer_after_tools=small),
        sampling=Sampling(max_tokens=spec.max_tokens),
        kernel=Kernel(timeout=spec.timeout),
        budget=budget,
        policy=policy,
        description=spec.description,
    )


def _method_factory(
    name: str, model: str, overrides: dict[str, Any], budget: Any, max_tokens: int | None, timeout: float
) -> Callable[[], Any]:
    from agorakit.kernel import Kernel
    from agorakit.methods import method_class
    from agorakit.models import Sampling, resolve_model

    cls = method_class(name)  # an unknown method fails here, when the server starts
    fields = set(getattr(cls.Config, "__dataclass_fields__", {}))
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} for method {name!r}", hint=f"settings: {', '.join(sorted(fields))}"
        )
    backend = resolve_model(model)
    kernel = Kernel(timeout=timeout)

    def make() -> Any:
        return cls(backend, kernel=kernel, budget=budget, sampling=Sampling(max_tokens=max_tokens), **overrides)

    make()  # bad settings fail at start, not on the first request
    return make


def as_entry(obj: Any) -> Entry:
    """An :class:`Entry` for an Entry, an Agent, a Method, or a function returning one of them."""
    from agorakit.agents import Agent
    from agorakit.methods.base import Method
    from agorakit.methods.topology.team import Team

    if isinstance(obj, Entry):
        return obj
    if isinstance(obj, Agent):
        return agent_entry(obj)
    if isinstance(obj, Team):
        return team_entry(obj)
    if isinstance(obj, Method):
        method = obj
        return method_entry(lambda: method, name=method.name)
    if isinstance(obj, type) and issubclass(obj, Method):
        cls = obj
        return method_entry(cls, name=cls.name)
    if callable(obj):
        return as_entry(obj())
    raise ConfigError(f"cannot serve {obj!r}", hint="serve an Agent, a Team, a Method or an Entry")


def import_object(target: str) -> Any:
    """``package.module:name`` (or ``path/to/file.py:name``) imported."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{target!r} is not MODULE:OBJECT", hint="e.g. mypackage.bots:support or bots.py:support")
    try:
        module = (
            _load_module(Path(module_name)) if module_name.endswith(".py") else importlib.import_module(module_name)
        )
    except ImportError as error:
        raise ConfigError(
            f"cannot import {module_name!r}: {error}", hint="run from the folder that has it, or set PYTHONPATH"
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"{module_name} has no {attribute!r}") from None


def _load_module(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"no Python file at {path}")
    name = f"agorakit_serve_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def entries_for(names: Sequence[str], model: str | None) -> list[Entry]:
    """Entries for ``--method NAME`` options."""
    return [entry_from_spec(EntrySpec(name=n, method=n, model=model)) for n in names]
