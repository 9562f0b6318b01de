"""``agora sim``: a results file of one line per round, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agorakit.cli.main import app


@pytest.mark.usefixtures("cli_environment")
def test_agora_sim_writes_the_head_every_round_and_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "spread.jsonl"
    arguments = ["sim", "spread", "--agents", "60", "--rounds", "3", "--seed", "2", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    head, rounds, tail = lines[0], lines[1:-1], lines[-1]
    assert head["scenario"] == "spread" and head["agents"] == 60 and head["seed"] == 2
    assert [row["round"] for row in rounds] == [0, 1, 2]
    assert tail["summary"]["users"] == 60 and tail["summary"]["seen"] == rounds[-1]["seen"]
    assert "agent-steps in" in result.output and f"agora trace show {head['run_id']}" in result.output


@pytest.mark.usefixtures("cli_environment")
def test_an_unknown_scenario_names_the_built_in_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim", "market", "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert "no scenario named 'market'" in result.output and "guess-two-thirds, spread" in result.output
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.usefixtures("cli_environment")
def test_a_model_uri_that_cannot_work_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim", "spread", "--model", "nosuch:model", "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 1
    assert "unknown model scheme 'nosuch'" in result.output
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.usefixtures("cli_environment")
def test_agora_sim_advancing_as_inputs_are_ready_writes_the_lockstep_rounds(tmp_path: Path) -> None:
    def rounds(*extra: str) -> list[dict[str, object]]:
        out = tmp_path / f"spread{len(extra)}.jsonl"
        arguments = ["sim", "spread", "--agents", "300", "--rounds", "5", "--seed", "4", "--out", str(out), *extra]
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert lines[0]["advance"] == ("ready" if extra else "lockstep")
        return [{k: v for k, v in row.items() if k != "seconds"} for row in lines[1:-1]]

    assert rounds("--advance", "ready") == rounds()


@pytest.mark.usefixtures("cli_environment")
def test_advancing_a_lockstep_scenario_as_inputs_are_ready_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    result = CliRunner().invoke(app, ["sim", "guess-two-thirds", "--advance", "ready", "--out", str(out)])
    assert result.exit_code == 1
    assert "'guess-two-thirds' advances in lockstep only" in result.output and not out.exists()
    result = CliRunner().invoke(app, ["sim", "spread", "--advance", "soon", "--out", str(out)])
    assert result.exit_code == 2 and "use lockstep or ready" in result.output
