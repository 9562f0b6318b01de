"""`agora trace open`: a run's viewer page in the browser, from a running `agora serve`."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from agorakit import Agent, ScriptedModel
from agorakit.cli import trace_cmd
from agorakit.core.errors import ConfigError
from agorakit.trace.store import open_store


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the command asked the browser to open (no browser is started)."""
    pages: list[str] = []

    def record(url: str) -> bool:
        pages.append(url)
        return True

    monkeypatch.setattr("webbrowser.open", record)
    return pages


def test_open_shows_the_run_in_the_running_server(serve: Callable[..., Any], tmp_path: Path, opened: list[str]) -> None:
    trace_db = tmp_path / "traces.db"
    result = Agent("echo", ScriptedModel(["hi there"]), trace=trace_db).run_sync("say hi")
    open_store(trace_db).flush()
    server = serve([], trace_db=trace_db)

    ran = CliRunner().invoke(trace_cmd.app, ["open", result.run_id, "--url", server.url + "/"])
    assert ran.exit_code == 0, ran.output
    page = f"{server.url}/ui/runs/{result.run_id}"
    assert ran.output.strip() == page
    assert opened == [page]
    shown = httpx.get(page, cookies={"agorakit_key": server.key})
    assert shown.status_code == 200 and "say hi" in shown.text

    ran = CliRunner().invoke(trace_cmd.app, ["open", "last", "--url", server.url])
    assert ran.exit_code == 0, ran.output
    assert opened[-1] == f"{server.url}/ui/runs/last"
    last = httpx.get(opened[-1], cookies={"agorakit_key": server.key})
    assert (last.status_code, last.headers["location"]) == (302, f"/ui/runs/{result.run_id}")


def test_open_without_a_server_says_how_to_start_one(opened: list[str]) -> None:
    url = f"http://127.0.0.1:{_unused_port()}"
    ran = CliRunner().invoke(trace_cmd.app, ["open", "last", "--url", url])
    assert isinstance(ran.exception, ConfigError)
    assert ran.exception.message == f"no agorakit server answers at {url}"
    assert ran.exception.hint is not None and "`agora serve`" in ran.exception.hint
    assert opened == []


def test_open_refuses_what_is_not_a_web_address(opened: list[str]) -> None:
    ran = CliRunner().invoke(trace_cmd.app, ["open", "last", "--url", "file:///etc/passwd"])
    assert isinstance(ran.exception, ConfigError)
    assert ran.exception.message == "--url 'file:///etc/passwd' is not an http(s) address"
    assert opened == []
