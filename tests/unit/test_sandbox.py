"""Sandbox end to end: a persistent interpreter, limits, restarts, tool proxies, tracing.

Runs on the strongest isolation this machine has (see test_sandbox_escapes.py for
what that isolation must withstand).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agorakit.policy import Policy, PolicyStopped
from agorakit.tools import ToolDispatcher, tool
from agorakit.tools.sandbox import Isolation, Sandbox, SandboxError, SandboxLimits, detect_isolation
from agorakit.trace import MemorySink, Tracer

FAST = SandboxLimits(wall_time_s=10, cpu_time_s=5)


@pytest.fixture(scope="module")
def isolation() -> Isolation:
    return detect_isolation()


@pytest.fixture
async def sb(isolation: Isolation) -> AsyncIterator[Sandbox]:
    async with Sandbox(FAST, isolation=isolation) as sandbox:
        yield sandbox


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def refuse(reason: str) -> str:
    """Always fails."""
    raise PermissionError(reason)


@tool
async def slow_echo(text: str, seconds: float = 0.0) -> str:
    """Echo after a pause."""
    await asyncio.sleep(seconds)
    return text


def tools() -> ToolDispatcher:
    return ToolDispatcher([add, refuse, slow_echo])


# --- a persistent interpreter ---------------------------------------------------------


async def test_variables_functions_and_imports_persist(sb: Sandbox) -> None:
    assert (await sb.exec("x = 1")).stdout == ""
    assert (await sb.exec("print(x)")).stdout == "1\n"
    await sb.exec("import math\ndef area(r):\n    return math.pi * r * r")
    assert (await sb.exec("print(round(area(2), 3))")).stdout == "12.566\n"


async def test_trailing_expression_is_shown_like_a_repl(sb: Sandbox) -> None:
    result = await sb.exec("y = [1, 2]\ny + [3]")
    assert result.stdout == "[1, 2, 3]\n"
    assert result.ok and result.exit_status == 0 and result.error is None
    assert (await sb.exec("None")).stdout == ""
    assert (await sb.exec("_")).stdout == "[1, 2, 3]\n"


async def test_stdout_and_stderr_in_order_with_raw_writes(sb: Sandbox) -> None:
    code = "import os, sys\nprint('a')\nos.write(1, b'b\\n')\nprint('c')\nprint('oops', file=sys.stderr)"
    result = await sb.exec(code)
    assert result.stdout == "a\nb\nc\n"
    assert result.stderr == "oops\n"


async def test_an_exception_is_the_error_with_the_codes_traceback(sb: Sandbox) -> None:
    result = await sb.exec("print('before')\ndef f(n):\n    return 1 / n\nf(0)")
    assert result.stdout == "before\n"
    assert result.exit_status == 1 and result.limit_hit is None and not result.restarted
    assert result.error is not None
    assert "line 4, in <module>" in result.error and "return 1 / n" in result.error
    assert result.error.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "runner.py" not in result.error
    assert (await sb.exec("f")).stdout.startswith("<function f")  # the interpreter survived


async def test_syntax_error(sb: Sandbox) -> None:
    result = await sb.exec("def broken(:\n    pass")
    assert result.exit_status == 1
    assert result.error is not None and "SyntaxError" in result.error


async def test_system_exit_sets_the_status_and_keeps_the_interpreter(sb: Sandbox) -> None:
    await sb.exec("kept = 'yes'")
    assert (await sb.exec("import sys; sys.exit(3)")).exit_status == 3
    assert (await sb.exec("raise SystemExit")).exit_status == 0
    result = await sb.exec("raise SystemExit('bye')")
    assert (result.exit_status, result.stderr) == (1, "bye\n")
    assert (await sb.exec("kept")).stdout == "'yes'\n"


async def test_replaced_streams_are_restored_for_the_next_block(sb: Sandbox) -> None:
    await sb.exec("import io, sys\nsys.stdout = io.StringIO()\nprint('hidden')")
    assert (await sb.exec("print('visible')")).stdout == "visible\n"


async def test_concurrent_execs_run_one_after_the_other(sb: Sandbox) -> None:
    first, second = await asyncio.gather(
        sb.exec("import time\ntime.sleep(0.2)\nseen = 'first'"), sb.exec("print(seen)")
    )
    assert first.ok and second.stdout == "first\n"


async def test_peak_memory_is_per_block(sb: Sandbox) -> None:
    big = await sb.exec("block = bytearray(100 * 1024 * 1024)\ndel block")
    small = await sb.exec("x = 1")
    assert big.max_rss_mb >= 95
    assert small.max_rss_mb < big.max_rss_mb - 50


async def test_the_workdir_is_shared_with_the_host_and_removed_after(isolation: Isolation) -> None:
    async with Sandbox(FAST, isolation=isolation) as sandbox:
        result = await sandbox.exec("import os\nopen('notes.txt', 'w').write('hi')\nos.getcwd()")
        workdir = sandbox.workdir
        assert (workdir / "notes.txt").read_text() == "hi"
        if isolation.filesystem_isolated:
            assert result.stdout == "'/sandbox'\n"
    assert not workdir.exists()


async def test_environment_is_scrubbed(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-not-leak")
    result = await sb.exec("import os\nsorted(os.environ)")
    names = set(eval(result.stdout))
    assert names <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "PWD"}
    assert "sk-test-should-not-leak" not in result.stdout


# --- limits and restarts --------------------------------------------------------------------


async def test_wall_time_kills_and_restarts_the_interpreter(sb: Sandbox) -> None:
    await sb.exec("lost = 1")
    started = time.monotonic()
    result = await sb.exec("import time\nprint('started')\ntime.sleep(30)", timeout=0.5)
    assert time.monotonic() - started < 5
    assert result.limit_hit == "wall_time" and result.restarted
    assert result.stdout == "started\n"
    assert result.exit_status == -9
    assert result.error is not None and "wall-time limit of 0.5s" in result.error and "restarted" in result.error
    assert 0.5 <= result.duration_s < 2.0
    after = await sb.exec("lost")
    assert after.error is not None and "NameError" in after.error
    assert (await sb.exec("1 + 1")).stdout == "2\n"


async def test_cpu_time_is_measured_per_block(isolation: Isolation) -> None:
    async with Sandbox(SandboxLimits(wall_time_s=30, cpu_time_s=0.5), isolation=isolation) as sandbox:
        result = await sandbox.exec("while True:\n    pass")
        assert result.limit_hit == "cpu_time" and result.restarted
        assert 0.5 <= result.cpu_s < 1.5
        assert (await sandbox.exec("print('fresh')")).stdout == "fresh\n"


async def test_output_over_the_cap_is_cut_without_a_restart(isolation: Isolation) -> None:
    async with Sandbox(SandboxLimits(max_output_bytes=1000), isolation=isolation) as sandbox:
        await sandbox.exec("kept = 1")
        result = await sandbox.exec("print('x' * 5000)")
        assert result.limit_hit == "output" and not result.restarted and result.exit_status == 0
        assert result.stdout.startswith("x" * 1000 + "\n...[output truncated: 4001 more bytes of 5001")
        assert (await sandbox.exec("kept")).stdout == "1\n"


async def test_memory_a_forked_child_shares_counts_once(isolation: Isolation) -> None:
    # Five processes each map the same 300 MB (copy-on-write after fork): 1.5 GB of resident
    # memory summed naively, 300 MB really. The total limit must not kill them.
    limits = SandboxLimits(wall_time_s=30, cpu_time_s=20, memory_mb=512, total_memory_mb=512)
    async with Sandbox(limits, isolation=isolation) as sandbox:
        result = await sandbox.exec(
            "import os, time\n"
            "shared = b'\\x01' * (300 * 1024 * 1024)\n"
            "children = []\n"
            "for _ in range(4):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        time.sleep(1.0)\n"
            "        os._exit(len(shared) % 256)\n"
            "    children.append(pid)\n"
            "print([os.waitpid(pid, 0)[1] for pid in children])"
        )
    assert result.ok, result
    assert result.stdout == "[0, 0, 0, 0]\n"


async def test_a_background_process_over_the_total_is_caught_between_blocks(isolation: Isolation) -> None:
    limits = SandboxLimits(wall_time_s=10, cpu_time_s=5, memory_mb=512, total_memory_mb=128)
    async with Sandbox(limits, isolation=isolation) as sandbox:
        await sandbox.exec("kept = 1")
        started = await sandbox.exec(
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    hoard = b'\\x01' * (200 * 1024 * 1024)\n"
            "    time.sleep(60)\n"
            "    os._exit(0)"
        )
        assert started.ok  # the block itself returned at once
        await asyncio.sleep(2.0)
        result = await sandbox.exec("kept")
        assert result.limit_hit == "total_memory" and result.restarted
        assert result.error is not None and "more than the 128 MB memory limit" in result.error
        assert (await sandbox.exec("print('fresh')")).stdout == "fresh\n"


async def test_an_interpreter_that_exits_is_replaced(sb: Sandbox) -> None:
    result = await sb.exec("import os\nos._exit(5)")
    assert result.restarted and result.exit_status == 5 and result.limit_hit is None
    assert result.error is not None and "exit status 5" in result.error
    assert (await sb.exec("print('back')")).stdout == "back\n"


async def test_cancelling_an_exec_leaves_a_usable_sandbox(sb: Sandbox) -> None:
    task = asyncio.create_task(sb.exec("import time\ntime.sleep(30)"))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await sb.exec("print('still here')")).stdout == "still here\n"


# --- tools called from code -------------------------------------------------------------------


async def test_tools_are_functions_that_run_on_the_host(isolation: Isolation) -> None:
    async with Sandbox(FAST, tools=tools(), isolation=isolation) as sandbox:
        result = await sandbox.exec("print(add(2, 3), add(a=1, b=2), add(4, b=5))")
        assert result.stdout == "5 3 9\n"
        typed = await sandbox.exec("type(add(1, 1)).__name__")
        assert typed.stdout == "'str'\n"  # results come back as the observation text
        assert (await sandbox.exec("add.__doc__")).stdout == "'Add two integers.'\n"


async def test_a_failing_tool_raises_tool_error_with_the_observation(isolation: Isolation) -> None:
    async with Sandbox(FAST, tools=tools(), isolation=isolation) as sandbox:
        result = await sandbox.exec("refuse('no access')")
        assert result.exit_status == 1
        assert result.error is not None
        assert result.error.rstrip().endswith("ToolError: Error: tool 'refuse' failed: PermissionError: no access")
        caught = await sandbox.exec("try:\n    add('x', 1)\nexcept ToolError as error:\n    print('caught:', error)")
        assert caught.stdout.startswith("caught: Error: invalid arguments for tool 'add': a:")
        bad = await sandbox.exec("add({1, 2}, 3)")
        assert bad.error is not None and "TypeError: arguments of tool 'add' must be JSON values" in bad.error


async def test_time_in_tool_calls_does_not_count_as_wall_time(isolation: Isolation) -> None:
    async with Sandbox(SandboxLimits(wall_time_s=0.5), tools=tools(), isolation=isolation) as sandbox:
        result = await sandbox.exec("slow_echo('done', seconds=1.0)")
        assert result.stdout == "'done'\n" and result.limit_hit is None
        assert result.duration_s >= 1.0


async def test_without_tools_no_tool_names_exist(sb: Sandbox) -> None:
    result = await sb.exec("add(1, 2)")
    assert result.error is not None and "NameError: name 'add' is not defined" in result.error


def spans(sink: MemorySink) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in sink.records:
        if record[0] == "span_start":
            found[record[2]] = {"name": record[4], "parent": record[3]}
        elif record[0] == "span_end":
            found[record[2]].update(status=record[4], end=record[5])
    return found


async def test_blocks_and_their_tool_calls_are_traced(isolation: Isolation) -> None:
    sink = MemorySink()
    tracer = Tracer("run1", sink)
    async with Sandbox(FAST, tools=tools(), tracer=tracer, isolation=isolation) as sandbox:
        await sandbox.exec("print(add(2, 2))")
        await sandbox.exec("1 / 0")
    events = [record for record in sink.records if record[0] == "event" and record[4] == "sandbox.start"]
    assert len(events) == 1
    assert events[0][5]["agorakit.sandbox.backend"] == isolation.backend
    assert events[0][5]["agorakit.sandbox.seccomp"] == isolation.seccomp
    for name, value in (
        ("memory_cap", isolation.memory_cap),
        ("workdir_quota", isolation.workdir_quota),
        ("total_memory_mb", FAST.total_memory_mb),
        ("workdir_size_mb", FAST.workdir_size_mb),
    ):
        assert events[0][5][f"agorakit.sandbox.{name}"] == value
    starts = [record for record in sink.records if record[0] == "span_start" and record[4] == "execute_code sandbox"]
    assert len(starts) == 2
    for record in starts:  # each block's span says which protections held
        assert record[6]["agorakit.sandbox.seccomp"] == isolation.seccomp
        assert record[6]["agorakit.sandbox.memory_cap"] == isolation.memory_cap
        assert record[6]["agorakit.sandbox.workdir_quota"] == isolation.workdir_quota
    found = spans(sink)
    blocks = [span for span in found.values() if span["name"] == "execute_code sandbox"]
    [call_span] = [span for span in found.values() if span["name"] == "execute_tool add"]
    first_id = next(span_id for span_id, span in found.items() if span is blocks[0])
    assert call_span["parent"] == first_id
    assert blocks[0]["end"]["agorakit.sandbox.code"] == "print(add(2, 2))"
    assert blocks[0]["end"]["agorakit.sandbox.output"] == "4"
    assert blocks[0]["status"] == "ok"
    assert blocks[1]["status"] == "error" and blocks[1]["end"]["error.type"] == "CodeError"


# --- life cycle and backends ----------------------------------------------------------------------


async def test_using_a_sandbox_outside_async_with_is_an_error() -> None:
    sandbox = Sandbox(FAST)
    with pytest.raises(SandboxError, match="not running"):
        await sandbox.exec("1")
    with pytest.raises(SandboxError, match="isolation is known once"):
        _ = sandbox.isolation


async def test_a_sandbox_cannot_be_entered_twice(isolation: Isolation) -> None:
    sandbox = Sandbox(FAST, isolation=isolation)
    async with sandbox:
        with pytest.raises(SandboxError, match="already running"):
            await sandbox.__aenter__()


async def test_isolation_is_reported(sb: Sandbox, isolation: Isolation) -> None:
    assert sb.isolation == isolation
    if shutil.which("bwrap"):
        assert isolation.backend == "bubblewrap", isolation.notes
        assert isolation.network_isolated and isolation.filesystem_isolated and isolation.pid_isolated


@pytest.mark.parametrize("backend", ["unshare", "rlimits-only"])
async def test_fallback_backends_run_code_and_say_what_they_lack(backend: str) -> None:
    try:
        report = detect_isolation(backend)  # type: ignore[arg-type]
    except SandboxError as error:
        pytest.skip(f"{backend} does not work here: {error}")
    assert not report.filesystem_isolated
    async with Sandbox(FAST, isolation=report) as sandbox:
        await sandbox.exec("x = 20")
        assert (await sandbox.exec("x + 22")).stdout == "42\n"
        seen = await sandbox.exec("import os\nos.path.exists(" + repr(str(Path.home())) + ")")
        assert seen.stdout == "True\n"  # the host's files are visible, as the report says
    if backend == "unshare":
        assert report.network_isolated and report.pid_isolated
    else:
        assert not report.network_isolated and not report.pid_isolated


async def test_the_host_process_is_not_the_sandboxes_parent(sb: Sandbox, isolation: Isolation) -> None:
    result = await sb.exec("import os\nos.getppid()")
    if isolation.pid_isolated:
        assert int(result.stdout) != os.getpid()


# --- the policy applies to code actions -------------------------------------------------------------


def bank_dispatcher(sent: list[str], fallback: str) -> ToolDispatcher:
    @tool
    def send_money(recipient: str, amount: float) -> str:
        """Send money."""
        sent.append(f"{recipient} {amount}")
        return "sent"

    rules = {"send_money": [{"effect": "allow", "when": {"recipient": {"const": "alice"}, "amount": {"maximum": 100}}}]}
    return ToolDispatcher([send_money], policy=Policy.from_dict({"version": 1, "fallback": fallback, "tools": rules}))


async def test_policy_decides_calls_made_from_code(isolation: Isolation) -> None:
    sent: list[str] = []
    sink = MemorySink()
    dispatcher = bank_dispatcher(sent, "error")
    async with Sandbox(FAST, tools=dispatcher, tracer=Tracer("run1", sink), isolation=isolation) as sandbox:
        allowed = await sandbox.exec("send_money('alice', 10)")
        denied = await sandbox.exec("send_money(recipient='mallory', amount=5000)")
    assert allowed.stdout == "'sent'\n"
    assert denied.error is not None and "ToolError: Error: policy denied" in denied.error
    assert sent == ["alice 10.0"]  # the refused call never ran on the host
    decisions = [record[5] for record in sink.records if record[0] == "event" and record[4] == "policy.decision"]
    assert [decision["agorakit.policy.allowed"] for decision in decisions] == [True, False]


async def test_a_policy_stop_ends_the_exec_and_the_next_one_starts_fresh(isolation: Isolation) -> None:
    sent: list[str] = []
    async with Sandbox(FAST, tools=bank_dispatcher(sent, "stop"), isolation=isolation) as sandbox:
        await sandbox.exec("x = 1")
        with pytest.raises(PolicyStopped):
            await sandbox.exec("send_money('mallory', 1)\nprint('after the refused call')")
        result = await sandbox.exec("print('fresh')\n'x' in globals()")
    assert sent == []
    assert result.stdout == "fresh\nFalse\n"
