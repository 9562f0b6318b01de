"""Model URIs and the errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from agorakit.core import errors
from agorakit.models import ScriptedModel, parse_model_uri, resolve_model
from agorakit.models.uri import ModelURI


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("llamacpp:gemma-3-270m", ModelURI("llamacpp", "gemma-3-270m")),
        ("llamacpp:/models/x.gguf?n_ctx=2048", ModelURI("llamacpp", "/models/x.gguf", None, {"n_ctx": "2048"})),
        ("openai:gpt-4o-mini", ModelURI("openai", "gpt-4o-mini")),
        (
            "openai:qwen2.5-7b@http://localhost:8000/v1",
            ModelURI("openai", "qwen2.5-7b", "http://localhost:8000/v1"),
        ),
        (
            "openai:m@http://127.0.0.1:8080/v1?tools=prompt",
            ModelURI("openai", "m", "http://127.0.0.1:8080/v1", {"tools": "prompt"}),
        ),
        ("scripted:tests/a.yaml", ModelURI("scripted", "tests/a.yaml")),
        ("OpenAI:gpt-4o", ModelURI("openai", "gpt-4o")),
    ],
)
def test_parse(uri: str, expected: ModelURI) -> None:
    assert parse_model_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gpt-4o", "no scheme"),
        ("anthropic:claude", "unknown model scheme 'anthropic'"),
        ("openai:", "names no model"),
        ("openai:m@localhost:8000", "invalid base URL"),
        ("", "no scheme"),
    ],
)
def test_invalid_uris_say_what_to_write(uri: str, message: str) -> None:
    with pytest.raises(errors.InvalidModelURI, match=message) as caught:
        parse_model_uri(uri)
    assert "SCHEME:MODEL" in str(caught.value) or "use one of" in str(caught.value) or "http" in str(caught.value)


def test_unknown_models_and_missing_files() -> None:
    with pytest.raises(errors.UnknownModel, match="unknown embedded model 'gemma-9000'") as caught:
        resolve_model("llamacpp:gemma-9000")
    assert "agora models" in caught.value.hint or "gemma-3-270m" in caught.value.hint
    with pytest.raises(errors.UnknownModel, match="GGUF file not found"):
        resolve_model("llamacpp:/no/such/model.gguf")
    with pytest.raises(errors.UnknownModel, match="script file not found"):
        resolve_model("scripted:/no/such/script.yaml")


def test_missing_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(errors.MissingAPIKey):
        resolve_model("openai:gpt-4o-mini")


def test_model_objects_pass_through() -> None:
    model = ScriptedModel(["x"])
    assert resolve_model(model) is model


def test_scripted_uri_loads_a_script(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("- hello\n")
    model = resolve_model(f"scripted:{script}")
    assert model.uri == f"scripted:{script}"
