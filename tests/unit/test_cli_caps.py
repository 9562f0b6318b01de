"""`agora run`: --max-tokens caps every call (agent and --method), budgets have their own names,
an in-process model gets a per-call cap under --method, and an empty task is a usage error."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from agorakit import ScriptedModel, call
from agorakit.cli.main import app
from agorakit.cli.methods_cmd import METHOD_CALL_CAP

pytestmark = pytest.mark.usefixtures("cli_environment")

TASK = "What is 17 * 23?"


def scripted(monkeypatch: pytest.MonkeyPatch, responses: list[Any]) -> ScriptedModel:
    """The model every `--model`/default URI resolves to in this test, so its requests can be read."""
    model = ScriptedModel(responses)
    monkeypatch.setattr("agorakit.models.resolve_model", lambda uri: model)
    return model


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_max_tokens_caps_every_call_of_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    model = scripted(monkeypatch, [call("calculator", expression="17 * 23"), "391"])
    result = invoke("run", TASK, "--max-tokens", "60", "--no-trace")
    assert result.exit_code == 0, result.output
    assert [request.sampling.max_tokens for request in model.requests] == [60, 60]


def test_max_tokens_caps_every_call_of_a_method(monkeypatch: pytest.MonkeyPatch) -> None:
    model = scripted(monkeypatch, ["17 * 23 = 391.\nThe answer is 391"])
    result = invoke("run", "--method", "cot", "--max-tokens", "60", TASK, "--no-trace")
    assert result.exit_code == 0, result.output
    assert [request.sampling.max_tokens for request in model.requests] == [60]
    assert "final answer: 391" in result.output


def test_a_method_on_an_in_process_model_gets_the_default_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    model = scripted(monkeypatch, ["The answer is 391"] * 4)
    result = invoke("run", "--method", "llm_debate", "--set", "agents=2", TASK, "--no-trace")
    assert result.exit_code == 0, result.output
    assert [request.sampling.max_tokens for request in model.requests] == [METHOD_CALL_CAP] * 4
    assert METHOD_CALL_CAP == 128


def test_a_methods_own_max_tokens_setting_wins_over_the_default_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    model = scripted(monkeypatch, ["The answer is 391"] * 2)
    settings = ["--set", "agents=2", "--set", "rounds=1", "--set", "max_tokens=40"]
    result = invoke("run", "--method", "llm_debate", *settings, TASK, "--no-trace")
    assert result.exit_code == 0, result.output
    assert [request.sampling.max_tokens for request in model.requests] == [40, 40]


def test_the_token_budget_still_ends_a_run_with_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    model = scripted(monkeypatch, [call("calculator", expression="17 * 23")] * 5)
    result = invoke("run", TASK, "--token-budget", "5", "--max-tokens", "60", "--no-trace")
    assert result.exit_code == 3, result.output
    assert result.stdout.startswith("no final answer: the run hit its budget and was ended: run budget exhausted")
    assert [request.sampling.max_tokens for request in model.requests] == [60]


def test_the_call_budget_ends_a_run_with_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(monkeypatch, [call("calculator", expression="17 * 23")] * 5)
    result = invoke("run", TASK, "--call-budget", "2", "--no-trace")
    assert result.exit_code == 3, result.output
    assert "run budget exhausted: 2 model calls of 2 allowed" in result.stdout


@pytest.mark.parametrize("extra", [[], ["--method", "cot"]])
@pytest.mark.parametrize("task", ["", "   ", "\n"])
def test_an_empty_task_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, task: str, extra: list[str]) -> None:
    model = scripted(monkeypatch, [])
    result = invoke("run", *extra, task)
    assert result.exit_code == 2, result.output
    assert "the task is empty" in result.output
    assert model.requests == []


def test_one_meaning_of_max_tokens_and_budgets_in_help() -> None:
    run_help = " ".join(invoke("run", "--help").stdout.split())
    bench_help = " ".join(invoke("bench", "--help").stdout.split())
    assert "Cap every model call's output tokens" in run_help
    assert "Cap every model call's output tokens" in bench_help
    assert "--token-budget" in run_help and "--call-budget" in run_help
    assert "--max-calls" not in run_help
    assert f"with --method on an in-process model, {METHOD_CALL_CAP}" in run_help
