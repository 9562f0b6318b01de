"""The README tour's `agora run --method llm_debate --set agents=2` on the embedded model:
every call capped, and no template placeholder read as the answer (issue 9, items 2 and 3)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agorakit.cli.main import app
from agorakit.cli.methods_cmd import METHOD_CALL_CAP
from agorakit.trace.store import open_store

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("cli_environment")]


def chat_output_tokens(run_id: str) -> list[int]:
    # The run wrote its trace from a background thread: wait for it before reading.
    assert open_store(os.environ["AGORAKIT_TRACE_DB"]).flush(timeout=10)
    exported = CliRunner().invoke(app, ["trace", "export", run_id])
    assert exported.exit_code == 0, exported.output
    spans = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    return [
        span["attributes"]["gen_ai.usage.output_tokens"]
        for span in spans
        if span["type"] == "span" and span["name"].startswith("chat ")
    ]


def test_the_tour_debate_caps_every_call_and_never_answers_a_placeholder(model_cache: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--method", "llm_debate", "--set", "agents=2", "What is 17 * 23?"])
    assert result.exit_code in (0, 3), result.output
    run_id = re.search(r"run id: (\S+)", result.stdout)
    assert run_id is not None, result.output
    tokens = chat_output_tokens(run_id.group(1))
    assert len(tokens) == 4  # 2 agents x 2 rounds
    assert all(0 < count <= METHOD_CALL_CAP for count in tokens), tokens
    final = [line for line in result.stdout.splitlines() if line.startswith("final answer:")]
    assert all("<answer>" not in line for line in final), final


def test_max_tokens_caps_a_method_call_on_the_embedded_model(model_cache: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--method", "cot", "--max-tokens", "20", "What is 17 * 23?"])
    assert result.exit_code in (0, 3), result.output
    run_id = re.search(r"run id: (\S+)", result.stdout)
    assert run_id is not None, result.output
    tokens = chat_output_tokens(run_id.group(1))
    assert len(tokens) == 1 and 0 < tokens[0] <= 20, tokens
