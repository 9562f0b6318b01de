"""The kernel's clocks: ManualClock's virtual time (sleeps, timeouts, advance) and the real one."""

from __future__ import annotations

import asyncio

import pytest

from agorakit.kernel import Clock, ManualClock, SystemClock


async def test_concurrent_sleepers_wake_in_deadline_order_at_their_deadlines() -> None:
    clock = ManualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    await asyncio.gather(sleeper("c", 3.0), sleeper("a", 1.0), sleeper("b", 2.0))
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.sleeps == [3.0, 1.0, 2.0]
    assert clock.now() == 3.0


async def test_sleeps_in_sequence_add_up() -> None:
    clock = ManualClock(start=100.0)
    await clock.sleep(0.5)
    await clock.sleep(0.0)
    await clock.sleep(1.5)
    assert (clock.now(), clock.sleeps) == (102.0, [0.5, 0.0, 1.5])


async def test_a_timeout_fires_at_its_virtual_deadline() -> None:
    clock = ManualClock()
    with pytest.raises(TimeoutError):
        async with clock.timeout(0.5):
            await clock.sleep(10.0)
    assert clock.now() == 0.5
    async with clock.timeout(2.0):  # the body ends first: no timeout
        await clock.sleep(1.0)
    assert clock.now() == 1.5
    async with clock.timeout(None):
        await clock.sleep(7.0)
    assert clock.now() == 8.5
    with pytest.raises(TimeoutError):
        async with clock.timeout(0.0):
            await clock.sleep(1.0)
    assert clock.now() == 8.5


async def test_advance_moves_time_and_wakes_the_sleepers_due() -> None:
    clock = ManualClock(settle=1_000_000)  # the loop never "goes quiet": only advance() moves time
    task = asyncio.create_task(clock.sleep(5.0))
    await asyncio.sleep(0)
    clock.advance(2.0)
    await asyncio.sleep(0)
    assert (task.done(), clock.now()) == (False, 2.0)
    clock.advance(3.0)
    await asyncio.sleep(0)
    assert (task.done(), clock.now()) == (True, 5.0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)


async def test_a_cancelled_sleeper_does_not_hold_time_back() -> None:
    clock = ManualClock()
    long = asyncio.create_task(clock.sleep(100.0))
    await asyncio.sleep(0)
    long.cancel()
    await clock.sleep(1.0)
    assert clock.now() == 1.0
    assert long.cancelled()


async def test_the_system_clock_is_real_time() -> None:
    clock: Clock = SystemClock()
    started = clock.now()
    await clock.sleep(0.01)
    assert clock.now() - started >= 0.01
    with pytest.raises(TimeoutError):
        async with clock.timeout(0.01):
            await asyncio.sleep(1.0)
