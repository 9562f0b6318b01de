"""The local engine's parts that need no engine: its command line, URI selection and the
fallback when it is not built, the missing-binary error, and how server errors map."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import httpx
import pytest

from agorakit.core.errors import ConfigError, ContextWindowExceeded, InvalidModelURI, ModelError, ModelServerError
from agorakit.models.engine import build
from agorakit.models.engine.server import Engine, EngineSpec
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.models.llamacpp_server import _http_error
from agorakit.models.uri import resolve_model


def _option(arguments: list[str], name: str) -> str:
    return arguments[arguments.index(name) + 1]


def test_the_engine_listens_on_loopback_with_one_slot_per_agent_and_a_shared_pool(tmp_path: Path) -> None:
    spec = EngineSpec(tmp_path / "m.gguf", slots=16, slot_context=8192, threads=2)
    arguments = spec.arguments(port=4321)
    assert (_option(arguments, "--host"), _option(arguments, "--port")) == ("127.0.0.1", "4321")
    assert _option(arguments, "--parallel") == "16"
    assert (_option(arguments, "--ctx-size"), _option(arguments, "--kv-unified-per-slot")) == ("32768", "8192")
    assert "--swa-full" in arguments and "--no-webui" in arguments
    assert _option(EngineSpec(tmp_path / "m.gguf", slots=2).arguments(1), "--ctx-size") == "8192"  # one slot's room
    assert spec.key == EngineSpec(tmp_path / "m.gguf", slots=16, slot_context=8192, threads=2).key
    assert spec.key != EngineSpec(tmp_path / "m.gguf", slots=8, slot_context=8192, threads=2).key
    assert spec.key.startswith("m-")


def test_an_unknown_engine_in_the_uri_is_an_error() -> None:
    with pytest.raises(InvalidModelURI, match="unknown engine 'gpu'"):
        resolve_model("llamacpp:gemma-3-270m?engine=gpu")


def test_without_the_engine_built_the_model_runs_in_process_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGORAKIT_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("AGORAKIT_LLAMA_SERVER", raising=False)
    with caplog.at_level(logging.WARNING, logger="agorakit.models.engine"):
        first = resolve_model("llamacpp:gemma-3-270m?engine=server&slots=4")
        second = resolve_model("llamacpp:gemma-3-270m?engine=server")
    assert type(first) is LlamaCppModel and type(second) is LlamaCppModel
    warnings = [r.getMessage() for r in caplog.records if r.name == "agorakit.models.engine"]
    assert len(warnings) == 1
    assert "not built" in warnings[0] and "python -m agorakit.models.engine.build" in warnings[0]
    assert str(tmp_path / "empty-cache") in warnings[0]


def test_a_missing_engine_binary_fails_with_the_command_that_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_LLAMA_SERVER", str(tmp_path / "nowhere" / "llama-server"))
    assert build.binary() == tmp_path / "nowhere" / "llama-server"
    with pytest.raises(ConfigError, match="engine binary is missing") as caught:
        Engine(EngineSpec(tmp_path / "m.gguf")).url()
    assert caught.value.hint is not None and "agorakit.models.engine.build" in caught.value.hint


def test_the_build_goes_to_a_folder_named_for_the_llama_cpp_python_version_and_build_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORAKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("AGORAKIT_LLAMA_SERVER", raising=False)
    folder = build.binary().parents[1]
    assert folder.parent == tmp_path and folder.name.startswith(f"llama.cpp-{build.version()}-")
    assert build.binary("llama-batched-bench").name == "llama-batched-bench"
    assert build.is_built() is False
    # A build made with other options (an AMX build that faults on some machines) is not reused.
    monkeypatch.setattr(build, "CMAKE_OPTIONS", (*build.CMAKE_OPTIONS, "-DGGML_AMX_TILE=ON"))
    assert build.binary().parents[1] != folder


@pytest.mark.skipif(platform.machine() != "x86_64", reason="AMX is an x86-64 extension")
def test_llama_cpp_is_built_without_amx_on_x86() -> None:
    assert "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in build.CMAKE_OPTIONS


def _response(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_engine_errors_become_agorakit_errors() -> None:
    too_long = _response(
        400,
        {"error": {"type": "exceed_context_size_error", "message": "the request exceeds the available context size"}},
    )
    error = _http_error(too_long, 8192)
    assert isinstance(error, ContextWindowExceeded) and "8192" in error.message
    failed = _http_error(_response(500, {"error": {"message": "boom"}}), 8192)
    assert isinstance(failed, ModelServerError) and failed.status == 500
    rejected = _http_error(_response(400, {"error": {"message": "bad grammar"}}), 8192)
    assert type(rejected) is ModelError and "bad grammar" in rejected.message
