"""``agora methods`` (the registered multi-agent methods) and ``agora run --method``."""

from __future__ import annotations

import asyncio
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from agorakit.cli.tables import Column, Grid, print_table
from agorakit.core.errors import ConfigError

if TYPE_CHECKING:
    from agorakit.methods.base import Method
    from agorakit.methods.result import MethodResult
    from agorakit.models.base import ChatModel

#: The per-call output cap of ``agora run --method`` on an in-process model when no
#: --max-tokens is given: the embedded 270M model otherwise runs every call to its
#: 512-token default (a two-agent debate took two minutes), and its answer line
#: comes early or not at all.
METHOD_CALL_CAP = 128
IN_PROCESS_PROVIDERS = ("llamacpp", "scripted")

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def methods() -> None:
    """List the multi-agent methods: name, what it does, and its paper."""
    from agorakit.methods import available

    grid = Grid(
        [Column("name", kind="id", style="bold"), Column("summary", kind="text"), Column("paper", kind="text", drop=1)],
        title="Multi-agent methods",
    )
    for cls in available():
        grid.add_row(cls.name, cls.summary, cls.paper)
    print_table(Console(), grid)


# --- settings from the command line -------------------------------------------


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(kind))
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def describe_settings(config_cls: type[Any]) -> str:
    """``k: int = 3, t: int = 5, ...`` for a method's Config dataclass."""
    hints = typing.get_type_hints(config_cls)
    parts = []
    for item in dataclasses.fields(config_cls):
        default = item.default if item.default is not dataclasses.MISSING else "?"
        parts.append(f"{item.name}: {_type_name(hints.get(item.name, Any))} = {default!r}")
    return ", ".join(parts) or "none"


def coerce(value: str, kind: Any, key: str) -> Any:
    """``value`` (command-line text) as ``kind``: int, float, bool, str, a Literal, or an Optional of those."""
    origin = typing.get_origin(kind)
    if origin is Union or origin is types.UnionType:
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(options) < len(typing.get_args(kind)) and value.strip().lower() in ("none", "null"):
            return None
        for option in options:
            try:
                return coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"setting {key}: cannot read {value!r} as {_type_name(kind)}")
    if origin is Literal:
        for choice in typing.get_args(kind):
            if str(choice) == value:
                return choice
        raise ConfigError(f"setting {key}: {value!r} is not one of {', '.join(repr(c) for c in typing.get_args(kind))}")
    try:
        if kind is bool:
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
    except ValueError:
        raise ConfigError(f"setting {key}: cannot read {value!r} as {_type_name(kind)}") from None
    if kind is str or kind is Any:
        return value
    import yaml  # other types (lists, tuples, mappings): read the value as YAML

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ConfigError(f"setting {key}: cannot read {value!r} as {_type_name(kind)}: {error}") from None


