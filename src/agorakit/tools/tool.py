"""Tools from typed Python functions: the ``@tool`` decorator and :class:`Tool`.

A tool is a function plus what a model needs to call it: a name, a description
and the JSON schema of its arguments. Everything expensive (reading the
signature, parsing the docstring, building the pydantic validator and the
schema) happens once, when the function is decorated; a call only validates
and runs.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from pydantic import ValidationError
from pydantic.errors import PydanticUserError

from agorakit.core.context import current_context
from agorakit.core.errors import ConfigError, ToolArgumentsError, ToolDefinitionError
from agorakit.models.base import ToolSpec
from agorakit.tools.inline import runs_inline, scalar_values
from agorakit.tools.signature import (
    MAX_ERRORS_SHOWN,
    build_validator,
    describe_validation_error,
    is_async_callable,
    parse_docstring,
    short_repr,
    strip_titles,
    takes_context,
)

P = ParamSpec("P")
R = TypeVar("R")

#: What a tool says about running it again (see :class:`Tool`).
Idempotent = bool | Literal["key"]

# What OpenAI-compatible endpoints accept as a function name.
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Tool(Generic[P, R]):
    """A typed Python function that a model can call.

    Build one with :func:`tool`. A ``Tool`` is still callable like the function
    it wraps (``add(1, 2)``), so it can be unit-tested directly; the dispatcher
    uses :meth:`validate` and :meth:`invoke` instead.

    ``timeout`` (seconds) overrides the dispatcher's default for this tool.

    ``idempotent`` says what a resumed durable run may do with a call of this
    tool that had started, but has no recorded result, when the run was killed:
    ``True``, run it again (running it twice does no harm); ``"key"``, run it
    again with the same ``RunContext.idempotency_key`` it was given the first
    time (the tool uses the key to do its effect once); ``False``, do not run
    it again without the user's word (the run stops with
    ``stop_reason="needs_confirmation"``). The default is ``True`` for a tool
    that provably only computes (straight-line operators on scalars, see
    :mod:`agorakit.tools.inline`) and ``False`` for every other.
    """

    fn: Callable[P, R]
    name: str
    description: str
    parameters: dict[str, Any]
    timeout: float | None
    is_async: bool
    idempotent: Idempotent

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        idempotent: Idempotent | None = None,
    ) -> None:
        if isinstance(fn, Tool):  # re-decorating (e.g. to rename) wraps the original function
            fn = fn.fn
        if not callable(fn):
            raise ToolDefinitionError(f"@tool needs a function, got {type(fn).__name__}")
        tool_name = name if name is not None else getattr(fn, "__name__", None)
        if not isinstance(tool_name, str) or not _NAME_RE.fullmatch(tool_name):
            raise ToolDefinitionError(
                f"invalid tool name {tool_name!r}",
                hint="a name is 1-64 letters, digits, '_' or '-'; pass @tool(name=...)",
            )
        if timeout is not None and not timeout > 0:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: timeout must be a positive number of seconds, got {timeout}"
            )

        # Copies __name__, __doc__, __wrapped__ ... first, so it cannot overwrite the attributes set below.
        functools.update_wrapper(self, fn)
        summary, arg_docs = parse_docstring(inspect.getdoc(fn))
        self.fn = fn
        self._call: Callable[..., Any] = fn  # untyped view: invoke() passes validated values positionally/by name
        self.name = tool_name
        self.description = description.strip() if description is not None else summary
        self.timeout = timeout
        self.is_async = is_async_callable(fn)
        self.takes_context = takes_context(fn, tool_name)
        # Straight-line operator code over scalars cannot block: it skips the worker thread (see inline.py).
        self._inline = not self.is_async and not self.takes_context and runs_inline(fn)
        self.idempotent = _check_idempotent(tool_name, idempotent, default=self._inline)
        self._names, self._n_positional, self._validator = build_validator(
            fn, tool_name, arg_docs, skip_first=self.takes_context
        )
        try:
            schema = self._validator.model_json_schema()
        except (PydanticUserError, TypeError, ValueError) as error:
            raise ToolDefinitionError(f"tool {tool_name!r}: cannot build a JSON schema: {error}") from error
        strip_titles(schema)
        self.parameters = schema
        self._spec = ToolSpec(self.name, self.description, schema)

    @property
    def spec(self) -> ToolSpec:
        """What a model is told about this tool."""
        return self._spec

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check a model's arguments against the schema.

        Returns the validated values (defaults filled in, lax coercions applied
        such as ``"3"`` to ``3``) by parameter name. Raises
        :class:`ToolArgumentsError` with one short line per problem.
        """
        try:
            model = self._validator.model_validate(arguments)
        except ValidationError as error:
            raise ToolArgumentsError(
                describe_validation_error(error, self._names),
                hint="fix the arguments and call the tool again",
            ) from None
        # Fields are stored in signature order under internal names; map them back.
        return dict(zip(self._names, model.__dict__.values(), strict=True))

    def runs_inline(self, arguments: dict[str, Any]) -> bool:
        """Whether :meth:`invoke` would run this call on the event loop (see :mod:`agorakit.tools.inline`)."""
        return self._inline and scalar_values(arguments)

    def call(self, arguments: dict[str, Any]) -> Any:
        """Run the function here, synchronously, with validated arguments (no thread, no await)."""
        if self._n_positional:
            args = tuple(arguments[name] for name in self._names[: self._n_positional])
            kwargs = {name: arguments[name] for name in self._names[self._n_positional :]}
            return self._call(*args, **kwargs)
        return self._call(**arguments)

    async def invoke(self, arguments: dict[str, Any]) -> Any:
        """Run the function with already validated arguments (from :meth:`validate`).

        A sync function runs in a worker thread so it never blocks the event
        loop, unless it provably cannot block (:mod:`agorakit.tools.inline`).
        A tool that takes the :class:`~agorakit.core.context.RunContext` gets the current run's.
        """
        if self._n_positional:
            args = tuple(arguments[name] for name in self._names[: self._n_positional])
            kwargs = {name: arguments[name] for name in self._names[self._n_positional :]}
        else:
            args, kwargs = (), arguments
        if self.takes_context:
            context = current_context()
            if context is None:
                raise ConfigError(
                    f"tool {self.name!r} takes a RunContext, and none is active",
                    hint="run it through an Agent (agent.run), which passes the run's context",
                )
            args = (context, *args)
        if self.is_async:
            return await self._call(*args, **kwargs)
        if self._inline and scalar_values(arguments):
            return self._call(*args, **kwargs)
        result = await asyncio.to_thread(self._call, *args, **kwargs)
        if inspect.isawaitable(result):  # a sync-looking callable that returned a coroutine
            result = await result
        return result

    async def run(self, arguments: Mapping[str, Any]) -> Any:
        """Validate, then invoke. Raises :class:`ToolArgumentsError` on bad arguments."""
        return await self.invoke(self.validate(arguments))

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        fn: Callable[[dict[str, Any]], Any],
        *,
        timeout: float | None = None,
        idempotent: Idempotent = False,
    ) -> Tool[..., Any]:
        """A tool described by a raw JSON schema, run by a callable that takes the arguments as one dict.

        For tools defined elsewhere (an MCP server, an API description). Arguments
        are validated with ``jsonschema`` against ``parameters`` (draft 2020-12
        unless its ``$schema`` says otherwise; no type coercion), then
        ``fn(arguments)`` runs: awaited when async, in a worker thread when sync.
        A bad name, timeout or schema raises :class:`ToolDefinitionError`.
        """
        return _SchemaTool(name, description, parameters, fn, timeout, idempotent)


