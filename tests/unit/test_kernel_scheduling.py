"""Which waiting call goes next under each scheduling policy, and what the kernel records."""

from __future__ import annotations

import asyncio

import pytest

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.kernel import Kernel, RunLedger
from agorakit.kernel.scheduling import CallQueue, SchedulingPolicy
from agorakit.models import ModelRequest, ScriptedModel
from agorakit.trace import MemorySink, Tracer


async def _order(policy: SchedulingPolicy, holder: dict[str, object], waiters: list[dict[str, object]]) -> list[str]:
    """Who gets the one place, in turn, after ``holder`` and with ``waiters`` queued in this order."""
    queue = CallQueue(1, policy)
    served: list[str] = []
    await queue.acquire(**holder)  # type: ignore[arg-type]

    async def call(name: str, kwargs: dict[str, object]) -> None:
        await queue.acquire(**kwargs)  # type: ignore[arg-type]
        served.append(name)
        await asyncio.sleep(0)
        queue.release()

    tasks = []
    for number, kwargs in enumerate(waiters):
        tasks.append(asyncio.create_task(call(f"{kwargs.get('agent', '')}{number}", kwargs)))
        await asyncio.sleep(0)  # queued in this order
    assert queue.waiting == len(waiters)
    queue.release()
    await asyncio.gather(*tasks)
    assert (queue.in_flight, queue.waiting) == (0, 0)
    return served


async def test_fifo_serves_in_arrival_order() -> None:
    waiters = [{"agent": "x"}, {"agent": "x"}, {"agent": "y"}, {"agent": "z"}]
    assert await _order("fifo", {"agent": "x"}, waiters) == ["x0", "x1", "y2", "z3"]


async def test_round_robin_serves_the_agent_served_least_recently_first() -> None:
    waiters = [{"agent": "x"}, {"agent": "x"}, {"agent": "y"}, {"agent": "z"}]
    assert await _order("round_robin", {"agent": "x"}, waiters) == ["y2", "z3", "x0", "x1"]


async def test_priority_serves_the_highest_first_then_by_arrival() -> None:
    waiters = [{"priority": 0}, {"priority": 5}, {"priority": 1}, {"priority": 5}]
    assert await _order("priority", {}, waiters) == ["1", "3", "2", "0"]


async def test_fair_serves_the_run_granted_fewest_calls_first() -> None:
    waiters = [{"run_id": "a"}, {"run_id": "a"}, {"run_id": "b"}, {"run_id": "c"}]
    assert await _order("fair", {"run_id": "a"}, waiters) == ["2", "3", "0", "1"]


async def test_a_call_cancelled_while_waiting_leaves_its_place_to_the_next() -> None:
    queue = CallQueue(1)
    await queue.acquire(agent="holder")
    gone = asyncio.create_task(queue.acquire(agent="gone"))
    kept = asyncio.create_task(queue.acquire(agent="kept"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    queue.release()
    assert await kept >= 0.0
    assert gone.cancelled()
    assert (queue.in_flight, queue.waiting) == (1, 0)
    assert queue.stats.granted_by_agent == {"holder": 1, "kept": 1}


def test_an_unknown_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown scheduling policy 'lifo'"):
        Kernel(scheduling="lifo")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least one call"):
        CallQueue(0)


class OneAtATime(ScriptedModel):
    """A backend serving one call at once (as an engine with one slot says)."""

    max_concurrency = 1

    def __init__(self) -> None:
        super().__init__(lambda request: "ok")
        self.order: list[str] = []

    async def complete(self, request: ModelRequest):  # type: ignore[no-untyped-def]
        self.order.append(request.messages[-1].content or "")
        await asyncio.sleep(0.01)
        return await super().complete(request)


async def test_the_kernel_orders_waiting_calls_by_its_policy_and_traces_the_wait() -> None:
    model = OneAtATime()
    kernel = Kernel(scheduling="round_robin")
    sink = MemorySink()
    run = RunLedger.create(Tracer("r1", sink))
    calls = [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("c", "c1")]
    await asyncio.gather(
        *(kernel.complete(model, ModelRequest([Message("user", text)]), run=run, agent=agent) for agent, text in calls)
    )
    assert model.order == ["a1", "b1", "c1", "a2", "a3"]
    waits = [r[5]["agorakit.queue.wait_s"] for r in sink.records if r[0] == "span_end"]
    assert waits[0] == 0.0 and all(wait > 0 for wait in waits[1:])
    stats = kernel.queue_stats(model)
    assert stats is not None and stats.granted_by_agent == {"a": 3, "b": 1, "c": 1}
    assert stats.granted_by_run == {"r1": 5}