def _pairs(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE", hint=f"for example {option} rounds=2")
        pairs.append((key.strip(), value))
    return pairs


def parse_settings(method: str, items: Sequence[str]) -> dict[str, Any]:
    """``["k=1", "t=2"]`` as the method's typed settings; an unknown key is a :class:`ConfigError`."""
    from agorakit.methods import method_class

    config_cls = method_class(method).Config
    hints = typing.get_type_hints(config_cls)
    fields = {item.name for item in dataclasses.fields(config_cls)}
    settings: dict[str, Any] = {}
    for key, value in _pairs(items, "--set"):
        if key not in fields:
            raise ConfigError(
                f"unknown setting {key!r} for method {method!r}",
                hint=f"settings of {method}: {describe_settings(config_cls)}",
            )
        settings[key] = coerce(value, hints.get(key, Any), key)
    return settings


# --- agora run --method ---------------------------------------------------------


def default_call_cap(backend: ChatModel) -> int | None:
    """:data:`METHOD_CALL_CAP` for a model that runs in this process, else ``None`` (the backend's default)."""
    return METHOD_CALL_CAP if backend.provider in IN_PROCESS_PROVIDERS else None


def run_method(
    task: str,
    method: str,
    *,
    model: str | None,
    settings: Sequence[str],
    role_models: Sequence[str],
    timeout: float,
    call_budget: int | None,
    token_budget: int | None,
    max_tokens: int | None,
    trace: bool,
    durability: str | None = None,
) -> int:
    """Run ``method`` on ``task`` and print its answer, final answer, usage per agent and run id.

    ``max_tokens`` caps every call's output, as ``agora bench --max-tokens`` does (a method's own
    ``max_tokens`` setting still wins); without it, calls to an in-process model are capped at
    :data:`METHOD_CALL_CAP`. ``durability`` journals the run for ``agora resume``. Returns the
    exit code: 0 with a final answer, 3 without.
    """
    from agorakit.core import settings as global_settings

    options: dict[str, Any] = {
        "method": method,
        "model": model or global_settings.default_model(),
        "settings": list(settings),
        "role_models": list(role_models),
        "timeout": timeout,
        "call_budget": call_budget,
        "token_budget": token_budget,
        "max_tokens": max_tokens,
        "trace": trace,
    }
    console = Console(soft_wrap=True)
    runner = build_method(console, **options)
    uri = options["model"]
    if durability is None:
        with console.status(f"Running {method} on {uri} …", spinner="dots"):
            result = asyncio.run(runner.run(task))
    else:
        from agorakit.core.ids import new_run_id
        from agorakit.kernel.journal import check_durability

        journal = runner.start_journal(task, check_durability(durability), new_run_id(), origin=options)
        console.print(f"[dim]run id: {journal.run_id} (journaled: agora resume {journal.run_id})[/dim]")
        with console.status(f"Running {method} on {uri} …", spinner="dots"):
            result = asyncio.run(runner.run_journaled(task, journal))
    return show_method_result(console, result, trace=trace)


def build_method(
    console: Console, *, method: str, model: str, settings: Sequence[str], role_models: Sequence[str],
    timeout: float, call_budget: int | None, token_budget: int | None, max_tokens: int | None, trace: bool,
) -> Method:  # fmt: skip
    """The method `agora run --method` runs, its models loaded (under a spinner)."""
    from agorakit.kernel import Budget, Kernel
    from agorakit.methods import method_class
    from agorakit.models import resolve_model
    from agorakit.models.base import Sampling

    cls = method_class(method)
    overrides = parse_settings(method, settings)
    roles = dict(_pairs(role_models, "--role-model"))
    # Resolved here once (a method would resolve URIs per run): the embedded model is
    # loaded under a spinner, and a scripted file keeps one position for the whole run.
    backend = resolve_model(model)
    role_backends = {role: resolve_model(uri) for role, uri in roles.items()}
    for loaded in (backend, *role_backends.values()):
        preload = getattr(loaded, "load", None)
        if callable(preload):
            with console.status(f"Loading {loaded.uri} …", spinner="dots"):
                preload()
    return cls(
        backend,
        models=role_backends,
        kernel=Kernel(timeout=timeout),
        budget=Budget(max_calls=call_budget, max_tokens=token_budget),
        sampling=Sampling(max_tokens=max_tokens or default_call_cap(backend)),
        trace=None if trace else False,
        **overrides,
    )


def show_method_result(console: Console, result: MethodResult, *, trace: bool) -> int:
    """Print a method's answer, final answer, usage per agent and run id; the exit code (0 or 3)."""
    console.print(result.answer, markup=False, highlight=False)
    console.print()
    if result.final_answer is not None:
        console.print("[bold]final answer:[/bold] " + escape(result.final_answer), highlight=False)
    else:
        console.print("[yellow]no final answer could be extracted[/yellow]", highlight=False)
    grid = Grid(
        [Column("agent", kind="id"), *(Column(c, justify="right") for c in ("calls", "input tokens", "output tokens"))],
        title="usage per agent",
    )
    for agent, usage in result.usage_by_agent.items():
        grid.add_row(agent, str(usage.calls), str(usage.input_tokens), str(usage.output_tokens))
    total = result.usage
    grid.add_row(Text("total", style="bold"), str(total.calls), str(total.input_tokens), str(total.output_tokens))
    print_table(console, grid)
    if trace:
        console.print(f"run id: [bold]{result.run_id}[/bold]   (agora trace show {result.run_id})", highlight=False)
    return 0 if result.final_answer is not None else 3
