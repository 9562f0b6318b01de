"""A user's own JSONL file as a dataset, with a field mapping.

``my.jsonl?question=q&answer=a&id=uid&kind=number`` reads each line's ``q``
as the question, ``a`` as the reference answer and ``uid`` as the sample id.
Unmapped roles use the field of the same name (``question``, ``answer``,
``id``); a file without ids names its records by line number. ``choices``
(a list field) renders lettered options into the question. ``kind`` is how
answers are checked (default ``text``: only an LLM judge can check those).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import parse_qsl

from agorakit.core.errors import ConfigError
from agorakit.eval.datasets.builtin import LETTERS, number_text, render_choices
from agorakit.eval.datasets.jsonl import read_jsonl
from agorakit.eval.sample import AnswerKind, Sample

ROLES = ("question", "answer", "id", "choices")
KINDS: tuple[str, ...] = get_args(AnswerKind)
DEFAULT_KIND: AnswerKind = "text"


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"my.jsonl?question=q&kind=number"`` -> ``("my.jsonl", {"question": "q", "kind": "number"})``."""
    if "?" not in spec:
        return spec, {}
    path, query = spec.rsplit("?", 1)
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ConfigError(
            f"cannot read the field mapping {query!r} of {path}",
            hint="write it as FILE?question=FIELD&answer=FIELD&id=FIELD&kind=KIND",
        ) from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise ConfigError(f"{key!r} is given twice in {spec!r}")
        options[key] = value
    return path, options


def check_options(options: Mapping[str, str], source: str) -> tuple[dict[str, str], AnswerKind]:
    """The field mapping and the answer kind from ``options``; unknown keys and kinds are errors."""
    allowed = (*ROLES, "kind")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown field mapping key(s) {', '.join(unknown)} for {source}",
            hint=f"the keys are: {', '.join(allowed)}",
        )
    fields = {role: field for role, field in options.items() if role != "kind"}
    empty = [role for role, field in fields.items() if not field]
    if empty:
        raise ConfigError(f"no field given for {', '.join(empty)} in the mapping of {source}")
    kind = options.get("kind", DEFAULT_KIND)
    if kind not in KINDS:
        raise ConfigError(f"unknown answer kind {kind!r} for {source}", hint=f"use one of: {', '.join(KINDS)}")
    return fields, cast(AnswerKind, kind)


def load_custom(path: Path, fields: Mapping[str, str], kind: AnswerKind, name: str | None = None) -> list[Sample]:
    """Samples from a user's JSONL file (``fields`` maps a role to the record's key)."""
    dataset = name or _stem(path)
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    mapped = {role: fields.get(role, role) for role in ROLES}
    for line, record in read_jsonl(path):
        where = f"{path}:{line}"
        question = _text(_field(record, mapped["question"], "question", where, path), "question", where)
        answer = _answer(_field(record, mapped["answer"], "answer", where, path), where)
        used = {mapped["question"], mapped["answer"]}
        if "id" in fields or "id" in record:
            sample_id = _text(_field(record, mapped["id"], "id", where, path), "id", where)
            used.add(mapped["id"])
        else:
            sample_id = str(line)
        if sample_id in seen:
            raise ConfigError(
                f"{where}: id {sample_id!r} is also the id of line {seen[sample_id]}",
                hint="sample ids must be unique: resumed runs key on them",
            )
        seen[sample_id] = line
        choices: list[str] | None = None
        if "choices" in fields:
            choices = _choices(_field(record, mapped["choices"], "choices", where, path), where)
            question = render_choices(question, choices)
            used.add(mapped["choices"])
        meta: dict[str, Any] = {key: value for key, value in record.items() if key not in used}
        if choices is not None:
            meta["choices"] = choices
        samples.append(Sample(dataset, sample_id, question, answer, kind, meta))
    if not samples:
        raise ConfigError(f"{path} holds no records", hint="a JSONL file holds one JSON object per line")
    return samples


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name or path.name


def _field(record: dict[str, Any], key: str, role: str, where: str, path: Path) -> Any:
    if key in record:
        return record[key]
    keys = ", ".join(sorted(record)) or "none"
    raise ConfigError(
        f"{where}: no field {key!r} for the {role}",
        hint=f"the record's keys are: {keys}; map one with {path}?{role}=KEY",
    )


def _text(value: Any, role: str, where: str) -> str:
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"{where}: the {role} is empty")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    raise ConfigError(f"{where}: the {role} must be a string or a number, not {type(value).__name__}")


def _answer(value: Any, where: str) -> str:
    # A list of strings is a list of test asserts (code datasets, as MBPP stores them).
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return "\n".join(value) + "\n"
    return _text(value, "answer", where)


def _choices(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not 2 <= len(value) <= len(LETTERS):
        raise ConfigError(f"{where}: the choices must be a list of 2 to {len(LETTERS)} options")
    return [_text(item, "choices", where) for item in value]
