"""The ``serve`` fixture: a real agorakit server for the server's tests (see live_server.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from live_server import LiveServer, ServeFactory, live_server

from agorakit.server import Entry, KeyStore, ServerSettings

__all__ = ["LiveServer", "ServeFactory"]


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServeFactory]:
    """``serve(entries, **settings)``: a running server with one key (``.key``), stopped after the test."""
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    keys = KeyStore(tmp_path / "server.db")
    key = keys.create("tester")
    opened: list[object] = []

    def start(entries: Sequence[Entry], **settings: object) -> LiveServer:
        context = live_server(entries, ServerSettings(**settings), keys, key)  # type: ignore[arg-type]
        opened.append(context)
        return context.__enter__()

    yield start
    for context in reversed(opened):
        context.__exit__(None, None, None)  # type: ignore[attr-defined]
