"""Argument constraints (a JSON-Schema subset) compiled into small predicates.

A constraint such as ``{pattern: "[a-z]+", maxLength: 8}`` becomes one
function ``value -> bool`` at load time, so a check is a few calls and no
interpretation. Every keyword is checked at load: an unknown keyword, a
value of the wrong kind or a regex that does not compile is a
:class:`PolicyError` naming its location.

Two deliberate departures from JSON Schema, both failing closed:

- ``pattern`` must match the whole string (``re.fullmatch``), not a part of
  it: ``https://evil.example/?a=www.trusted.com`` does not pass
  ``www\\.trusted\\.com``.
- a keyword fails on a value of the wrong type (JSON Schema ignores it): a
  string never satisfies ``maximum``, a number never satisfies ``pattern``.

Values compare as JSON values: ``true`` is not ``1``, ``1`` equals ``1.0``.

``source`` (where the value must come from) is parsed here but checked
apart, against the run's record: see :mod:`agorakit.policy.sources`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from agorakit.core.provenance import SOURCES, Source
from agorakit.policy.errors import PolicyError
from agorakit.policy.formats import FORMATS

Check = Callable[[Any], bool]

KEYWORDS = (
    "enum",
    "const",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "items",
    "format",
    "anyOf",
    "not",
    "source",
)
_SUPPORTED = ", ".join(KEYWORDS)
_SOURCE_NAMES = ", ".join(SOURCES)
_SCALARS = (str, int, float, bool, type(None))


def compile_constraint(spec: Any, where: str, *, top: bool = True) -> Check:
    """The predicate for one constraint; ``where`` prefixes error messages.

    ``source`` (only at the ``top`` of an argument's constraint) is not part of
    the predicate: it needs the run's data, see :func:`parse_sources`.
    """
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{where}: a constraint must be a mapping of keywords, got {kind_of(spec)}")
    for key in spec:
        if key not in KEYWORDS:
            raise PolicyError(f"{where}: unsupported keyword {key!r} (supported: {_SUPPORTED})")
    if not top and "source" in spec:
        raise PolicyError(
            f"{where}.source: source applies to a whole argument, not inside items, anyOf or not",
            hint="put source at the top of the argument's constraint; a list's elements are each checked",
        )

    # Cheap tests first: a failing enum or range spares the regex.
    tests: list[Check] = []
    if "const" in spec:
        tests.append(_one_of([_json_value(spec["const"], f"{where}.const")]))
    if "enum" in spec:
        values = spec["enum"]
        if not isinstance(values, list) or not values:
            raise PolicyError(f"{where}.enum: expected a non-empty list of values, got {_short(values)}")
        tests.append(_one_of([_json_value(v, f"{where}.enum[{i}]") for i, v in enumerate(values)]))
    if "minimum" in spec or "maximum" in spec:
        tests.append(_range(_number(spec, "minimum", where), _number(spec, "maximum", where)))
    if "minLength" in spec or "maxLength" in spec:
        tests.append(_length(_count(spec, "minLength", where), _count(spec, "maxLength", where)))
    if "format" in spec:
        tests.append(_format(spec["format"], f"{where}.format"))
    if "pattern" in spec:
        tests.append(_pattern(spec["pattern"], f"{where}.pattern"))
    if "items" in spec:
        tests.append(_items(compile_constraint(spec["items"], f"{where}.items", top=False)))
    if "anyOf" in spec:
        options = spec["anyOf"]
        if not isinstance(options, list) or not options:
            raise PolicyError(f"{where}.anyOf: expected a non-empty list of constraints, got {_short(options)}")
        tests.append(_any([compile_constraint(o, f"{where}.anyOf[{i}]", top=False) for i, o in enumerate(options)]))
    if "not" in spec:
        inner = compile_constraint(spec["not"], f"{where}.not", top=False)
        tests.append(lambda value: not inner(value))
    return _all(tests)


def parse_sources(spec: Any, where: str) -> tuple[Source, ...] | None:
    """The sources an argument's ``source`` keyword allows (``user``, ``trusted``), or None without one."""
    if not isinstance(spec, Mapping) or "source" not in spec:
        return None
    raw = spec["source"]
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise PolicyError(
            f"{where}.source: expected one of {_SOURCE_NAMES} or a non-empty list of them, got {_short(raw)}"
        )
    for name in names:
        if name not in SOURCES:
            raise PolicyError(f"{where}.source: unknown source {_short(name)} (sources: {_SOURCE_NAMES})")
    return tuple(dict.fromkeys(cast("list[Source]", names)))


# --- keyword builders -------------------------------------------------------------


def _one_of(allowed: list[Any]) -> Check:
    """``enum``/``const``: the value equals one of ``allowed`` as JSON."""
    if all(isinstance(v, str) for v in allowed):
        strings = frozenset(allowed)  # the common case (names, ids, addresses): one hash lookup
        return lambda value: isinstance(value, str) and value in strings
    if all(isinstance(v, _SCALARS) for v in allowed):
        keys = frozenset(_key(v) for v in allowed)
        return lambda value: isinstance(value, _SCALARS) and _key(value) in keys
    return lambda value: any(json_equal(value, v) for v in allowed)


def _range(low: float | None, high: float | None) -> Check:
    if low is not None and high is not None:
        return lambda value: _is_number(value) and low <= value <= high
    if low is not None:
        return lambda value: _is_number(value) and low <= value
    return lambda value: _is_number(value) and value <= high


def _length(low: int | None, high: int | None) -> Check:
    lo = low if low is not None else 0
    hi = high if high is not None else math.inf
    return lambda value: isinstance(value, str) and lo <= len(value) <= hi


def _format(name: Any, where: str) -> Check:
    checker = FORMATS.get(name) if isinstance(name, str) else None
    if checker is None:
        raise PolicyError(f"{where}: unknown format {_short(name)} (supported: {', '.join(FORMATS)})")
    return lambda value: isinstance(value, str) and checker(value)


def _pattern(pattern: Any, where: str) -> Check:
    if not isinstance(pattern, str):
        raise PolicyError(f"{where}: expected a regex string, got {_short(pattern)}")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise PolicyError(f"{where}: invalid regex {pattern!r}: {error}") from None
    fullmatch = compiled.fullmatch
    return lambda value: isinstance(value, str) and fullmatch(value) is not None


def _items(inner: Check) -> Check:
    # Tuples count: validated arguments of a ``tuple[...]`` parameter arrive as one.
    return lambda value: isinstance(value, list | tuple) and all(inner(item) for item in value)


def _any(options: list[Check]) -> Check:
    return lambda value: any(option(value) for option in options)


def _all(tests: list[Check]) -> Check:
    if not tests:
        return _present
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda value: first(value) and second(value)

    def every(value: Any) -> bool:
        for test in tests:  # noqa: SIM110 - a loop beats all() over a generator on the hot path
            if not test(value):
                return False
        return True

    return every


def _present(value: Any) -> bool:
    """An empty constraint ``{}``: the argument only has to be there."""
    return True


# --- helpers --------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(value: Any) -> tuple[str, Any]:
    """A hashable key under which equal JSON scalars coincide (and ``true`` differs from ``1``)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return ("z", None)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: booleans are not numbers, lists and tuples are arrays."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is None and right is None


def _json_value(value: Any, where: str) -> Any:
    """``value`` if it is plain JSON data, else a PolicyError (a date from YAML, a set, ...)."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise PolicyError(f"{where}: {value!r} is not a JSON value")
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            _json_value(item, f"{where}[{i}]")
        return value
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        for key, item in value.items():
            _json_value(item, f"{where}.{key}")
        return value
    raise PolicyError(f"{where}: not a JSON value ({type(value).__name__}: {_short(value)})")


def _number(spec: Mapping[str, Any], key: str, where: str) -> float | None:
    if key not in spec:
        return None
    value = spec[key]
    if not _is_number(value) or not math.isfinite(value):
        raise PolicyError(f"{where}.{key}: expected a number, got {_short(value)}")
    return value  # type: ignore[no-any-return]


def _count(spec: Mapping[str, Any], key: str, where: str) -> int | None:
    if key not in spec:
        return None
    value = spec[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PolicyError(f"{where}.{key}: expected a non-negative integer, got {_short(value)}")
    return value


def kind_of(value: Any) -> str:
    """What a value is, for error messages: "null", "a list", "a mapping", "int 5"."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
