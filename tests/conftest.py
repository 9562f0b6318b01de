"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_server import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A scriptable OpenAI-compatible server on 127.0.0.1 (see tests/fault_server.py), stopped after the test."""
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A clean, wide, colourless terminal and a private agorakit home, for CLI output tests."""
    for name in ("AGORAKIT_MODEL", "AGORAKIT_TRACE", "AGORAKIT_BENCH_DB", "OPENAI_API_KEY", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(tmp_path / "traces.db"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("COLUMNS", "250")
