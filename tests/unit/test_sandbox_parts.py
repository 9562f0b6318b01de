"""The sandbox's pieces without a sandbox: limits, output capture, the runner's helpers, launch plans."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agorakit.core.errors import ConfigError
from agorakit.tools.sandbox import ExecResult, SandboxLimits, detect_isolation, runner
from agorakit.tools.sandbox import isolation as isolation_module
from agorakit.tools.sandbox.launch import INSIDE_WORKDIR, Interpreter, build_plan, sandbox_env
from agorakit.tools.sandbox.limits import SandboxError
from agorakit.tools.sandbox.output import OutputCapture
from agorakit.tools.sandbox.procfs import cpu_seconds, find_descendant, peak_rss_mb

# --- limits ------------------------------------------------------------------------


def test_default_limits_and_their_rlimits() -> None:
    limits = SandboxLimits()
    assert (limits.wall_time_s, limits.cpu_time_s, limits.memory_mb) == (30.0, 10.0, 512)
    assert limits.rlimits() == {
        "AS": 512 * 1024 * 1024,
        "CPU": 600,
        "NPROC": 16,
        "FSIZE": 64 * 1024 * 1024,
        "NOFILE": 256,
        "CORE": 0,
    }


def test_fractional_limits_round_safely() -> None:
    limits = SandboxLimits(total_cpu_time_s=1.2, max_file_size_mb=0.5)
    assert limits.rlimits()["CPU"] == 2  # ceil: never less than asked
    assert limits.rlimits()["FSIZE"] == 512 * 1024


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("wall_time_s", 0),
        ("cpu_time_s", -1.0),
        ("total_cpu_time_s", float("inf")),
        ("max_file_size_mb", float("nan")),
        ("memory_mb", 16),
        ("max_processes", 1),
        ("max_output_bytes", 10),
        ("max_open_files", 3.5),
        ("memory_mb", True),
    ],
)
def test_invalid_limits_are_config_errors(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"SandboxLimits.{field}"):
        SandboxLimits(**{field: value})


def result(**changes: Any) -> ExecResult:
    fields: dict[str, Any] = dict(
        stdout="", stderr="", exit_status=0, error=None, limit_hit=None, duration_s=0.1, cpu_s=0.0, max_rss_mb=10.0
    )
    fields.update(changes)
    return ExecResult(**fields)


def test_exec_result_ok_and_observation() -> None:
    assert result(stdout="42\n").ok
    assert result(stdout="42\n").observation() == "42"
    assert result().observation() == "(no output)"
    failed = result(stdout="a\n", stderr="warn\n", exit_status=1, error="Traceback...\nValueError: x\n")
    assert not failed.ok
    assert failed.observation() == "a\n[stderr]\nwarn\nTraceback...\nValueError: x"
    assert result(exit_status=3).observation() == "[exit status 3]"
    assert not result(limit_hit="output").ok


# --- output capture ----------------------------------------------------------------

TOKEN = b"\0end-1234\0"


def capture(cap: int = 100, flood: int = 1000) -> tuple[OutputCapture, list[int]]:
    floods: list[int] = []
    return OutputCapture(cap, flood, lambda: floods.append(1)), floods


def test_capture_ends_at_the_token_even_split_across_chunks() -> None:
    out, _ = capture()
    out.begin(TOKEN)
    for chunk in (b"hello ", b"world\n\0en", b"d-12", b"34\0after"):
        out.feed(chunk)
    assert out.ended.is_set()
    assert out.text() == "hello world\n"
    out.begin(b"\0end-9\0")  # bytes after a token belong to the next block
    out.feed(b"!\0end-9\0")
    assert out.text() == "after!"


def test_capture_keeps_a_partial_token_that_turns_out_to_be_output() -> None:
    out, _ = capture()
    out.begin(TOKEN)
    out.feed(b"x\0en")
    out.feed(b"q")
    out.close()  # the stream ended without the token: held bytes are output
    assert out.text() == "x\0enq"


def test_capture_truncates_with_a_marker_and_counts_everything() -> None:
    out, floods = capture(cap=10, flood=1000)
    out.begin(TOKEN)
    out.feed(b"0123456789ABCDEFGHIJ" + TOKEN)
    assert out.truncated and out.total == 20
    assert out.text() == "0123456789\n...[output truncated: 10 more bytes of 20 not shown]"
    assert floods == []


def test_capture_reports_a_flood_once() -> None:
    out, floods = capture(cap=10, flood=50)
    out.begin(TOKEN)
    for _ in range(20):
        out.feed(b"x" * 10)
    assert floods == [1]
    assert len(out.text()) <= 10 + len("\n...[output truncated: 190 more bytes of 200 not shown]")


def test_capture_between_blocks_is_capped() -> None:
    out, _ = capture(cap=5)
    out.feed(b"background noise")
    assert out.pending_text() == "backg"


# --- the runner's helpers (they run in-process here) ------------------------------


def test_run_code_returns_a_trailing_expression() -> None:
    namespace: dict[str, Any] = {}
    assert runner.run_code("x = 2\nx * 21", "<t>", namespace) == 42
    assert runner.run_code("y = 1", "<t>", namespace) is None
    assert runner.run_code("print", "<t>", namespace) is print
    assert namespace["x"] == 2 and namespace["y"] == 1


def test_format_error_keeps_only_the_codes_frames() -> None:
    namespace: dict[str, Any] = {}
    try:
        runner.run_code("def f():\n    raise KeyError('k')\nf()", "<code-1>", namespace)
    except KeyError as error:
        text = runner.format_error(error)
    assert 'File "<code-1>", line 3, in <module>' in text
    assert 'File "<code-1>", line 2, in f' in text
    assert "runner.py" not in text
    assert text.endswith("KeyError: 'k'\n")


def test_format_error_trims_long_tracebacks_from_the_front() -> None:
    error = ValueError("x" * 10_000)
    text = runner.format_error(error)
    assert text.startswith("...[traceback trimmed]\n")
    assert len(text) == len("...[traceback trimmed]\n") + runner.MAX_ERROR_CHARS


def raised(code: str) -> BaseException:
    try:
        exec(compile(code, "<t>", "exec"), {"os": os})
    except BaseException as error:
        return error
    raise AssertionError("did not raise")


def test_classify_limit() -> None:
    assert runner.classify_limit(MemoryError()) == "memory"
    assert runner.classify_limit(OSError(errno.EFBIG, "File too large")) == "file_size"
    assert runner.classify_limit(RuntimeError("can't start new thread")) == "processes"
    fork_failure = raised("def fork():\n    raise BlockingIOError(11, 'Resource temporarily unavailable')\nfork()")
    assert runner.classify_limit(fork_failure) == "processes"
    socket_eagain = raised("def recv():\n    raise BlockingIOError(11, 'would block')\nrecv()")
    assert runner.classify_limit(socket_eagain) is None
    assert runner.classify_limit(ValueError("x")) is None


class FakeChannel:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        self.calls.append((name, arguments))
        return "ok"


def test_tool_proxy_maps_positional_arguments_in_schema_order() -> None:
    channel = FakeChannel()
    proxy = runner.make_tool_proxy(channel, "get-weather", ["city", "days"], "Get the weather.")  # type: ignore[arg-type]
    assert proxy("Paris", days=3) == "ok"
    assert proxy(days=1, city="Rome") == "ok"
    assert channel.calls == [
        ("get-weather", {"city": "Paris", "days": 3}),
        ("get-weather", {"days": 1, "city": "Rome"}),
    ]
    assert proxy.__name__ == "get_weather" and proxy.__doc__ == "Get the weather."
    with pytest.raises(TypeError, match="at most 2 positional"):
        proxy("a", 1, 2)
    with pytest.raises(TypeError, match="multiple values for argument 'city'"):
        proxy("a", city="b")


def test_apply_rlimits_sets_soft_equal_to_hard_in_a_child() -> None:
    # In a child process: lowering hard limits here would stick to the test process.
    code = (
        "import json, resource, sys; sys.path.insert(0, sys.argv[1]);"
        "from agorakit.tools.sandbox import runner;"
        "applied = runner.apply_rlimits({'NOFILE': 64, 'CORE': 0});"
        "print(json.dumps([applied, resource.getrlimit(resource.RLIMIT_NOFILE)]))"
    )
    src = str(Path(runner.__file__).parents[3])
    done = subprocess.run([sys.executable, "-c", code, src], capture_output=True, text=True, check=True)
    applied, nofile = json.loads(done.stdout)
    assert applied == {"NOFILE": 64, "CORE": 0}
    assert nofile == [64, 64]


# --- launch plans and the environment ----------------------------------------------


def test_sandbox_environment_starts_empty() -> None:
    env = sandbox_env("/sandbox")
    assert set(env) == {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"}
    assert env["HOME"] == env["TMPDIR"] == "/sandbox"


def test_unshare_and_plain_plans_carry_no_host_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    interpreter = Interpreter.current()
    for backend in ("unshare", "rlimits-only"):
        plan = build_plan(backend, interpreter, tmp_path, ["-c", "pass"])
        assert "OPENAI_API_KEY" not in plan.env
        assert plan.cwd == str(tmp_path)
        assert plan.argv[-2:] == ["-c", "pass"]
    unshare = build_plan("unshare", interpreter, tmp_path, ["-c", "pass"])
    assert {"--net", "--pid", "--user", "--kill-child", "--mount-proc"} <= set(unshare.argv)


def test_bubblewrap_plan_passes_options_through_a_pipe(tmp_path: Path) -> None:
    plan = build_plan(
        "bubblewrap", Interpreter.current(), tmp_path, ["-c", "pass"], runner_source=b"x", uid=2_000_000_001
    )
    try:
        assert plan.argv[1] == "--args" and plan.argv[3] == "--"
        assert str(tmp_path) not in " ".join(plan.argv)  # host paths stay out of the visible command line
        assert plan.env == {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        options_fd = int(plan.argv[2])
        assert options_fd in plan.pass_fds and options_fd in plan.owned_fds
        options = os.read(options_fd, 65536).split(b"\0")
        assert b"--die-with-parent" in options and b"--clearenv" in options
        assert options[options.index(b"--bind") + 1 : options.index(b"--bind") + 3] == [
            str(tmp_path).encode(),
            INSIDE_WORKDIR.encode(),
        ]
        assert b"--unshare-net" in options or b"--unshare-all" in options
    finally:
        plan.close_owned()


# --- procfs -------------------------------------------------------------------------


def test_procfs_reads_a_child_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)", "agorakit-marker"])
    try:
        found = None
        for _ in range(100):
            found = find_descendant(os.getpid(), sys.executable.encode(), b"agorakit-marker")
            if found:
                break
        assert found == child.pid
        assert (cpu_seconds(child.pid) or 0.0) >= 0.0
        assert (peak_rss_mb(child.pid) or 0.0) > 1.0
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds(child.pid) is None


# --- detection is honest ----------------------------------------------------------------


def test_unknown_backend_is_an_error() -> None:
    with pytest.raises(SandboxError, match="unknown sandbox backend"):
        detect_isolation("docker")  # type: ignore[arg-type]


def test_missing_bubblewrap_is_reported_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = isolation_module.shutil.which
    monkeypatch.setattr(
        isolation_module.shutil, "which", lambda name, **kw: None if name == "bwrap" else real_which(name, **kw)
    )
    with pytest.raises(SandboxError, match="bwrap is not installed"):
        detect_isolation("bubblewrap")
    report = detect_isolation()
    assert report.backend in ("unshare", "rlimits-only")
    assert report.notes[0] == "bubblewrap unavailable: bwrap is not installed (apt-get install bubblewrap)"
    assert not report.filesystem_isolated


def test_plain_backend_reports_no_isolation() -> None:
    report = detect_isolation("rlimits-only")
    assert (report.network_isolated, report.filesystem_isolated, report.pid_isolated) == (False, False, False)
    seccomp = "; seccomp" if report.seccomp else "; no seccomp"
    expected = f"rlimits-only: no namespace isolation{seccomp}; total memory: {report.memory_cap}; no workdir quota"
    assert report.summary() == expected
    assert any("no namespaces" in note for note in report.notes)
