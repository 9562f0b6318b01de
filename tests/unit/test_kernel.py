"""The kernel: retries, timeouts, cancellation, queues, accounting, budgets, tracing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from agorakit.core import errors
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.kernel import NO_RETRY, Budget, Kernel, ManualClock, PriceTable, RetryPolicy, RunLedger
from agorakit.models import Completion, Delay, ModelRequest, ScriptedModel
from agorakit.models.base import StreamChunk
from agorakit.trace import MemorySink, Tracer

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.002)
# Backoff of 1, 2, 4, ... s exactly, for tests on a ManualClock (no real time passes).
EXACT = RetryPolicy(max_attempts=4, initial_backoff=1.0, max_backoff=20.0, jitter=0.0)


def request(text: str = "hi") -> ModelRequest:
    return ModelRequest([Message("user", text)])


def traced_run(budget: Budget | None = None) -> tuple[RunLedger, MemorySink]:
    sink = MemorySink()
    return RunLedger.create(Tracer("run-1", sink), budget), sink


def spans_ended(sink: MemorySink) -> list[tuple]:
    return [r for r in sink.records if r[0] == "span_end"]


def retry_events(sink: MemorySink) -> list[dict]:
    return [r[5] for r in sink.records if r[0] == "event" and r[4] == "retry"]


def on_clock(clock: ManualClock, script: list) -> ScriptedModel:
    """A scripted model whose ``Delay`` items take virtual time on ``clock``."""
    return ScriptedModel(script, sleep=clock.sleep)


async def test_transient_failures_are_retried_until_success() -> None:
    model = ScriptedModel([errors.ModelServerError("boom", status=503), errors.ModelConnectionError("down"), "ok"])
    run, sink = traced_run()
    completion = await Kernel(retry=FAST).complete(model, request(), run=run)
    assert completion.message.content == "ok"
    assert len(model.requests) == 3
    retries = [r for r in sink.records if r[0] == "event" and r[4] == "retry"]
    assert [r[5]["error.type"] for r in retries] == ["ModelServerError", "ModelConnectionError"]
    (end,) = spans_ended(sink)
    assert end[5]["agorakit.attempt"] == 3
    assert end[4] == "ok"


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    model = ScriptedModel([errors.ModelServerError(f"boom {i}", status=500) for i in range(5)])
    with pytest.raises(errors.ModelServerError, match="boom 3"):
        await Kernel(retry=FAST).complete(model, request())
    assert len(model.requests) == 4


async def test_non_transient_errors_are_not_retried() -> None:
    model = ScriptedModel([errors.ModelRequestError("bad request"), "never"])
    run, sink = traced_run()
    with pytest.raises(errors.ModelRequestError):
        await Kernel(retry=FAST).complete(model, request(), run=run)
    assert len(model.requests) == 1
    (end,) = spans_ended(sink)
    assert end[4] == "error"
    assert end[5]["error.type"] == "ModelRequestError"


async def test_backoff_waits_exactly_the_policy_delays_on_the_clock() -> None:
    clock = ManualClock()
    model = ScriptedModel([errors.ModelServerError(f"boom {i}") for i in range(3)] + ["ok"])
    run, sink = traced_run()
    completion = await Kernel(retry=EXACT, clock=clock).complete(model, request(), run=run)
    assert completion.message.content == "ok"
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert clock.now() == 7.0
    assert [(e["agorakit.attempt"], e["agorakit.retry.delay_s"]) for e in retry_events(sink)] == [
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
    ]


async def test_retry_after_is_honoured_with_jitter_on_top() -> None:
    clock = ManualClock()
    model = ScriptedModel([errors.RateLimited("slow down", retry_after=0.3), "ok"])
    policy = RetryPolicy(jitter=0.25, rng=random.Random(5))
    completion = await Kernel(retry=policy, clock=clock).complete(model, request())
    assert completion.message.content == "ok"
    expected = 0.3 * (1 + random.Random(5).uniform(0.0, 0.25))
    assert clock.sleeps == [expected]
    assert 0.3 < expected <= 0.375


async def test_retry_after_beyond_the_cap_is_raised_at_once() -> None:
    model = ScriptedModel([errors.RateLimited("come back in an hour", retry_after=3600), "ok"])
    with pytest.raises(errors.RateLimited, match="an hour"):
        await Kernel(retry=FAST).complete(model, request())
    assert len(model.requests) == 1


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=5.0, jitter=0.0)
    error = errors.ModelServerError("x")
    assert [policy.delay(n, error) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittered = RetryPolicy(initial_backoff=1.0, jitter=0.5)
    assert all(1.0 <= jittered.delay(1, error) <= 1.5 for _ in range(50))


def test_retry_after_gets_upward_jitter_from_the_policy_rng() -> None:
    limited = errors.RateLimited("429", retry_after=2.0)
    policy = RetryPolicy(jitter=0.25, rng=random.Random(42))
    draws = random.Random(42)
    delays = [policy.delay(1, limited) for _ in range(5)]
    assert delays == [2.0 * (1.0 + draws.uniform(0.0, 0.25)) for _ in range(5)]
    assert all(2.0 <= d <= 2.5 for d in delays)  # never earlier than the server asked
    assert len(set(delays)) == 5
    assert RetryPolicy(jitter=0.0).delay(1, limited) == 2.0
    assert RetryPolicy(jitter=0.25).delay(1, errors.RateLimited("429", retry_after=0.0)) == 0.0
    # max_retry_after judges the server's figure, before jitter.
    at_cap = errors.RateLimited("429", retry_after=60.0)
    assert RetryPolicy(max_retry_after=60.0).should_retry(1, at_cap)
    assert not RetryPolicy(max_retry_after=59.9).should_retry(1, at_cap)


@pytest.mark.parametrize(("jitter", "distinct"), [(0.25, 16), (0.0, 1)])
async def test_agents_rate_limited_together_come_back_at_spread_times(jitter: float, distinct: int) -> None:
    # 16 agents behind one endpoint all get 429 Retry-After: 1. Without jitter on the
    # Retry-After they all retry at the same instant, and are rate limited again.
    clock = ManualClock()
    retried_at: list[float] = []

    def answer(_: ModelRequest) -> str | BaseException:
        if len(model.requests) <= 16:
            return errors.RateLimited("429", retry_after=1.0)
        retried_at.append(clock.now())
        return "ok"

    model = ScriptedModel(answer)
    policy = RetryPolicy(jitter=jitter, rng=random.Random(10))
    kernel = Kernel(retry=policy, clock=clock, concurrency={"scripted": 16})
    results = await asyncio.gather(*(kernel.complete(model, request()) for _ in range(16)))
    assert [r.message.content for r in results] == ["ok"] * 16
    draws = random.Random(10)
    expected = sorted(1.0 * (1.0 + draws.uniform(0.0, jitter)) for _ in range(16))
    assert sorted(clock.sleeps) == expected
    assert retried_at == pytest.approx(expected)  # each retry at its own virtual time, in order
    assert len(set(retried_at)) == distinct
    assert min(retried_at) >= 1.0
    if jitter:
        assert max(retried_at) - min(retried_at) >= 0.1
        assert max(retried_at) <= 1.25


async def test_a_slow_call_times_out_with_a_typed_error() -> None:
    model = ScriptedModel([Delay(5.0, "late")])
    with pytest.raises(errors.ModelTimeout, match=r"within 0\.05s"):
        await Kernel(retry=NO_RETRY, timeout=0.05).complete(model, request())


async def test_an_attempt_cut_off_by_the_attempt_timeout_is_retried_within_the_total() -> None:
    clock = ManualClock()
    model = on_clock(clock, [Delay(5.0, "late"), "fast"])
    kernel = Kernel(retry=EXACT, timeout=30.0, attempt_timeout=0.05, clock=clock)
    completion = await kernel.complete(model, request())
    assert completion.message.content == "fast"
    assert len(model.requests) == 2
    assert clock.now() == pytest.approx(1.05)  # the cut-off attempt, then 1 s of backoff
    assert completion.usage.latency_s == 0.0  # the second attempt's own time


async def test_the_timeout_bounds_the_whole_call_not_each_attempt() -> None:
    # Before, the timeout was per attempt: a hung model was tried max_attempts (4) times, 4x the timeout.
    clock = ManualClock()
    model = on_clock(clock, [Delay(5.0, "late")] * 4 + ["never reached"])
    with pytest.raises(
        errors.ModelTimeout, match=r"within 0\.2s \(the call's timeout, retries included\); attempts made: 1"
    ):
        await Kernel(retry=EXACT, timeout=0.2, clock=clock).complete(model, request())
    assert len(model.requests) == 1
    assert clock.now() == pytest.approx(0.2)


async def test_attempts_and_backoffs_all_count_against_the_total() -> None:
    # Each attempt fails after 3 s: 3 + 1 (backoff) + 3 + 2 (backoff) = 9 s, so attempt 3 has 1 s left.
    clock = ManualClock()
    model = on_clock(clock, [Delay(3.0, errors.ModelServerError(f"boom {i}")) for i in range(4)])
    run, sink = traced_run()
    with pytest.raises(
        errors.ModelTimeout, match=r"within 10\.0s \(the call's timeout, retries included\); attempts made: 3"
    ):
        await Kernel(retry=EXACT, timeout=10.0, clock=clock).complete(model, request(), run=run)
    assert len(model.requests) == 3
    assert clock.sleeps == [3.0, 1.0, 3.0, 2.0, 3.0]  # model, backoff, model, backoff, model (cut off)
    assert clock.now() == pytest.approx(10.0)
    assert [e["error.type"] for e in retry_events(sink)] == ["ModelServerError", "ModelServerError"]


async def test_time_queued_behind_other_calls_does_not_count() -> None:
    # One call at a time; each takes 0.8 s. The 4th waits 2.4 s in the queue, well past the 1 s timeout.
    clock = ManualClock()
    model = on_clock(clock, [Delay(0.8, f"answer {i}") for i in range(4)])
    kernel = Kernel(retry=NO_RETRY, timeout=1.0, clock=clock, concurrency={"scripted": 1})
    results = await asyncio.gather(*(kernel.complete(model, request()) for _ in range(4)))
    assert [r.message.content for r in results] == [f"answer {i}" for i in range(4)]
    assert clock.now() == pytest.approx(3.2)


async def test_a_retry_whose_backoff_would_outlast_the_timeout_is_not_made() -> None:
    clock = ManualClock()
    slow_backoff = RetryPolicy(max_attempts=4, initial_backoff=60.0, max_backoff=60.0, jitter=0.0)
    model = on_clock(clock, [Delay(5.0, "late"), "fast"])
    kernel = Kernel(retry=slow_backoff, timeout=5.0, attempt_timeout=0.05, clock=clock)
    with pytest.raises(errors.ModelTimeout, match=r"within 0\.05s \(the per-attempt timeout\); attempts made: 1"):
        await kernel.complete(model, request())
    assert len(model.requests) == 1
    assert clock.now() == pytest.approx(0.05)  # failed at once, not after waiting out the 5 s


async def test_a_transient_error_whose_retry_after_outlasts_the_timeout_is_raised_at_once() -> None:
    clock = ManualClock()
    model = ScriptedModel([errors.RateLimited("slow down", retry_after=30.0), "ok"])
    with pytest.raises(errors.RateLimited, match="slow down"):
        await Kernel(retry=FAST, timeout=5.0, clock=clock).complete(model, request())
    assert len(model.requests) == 1
    assert (clock.sleeps, clock.now()) == ([], 0.0)


async def test_a_stream_that_hangs_fails_within_the_total_timeout_after_one_attempt() -> None:
    clock = ManualClock()
    model = on_clock(clock, [Delay(5.0, "late")] * 4 + ["never reached"])
    with pytest.raises(
        errors.ModelTimeout, match=r"stream did not answer within 0\.2s \(the call's timeout, retries included\)"
    ):
        async for _ in Kernel(retry=EXACT, timeout=0.2, clock=clock).stream(model, request()):
            pass
    assert len(model.requests) == 1
    assert clock.now() == pytest.approx(0.2)


async def test_stream_time_between_chunks_is_the_callers_and_does_not_count() -> None:
    clock = ManualClock()
    model = on_clock(clock, [Delay(0.5, "one two three")])
    deltas = []
    async for chunk in Kernel(retry=NO_RETRY, timeout=1.0, clock=clock).stream(model, request()):
        deltas.append(chunk.delta)
        clock.advance(10.0)  # the caller is slow: 10 s per chunk, far past the 1 s timeout
    assert deltas == ["one ", "two ", "three", ""]
    assert clock.now() == pytest.approx(40.5)


async def test_stream_attempts_retry_before_the_first_chunk_with_backoff() -> None:
    clock = ManualClock()
    model = on_clock(clock, [Delay(0.25, errors.ModelTimeout("slow")), errors.ModelConnectionError("down"), "hi"])
    run, sink = traced_run()
    chunks = [c async for c in Kernel(retry=EXACT, clock=clock).stream(model, request(), run=run)]
    assert [c.delta for c in chunks] == ["hi", ""]
    assert clock.sleeps == [0.25, 1.0, 2.0]
    assert [(e["agorakit.attempt"], e["error.type"]) for e in retry_events(sink)] == [
        (1, "ModelTimeout"),
        (2, "ModelConnectionError"),
    ]
    (end,) = spans_ended(sink)
    assert (end[5]["agorakit.attempt"], end[5]["agorakit.stream"]) == (3, True)
    assert run.usage.calls == 1


class DropsAfterFirstChunk(ScriptedModel):
    """A stream that shows some text, then loses its connection."""

    def __init__(self) -> None:
        super().__init__(["never used"])

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        self.requests.append(request)
        yield StreamChunk(delta="partial ")
        raise errors.ModelConnectionError("connection dropped")


async def test_a_stream_failure_after_the_first_chunk_is_not_retried() -> None:
    clock = ManualClock()
    model = DropsAfterFirstChunk()
    run, sink = traced_run()
    deltas = []
    with pytest.raises(errors.ModelConnectionError, match="connection dropped"):
        async for chunk in Kernel(retry=EXACT, clock=clock).stream(model, request(), run=run):
            deltas.append(chunk.delta)
    assert deltas == ["partial "]
    assert len(model.requests) == 1
    assert (clock.sleeps, retry_events(sink)) == ([], [])
    (end,) = spans_ended(sink)
    assert (end[4], end[5]["error.type"]) == ("error", "ModelConnectionError")


async def test_cancellation_propagates_and_is_traced() -> None:
    model = ScriptedModel([Delay(10.0, "never")])
    run, sink = traced_run()
    task = asyncio.create_task(Kernel().complete(model, request(), run=run))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (end,) = spans_ended(sink)
    assert (end[4], "error.type" in end[5]) == ("cancelled", False)


class CountingModel(ScriptedModel):
    def __init__(self) -> None:
        super().__init__(lambda r: "done")
        self.in_flight = 0
        self.peak = 0

    async def complete(self, request: ModelRequest) -> Completion:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return await super().complete(request)


async def test_concurrency_limit_per_backend_queue() -> None:
    model = CountingModel()
    kernel = Kernel(concurrency={"scripted": 2})
    results = await asyncio.gather(*(kernel.complete(model, request()) for _ in range(6)))
    assert [r.message.content for r in results] == ["done"] * 6
    assert model.peak == 2


async def test_a_model_that_serves_n_at_once_gets_n_at_once_unless_the_caller_chose() -> None:
    engine = CountingModel()
    engine.max_concurrency = 3  # type: ignore[attr-defined]  # as an engine with 3 slots says
    kernel = Kernel()
    await asyncio.gather(*(kernel.complete(engine, request()) for _ in range(7)))
    assert engine.peak == 3
    chosen = CountingModel()
    chosen.max_concurrency = 3  # type: ignore[attr-defined]
    kernel = Kernel(concurrency={"scripted": 1})
    await asyncio.gather(*(kernel.complete(chosen, request()) for _ in range(4)))
    assert chosen.peak == 1


async def test_cached_input_tokens_are_summed_and_traced() -> None:
    reply = Message("assistant", "x")
    model = ScriptedModel(lambda r: Completion(reply, Usage(1, 100, 5, cached_input_tokens=80)))
    run, sink = traced_run()
    kernel = Kernel()
    await kernel.complete(model, request(), run=run)
    await kernel.complete(model, request(), run=run)
    assert (run.usage.input_tokens, run.usage.cached_input_tokens) == (200, 160)
    assert [end[5]["gen_ai.usage.cache_read.input_tokens"] for end in spans_ended(sink)] == [80, 80]


async def test_unlimited_queue_runs_all_at_once() -> None:
    model = CountingModel()
    await asyncio.gather(*(Kernel().complete(model, request()) for _ in range(5)))
    assert model.peak == 5


def test_kernel_survives_a_new_event_loop_per_call() -> None:
    kernel = Kernel(concurrency={"scripted": 1})
    model = ScriptedModel(["a", "b"])
    assert asyncio.run(kernel.complete(model, request())).message.content == "a"
    assert asyncio.run(kernel.complete(model, request())).message.content == "b"


def hosted_model(usage: Usage) -> ScriptedModel:
    reply = Message("assistant", "x")
    model = ScriptedModel(lambda r: Completion(reply, Usage(1, usage.input_tokens, usage.output_tokens)))
    model.model_name = "gpt-4o-mini-2024-07-18"
    model.hosted = True
    return model


async def test_usage_and_cost_are_accounted_per_call_agent_and_run() -> None:
    model = hosted_model(Usage(input_tokens=1000, output_tokens=2000))
    run, sink = traced_run()
    kernel = Kernel()
    await kernel.complete(model, request(), run=run, agent="alice")
    await kernel.complete(model, request(), run=run, agent="bob")
    await kernel.complete(model, request(), run=run, agent="alice")
    per_call = (1000 * 0.15 + 2000 * 0.60) / 1_000_000
    assert run.usage.calls == 3
    assert run.usage.input_tokens == 3000
    assert run.usage.output_tokens == 6000
    assert run.usage.cost_usd == pytest.approx(3 * per_call)
    assert run.usage_by_agent["alice"].calls == 2
    assert run.usage_by_agent["bob"].output_tokens == 2000
    end = spans_ended(sink)[0][5]
    assert end["gen_ai.usage.input_tokens"] == 1000
    assert end["gen_ai.usage.output_tokens"] == 2000
    assert end["agorakit.usage.cost_usd"] == pytest.approx(per_call)
    assert end["gen_ai.request.model"] == "gpt-4o-mini-2024-07-18"
    assert end["gen_ai.operation.name"] == "chat"
    assert end["gen_ai.agent.name"] == "alice"


def test_price_table_prefers_the_longest_prefix_and_local_is_free() -> None:
    table = PriceTable({"my-model": (1.0, 2.0)})
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("gpt-4o-mini", usage, hosted=True) == pytest.approx(0.75)
    assert table.cost("gpt-4o", usage, hosted=True) == pytest.approx(12.5)
    assert table.cost("my-model-v2", usage, hosted=True) == pytest.approx(3.0)
    assert table.cost("gpt-4o", usage, hosted=False) == 0.0
    assert table.cost("unknown", usage, hosted=True) == 0.0


async def test_call_budget_stops_before_the_call() -> None:
    model = ScriptedModel(["1", "2", "3"])
    run, _ = traced_run(Budget(max_calls=2))
    kernel = Kernel()
    await kernel.complete(model, request(), run=run)
    await kernel.complete(model, request(), run=run)
    with pytest.raises(errors.BudgetExceeded, match="2 model calls of 2") as caught:
        await kernel.complete(model, request(), run=run)
    assert caught.value.limit == "calls"
    assert len(model.requests) == 2


async def test_token_and_cost_budgets() -> None:
    model = hosted_model(Usage(input_tokens=10, output_tokens=5))
    run, _ = traced_run(Budget(max_tokens=20))
    await Kernel().complete(model, request(), run=run)
    await Kernel().complete(model, request(), run=run)
    with pytest.raises(errors.BudgetExceeded) as caught:
        await Kernel().complete(model, request(), run=run)
    assert (caught.value.limit, caught.value.used, caught.value.allowed) == ("tokens", 30, 20)

    expensive = hosted_model(Usage(input_tokens=1_000_000, output_tokens=0))
    run, _ = traced_run(Budget(max_cost_usd=0.10))
    await Kernel().complete(expensive, request(), run=run)
    with pytest.raises(errors.BudgetExceeded, match=r"\$0.1500 of \$0.1000"):
        await Kernel().complete(expensive, request(), run=run)


async def test_stream_yields_deltas_then_the_completion_and_accounts_it() -> None:
    model = ScriptedModel([errors.ModelServerError("first try fails"), "hello there world"])
    run, _ = traced_run()
    chunks = [c async for c in Kernel(retry=FAST).stream(model, request(), run=run)]
    assert "".join(c.delta for c in chunks).split() == ["hello", "there", "world"]
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.message.content == "hello there world"
    assert run.usage.calls == 1
