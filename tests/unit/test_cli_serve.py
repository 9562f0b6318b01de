"""`agora keys` and `agora serve`, through the real entry point in subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGORAKIT_", "OPENAI_"))}
    return {**clean, "AGORAKIT_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "250"}


def agora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_keys_are_created_once_listed_with_their_limits_and_revoked(env: dict[str, str], tmp_path: Path) -> None:
    made = agora(env, "keys", "create", "partner", "--rpm", "60", "--tokens", "1000")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("ak-")
    assert key not in (tmp_path / "home" / "server.db").read_bytes().decode("latin-1")
    again = agora(env, "keys", "create", "partner")
    assert again.returncode == 2 and "exists already" in again.stderr
    listed = agora(env, "keys", "list").stdout
    assert "partner" in listed and "live" in listed and "0 / 1000" in listed and key not in listed
    assert agora(env, "keys", "revoke", "partner").stdout.strip() == "revoked partner"
    assert "revoked" in agora(env, "keys", "list").stdout
    gone = agora(env, "keys", "revoke", "partner")
    assert gone.returncode == 2 and "no live key is named 'partner'" in gone.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--no-auth", "--host", "0.0.0.0"], "only for a loopback"),
        (["--on-disconnect", "later"], "use cancel or continue"),
        (["--method", "no_such_method"], "no_such_method"),
        (["missing.yaml"], "no serve config at missing.yaml"),
    ],
)
def test_serve_refuses_what_it_cannot_do_before_listening(env: dict[str, str], args: list[str], says: str) -> None:
    refused = agora(env, "serve", *args)
    assert refused.returncode == 2
    assert says in refused.stderr


def test_serve_with_no_key_creates_one_prints_it_and_accepts_it(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "say.yaml"
    script.write_text("responses:\n  - text: hello\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "agorakit.cli.main", "serve", "--model", f"scripted:{script}", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert httpx.get(f"{url}/v1/models").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    # uvicorn stops gracefully, then ends by the signal it caught, as a process killed by it would.
    assert process.returncode == -signal.SIGTERM and "Traceback" not in err
    printed = next(line for line in err.splitlines() if "created key default" in line)
    key = printed.rsplit(" ", 1)[-1]
    assert key.startswith("ak-")
    assert f"Serving assistant at http://127.0.0.1:{port}" in err
