"""`--db` says where its default really is, and that default follows $AGORAKIT_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agorakit.cli.main import app
from agorakit.core import settings
from agorakit.eval.results import default_db_path


def help_text(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"}, terminal_width=400)
    assert result.exit_code == 0
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    ("command", "variable", "file"),
    [
        (("bench",), "$AGORAKIT_BENCH_DB", "bench.db"),
        (("report",), "$AGORAKIT_BENCH_DB", "bench.db"),
        (("trace", "list"), "$AGORAKIT_TRACE_DB", "traces.db"),
        (("analyze",), "$AGORAKIT_TRACE_DB", "traces.db"),
    ],
)
def test_db_help_names_the_home_folder(command: tuple[str, ...], variable: str, file: str) -> None:
    text = help_text(*command)
    assert f"(default: {variable}, else {file} in $AGORAKIT_HOME, which is ~/.agorakit unless set)" in text


def test_the_default_databases_move_with_agorakit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGORAKIT_BENCH_DB", raising=False)
    monkeypatch.delenv("AGORAKIT_TRACE_DB", raising=False)
    monkeypatch.delenv("AGORAKIT_MODEL_CACHE", raising=False)
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path))
    assert default_db_path() == settings.bench_db_path() == tmp_path / "bench.db"
    assert settings.trace_db_path() == tmp_path / "traces.db"
    assert settings.model_cache_dir() == tmp_path / "models"
    monkeypatch.setenv("AGORAKIT_BENCH_DB", "~/elsewhere.db")
    assert default_db_path() == Path("~/elsewhere.db").expanduser()
