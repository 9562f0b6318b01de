"""The kernel: retries, timeouts, cancellation, queues, accounting, budgets, tracing."""

from __future__ import annotations

import asyncio
import time

import pytest

from agorakit.core import errors
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.kernel import NO_RETRY, Budget, Kernel, PriceTable, RetryPolicy, RunLedger
from agorakit.models import Completion, Delay, ModelRequest, ScriptedModel
from agorakit.trace import MemorySink, Tracer

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.002)


def request(text: str = "hi") -> ModelRequest:
    return ModelRequest([Message("user", text)])


def traced_run(budget: Budget | None = None) -> tuple[RunLedger, MemorySink]:
    sink = MemorySink()
    return RunLedger.create(Tracer("run-1", sink), budget), sink


def spans_ended(sink: MemorySink) -> list[tuple]:
    return [r for r in sink.records if r[0] == "span_end"]


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


async def test_retry_after_is_honoured() -> None:
    model = ScriptedModel([errors.RateLimited("slow down", retry_after=0.3), "ok"])
    started = time.monotonic()
    completion = await Kernel(retry=FAST).complete(model, request())
    assert completion.message.content == "ok"
    assert time.monotonic() - started >= 0.3


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


async def test_a_slow_call_times_out_with_a_typed_error() -> None:
    model = ScriptedModel([Delay(5.0, "late")])
    with pytest.raises(errors.ModelTimeout, match=r"within 0\.05s"):
        await Kernel(retry=NO_RETRY, timeout=0.05).complete(model, request())


async def test_an_attempt_cut_off_by_the_attempt_timeout_is_retried_within_the_total() -> None:
    model = ScriptedModel([Delay(5.0, "late"), "fast"])
    completion = await Kernel(retry=FAST, timeout=30.0, attempt_timeout=0.05).complete(model, request())
    assert completion.message.content == "fast"
    assert len(model.requests) == 2


async def test_the_timeout_bounds_the_whole_call_not_each_attempt() -> None:
    # Before, the timeout was per attempt: a hung model was tried max_attempts (4) times, 4x the timeout.
    model = ScriptedModel([Delay(5.0, "late")] * 4 + ["never reached"])
    with pytest.raises(
        errors.ModelTimeout, match=r"within 0\.2s \(the call's timeout, retries included\); attempts made: 1"
    ):
        await Kernel(retry=FAST, timeout=0.2).complete(model, request())
    assert len(model.requests) == 1


async def test_a_retry_whose_backoff_would_outlast_the_timeout_is_not_made() -> None:
    slow_backoff = RetryPolicy(max_attempts=4, initial_backoff=60.0, max_backoff=60.0, jitter=0.0)
    model = ScriptedModel([Delay(5.0, "late"), "fast"])
    with pytest.raises(errors.ModelTimeout, match=r"within 0\.05s \(the per-attempt timeout\); attempts made: 1"):
        await Kernel(retry=slow_backoff, timeout=5.0, attempt_timeout=0.05).complete(model, request())
    assert len(model.requests) == 1


async def test_a_transient_error_whose_retry_after_outlasts_the_timeout_is_raised_at_once() -> None:
    model = ScriptedModel([errors.RateLimited("slow down", retry_after=30.0), "ok"])
    with pytest.raises(errors.RateLimited, match="slow down"):
        await Kernel(retry=FAST, timeout=5.0).complete(model, request())
    assert len(model.requests) == 1


async def test_a_stream_that_hangs_fails_within_the_total_timeout_after_one_attempt() -> None:
    model = ScriptedModel([Delay(5.0, "late")] * 4 + ["never reached"])
    with pytest.raises(errors.ModelTimeout, match=r"within 0\.2s \(the call's timeout, retries included\)"):
        async for _ in Kernel(retry=FAST, timeout=0.2).stream(model, request()):
            pass
    assert len(model.requests) == 1


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
