"""Model URIs: ``SCHEME:MODEL[@BASE_URL][?option=value&...]``.

Backends are imported only when a URI names them, so ``import agorakit``
never pays for ``openai`` or ``llama_cpp``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from agorakit.core.errors import InvalidModelURI

if TYPE_CHECKING:
    from agorakit.models.base import ChatModel

SCHEMES = ("llamacpp", "openai", "scripted")


@dataclass(slots=True, frozen=True)
class ModelURI:
    scheme: str
    model: str
    base_url: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_model_uri(uri: str) -> ModelURI:
    """Split a model URI into its parts, or raise :class:`InvalidModelURI`."""
    if not isinstance(uri, str) or ":" not in uri:
        raise InvalidModelURI(f"invalid model URI {uri!r}: no scheme")
    scheme, _, rest = uri.partition(":")
    scheme = scheme.strip().lower()
    if scheme not in SCHEMES:
        raise InvalidModelURI(f"unknown model scheme {scheme!r} in {uri!r}", hint=f"use one of: {', '.join(SCHEMES)}")
    options: dict[str, str] = {}
    if scheme in ("openai", "llamacpp") and "?" in rest:
        rest, _, query = rest.partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
    base_url = None
    if scheme == "openai" and "@" in rest:
        rest, _, base_url = rest.partition("@")
        if not base_url.startswith(("http://", "https://")):
            raise InvalidModelURI(f"invalid base URL {base_url!r} in {uri!r}", hint="write it as @http://host:port/v1")
    model = rest.strip()
    if not model:
        raise InvalidModelURI(f"model URI {uri!r} names no model")
    return ModelURI(scheme, model, base_url, options)


def resolve_model(model: str | ChatModel) -> ChatModel:
    """A ready backend for a URI (a model object passes through unchanged)."""
    if not isinstance(model, str):
        return model
    parsed = parse_model_uri(model)
    if parsed.scheme == "llamacpp":
        return _llamacpp(parsed)
    if parsed.scheme == "openai":
        from agorakit.models.openai_backend import from_uri

        return from_uri(parsed.model, parsed.base_url, **parsed.options)
    from agorakit.models.scripted import load_script

    return load_script(Path(parsed.model).expanduser())


ENGINES = ("inprocess", "server")


@functools.cache  # said once per process, never silently
def _say_engine_missing(binary: str) -> None:
    logging.getLogger("agorakit.models.engine").warning(
        "the local engine is not built (%s is missing): llamacpp models run in this process instead;"
        " build it with: python -m agorakit.models.engine.build",
        binary,
    )


def _llamacpp(parsed: ModelURI) -> ChatModel:
    """``llamacpp:MODEL``: in this process, or on the local engine with ``?engine=server``."""
    from agorakit.models.llamacpp import LlamaCppModel

    options = dict(parsed.options)
    engine = options.pop("engine", "inprocess")
    if engine not in ENGINES:
        raise InvalidModelURI(
            f"unknown engine {engine!r} in llamacpp:{parsed.model}", hint="use engine=server or engine=inprocess"
        )
    if engine == "inprocess":
        return LlamaCppModel(parsed.model, **options)
    from agorakit.models.engine import build

    if not build.is_built():
        _say_engine_missing(str(build.binary()))
        options = {key: value for key, value in options.items() if key == "n_ctx"}
        return LlamaCppModel(parsed.model, **options)
    from agorakit.models.llamacpp_server import LlamaServerModel

    return LlamaServerModel(parsed.model, **options)
