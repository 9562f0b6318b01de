"""`agora bench` with a scripted model file and a small JSONL dataset; its --set parsing and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agorakit.cli.bench_cmd import split_settings
from agorakit.cli.main import app
from agorakit.core.errors import ConfigError
from agorakit.eval.grid import configuration
from agorakit.eval.results import ResultsStore

pytestmark = pytest.mark.usefixtures("cli_environment")


def dataset(tmp_path: Path) -> str:
    path = tmp_path / "toy.jsonl"
    records = [{"id": "q1", "q": "What is 1 + 1?", "a": "2"}, {"id": "q2", "q": "What is 2 + 3?", "a": "5"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return f"{path}?question=q&answer=a&kind=number"


def script(tmp_path: Path, responses: list[Any]) -> str:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(responses), encoding="utf-8")
    return f"scripted:{path}"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["bench", *args])


# --- --set ------------------------------------------------------------------------


def test_qualified_settings_go_to_their_method_typed() -> None:
    assert split_settings(["llm_debate.rounds=2", "llm_debate.aggregation=llm"], ["cot", "llm_debate"]) == {
        "cot": {},
        "llm_debate": {"rounds": 2, "aggregation": "llm"},
    }


def test_an_unqualified_setting_applies_to_every_method_that_has_it() -> None:
    assert split_settings(["temperature=0.5"], ["cot", "llm_debate", "self_consistency"]) == {
        "cot": {},
        "llm_debate": {"temperature": 0.5},
        "self_consistency": {"temperature": 0.5},
    }


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["rounds=2"], "--set 'rounds=2': no method in --methods has a setting 'rounds'"),
        (["mad.max_rounds=2"], "--set 'mad.max_rounds=2': method 'mad' is not in --methods"),
        (["llm_debate.rounds"], "expected METHOD.KEY=VALUE or KEY=VALUE"),
        (["=2"], "expected METHOD.KEY=VALUE or KEY=VALUE"),
        (["llm_debate.rounds=two"], "setting rounds: cannot read 'two' as int"),
        (["llm_debate.nope=1"], "unknown setting 'nope' for method 'llm_debate'"),
    ],
)
def test_bad_settings_are_config_errors(items: list[str], message: str) -> None:
    methods = ["cot", "llm_debate"] if items != ["rounds=2"] else ["cot", "vanilla"]
    with pytest.raises(ConfigError) as raised:
        split_settings(items, methods)
    assert message in raised.value.message


def test_the_hint_of_an_unmatched_setting_lists_the_methods_settings() -> None:
    with pytest.raises(ConfigError) as raised:
        split_settings(["rounds=2"], ["cot", "self_consistency"])
    assert raised.value.hint.startswith("settings of cot: none; self_consistency: samples: int = ")


# --- the command -----------------------------------------------------------------


def test_bench_runs_the_grid_prints_a_summary_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    data = dataset(tmp_path)
    # model → method → dataset → sample order, one sample at a time.
    model = script(tmp_path, ["The answer is 2", "The answer is 7", "Step: 1+1.\nThe answer is 2", "The answer is 5"])
    args = ["--methods", "vanilla,cot", "--datasets", data, "--models", model, "--db", str(db), "--no-trace"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    with ResultsStore(db) as store:
        rows = store.rows()
    assert sorted((r.key.method, r.key.sample_id, r.correct) for r in rows) == [
        ("cot", "q1", True),
        ("cot", "q2", True),
        ("vanilla", "q1", True),
        ("vanilla", "q2", False),
    ]
    assert {r.key.config_hash for r in rows if r.key.method == "cot"} == {configuration("cot", {}, None).config_hash}
    out = result.output
    assert "4 sample(s) run now (0 error(s)), 0 already done" in out
    assert f"agora report --db {db}" in out
    assert "vanilla" in out and "cot" in out
    # The same command again: everything is skipped, the (now exhausted) script is not read.
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "0 sample(s) run now (0 error(s)), 4 already done" in again.output


def test_bench_settings_and_max_tokens_make_their_own_configuration(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    model = script(
        tmp_path, [json.dumps({"feedback": "ok", "stop": True}) if i % 2 else "The answer is 2" for i in range(4)]
    )
    result = invoke(
        "--methods", "self_refine", "--datasets", dataset(tmp_path), "--models", model, "--db", str(db),
        "--set", "max_iterations=1", "--max-tokens", "32", "--no-trace",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with ResultsStore(db) as store:
        hashes = {r.key.config_hash for r in store.rows()}
    assert hashes == {configuration("self_refine", {"max_iterations": 1}, 32).config_hash}


def test_unknown_method_is_a_config_error_naming_the_known_ones(tmp_path: Path) -> None:
    result = invoke("--methods", "cot,nope", "--datasets", dataset(tmp_path), "--db", str(tmp_path / "b.db"))
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "unknown method 'nope'"
    assert "llm_debate" in result.exception.hint
    assert not (tmp_path / "b.db").exists()


def test_unknown_dataset_is_a_config_error(tmp_path: Path) -> None:
    result = invoke("--methods", "cot", "--datasets", "no_such_dataset", "--db", str(tmp_path / "b.db"))
    assert isinstance(result.exception, ConfigError)
    assert "no_such_dataset" in result.exception.message
    assert not (tmp_path / "b.db").exists()


def test_models_default_to_the_default_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "bench.db"
    model = script(tmp_path, ["The answer is 2", "The answer is 5"])
    monkeypatch.setenv("AGORAKIT_MODEL", model)
    result = invoke("--methods", "vanilla", "--datasets", dataset(tmp_path), "--db", str(db), "--no-trace")
    assert result.exit_code == 0, result.output
    with ResultsStore(db) as store:
        assert {r.key.model for r in store.rows()} == {model}


def test_db_defaults_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("AGORAKIT_BENCH_DB", str(db))
    model = script(tmp_path, ["The answer is 2", "The answer is 5"])
    result = invoke("--methods", "vanilla", "--datasets", dataset(tmp_path), "--models", model, "--no-trace")
    assert result.exit_code == 0, result.output
    with ResultsStore(db) as store:
        assert len(store) == 2


# --- --engine -----------------------------------------------------------------------


def test_an_unknown_engine_is_a_config_error(tmp_path: Path) -> None:
    result = invoke("--methods", "vanilla", "--datasets", dataset(tmp_path), "--engine", "spark")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "--engine 'spark': no such engine"
    assert result.exception.hint == "use one of inprocess, ray"


def test_cluster_options_need_the_ray_engine(tmp_path: Path) -> None:
    result = invoke("--methods", "vanilla", "--datasets", dataset(tmp_path), "--workers", "2")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "--address and --workers need --engine ray"


def test_the_ray_engine_without_ray_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray gives an import
    model = script(tmp_path, ["The answer is 2", "The answer is 5"])
    db = tmp_path / "b.db"
    args = ("--methods", "vanilla", "--datasets", dataset(tmp_path), "--models", model, "--db", str(db))
    result = invoke(*args, "--engine", "ray")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "the Ray engine needs Ray, which is not installed"
    assert "pip install 'agorakit[ray]'" in (result.exception.hint or "")
    with ResultsStore(db) as store:
        assert len(store) == 0  # nothing ran


def test_a_cluster_that_does_not_answer_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    import socket

    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    model = script(tmp_path, ["The answer is 2", "The answer is 5"])
    args = ("--methods", "vanilla", "--datasets", dataset(tmp_path), "--models", model, "--db", str(tmp_path / "b.db"))
    result = invoke(*args, "--engine", "ray", "--address", f"127.0.0.1:{port}")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == f"no Ray cluster answers at 127.0.0.1:{port}"
    assert "ray start --head" in (result.exception.hint or "")
