"""``source`` constraints: does an argument's value come from the user or from trusted tool output?

A rule's ``when: {recipient: {source: [user, trusted]}}`` holds when the
value occurs (see :mod:`agorakit.core.provenance` for the exact meaning) in
one of the named sources of the run in progress:

- ``user``: the task and the conversation's user turns;
- ``trusted``: the outputs of tools the policy marks ``trust: trusted``.

A list (or tuple) holds when every element does; an object when every value
does; ``null`` always holds (it carries no data). With no run recorded
(``recording`` not in force) nothing can be traced, so the rule does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agorakit.core.normalize import value_tokens
from agorakit.core.provenance import Finding, Provenance, Source

Requirements = tuple[tuple[str, tuple[Source, ...]], ...]
"""A rule's source constraints: (argument, the sources it may come from)."""

UNRECORDED = "no run data is recorded (run the calls inside agorakit.core.provenance.recording)"
_SHOWN = 60
_SCALARS = frozenset({str, int, float, bool})


def trace_sources(
    requirements: Requirements, arguments: Mapping[str, Any], provenance: Provenance | None
) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """(where each constrained argument's value was found, why the first one failed or None)."""
    findings: list[tuple[str, str]] = []
    for name, sources in requirements:
        value = arguments.get(name)
        if provenance is None:
            findings.append((name, "no record"))
            return tuple(findings), f"{name} {_show(value)} cannot be traced: {UNRECORDED}"
        found = _locate(provenance, value, sources)
        if isinstance(found, tuple):
            bad_value, finding = found
            findings.append((name, finding.describe()))
            return tuple(findings), _failure(name, bad_value, finding, sources)
        findings.append((name, found))
    return tuple(findings), None


def _locate(provenance: Provenance, value: Any, sources: Sequence[Source]) -> str | tuple[Any, Finding]:
    """Where ``value`` was found (described), or (the element that failed, its finding)."""
    if value.__class__ in _SCALARS:
        if value.__class__ is str:
            finding = provenance.occurs(value, sources)
        else:
            finding = provenance.find(value_tokens(value), sources)
        if finding.where not in sources:
            return value, finding
        return finding.text
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        places: dict[str, None] = {}
        for item in value:
            found = _locate(provenance, item, sources)
            if isinstance(found, tuple):
                return found
            places[found] = None
        return ", ".join(places) or "empty"
    if isinstance(value, Mapping):
        return _locate(provenance, list(value.values()), sources)
    return _locate(provenance, str(value), sources)


def _failure(name: str, value: Any, finding: Finding, sources: Sequence[Source]) -> str:
    wanted = " or ".join("the user" if source == "user" else "trusted output" for source in sources)
    if finding.where is None:
        place = "in no user text or tool output"
    elif finding.where == "user":
        place = "only in the user's text"
    else:
        place = f"only in {finding.describe()}"
    return f"{name} {_show(value)} is found {place}, not in {wanted}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
