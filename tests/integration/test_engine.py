"""The local engine (llama-server built by ./scripts/setup) with the embedded model: many agents
at once, grammar-constrained outputs, a crash mid-run, and one engine shared by processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agorakit import Agent, tool
from agorakit.core.errors import ContextWindowExceeded
from agorakit.core.messages import Message
from agorakit.models.base import ModelRequest, Sampling
from agorakit.models.engine import build
from agorakit.models.engine.server import Engine
from agorakit.models.llamacpp_server import LlamaServerModel
from agorakit.models.uri import resolve_model

pytestmark = pytest.mark.integration

ENGINE = "llamacpp:gemma-3-270m?engine=server"


@pytest.fixture(scope="module")
def started_home(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private agorakit home (so a private engine), the engine started once for the module."""
    assert build.is_built(), "the engine is not built: ./scripts/setup builds it"
    home = tmp_path_factory.mktemp("engine-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGORAKIT_HOME", str(home))
        model = resolve_model(ENGINE)
        assert isinstance(model, LlamaServerModel)
        model.load()
    yield home
    model.engine.stop()


@pytest.fixture
def engine_home(started_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's engine home, for this test (every test otherwise gets a home of its own)."""
    monkeypatch.setenv("AGORAKIT_HOME", str(started_home))
    return started_home


def _engine() -> Engine:
    model = resolve_model(ENGINE)
    assert isinstance(model, LlamaServerModel)
    return model.engine


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_sixteen_agents_at_once_all_make_valid_tool_calls(engine_home: Path) -> None:
    agents = [
        Agent(f"calc{i}", ENGINE, instructions="You are a calculator. Always use the add tool.", tools=[add],
              max_steps=2, trace=False)
        for i in range(16)
    ]  # fmt: skip
    results = await asyncio.gather(*(a.run(f"What is {10 + i} + {3 * i + 7}?") for i, a in enumerate(agents)))
    assert len(results) == 16
    for result in results:
        calls = [call for message in result.messages for call in message.tool_calls]
        assert calls, result.messages
        answers = {m.tool_call_id: m.content for m in result.messages if m.role == "tool"}
        for call in calls:
            assert call.name == "add"
            args = call.arguments if isinstance(call.arguments, dict) else json.loads(call.arguments)
            assert set(args) == {"a", "b"} and all(isinstance(v, int) for v in args.values()), args
            assert answers[call.id] == str(args["a"] + args["b"])  # validated, run, answered
    # Sixteen calls shared the engine's slots: the same instructions were read from the cache.
    assert sum(r.usage.cached_input_tokens for r in results) > 0


class City(BaseModel):
    name: str
    country: str
    population_millions: float


async def test_typed_outputs_through_the_engine_are_valid(engine_home: Path) -> None:
    agent = Agent("geo", ENGINE, instructions="You answer with facts about cities.", output_type=City, trace=False)
    results = await asyncio.gather(*(agent.run(f"Describe {c}.") for c in ["Paris", "Tokyo", "Cairo", "Lima"]))
    for result in results:
        assert result.stop_reason == "final_answer", result.error
        assert isinstance(result.output, City)
        assert result.output.name and result.output.country


async def test_integers_the_schema_bounds_stay_within_their_bounds(engine_home: Path) -> None:
    # The engine converts a schema with bounds itself (the Python converter drops them).
    from agorakit.sim import Simulation
    from agorakit.sim.scenarios import GuessTwoThirds

    scenario = GuessTwoThirds()
    result = await Simulation(scenario, agents=16, rounds=1, model=ENGINE, concurrency=16, trace=False).run()
    assert (result.rounds[0]["acted"], result.rounds[0]["failed"]) == (16, 0)
    assert 0 <= result.rounds[0]["average"] <= 100 and float(result.rounds[0]["winning_guess"]).is_integer()


async def test_agents_sampling_one_prompt_together_each_reuse_their_own_conversation(engine_home: Path) -> None:
    model = resolve_model(ENGINE)
    # A debate: three agents answer one prompt no slot has seen, then each is asked again after its answer.
    task = f"Ticket {uuid.uuid4().hex}: Janet has 3 apples and buys 5 more. How many apples does she have?"
    sampling = Sampling(max_tokens=24, temperature=1.0)
    histories = [[Message("user", task)] for _ in range(3)]
    first = await asyncio.gather(*(model.complete(ModelRequest(h, sampling=sampling)) for h in histories))
    assert all(c.message.content and c.usage.output_tokens > 0 for c in first)
    for index, (history, completion) in enumerate(zip(histories, first, strict=True)):
        history += [completion.message, Message("user", f"Agent {index}: check your answer once more.")]
    second = await asyncio.gather(*(model.complete(ModelRequest(h, sampling=sampling)) for h in histories))
    # Each call kept its own slot, so an agent's first prompt and (most of) its answer are read
    # from cache. Which slot a call lands on is the server's choice, and when answers start
    # alike it can hand one agent's slot to another; one request for three samples would leave
    # only one agent its conversation.
    reused = [
        after.usage.cached_input_tokens >= before.usage.input_tokens + before.usage.output_tokens // 2
        for before, after in zip(first, second, strict=True)
    ]
    assert sum(reused) >= 2, [c.usage for c in second]


async def test_identical_greedy_calls_made_together_share_one_answer(engine_home: Path) -> None:
    model = resolve_model(ENGINE)
    task = f"Ticket {uuid.uuid4().hex}: name three colours of the rainbow."
    request = ModelRequest([Message("user", task)], sampling=Sampling(max_tokens=24, temperature=0.0))
    completions = await asyncio.gather(*(model.complete(request) for _ in range(3)))
    alone = await model.complete(request)  # the same request by itself: the same answer
    assert [c.message.content for c in completions] == [alone.message.content] * 3
    computed = sorted(c.usage.input_tokens - c.usage.cached_input_tokens for c in completions)
    assert computed[:2] == [0, 0] and computed[2] > 0


def _engine_pid(home: Path) -> int:
    """The pid recorded for the default engine in ``home``."""
    state = json.loads(_engine().state_path.read_text())
    assert _engine().state_path.parent == home / "engine"
    return int(state["pid"])


async def test_a_run_survives_the_engine_killed_mid_call(engine_home: Path) -> None:
    engine = _engine()
    restarts = engine.restarts
    old = _engine_pid(engine_home)
    agents = [
        Agent(f"w{i}", ENGINE, instructions="You write long essays.", sampling=Sampling(max_tokens=160), trace=False)
        for i in range(4)
    ]
    runs = [asyncio.create_task(a.run(f"Essay {i}: write about the sea.")) for i, a in enumerate(agents)]
    await asyncio.sleep(0.6)  # all four are decoding now
    os.kill(old, signal.SIGKILL)
    results = await asyncio.gather(*runs)
    assert [r.stop_reason for r in results] == ["final_answer"] * 4, [r.error for r in results]
    assert all(r.output for r in results)
    assert engine.restarts == restarts + 1
    assert _engine_pid(engine_home) != old


def test_another_process_uses_the_same_engine(engine_home: Path) -> None:
    url = _engine().url()
    pid = _engine_pid(engine_home)
    code = (
        "from agorakit.models.uri import resolve_model\n"
        f"print(resolve_model({ENGINE!r}).engine.url())\n"
    )  # fmt: skip
    env = {**os.environ, "AGORAKIT_HOME": str(engine_home)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == url
    assert _engine_pid(engine_home) == pid  # found, not started again


async def test_text_streams_from_the_engine_before_the_completion_ends(engine_home: Path) -> None:
    model = resolve_model(ENGINE)
    request = ModelRequest([Message("user", "Write a long story about a fox.")], sampling=Sampling(max_tokens=40))
    seen: list[str] = []
    async for chunk in model.stream(request):
        if chunk.delta:
            seen.append("delta")
        if chunk.completion is not None:
            seen.append("completion")
            assert chunk.completion.usage.output_tokens == 40
    assert seen.count("delta") >= 5 and seen[-1] == "completion" and seen.count("completion") == 1


async def test_a_prompt_over_a_slots_context_is_a_context_window_error(engine_home: Path) -> None:
    model = resolve_model("llamacpp:gemma-3-270m?engine=server&slots=2&n_ctx=256")
    try:
        with pytest.raises(ContextWindowExceeded, match="256"):
            await model.complete(ModelRequest([Message("user", "word " * 400)]))
    finally:
        assert isinstance(model, LlamaServerModel)
        model.engine.stop()


def test_the_engine_dies_with_the_process_that_started_it_even_after_kill_9(
    model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))  # this test's home, and its child's
    code = (
        "import sys\n"
        "from agorakit.models.uri import resolve_model\n"
        f"resolve_model({ENGINE!r}).engine.url()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"  # lives until killed
    )
    env = {**os.environ, "AGORAKIT_HOME": str(tmp_path / "home")}
    owner = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        engine = _engine_pid(tmp_path / "home")
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(engine)
    finally:
        owner.kill()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: its parent is gone and init has not reaped it yet.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False
