"""Reading a function's signature and docstring into a validator and a JSON schema."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.errors import PydanticUserError
from pydantic.fields import FieldInfo

from agorakit.core.context import RunContext
from agorakit.core.errors import ToolDefinitionError

# Google-style section headers. Only the argument sections are read; the others
# matter because they end the summary and the argument list.
_ARGS_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_SECTION_RE = re.compile(
    r"(args|arguments|parameters|params|keyword args|keyword arguments|returns?|yields?|raises|"
    r"examples?|notes?|attributes|see also|warnings?|todo|references)\s*:",
    re.IGNORECASE,
)
# "name: text", "name (int): text", "name (int, optional): text"
_ARG_RE = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")

MAX_ERRORS_SHOWN = 5


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (first paragraph, {parameter: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.fullmatch(line.strip()):
            break
        summary.append(line.strip())

    params: dict[str, str] = {}
    index = 0
    while index < len(lines):
        header = lines[index]
        index += 1
        stripped = header.strip()
        if not (stripped.endswith(":") and stripped[:-1].strip().lower() in _ARGS_SECTIONS):
            continue
        # cleandoc() leaves the first line with no indent whatever the rest has, so a header
        # there gives no reference: its entries may sit at indent 0 too.
        header_indent = _indent(header) if index > 1 else -1
        entry_indent: int | None = None
        current: str | None = None
        while index < len(lines):
            line = lines[index]
            if not line.strip():
                index += 1
                continue
            indent = _indent(line)
            if indent <= header_indent or (header_indent < 0 and _SECTION_RE.fullmatch(line.strip())):
                break  # the section is over; the outer loop looks at this line again
            index += 1
            match = _ARG_RE.fullmatch(line.strip())
            if match and (entry_indent is None or indent == entry_indent):
                entry_indent = indent
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current is not None:  # a continuation line of the current entry
                params[current] = f"{params[current]} {line.strip()}".strip()
    return " ".join(summary), params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def is_async_callable(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    # An object whose __call__ is async (a plain function's __call__ is a method-wrapper: not async).
    return inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


_CONTEXT_NAMES = ("ctx", "context", "run_context", "run_ctx")


def _is_context(annotation: Any) -> bool:
    return annotation is RunContext or get_origin(annotation) is RunContext


def takes_context(fn: Callable[..., Any], tool_name: str) -> bool:
    """Whether ``fn``'s first parameter asks for the :class:`RunContext` (then it is not a model argument).

    A ``RunContext`` anywhere else, or a first parameter named like a context
    but typed otherwise, is a definition error with a hint.
    """
    parameters = list(_signature(fn, tool_name).parameters.values())
    for index, param in enumerate(parameters):
        if _is_context(param.annotation) and index > 0:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {param.name!r} is a RunContext but not the first parameter",
                hint="put the context first: def my_tool(ctx: RunContext[Deps], ...)",
            )
    if not parameters:
        return False
    first = parameters[0]
    if _is_context(first.annotation):
        return True
    if first.name in _CONTEXT_NAMES and first.annotation is not inspect.Parameter.empty:
        shown = getattr(first.annotation, "__name__", None) or repr(first.annotation)
        raise ToolDefinitionError(
            f"tool {tool_name!r}: the first parameter {first.name!r} is annotated {shown}, not RunContext",
            hint="annotate it `RunContext[YourDeps]` (from agorakit import RunContext) to receive the run's "
            "context, or rename it if it is an argument for the model",
        )
    return False


def _signature(fn: Callable[..., Any], tool_name: str) -> inspect.Signature:
    try:
        return inspect.signature(fn, eval_str=True)
    except NameError as error:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: cannot resolve a type annotation: {error}",
            hint="define the types the annotations use at module level",
        ) from error
    except (TypeError, ValueError) as error:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot read its signature: {error}") from error


def build_validator(
    fn: Callable[..., Any], tool_name: str, arg_docs: dict[str, str], *, skip_first: bool = False
) -> tuple[tuple[str, ...], int, type[BaseModel]]:
    """A pydantic model of the parameters: (names in order, how many are positional-only, model).

    ``skip_first`` leaves out a leading context parameter (the runner passes it, not the model).

    Fields get internal names (``p0``, ``p1``...) and the real parameter name
    as alias, so parameters such as ``model_name``, ``json`` or ``_private``
    cannot clash with pydantic's own attributes. The schema and validation
    both use the alias, so the model never sees the internal names.
    """
    signature = _signature(fn, tool_name)
    names: list[str] = []
    n_positional = 0
    fields: dict[str, Any] = {}
    for index, param in enumerate(signature.parameters.values()):
        if skip_first and index == 0:
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            star = "*" if param.kind is inspect.Parameter.VAR_POSITIONAL else "**"
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {star}{param.name} is not allowed",
                hint="a tool's arguments are a JSON object with fixed keys; declare each parameter explicitly",
            )
        if param.annotation is inspect.Parameter.empty:
            if index == 0 and param.name in ("self", "cls"):
                hint = "to make a method a tool, wrap the bound method instead: tool(instance.method)"
            else:
                hint = "annotate every parameter (e.g. `x: int`) so agorakit can build the JSON schema"
            raise ToolDefinitionError(f"tool {tool_name!r}: parameter {param.name!r} has no type annotation", hint=hint)
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            n_positional += 1
        names.append(param.name)
        field_kwargs: dict[str, Any] = {"alias": param.name}
        if param.default is not inspect.Parameter.empty:
            field_kwargs["default"] = param.default
        doc = arg_docs.get(param.name)
        # An explicit Annotated[..., Field(description=...)] wins over the docstring.
        if doc and not _has_annotated_description(param.annotation):
            field_kwargs["description"] = doc
        fields[f"p{index}"] = (param.annotation, Field(**field_kwargs))

    try:
        model = create_model(  # type: ignore[call-overload]
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
    except (PydanticUserError, TypeError, ValueError) as error:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: a parameter type is not supported: {error}",
            hint="use JSON-friendly types: int, float, str, bool, list, dict, Literal, Enum, pydantic models",
        ) from error
    return tuple(names), n_positional, model


def _has_annotated_description(annotation: Any) -> bool:
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(meta, FieldInfo) and meta.description for meta in get_args(annotation)[1:])


# Schema keywords whose value is a map of name -> schema, a schema, or a list of schemas.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


def strip_titles(schema: dict[str, Any]) -> None:
    """Remove pydantic's generated ``title`` keywords: tokens a model does not need.

    Walks only schema positions, so a property that is itself named "title" stays.
    """
    if isinstance(schema.get("title"), str):
        del schema["title"]
    for key in _SCHEMA_MAPS:
        sub = schema.get(key)
        if isinstance(sub, dict):
            for value in sub.values():
                if isinstance(value, dict):
                    strip_titles(value)
    for key in _SCHEMA_ONE:
        sub = schema.get(key)
        if isinstance(sub, dict):
            strip_titles(sub)
    for key in _SCHEMA_LISTS:
        sub = schema.get(key)
        if isinstance(sub, list):
            for value in sub:
                if isinstance(value, dict):
                    strip_titles(value)


def describe_validation_error(error: ValidationError, names: tuple[str, ...]) -> str:
    """One short clause per problem, e.g. ``b: expected a valid integer, got [1, 2]``."""
    parts: list[str] = []
    errors = error.errors(include_url=False)
    for item in errors[:MAX_ERRORS_SHOWN]:
        loc = ".".join(str(part) for part in item["loc"])
        kind = item["type"]
        if not loc:  # the arguments as a whole were not an object
            parts.append(f"arguments must be a JSON object, got {short_repr(item['input'])}")
        elif kind == "missing":
            parts.append(f"{loc}: missing required argument")
        elif kind == "extra_forbidden":
            expected = ", ".join(names) if names else "no arguments"
            parts.append(f"{loc}: unexpected argument (expected: {expected})")
        else:
            parts.append(f"{loc}: {item['msg']}, got {short_repr(item['input'])}")
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)


def short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
