"""Identical requests made together are sent once, for as many results as callers."""

from __future__ import annotations

import asyncio

import pytest

from agorakit.models.coalesce import Coalescer


class Server:
    def __init__(self, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.requests: list[tuple[str, int]] = []
        self.delay = delay
        self.fail = fail
        self.cancelled = 0

    def send(self, key: str):
        async def send(n: int) -> list[str]:
            self.requests.append((key, n))
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            if self.fail is not None:
                raise self.fail
            return [f"{key}#{index}" for index in range(n)]

        return send


async def test_calls_made_together_with_one_key_are_one_request_with_a_result_each() -> None:
    server, coalescer = Server(), Coalescer[str](window=0.01, limit=16)
    results = await asyncio.gather(*(coalescer.run(key, server.send(key)) for key in ["a", "a", "b", "a"]))
    assert sorted(server.requests) == [("a", 3), ("b", 1)]
    assert results == ["a#0", "a#1", "b#0", "a#2"]


async def test_a_call_after_the_window_is_a_request_of_its_own() -> None:
    server, coalescer = Server(), Coalescer[str](window=0.01, limit=16)
    first = asyncio.ensure_future(coalescer.run("a", server.send("a")))
    await asyncio.sleep(0.05)
    second = await coalescer.run("a", server.send("a"))
    assert (await first, second) == ("a#0", "a#0")
    assert server.requests == [("a", 1), ("a", 1)]


async def test_a_full_group_sends_and_later_callers_start_another() -> None:
    server, coalescer = Server(), Coalescer[str](window=0.01, limit=2)
    await asyncio.gather(*(coalescer.run("a", server.send("a")) for _ in range(5)))
    assert server.requests == [("a", 2), ("a", 2), ("a", 1)]


async def test_a_failure_reaches_every_caller_of_the_group() -> None:
    server, coalescer = Server(fail=ConnectionError("engine gone")), Coalescer[str](window=0.01, limit=16)
    outcomes = await asyncio.gather(*(coalescer.run("a", server.send("a")) for _ in range(3)), return_exceptions=True)
    assert [str(outcome) for outcome in outcomes] == ["engine gone"] * 3
    assert server.requests == [("a", 3)]


async def test_one_caller_cancelled_leaves_the_others_their_results() -> None:
    server, coalescer = Server(delay=0.05), Coalescer[str](window=0.01, limit=16)
    calls = [asyncio.ensure_future(coalescer.run("a", server.send("a"))) for _ in range(3)]
    await asyncio.sleep(0.02)  # sent, not yet answered
    calls[1].cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert done[0] == "a#0" and done[2] == "a#2"
    assert isinstance(done[1], asyncio.CancelledError)
    assert server.cancelled == 0


async def test_every_caller_cancelled_stops_the_request() -> None:
    server, coalescer = Server(delay=5.0), Coalescer[str](window=0.01, limit=16)
    calls = [asyncio.ensure_future(coalescer.run("a", server.send("a"))) for _ in range(2)]
    await asyncio.sleep(0.02)
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert server.cancelled == 1


async def test_callers_cancelled_before_sending_send_nothing() -> None:
    server, coalescer = Server(), Coalescer[str](window=0.05, limit=16)
    call = asyncio.ensure_future(coalescer.run("a", server.send("a")))
    await asyncio.sleep(0)
    call.cancel()
    await asyncio.sleep(0.1)
    assert server.requests == []


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer[str](window=0.01, limit=0)
