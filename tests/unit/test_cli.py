"""The `agora` command end to end: `app` in process (CliRunner) and `main()` in a subprocess.

The error-line behaviour (one red line, exit 1, no traceback unless --debug) lives in
`agorakit.cli.main.main`, which CliRunner does not run, so those cases run the real
entry point in a subprocess with AGORAKIT_HOME and AGORAKIT_TRACE_DB in tmp_path.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from agorakit import __version__
from agorakit.cli.main import _split_debug, app
from agorakit.trace.store import open_store

TASK = "What is 17 * 23?"
RUN_ID = re.compile(r"run id: (\S+)")
# Variables that would change what a run does if the developer running the tests has them set.
_STRIPPED = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORAKIT_MODEL", "AGORAKIT_TRACE", "AGORAKIT_CAPTURE_CONTENT")
_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

CALC_SCRIPT: list[Any] = [
    {"tool_call": {"name": "calculator", "arguments": {"expression": "17 * 23"}}},
    {"text": "391"},
]
# Different expressions, so loop detection never ends the run first.
TOOLS_FOREVER: list[Any] = [
    {"tool_call": {"name": "calculator", "arguments": {"expression": f"{n} + {n}"}}} for n in range(10)
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment `agora` runs in: its home and trace DB in tmp_path, plain wide output."""
    return {
        "AGORAKIT_HOME": str(tmp_path / "home"),
        "AGORAKIT_TRACE_DB": str(tmp_path / "traces.db"),
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "250",
    }


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    for name in (*_STRIPPED, *_PROXIES, "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield


def script(tmp_path: Path, items: list[Any], name: str = "script.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(items), encoding="utf-8")
    return path


def invoke(*args: str) -> Result:
    """`app` in process (the environment comes from the autouse fixture)."""
    return CliRunner().invoke(app, list(args))


def agora(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real entry point, `agorakit.cli.main:main`, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ) if env is None else dict(env),
        check=False,
    )


def run_id_of(output: str) -> str:
    found = RUN_ID.search(output)
    assert found is not None, output
    return found.group(1)


def flush_traces(env: Mapping[str, str]) -> None:
    """Runs in process write the trace from a background thread; wait for it."""
    assert open_store(env["AGORAKIT_TRACE_DB"]).flush(timeout=10)


def assert_one_error_line(done: subprocess.CompletedProcess[str], expected: str) -> None:
    """Exit 1, stderr exactly one `error: ...` line, no traceback anywhere, nothing on stdout."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.splitlines() == [expected], done.stderr
    assert done.stderr.endswith("\n")
    assert done.stdout == ""


# --- version, models ---------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == "agorakit 0.1.0\n"
    assert __version__ == "0.1.0"


def test_version_through_main() -> None:
    done = agora("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, "agorakit 0.1.0\n", "")


def test_the_console_script_is_installed() -> None:
    script_path = Path(sys.executable).parent / "agora"
    if not script_path.exists():
        pytest.skip("no `agora` console script next to this interpreter")
    done = subprocess.run([str(script_path), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "agorakit 0.1.0\n")


def test_models_lists_every_backend() -> None:
    result = invoke("models")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for uri in (
        "llamacpp:gemma-3-270m",
        "llamacpp:/path/to/model.gguf",
        "openai:MODEL",
        "openai:MODEL@http://HOST:PORT/v1",
        "scripted:",
    ):
        assert uri in out
    assert "llamacpp:gemma-3-270m  (default)" in out
    assert "OPENAI_API_KEY not set" in out


def test_models_shows_a_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORAKIT_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = invoke("models")
    assert result.exit_code == 0
    assert "default model (from AGORAKIT_MODEL): openai:gpt-4o-mini" in result.stdout
    assert "OPENAI_API_KEY is set" in result.stdout
    assert "(default)" not in result.stdout


# --- agora run ----------------------------------------------------------------------------


def test_run_answers_and_records_a_trace(tmp_path: Path, env: dict[str, str]) -> None:
    model = f"scripted:{script(tmp_path, CALC_SCRIPT)}"
    result = invoke("run", TASK, "--model", model)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "391"
    assert lines[1].startswith("2 step(s) · 2 model call(s) · ")
    run_id = run_id_of(result.stdout)
    assert lines[2] == f"run id: {run_id}   (agora trace show {run_id})"
    assert len(lines) == 3
    flush_traces(env)

    shown = invoke("trace", "show", run_id)
    assert shown.exit_code == 0, shown.output
    assert f"run {run_id}" in shown.stdout
    assert "execute_tool calculator" in shown.stdout
    assert "chat script" in shown.stdout  # the chat span is named after the script's file stem
    assert '{"expression":"17 * 23"} → 391' in shown.stdout
    assert "stop=final_answer" in shown.stdout

    listed = invoke("trace", "list")
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.stdout.splitlines() if run_id in line]
    assert "assistant" in row and "ok" in row and "2/2" in row and TASK in row

    assert invoke("trace", "show", "last").stdout == shown.stdout


def test_run_through_main_then_trace_show_in_another_process(tmp_path: Path) -> None:
    model = f"scripted:{script(tmp_path, CALC_SCRIPT)}"
    done = agora("run", TASK, "--model", model)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[0] == "391"
    assert "2 step(s)" in done.stdout
    run_id = run_id_of(done.stdout)

    shown = agora("trace", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "execute_tool calculator" in shown.stdout
    assert "chat" in shown.stdout
    listed = agora("trace", "list")
    assert listed.returncode == 0
    assert run_id in listed.stdout


def test_run_without_trace_prints_no_id_and_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    model = f"scripted:{script(tmp_path, CALC_SCRIPT)}"
    result = invoke("run", TASK, "--model", model, "--no-trace")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "391"
    assert "2 step(s)" in result.stdout
    assert "run id" not in result.stdout
    assert not Path(env["AGORAKIT_TRACE_DB"]).exists()
    assert not Path(env["AGORAKIT_HOME"]).exists()


def test_run_without_trace_leaves_an_existing_db_untouched(tmp_path: Path, env: dict[str, str]) -> None:
    model = f"scripted:{script(tmp_path, CALC_SCRIPT)}"
    assert invoke("run", TASK, "--model", model).exit_code == 0
    flush_traces(env)
    with sqlite3.connect(env["AGORAKIT_TRACE_DB"]) as conn:
        before = conn.execute("SELECT count(*) FROM spans").fetchone()
    model = f"scripted:{script(tmp_path, CALC_SCRIPT, 'again.yaml')}"
    assert invoke("run", TASK, "--model", model, "--no-trace").exit_code == 0
    flush_traces(env)
    with sqlite3.connect(env["AGORAKIT_TRACE_DB"]) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone() == before
    assert len([line for line in invoke("trace", "list").stdout.splitlines() if "again" in line]) == 0


def test_run_that_hits_its_budget_explains_and_exits_3(tmp_path: Path) -> None:
    model = f"scripted:{script(tmp_path, TOOLS_FOREVER)}"
    result = invoke("run", TASK, "--model", model, "--call-budget", "1")
    assert result.exit_code == 3, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "no final answer: the run hit its budget and was ended: run budget exhausted: 1 model calls of 1 allowed"
    )
    assert "1 model call(s)" in lines[1]
    assert lines[2].startswith("run id: ")


def test_run_that_uses_all_its_steps_exits_3(tmp_path: Path) -> None:
    model = f"scripted:{script(tmp_path, TOOLS_FOREVER)}"
    result = invoke("run", TASK, "--model", model, "--max-steps", "2", "--no-trace")
    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines()[0] == "no final answer: the agent used all its steps without a final answer"
    assert "2 step(s) · 2 model call(s)" in result.stdout


def test_run_without_a_final_answer_exits_3_through_main(tmp_path: Path) -> None:
    model = f"scripted:{script(tmp_path, TOOLS_FOREVER)}"
    done = agora("run", TASK, "--model", model, "--call-budget", "1")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "no final answer: the run hit its budget" in done.stdout
    assert "budget" in done.stdout.splitlines()[0]
    assert done.stderr == ""


def test_run_help_documents_the_exit_codes() -> None:
    result = invoke("run", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit status:" in text
    assert "0 the agent gave a final answer." in text
    assert "3 no final answer: all --max-steps used, a repeated tool call, or the --call-budget/--token-budget" in text
    assert "1 an error" in text
    assert "2 a usage error, such as an empty task." in text


def test_long_answers_and_run_ids_are_not_hard_wrapped(tmp_path: Path, env: dict[str, str]) -> None:
    answer = " ".join(f"word{n}" for n in range(60))
    model = f"scripted:{script(tmp_path, [{'text': answer}])}"
    done = agora("run", TASK, "--model", model, env={**os.environ, "COLUMNS": "40"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == answer
    run_id = run_id_of(done.stdout)
    assert lines[2] == f"run id: {run_id}   (agora trace show {run_id})"


# --- errors: one line, exit 1, no traceback ------------------------------------------------------

_URI_HINT = (
    "use SCHEME:MODEL, e.g. llamacpp:gemma-3-270m, openai:gpt-4o-mini, "
    "openai:qwen2.5-7b@http://localhost:8000/v1 or scripted:path/to/script.yaml"
)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4", f"error: invalid model URI 'gpt-4': no scheme  → {_URI_HINT}"),
        ("foo:bar", "error: unknown model scheme 'foo' in 'foo:bar'  → use one of: llamacpp, openai, scripted"),
        (
            "llamacpp:no-such-model",
            "error: unknown embedded model 'no-such-model'  "
            "→ use one of ['gemma-3-270m'] or llamacpp:/path/to/model.gguf",
        ),
        (
            "llamacpp:/nonexistent.gguf",
            "error: GGUF file not found: /nonexistent.gguf  → check the path: llamacpp:/path/to/model.gguf",
        ),
        (
            "scripted:/nonexistent.yaml",
            "error: script file not found: /nonexistent.yaml  → scripted:PATH must name a YAML or JSON file",
        ),
        (
            "openai:gpt-4o-mini",
            "error: openai:gpt-4o-mini needs an API key and OPENAI_API_KEY is not set  "
            "→ export OPENAI_API_KEY=... (or point the URI at a local server with @http://host:port/v1)",
        ),
    ],
)
def test_bad_model_is_one_error_line(model: str, expected: str, env: dict[str, str]) -> None:
    done = agora("run", TASK, "--model", model)
    assert_one_error_line(done, expected)
    assert not Path(env["AGORAKIT_TRACE_DB"]).exists()  # nothing ran


def test_unreachable_server_is_one_error_line_after_retries() -> None:
    # Port 9 (discard) refuses connections. The kernel retries ModelConnectionError with its
    # default backoff (0.5 + 1 + 2 s plus jitter), so this takes about 4-5 seconds (within --timeout,
    # which bounds the call with its retries).
    done = agora("run", TASK, "--model", "openai:x@http://127.0.0.1:9/v1", "--timeout", "20")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: cannot reach http://127.0.0.1:9/v1: ")
    assert "  → is the server running, and is the base URL (with its /v1) right?  (run " in line
    run_id = line.rsplit("agora trace show ", 1)[1].rstrip(")")
    assert len(run_id) == 26  # the failed run was traced and is named, so it can be inspected
    assert done.stdout == ""

    shown = agora("trace", "show", "last")
    assert shown.returncode == 0, shown.stderr
    assert "ModelConnectionError" in shown.stdout
    assert shown.stdout.count("• retry") == 3  # four attempts in all


def test_non_transient_model_error_is_one_error_line(tmp_path: Path) -> None:
    model = f"scripted:{script(tmp_path, [{'error': 'bad_request'}])}"
    done = agora("run", TASK, "--model", model)
    line = done.stderr.strip()
    prefix = "error: scripted bad request  → check the model name and the request; this error is not retried"
    assert line.startswith(prefix + "  (run ")
    run_id = line.rsplit("agora trace show ", 1)[1].rstrip(")")
    assert_one_error_line(done, f"{prefix}  (run {run_id}: agora trace show {run_id})")
    shown = agora("trace", "show", run_id)
    assert "ModelRequestError: scripted bad request" in shown.stdout
    assert "retry" not in shown.stdout


def test_unparsable_script_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("- tool_call: {name: calculator\n", encoding="utf-8")
    done = agora("run", TASK, "--model", f"scripted:{path}")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()  # YAML's multi-line message is folded into the one line
    assert line.startswith(f"error: cannot parse script {path}: ")


def test_error_text_is_not_read_as_markup(tmp_path: Path) -> None:
    path = tmp_path / "[bold]odd[/bold].yaml"
    done = agora("run", TASK, "--model", f"scripted:{path}")
    assert_one_error_line(done, f"error: script file not found: {path}  → scripted:PATH must name a YAML or JSON file")


def test_unknown_run_is_one_error_line(tmp_path: Path) -> None:
    assert agora("run", TASK, "--model", f"scripted:{script(tmp_path, CALC_SCRIPT)}").returncode == 0
    done = agora("trace", "show", "nope")
    assert_one_error_line(done, "error: no run matches 'nope'  → `agora trace list` shows the recorded runs")


def test_trace_show_without_a_database_is_one_error_line(env: dict[str, str]) -> None:
    done = agora("trace", "show", "nope")
    assert_one_error_line(
        done, f"error: no trace database at {env['AGORAKIT_TRACE_DB']}  → run `agora run` first, or pass --db PATH"
    )


def test_the_error_word_is_red_on_a_colour_terminal() -> None:
    colour = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    colour.update(FORCE_COLOR="1", TERM="xterm-256color")
    done = agora("run", TASK, "--model", "gpt-4", env=colour)
    assert done.returncode == 1
    assert done.stderr.startswith("\x1b[1;31merror:\x1b[0m invalid model URI 'gpt-4': no scheme")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str) -> None:
    args = ["run", TASK, "--model", "foo:bar"]
    done = agora(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "agorakit.core.errors.InvalidModelURI: unknown model scheme 'foo' in 'foo:bar'" in done.stderr


def test_debug_shows_the_traceback_of_a_failed_run(tmp_path: Path) -> None:
    model = f"scripted:{script(tmp_path, [{'error': 'bad_request'}])}"
    done = agora("--debug", "run", TASK, "--model", model)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "ModelRequestError: scripted bad request" in done.stderr


def test_split_debug() -> None:
    assert _split_debug(["run", "x", "--debug"]) == (["run", "x"], True)
    assert _split_debug(["--debug", "models"]) == (["models"], True)
    assert _split_debug(["run", "x"]) == (["run", "x"], False)
    assert _split_debug(["run", "--", "--debug"]) == (["run", "--", "--debug"], False)


# --- usage errors: exit 2, a usage message, no traceback ------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "Missing argument"),
        (["run", TASK, "--max-steps", "0"], "Invalid value for '--max-steps'"),
        (["run", TASK, "--call-budget", "0"], "Invalid value for '--call-budget'"),
        (["run", TASK, "--timeout", "0"], "Invalid value for '--timeout'"),
        (["run", TASK, "--no-such-option"], "No such option: --no-such-option"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Usage: agora" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output

    done = agora(*args)
    assert done.returncode == 2, done.stderr
    assert "Usage: agora" in done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "error:" not in done.stderr  # typer's usage message, not main()'s error line


def test_no_arguments_prints_help() -> None:
    done = agora()
    assert done.returncode == 2  # click >= 8.2 (NoArgsIsHelpError is a usage error); older click exited 0
    assert "Usage: agora" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "NoArgsIsHelpError" not in done.stdout + done.stderr
