"""What a benchmark grid is: methods (with settings) × datasets × models, and the config hash.

A configuration is a method with its fully resolved settings and sampling;
its hash is part of every result's key, so changing one setting makes a new
set of rows and changing nothing lets a rerun skip what is done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agorakit.eval.record import ResultKey
from agorakit.eval.sample import Sample

HASH_LENGTH = 12


@dataclass(slots=True)
class GridSpec:
    """A benchmark grid.

    ``methods`` pairs each method name with its setting overrides (typed values,
    as :func:`agorakit.cli.methods_cmd.parse_settings` returns them); ``models``
    are model URIs, recorded in the key as given. ``limit`` and ``seed`` pick a
    deterministic subsample of each dataset; ``concurrency`` is how many samples
    run at once (by default 1 in process, one per worker on Ray; each model's
    own call limit still applies in the kernel);
    ``max_tokens`` caps every model call's output. ``judge`` is a model URI for
    the optional LLM judge. ``retry_errors`` reruns rows recorded as errors.
    ``trace=False`` skips writing runs to the trace store (faster); ``timeout``
    is the seconds one model call may take in all, retries included.

    ``engine="ray"`` runs the samples on Ray actors (``workers`` of them, by
    default one per CPU of the cluster), on the cluster at ``address`` or on a
    local one; the rows are still written by this process alone.
    """

    methods: Sequence[tuple[str, Mapping[str, Any]]]
    datasets: Sequence[str]
    models: Sequence[str]
    limit: int | None = None
    seed: int = 0
    concurrency: int | None = None
    max_tokens: int | None = None
    judge: str | None = None
    retry_errors: bool = False
    trace: bool = True
    timeout: float | None = 300.0
    engine: str = "inprocess"
    address: str | None = None
    workers: int | None = None


@dataclass(frozen=True, slots=True)
class Configuration:
    """One method with its resolved settings: ``config`` is the canonical JSON the hash is taken over."""

    method: str
    overrides: Mapping[str, Any] = field(hash=False, compare=False)
    config: str
    config_hash: str


def configuration(method: str, overrides: Mapping[str, Any], max_tokens: int | None) -> Configuration:
    """Resolve ``method``'s full Config with ``overrides`` and hash it with the sampling.

    Raises :class:`~agorakit.core.errors.ConfigError` for an unknown method or setting.
    """
    from agorakit.methods import method_class

    cls = method_class(method)
    # The constructor validates the overrides and fills in the paper's defaults;
    # it does not resolve or load the model.
    resolved = cls(None, **dict(overrides)).config
    payload = {
        "method": method,
        "config": dataclasses.asdict(resolved),
        "sampling": {"max_tokens": max_tokens},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=repr)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    return Configuration(method, dict(overrides), text, digest)


@dataclass(frozen=True, slots=True)
class Job:
    """One cell of the grid: a sample under one configuration on one model."""

    sample: Sample
    configuration: Configuration
    model: str

    @property
    def key(self) -> ResultKey:
        return ResultKey(
            self.sample.dataset, self.sample.id, self.configuration.method, self.configuration.config_hash, self.model
        )


def jobs(
    configurations: Sequence[Configuration], samples: Mapping[str, Sequence[Sample]], models: Sequence[str]
) -> list[Job]:
    """Every (model, configuration, dataset, sample) cell, in that nesting order, without duplicates."""
    cells: dict[ResultKey, Job] = {}
    for model in models:
        for config in configurations:
            for dataset_samples in samples.values():
                for sample in dataset_samples:
                    job = Job(sample, config, model)
                    cells.setdefault(job.key, job)
    return list(cells.values())


def load_samples(datasets: Sequence[str], limit: int | None, seed: int) -> dict[str, list[Sample]]:
    """Each dataset spec's samples, subsampled to ``limit`` with ``seed``."""
    from agorakit.eval.datasets import load_dataset, select

    return {spec: select(load_dataset(spec), limit, seed) for spec in dict.fromkeys(datasets)}