class _SchemaTool(Tool[..., Any]):
    """A :class:`Tool` from a JSON schema instead of a typed signature (see :meth:`Tool.from_schema`)."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        fn: Callable[[dict[str, Any]], Any],
        timeout: float | None,
        idempotent: Idempotent,
    ) -> None:
        from jsonschema import exceptions, validators  # only schema tools pay for the import

        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ToolDefinitionError(f"invalid tool name {name!r}", hint="a name is 1-64 letters, digits, '_' or '-'")
        if timeout is not None and not timeout > 0:
            raise ToolDefinitionError(f"tool {name!r}: timeout must be a positive number of seconds, got {timeout}")
        if not callable(fn):
            raise ToolDefinitionError(f"tool {name!r}: fn must be callable, got {type(fn).__name__}")
        schema = copy.deepcopy(dict(parameters))
        if schema.get("type", "object") != "object":
            raise ToolDefinitionError(f"tool {name!r}: the arguments schema must have type 'object'")
        validator_class = validators.validator_for(schema, default=validators.Draft202012Validator)
        try:
            validator_class.check_schema(schema)
        except exceptions.SchemaError as error:
            raise ToolDefinitionError(f"tool {name!r}: invalid JSON schema: {error.message}") from None
        self._schema_validator = validator_class(schema)
        self.fn = fn
        self._call = fn
        self.name = name
        self.description = description.strip()
        self.timeout = timeout
        self.is_async = is_async_callable(fn)
        self.takes_context = False
        self._inline = False
        self.idempotent = _check_idempotent(name, idempotent, default=False)
        self.parameters = schema
        self._spec = ToolSpec(name, self.description, schema)
        self._names = tuple(schema.get("properties") or ())
        self._n_positional = 0

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(
                f"arguments must be a JSON object, got {short_repr(arguments)}",
                hint="fix the arguments and call the tool again",
            )
        values = dict(arguments)
        errors = sorted(self._schema_validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            parts = []
            for item in errors[:MAX_ERRORS_SHOWN]:
                loc = ".".join(str(part) for part in item.absolute_path)
                clause = f"{loc}: {item.message}" if loc else item.message
                parts.append(clause if len(clause) <= 200 else clause[:197] + "...")
            if len(errors) > MAX_ERRORS_SHOWN:
                parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
            raise ToolArgumentsError("; ".join(parts), hint="fix the arguments and call the tool again")
        return values

    async def invoke(self, arguments: dict[str, Any]) -> Any:
        if self.is_async:
            return await self._call(arguments)
        result = await asyncio.to_thread(self._call, arguments)
        if inspect.isawaitable(result):
            result = await result
        return result


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    idempotent: Idempotent | None = None,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    idempotent: Idempotent | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Turn a typed function (sync or async) into a :class:`Tool`.

    Use bare (``@tool``) or with options (``@tool(name=..., description=...,
    timeout=..., idempotent=...)``). The description defaults to the docstring's first
    paragraph; a Google-style ``Args:`` section describes the parameters.
    Every parameter needs a type annotation; ``*args``/``**kwargs`` are not
    allowed. Problems raise :class:`ToolDefinitionError` here, not at call time.
    """
    if fn is not None:
        return Tool(fn, name=name, description=description, timeout=timeout, idempotent=idempotent)

    def decorate(func: Callable[P, R]) -> Tool[P, R]:
        return Tool(func, name=name, description=description, timeout=timeout, idempotent=idempotent)

    return decorate


def _check_idempotent(name: str, value: Idempotent | None, *, default: bool) -> Idempotent:
    if value is None:
        return default
    if value is True or value is False or value == "key":
        return value
    raise ToolDefinitionError(f"tool {name!r}: idempotent must be True, False or 'key', got {value!r}")
