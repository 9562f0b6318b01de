"""``agora serve`` as a real process: the embedded model answers the official openai client,
and SIGTERM drains the requests in flight."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

pytestmark = pytest.mark.integration

AGORA = [sys.executable, "-m", "agorakit.cli.main"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    def __init__(self, process: subprocess.Popen[bytes], url: str, key: str) -> None:
        self.process, self.url, self.key = process, url, key


def start(args: list[str], env: dict[str, str], key: str, ready_s: float = 180.0) -> Served:
    port = free_port()
    process = subprocess.Popen(
        [*AGORA, "serve", *args, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"agora serve exited: {process.stdout.read().decode() if process.stdout else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Served(process, url, key)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("agora serve did not answer /health")


@pytest.fixture
def environment(tmp_path: Path, model_cache: Path) -> dict[str, str]:
    env = {**os.environ, "AGORAKIT_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path.cwd() / "src")}
    env.pop("AGORAKIT_MODEL", None)
    return env


@pytest.fixture
def key(environment: dict[str, str]) -> str:
    made = subprocess.run([*AGORA, "keys", "create", "ci"], env=environment, capture_output=True, text=True, check=True)
    return made.stdout.strip()


@pytest.fixture
def embedded(environment: dict[str, str], key: str) -> Iterator[Served]:
    served = start([], environment, key)
    yield served
    served.process.terminate()
    served.process.wait(timeout=60)


def test_the_embedded_agent_answers_the_official_openai_client(embedded: Served) -> None:
    client = openai.OpenAI(base_url=f"{embedded.url}/v1", api_key=embedded.key, max_retries=0, timeout=300)
    assert [m.id for m in client.models.list()] == ["assistant"]
    question = [{"role": "user", "content": "What is 17 * 23?"}]
    completion = client.chat.completions.create(model="assistant", messages=question)  # type: ignore[arg-type]
    assert "391" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.prompt_tokens > 50
    chunks = list(client.chat.completions.create(model="assistant", messages=question, stream=True))  # type: ignore[arg-type]
    assert "391" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"


SLOW_CONFIG = """
from agorakit import Agent
from agorakit.models.scripted import Delay, ScriptedModel

entries = [Agent("slow", ScriptedModel(lambda request: Delay({seconds}, "finished")), trace=True)]
"""


@pytest.mark.parametrize("seconds", [1.5])
def test_sigterm_lets_the_request_in_flight_finish_then_stops(
    environment: dict[str, str], key: str, tmp_path: Path, seconds: float
) -> None:
    config = tmp_path / "slow.py"
    config.write_text(textwrap.dedent(SLOW_CONFIG.format(seconds=seconds)))
    served = start([str(config), "--grace", "20"], environment, key, ready_s=60)
    answers: list[httpx.Response] = []
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
    asking = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{served.url}/v1/chat/completions", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
            )
        )
    )
    asking.start()
    time.sleep(0.5)  # the request is in flight: its model call waits out its delay
    served.process.send_signal(signal.SIGTERM)
    asking.join(timeout=60)
    assert served.process.wait(timeout=60) == -signal.SIGTERM  # uvicorn drains, then re-raises it
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["choices"][0]["message"]["content"] == "finished"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.url}/health", timeout=2)


def test_sigterm_past_the_grace_period_marks_the_run_cancelled_in_the_trace(
    environment: dict[str, str], key: str, tmp_path: Path
) -> None:
    config = tmp_path / "slow.py"
    config.write_text(textwrap.dedent(SLOW_CONFIG.format(seconds=120)))
    served = start([str(config), "--grace", "1"], environment, key, ready_s=60)
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
    asking = threading.Thread(
        target=lambda: httpx.post(
            f"{served.url}/v1/chat/completions", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
        ),
        daemon=True,
    )
    asking.start()
    time.sleep(1.0)
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=60) == -signal.SIGTERM  # uvicorn drains, then re-raises it
    from agorakit.trace.reader import list_runs

    (run,) = list_runs(Path(environment["AGORAKIT_HOME"]) / "traces.db")
    assert (run.status, run.finished) == ("cancelled", True)
