"""Loading a dataset by name or from a user's file, and picking a reproducible subset."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from agorakit.core.errors import ConfigError
from agorakit.eval.datasets.builtin import load_builtin
from agorakit.eval.datasets.custom import check_options, split_spec
from agorakit.eval.datasets.custom import load_custom as _load_custom
from agorakit.eval.datasets.registry import DATASETS
from agorakit.eval.sample import AnswerKind, Sample


def load_dataset(
    spec: str | os.PathLike[str],
    *,
    fields: Mapping[str, str] | None = None,
    kind: AnswerKind | None = None,
    name: str | None = None,
) -> list[Sample]:
    """Every sample of a dataset, in file order.

    ``spec`` is a registered name (see :data:`DATASETS`: ``gsm8k``,
    ``math500``, ``humaneval``, ``mbpp``, ``gsm_hard``, ``mmlu``,
    ``aqua_rat``) or the path of a JSONL file (``.jsonl.gz`` too), optionally
    with a field mapping in query form::

        load_dataset("my.jsonl?question=q&answer=a&id=uid&kind=number")
        load_dataset("my.jsonl", fields={"question": "q", "answer": "a"}, kind="number")

    Mapping keys: ``question``, ``answer``, ``id``, ``choices`` (roles, each
    defaulting to the field of the same name; without an ``id`` field a
    record is named by its line number) and ``kind`` (``number``, ``math``,
    ``choice``, ``code`` or ``text``; default ``text``). Keyword arguments
    override the query. ``name`` names a custom dataset (default: the file's
    stem). Bad names, files, keys or records raise :class:`ConfigError`.
    """
    text = os.fspath(spec)
    key = text.strip().lower().replace("-", "_")
    if key in DATASETS:
        if fields or kind or name:
            raise ConfigError(
                f"{key} is a registered dataset: it takes no field mapping, kind or name",
                hint="mappings are for your own JSONL files",
            )
        return load_builtin(DATASETS[key])
    path_text, options = split_spec(text)
    path = Path(path_text).expanduser()
    if not path.is_file():
        if path.exists():
            raise ConfigError(f"{path} is not a file", hint="give the path of a JSONL file")
        if "/" not in path_text and os.sep not in path_text and "." not in path_text:
            raise ConfigError(
                f"unknown dataset {text!r}",
                hint=f"use one of: {', '.join(DATASETS)}, or the path of a JSONL file",
            )
        raise ConfigError(f"no such file: {path}", hint=f"or use a registered dataset: {', '.join(DATASETS)}")
    merged = dict(options)
    merged.update(fields or {})
    if kind is not None:
        merged["kind"] = kind
    mapping, answer_kind = check_options(merged, str(path))
    return _load_custom(path, mapping, answer_kind, name)


def select(samples: Sequence[Sample], limit: int | None, seed: int = 0) -> list[Sample]:
    """A reproducible subset of ``limit`` samples, in their original order.

    Samples are ranked by the SHA-256 of ``seed`` and their id (the same on
    every machine and Python, whatever the hash seed) and the first ``limit``
    are kept. So under one seed a smaller limit picks a subset of what a
    larger one picks (``limit=10`` is the first 10 of ``limit=50``'s ranking),
    and adding records to a file does not reshuffle the choice among the old
    ones. ``limit=None`` (or one at least ``len(samples)``) keeps everything.
    """
    if limit is None or limit >= len(samples):
        return list(samples)
    if limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}")
    ranked = sorted(range(len(samples)), key=lambda index: (_rank(seed, samples[index].id), index))
    return [samples[index] for index in sorted(ranked[:limit])]


def _rank(seed: int, sample_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{sample_id}".encode()).digest()
