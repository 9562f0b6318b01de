"""Every table the CLI prints: whole ids and headers at 80 columns in a terminal, plain complete lines when piped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.text import Text
from trace_samples import DONE_RUN, MODEL, OPEN_RUN, TASK, build_db
from typer.testing import CliRunner

from agorakit.cli.main import app
from agorakit.cli.tables import Column, Grid, plain_lines, render
from agorakit.eval.record import ResultKey, ResultRow
from agorakit.eval.results import ResultsStore

# A terminal 80 columns wide: FORCE_COLOR makes rich treat CliRunner's output as a terminal.
NARROW_TERMINAL = {"COLUMNS": "80", "LINES": "50", "FORCE_COLOR": "1", "NO_COLOR": "", "TERM": "xterm"}
LONG_LABEL = "self_consistency"


def terminal(*args: str) -> str:
    """The command's output in an 80-column terminal, colours stripped."""
    result = CliRunner().invoke(app, list(args), env=NARROW_TERMINAL)
    assert result.exit_code == 0, result.output
    return Text.from_ansi(result.output).plain


def assert_whole_headers(out: str, headers: list[str]) -> None:
    assert "…" not in out
    words = {word for line in out.splitlines() for word in line.replace("│", " ").replace("┃", " ").split()}
    for header in headers:
        assert set(header.split()) <= words, header


def test_trace_list_at_80_columns_keeps_ids_agent_and_model(tmp_path: Path) -> None:
    out = terminal("trace", "list", "--db", str(build_db(tmp_path / "traces.db")))
    assert max(len(line) for line in out.splitlines()) <= 80
    done = next(line for line in out.splitlines() if DONE_RUN in line)  # the whole id, on one line
    assert "solver" in done and "ok" in done
    assert any(OPEN_RUN in line and "writer" in line for line in out.splitlines())
    assert MODEL in out
    assert_whole_headers(out, ["run id", "agent", "model", "status"])


def test_trace_list_piped_is_plain_tab_separated_and_complete(tmp_path: Path) -> None:
    db = build_db(tmp_path / "traces.db")
    agora = Path(sys.executable).with_name("agora")
    done = subprocess.run(
        [str(agora), "trace", "list", "--db", str(db)],
        capture_output=True,  # stdout is a pipe, not a terminal
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "40"},
    )
    lines = done.stdout.splitlines()
    assert "\x1b" not in done.stdout
    assert lines[0].split("\t") == [
        "run id",
        "started",
        "agent",
        "model",
        "status",
        "steps/calls",
        "tokens in/out",
        "duration",
        "task",
    ]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert set(rows) == {DONE_RUN, OPEN_RUN}
    assert rows[DONE_RUN][2:6] == ["solver", MODEL, "ok", "2/3"]
    assert rows[DONE_RUN][8] == TASK
    assert rows[OPEN_RUN][4] == "unfinished"


def _bench_db(path: Path) -> Path:
    with ResultsStore(path) as store:
        for method in ("cot", LONG_LABEL):
            for i in range(3):
                store.write(
                    ResultRow(
                        key=ResultKey("gsm8k", f"q{i}", method, "cfg0001", "llamacpp:gemma-3-270m"),
                        config="{}",
                        status="ok",
                        prediction="42",
                        extracted="42",
                        correct=i == 0,
                        reason="",
                        calls=3,
                        input_tokens=1200,
                        output_tokens=345,
                        cost_usd=0.0,
                        latency_s=12.5,
                        run_id=f"run-{method}-{i}",
                    )
                )
    return path


def test_report_summary_at_80_columns_keeps_labels_and_accuracy(tmp_path: Path) -> None:
    db = _bench_db(tmp_path / "bench.db")
    out = terminal("report", "--db", str(db), "--out", str(tmp_path / "site"))
    table = out.split("markdown:")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    row = next(line for line in table.splitlines() if LONG_LABEL in line)
    assert "gsm8k" in row and "33.3% (6.1–79.2)" in row
    assert_whole_headers(table, ["dataset", "method", "n", "accuracy (95% CI)"])


def test_methods_at_80_columns_keep_every_name_whole() -> None:
    from agorakit.methods import available

    out = terminal("methods")
    assert max(len(line) for line in out.splitlines()) <= 80
    names = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert {cls.name for cls in available()} <= names
    assert_whole_headers(out, ["name", "summary"])
    vanilla = out[out.index("│ vanilla") :]
    summary = " ".join(" ".join(line.split("│")[2] for line in vanilla.splitlines() if line.startswith("│")).split())
    assert summary == "One model call on the task as given."


def test_models_at_80_columns_keep_every_uri_whole() -> None:
    out = terminal("models")
    for uri in ("llamacpp:/path/to/model.gguf", "openai:MODEL@http://HOST:PORT/v1", "scripted:path/to/script.yaml"):
        assert any(uri in line for line in out.splitlines()), uri
    assert_whole_headers(out, ["URI", "backend", "status"])


def test_columns_are_dropped_in_their_order_and_ids_never_cut() -> None:
    grid = Grid(
        [
            Column("id", kind="id"),
            Column("note", kind="text"),
            Column("first to go", drop=1),
            Column("second to go", drop=2),
        ]
    )
    grid.add_row("0190" * 10, "a few words of text", "x" * 20, "y" * 20)
    from rich.console import Console

    def headers(width: int) -> str:
        console = Console(width=width, force_terminal=True, color_system=None, record=True)
        console.print(render(grid, width))
        return console.export_text()

    assert "first" in headers(120) and "second" in headers(120)
    assert "first" not in headers(90) and "second" in headers(90)
    narrow = headers(60)
    assert "first" not in narrow and "second" not in narrow
    assert "0190" * 10 in narrow and "few" in narrow
    assert plain_lines(grid) == [
        "id\tnote\tfirst to go\tsecond to go",
        f"{'0190' * 10}\ta few words of text\t{'x' * 20}\t{'y' * 20}",
    ]
