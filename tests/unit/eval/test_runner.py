"""The grid runner with a scripted model: one row per cell, resume, config hashes, errors, usage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from agorakit.core.errors import ConfigError, ModelRequestError
from agorakit.eval.grid import GridSpec, configuration
from agorakit.eval.results import ResultsStore
from agorakit.eval.runner import GridOutcome, run_grid
from agorakit.eval.sample import Sample
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptedModel, ScriptItem

MODEL = "scripted:toy"
SAMPLES = [
    Sample("toy", "a", "What is 1 + 1?", "2", "number"),
    Sample("toy", "b", "What is 2 + 3?", "5", "number"),
    Sample("toy", "c", "What is 4 + 4?", "8", "number"),
]
# The scripted model's answers: right for a and c, wrong for b.
ANSWERS = {"a": "The answer is 2", "b": "The answer is 6", "c": "The answer is 8"}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGORAKIT_TRACE", raising=False)
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(tmp_path / "traces.db"))


def sample_of(request: ModelRequest) -> Sample:
    text = "\n".join(m.content or "" for m in request.messages)
    return next(s for s in SAMPLES if s.question in text)


def answering(fail: Sequence[str] = (), *, fail_on_call: int = 1) -> ScriptedModel:
    """A model that answers each question from ANSWERS, and fails the ``fail_on_call``-th call of ``fail`` samples.

    A structured call (self_refine's feedback) gets a stop verdict.
    """
    calls: dict[str, int] = {}

    def respond(request: ModelRequest) -> ScriptItem:
        sample = sample_of(request)
        calls[sample.id] = calls.get(sample.id, 0) + 1
        if sample.id in fail and calls[sample.id] == fail_on_call:
            return ModelRequestError(f"scripted failure on {sample.id}")
        if request.response_schema is not None:
            return json.dumps({"feedback": "correct", "stop": True})
        return ANSWERS[sample.id]

    return ScriptedModel(respond, name="toy")


def spec(*methods: tuple[str, dict[str, object]], **changes: object) -> GridSpec:
    options: dict[str, object] = {"trace": False, **changes}
    return GridSpec(methods=list(methods) or [("vanilla", {})], datasets=["toy"], models=[MODEL], **options)  # type: ignore[arg-type]


async def run(
    grid: GridSpec, store: ResultsStore, model: ScriptedModel, samples: Sequence[Sample] = SAMPLES
) -> GridOutcome:
    return await run_grid(grid, store, backends={MODEL: model}, samples={"toy": list(samples)})


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "bench.db")


async def test_one_row_per_sample_and_configuration_with_verdicts_and_usage(store: ResultsStore) -> None:
    model = answering()
    outcome = await run(spec(("vanilla", {}), ("cot", {})), store, model)
    assert (outcome.total, outcome.done, outcome.skipped, outcome.errors, outcome.correct) == (6, 6, 0, 0, 4)
    rows = store.rows()
    assert len(model.requests) == 6
    assert sorted((r.key.method, r.key.sample_id) for r in rows) == [
        ("cot", "a"),
        ("cot", "b"),
        ("cot", "c"),
        ("vanilla", "a"),
        ("vanilla", "b"),
        ("vanilla", "c"),
    ]
    assert {r.key.config_hash for r in rows if r.key.method == "vanilla"} == {
        configuration("vanilla", {}, None).config_hash
    }
    vanilla = {r.key.sample_id: r for r in rows if r.key.method == "vanilla"}
    assert [(r.status, r.extracted, r.correct) for r in vanilla.values()] == [
        ("ok", "2", True),
        ("ok", "6", False),
        ("ok", "8", True),
    ]
    # Scripted usage counts words: "What is 1 + 1?" in, "The answer is 2" out.
    a = vanilla["a"]
    assert (a.calls, a.input_tokens, a.output_tokens, a.cost_usd) == (1, 5, 4, 0.0)
    assert a.prediction == "The answer is 2"
    assert a.key.model == MODEL and a.key.dataset == "toy"
    assert json.loads(a.config) == {"config": {}, "method": "vanilla", "sampling": {"max_tokens": None}}
    assert a.run_id == ""  # trace=False: no trace to link to
    assert a.latency_s > 0 and a.finished_at > 0


async def test_resume_skips_finished_keys_without_calling_the_model(store: ResultsStore) -> None:
    first = answering()
    await run(spec(), store, first, SAMPLES[:2])
    before = {r.key.sample_id: r.finished_at for r in store.rows()}
    second = answering()
    progress: list[tuple[int, int, int]] = []
    outcome = await run_grid(
        spec(),
        store,
        backends={MODEL: second},
        samples={"toy": SAMPLES},
        on_progress=lambda live: progress.append((live.completed, live.total, live.correct)),
    )
    assert [sample_of(r).id for r in second.requests] == ["c"]
    assert (outcome.skipped, outcome.done, outcome.correct) == (2, 1, 2)
    assert progress == [(2, 3, 1), (3, 3, 2)]  # skipped rows start the bar, with their accuracy
    after = {r.key.sample_id: r.finished_at for r in store.rows()}
    assert {k: after[k] for k in before} == before
    assert len(after) == 3
    third = answering()
    assert (await run(spec(), store, third)).skipped == 3
    assert third.requests == []


def test_the_config_hash_follows_the_resolved_settings_and_sampling() -> None:
    default = configuration("llm_debate", {}, None)
    assert configuration("llm_debate", {}, None) == default
    # Setting a value to its default is the same configuration.
    rounds = json.loads(default.config)["config"]["rounds"]
    assert configuration("llm_debate", {"rounds": rounds}, None).config_hash == default.config_hash
    changed = {
        configuration("llm_debate", {"rounds": rounds + 1}, None).config_hash,
        configuration("llm_debate", {}, 64).config_hash,
        configuration("cot", {}, None).config_hash,
    }
    assert len(changed | {default.config_hash}) == 4
    assert len(default.config_hash) == 12
    with pytest.raises(ConfigError, match="unknown setting"):
        configuration("llm_debate", {"nope": 1}, None)


async def test_a_changed_setting_makes_a_new_set_of_rows(store: ResultsStore) -> None:
    await run(spec(("self_refine", {})), store, answering())
    model = answering()
    outcome = await run(spec(("self_refine", {"max_iterations": 1})), store, model)
    assert outcome.done == 3 and outcome.skipped == 0
    assert len(model.requests) == 6  # draft + feedback per sample
    hashes = {r.key.config_hash for r in store.rows()}
    assert len(hashes) == 2 and len(store) == 6
    assert await run(spec(("self_refine", {"max_iterations": 1})), store, answering()) == GridOutcome(3, 3, 0, 0, 2)


async def test_an_error_on_one_sample_is_recorded_with_its_usage_and_the_rest_complete(store: ResultsStore) -> None:
    model = answering(fail=["b"], fail_on_call=2)  # b's draft succeeds, its feedback call fails
    outcome = await run(spec(("self_refine", {})), store, model)
    assert (outcome.done, outcome.errors, outcome.correct) == (3, 1, 2)
    rows = {r.key.sample_id: r for r in store.rows()}
    assert [rows[i].status for i in "abc"] == ["ok", "error", "ok"]
    failed = rows["b"]
    assert (
        failed.error
        == "ModelRequestError: scripted failure on b (check the model name and the request; this error is not retried)"
    )
    assert (failed.correct, failed.prediction, failed.extracted) == (False, "", None)
    draft = next(r for r in model.requests if sample_of(r).id == "b")
    words = sum(len((m.content or "").split()) for m in draft.messages)
    assert (failed.calls, failed.input_tokens, failed.output_tokens) == (1, words, 4)
    assert rows["a"].calls == 2


async def test_retry_errors_reruns_only_the_errors(store: ResultsStore) -> None:
    await run(spec(), store, answering(fail=["b"]))
    kept = {r.key.sample_id: r for r in store.rows() if r.status == "ok"}
    plain = answering()
    assert (await run(spec(), store, plain)).skipped == 3
    assert plain.requests == []
    retry = answering()
    outcome = await run(spec(retry_errors=True), store, retry)
    assert [sample_of(r).id for r in retry.requests] == ["b"]
    assert (outcome.skipped, outcome.done, outcome.errors) == (2, 1, 0)
    rows = {r.key.sample_id: r for r in store.rows()}
    assert (rows["b"].status, rows["b"].error, rows["b"].extracted) == ("ok", "", "6")
    assert {k: rows[k] for k in kept} == kept
    assert len(rows) == 3


async def test_cancelling_the_grid_is_not_swallowed_and_finished_rows_stay(store: ResultsStore) -> None:
    task: asyncio.Task[GridOutcome] | None = None

    def cancel_after_first(live: GridOutcome) -> None:
        if live.done == 1 and task is not None:
            task.cancel()

    never = asyncio.Event()

    class Stuck(ScriptedModel):
        """Answers a at once; every other sample waits until cancelled."""

        async def complete(self, request: ModelRequest):  # type: ignore[no-untyped-def]
            if sample_of(request).id != "a":
                await never.wait()
            return await super().complete(request)

    model = Stuck(lambda request: ANSWERS[sample_of(request).id], name="toy")
    task = asyncio.create_task(
        run_grid(
            spec(concurrency=2),
            store,
            backends={MODEL: model},
            samples={"toy": SAMPLES},
            on_progress=cancel_after_first,
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.key.sample_id for r in store.rows()] == ["a"]


def test_keyboard_interrupt_propagates(store: ResultsStore) -> None:
    def respond(request: ModelRequest) -> ScriptItem:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run(spec(), store, ScriptedModel(respond, name="toy")))
    assert len(store) == 0


async def test_traced_runs_link_their_rows_to_the_trace(store: ResultsStore, tmp_path: Path) -> None:
    from agorakit.trace.reader import load_run
    from agorakit.trace.store import open_store

    await run(spec(trace=True), store, answering(), SAMPLES[:1])
    (row,) = store.rows()
    assert row.run_id
    open_store(tmp_path / "traces.db").flush()
    trace = load_run(tmp_path / "traces.db", row.run_id)
    assert trace.run_id == row.run_id


async def test_bad_settings_fail_before_anything_runs(store: ResultsStore) -> None:
    model = answering()
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        await run(spec(("vanilla", {}), ("nope", {})), store, model)
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        await run(spec(concurrency=0), store, model)
    assert model.requests == [] and len(store) == 0


async def test_concurrency_runs_samples_together_and_still_writes_one_row_each(store: ResultsStore) -> None:
    in_flight = 0
    most = 0
    release = asyncio.Event()

    async def gate() -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if most == 2:
            release.set()
        await release.wait()
        in_flight -= 1

    class Gated(ScriptedModel):
        async def complete(self, request: ModelRequest):  # type: ignore[no-untyped-def]
            await gate()
            return await super().complete(request)

    model = Gated(lambda request: ANSWERS[sample_of(request).id], name="toy")
    outcome = await run(spec(concurrency=2), store, model)
    assert most == 2
    assert outcome.done == 3 and len(store) == 3


async def test_the_judge_verdict_is_kept_apart_and_its_calls_are_not_the_methods(store: ResultsStore) -> None:
    def judge(request: ModelRequest) -> ScriptItem:
        sample = sample_of(request)
        if sample.id == "c":
            return ModelRequestError("judge down")
        return json.dumps({"reason": f"judged {sample.id}", "correct": sample.id == "b"})

    judge_model = ScriptedModel(judge, name="judge")
    grid = spec(judge="scripted:judge")
    await run_grid(grid, store, backends={MODEL: answering(), "scripted:judge": judge_model}, samples={"toy": SAMPLES})
    rows = {r.key.sample_id: r for r in store.rows()}
    assert [(rows[i].correct, rows[i].judge_correct, rows[i].judge_reason) for i in "ab"] == [
        (True, False, "judged a"),
        (False, True, "judged b"),
    ]
    assert rows["c"].judge_correct is None
    assert rows["c"].judge_reason.startswith("judge failed: ModelRequestError: judge down")
    assert (rows["c"].status, rows["c"].correct) == ("ok", True)
    assert {r.calls for r in rows.values()} == {1}
    assert len(judge_model.requests) == 3


async def test_rows_keep_the_question_and_the_expected_answer(store: ResultsStore) -> None:
    await run(spec(("self_refine", {})), store, answering())
    rows = {r.key.sample_id: r for r in store.rows()}
    assert [(rows[i].question, rows[i].expected) for i in "abc"] == [
        ("What is 1 + 1?", "2"),
        ("What is 2 + 3?", "5"),
        ("What is 4 + 4?", "8"),
    ]
