"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

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
