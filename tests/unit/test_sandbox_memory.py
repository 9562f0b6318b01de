"""The total memory cap's parts: the limit, the watchdog's arithmetic, finding and using a cgroup v2."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agorakit.core.errors import ConfigError
from agorakit.tools.sandbox import Sandbox, SandboxLimits, detect_isolation, memory
from agorakit.tools.sandbox import isolation as isolation_module
from agorakit.tools.sandbox import sandbox as sandbox_module
from agorakit.trace import MemorySink, Tracer

MB = 1024 * 1024

# --- the limit -------------------------------------------------------------------------------------


def test_total_memory_default_and_validation() -> None:
    assert SandboxLimits().total_memory_mb == 1024
    assert SandboxLimits(total_memory_mb=64).total_memory_mb == 64
    for bad in (63, 0, -1, 1.5, True, "1024", None):
        with pytest.raises(ConfigError, match=r"SandboxLimits\.total_memory_mb"):
            SandboxLimits(total_memory_mb=bad)  # type: ignore[arg-type]


# --- the watchdog's arithmetic ------------------------------------------------------------------------


def fake_process(root: Path, name: str, rss_kb: int, pss_kb: int | None, shmem_kb: int = 0) -> Path:
    process = root / name
    process.mkdir()
    (process / "status").write_text(f"Name:\tpython\nState:\tS\nRssAnon:\t{rss_kb} kB\nRssShmem:\t{shmem_kb} kB\n")
    if pss_kb is not None:
        (process / "smaps_rollup").write_text(
            "00400000-ffffffffff601000 ---p 00000000 00:00 0    [rollup]\n"
            f"Rss:     {rss_kb + shmem_kb + 5000} kB\nPss:     {pss_kb + 4000} kB\n"
            f"Pss_Anon:   {pss_kb} kB\nPss_File:   4000 kB\nPss_Shmem:  {shmem_kb} kB\n"
        )
    return process


def test_under_the_limit_the_cheap_figures_decide(tmp_path: Path) -> None:
    processes = [fake_process(tmp_path, str(n), 100 * 1024, None) for n in range(3)]
    assert memory.measure(processes, 512 * MB) == (300 * MB, False)


def test_pages_shared_after_a_fork_count_once(tmp_path: Path) -> None:
    # A 300 MB parent and four children sharing it: 1.5 GB resident summed, 300 MB proportional.
    processes = [fake_process(tmp_path, str(n), 300 * 1024, 60 * 1024) for n in range(5)]
    total, over = memory.measure(processes, 512 * MB)
    assert not over and total == 300 * MB


def test_over_the_limit_for_real(tmp_path: Path) -> None:
    processes = [fake_process(tmp_path, str(n), 200 * 1024, 200 * 1024, shmem_kb=10 * 1024) for n in range(4)]
    total, over = memory.measure(processes, 512 * MB)
    assert over and total > 512 * MB


def test_a_process_gone_counts_nothing_and_an_unreadable_one_its_resident_size(tmp_path: Path) -> None:
    gone = fake_process(tmp_path, "gone", 400 * 1024, None)  # its smaps_rollup vanished with it
    parent = fake_process(tmp_path, "parent", 300 * 1024, 300 * 1024)
    assert memory.measure([parent, gone], 512 * MB) == (300 * MB, False)
    unreadable = fake_process(tmp_path, "unreadable", 400 * 1024, 100 * 1024)
    (unreadable / "smaps_rollup").chmod(0)
    if os.access(unreadable / "smaps_rollup", os.R_OK):  # root reads anyway: simulate the refusal
        (unreadable / "smaps_rollup").unlink()
        (unreadable / "smaps_rollup").mkdir()  # opening a directory fails with IsADirectoryError
    assert memory.measure([parent, unreadable], 512 * MB) == (700 * MB, True)


def test_the_watchdog_kills_once_and_only_after_two_looks(tmp_path: Path) -> None:
    process = fake_process(tmp_path, "1", 600 * 1024, 600 * 1024)
    looks: list[int] = []
    exceeded: list[int] = []

    def processes() -> list[Path]:
        looks.append(1)
        return [process]

    watchdog = memory.MemoryWatchdog(512 * MB, processes, exceeded.append)
    assert watchdog.check()
    assert len(looks) == 2 and exceeded == [600 * MB] and watchdog.exceeded_bytes == 600 * MB
    # A first look over the limit that the second one does not confirm (a fork in progress) kills nothing.
    readings = iter([[process], []])
    passing = memory.MemoryWatchdog(512 * MB, lambda: next(readings), exceeded.append)
    assert not passing.check() and exceeded == [600 * MB]


def test_the_watchdog_thread_stops_on_its_own_after_a_kill(tmp_path: Path) -> None:
    process = fake_process(tmp_path, "1", 100 * 1024, 100 * 1024)
    exceeded: list[int] = []
    watchdog = memory.MemoryWatchdog(512 * MB, lambda: [process], exceeded.append)
    watchdog.start()
    (process / "status").write_text("RssAnon:\t700000 kB\n")
    (process / "smaps_rollup").write_text("Pss_Anon: 700000 kB\n")
    watchdog._thread.join(timeout=2.0)
    assert not watchdog._thread.is_alive() and exceeded == [700000 * 1024]
    watchdog.stop()


def test_listing_a_namespace_goes_through_the_processes_own_proc() -> None:
    listing = memory.namespace_processes(os.getpid())()  # no pid namespace here: the host's processes
    assert listing and all(path.parent == Path(f"/proc/{os.getpid()}/root/proc") for path in listing)
    assert Path(f"/proc/{os.getpid()}/root/proc/{os.getpid()}") in listing
    assert [int(path.name) for path in listing] == sorted(int(path.name) for path in listing)
    child = subprocess.Popen(["sleep", "5"])
    try:
        tree = memory.tree_processes(os.getpid())()
        assert tree[0] == Path(f"/proc/{os.getpid()}") and Path(f"/proc/{child.pid}") in tree
    finally:
        child.kill()
        child.wait()


# --- cgroup v2 ----------------------------------------------------------------------------------------


def fake_machine(tmp_path: Path, *, v2_controllers: str, own: str, v1_memory: bool = False) -> Path:
    """A /proc/self and a cgroup v2 tree under tmp_path; returns the fake /proc."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    mount = tmp_path / "cgroup"
    (proc / "self" / "mountinfo").write_text(
        f"22 1 0:21 / /proc rw - proc proc rw\n41 31 0:38 / {mount} rw,relatime - cgroup2 cgroup2 rw\n"
    )
    lines = ["4:memory:/x"] if v1_memory else []
    (proc / "self" / "cgroup").write_text("\n".join([*lines, f"0::{own}"]) + "\n")
    (mount / own.strip("/")).mkdir(parents=True, exist_ok=True)
    (mount / "cgroup.controllers").write_text(v2_controllers + "\n")
    return proc


def offer_memory(directory: Path, *, enabled: bool) -> None:
    (directory / "cgroup.controllers").write_text("cpu memory pids\n")
    (directory / "cgroup.subtree_control").write_text("memory\n" if enabled else "\n")
    (directory / "cgroup.procs").write_text("")


def test_no_memory_controller_in_cgroup_v2_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memory.CGROUP_ENV, raising=False)
    proc = fake_machine(tmp_path, v2_controllers="hugetlb", own="/", v1_memory=True)
    parent, why = memory.find_cgroup_parent(proc)
    assert parent is None
    assert "offers no memory controller (only: hugetlb)" in why and "cgroup v1" in why
    (proc / "self" / "mountinfo").write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    assert memory.find_cgroup_parent(proc) == (
        None,
        "no cgroup v2 hierarchy is mounted (memory is a cgroup v1 controller here)",
    )


def test_a_delegated_parent_with_the_memory_controller_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(memory.CGROUP_ENV, raising=False)
    monkeypatch.setattr(memory, "_trial", lambda candidate: None)  # a plain directory grows no memory.max
    proc = fake_machine(tmp_path, v2_controllers="cpu memory pids", own="/user.slice/agent.scope")
    own = tmp_path / "cgroup" / "user.slice" / "agent.scope"
    offer_memory(own, enabled=False)  # our own cgroup holds us: it cannot pass memory down
    offer_memory(own.parent, enabled=True)
    parent, why = memory.find_cgroup_parent(proc)
    assert parent == own.parent, why
    offer_memory(own.parent, enabled=False)
    parent, why = memory.find_cgroup_parent(proc)
    assert parent is None and "not enabled for its children" in why


def test_an_explicit_cgroup_gets_the_memory_controller_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_trial", lambda candidate: None)
    proc = fake_machine(tmp_path, v2_controllers="hugetlb", own="/")
    delegated = tmp_path / "cgroup" / "delegated"
    delegated.mkdir()
    offer_memory(delegated, enabled=False)
    monkeypatch.setenv(memory.CGROUP_ENV, str(delegated))
    assert memory.find_cgroup_parent(proc) == (delegated, str(delegated))
    assert (delegated / "cgroup.subtree_control").read_text() == "+memory"


def test_a_real_trial_needs_memory_max(tmp_path: Path) -> None:
    assert memory._trial(tmp_path) == "a child cgroup has no memory.max"
    assert list(tmp_path.iterdir()) == []  # the trial child was removed


def test_a_cgroup_is_joined_by_the_prefix_and_read_back(tmp_path: Path) -> None:
    cgroup = memory.MemoryCgroup.create(tmp_path, 256 * MB)
    assert (cgroup.path / "memory.max").read_text() == str(256 * MB)
    done = subprocess.run([*cgroup.join_prefix(), "sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    assert (cgroup.path / "cgroup.procs").read_text().strip() == done.stdout.strip()  # same pid after the exec
    assert cgroup.oom_kills() == 0
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 2\n")
    assert cgroup.oom_kills() == 2
    (cgroup.path / "memory.stat").write_text("anon 100\npgfault 42\n")
    assert cgroup.ran_processes()
    for name in ("cgroup.procs", "memory.max", "memory.events", "memory.stat"):
        (cgroup.path / name).unlink()
    cgroup.close()
    assert not cgroup.path.exists()


async def test_a_delegated_cgroup_takes_the_place_of_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cgroup v2 path end to end on a fake cgroupfs (this machine has no delegated cgroup v2 memory
    controller): detection, joining, the trace, and an OOM kill reported as ``total_memory``."""
    parent = tmp_path / "delegated"
    parent.mkdir()
    found = (parent, str(parent))
    monkeypatch.setattr(isolation_module, "find_cgroup_parent", lambda: found)
    monkeypatch.setattr(sandbox_module, "find_cgroup_parent", lambda: found)
    monkeypatch.setattr(memory.MemoryCgroup, "ran_processes", lambda self: (self.path / "cgroup.procs").exists())
    monkeypatch.setattr(memory.MemoryCgroup, "close", lambda self: None)  # a fake cannot be rmdir'ed
    report = detect_isolation()
    assert report.memory_cap == "cgroup-v2" and "; total memory: cgroup-v2;" in report.summary()
    assert not any("watchdog" in note for note in report.notes)
    [probed] = list(parent.iterdir())  # the probe ran in a trial cgroup of its own
    sink = MemorySink()
    limits = SandboxLimits(total_memory_mb=300, wall_time_s=10)
    async with Sandbox(limits, tracer=Tracer("cg", sink), isolation=report) as sandbox:
        assert (await sandbox.exec("print('inside')")).stdout == "inside\n"
        [cgroup] = [path for path in parent.iterdir() if path != probed]
        assert (cgroup / "memory.max").read_text() == str(300 * MB)
        launcher = int((cgroup / "cgroup.procs").read_text())
        runner: Any = sandbox._runner
        assert runner is not None and runner.proc.pid == launcher and runner.memory_watchdog is None

        async def oom_kill() -> None:  # what the kernel does at memory.max with memory.oom.group
            await asyncio.sleep(0.5)
            (cgroup / "memory.events").write_text("oom_kill 3\noom_group_kill 1\n")
            os.killpg(launcher, signal.SIGKILL)

        killer = asyncio.create_task(oom_kill())
        result = await sandbox.exec("import time\ntime.sleep(5)")
        await killer
        assert result.limit_hit == "total_memory" and result.restarted
        assert result.error is not None and "more than the 300 MB memory limit" in result.error
        assert (await sandbox.exec("print('again')")).stdout == "again\n"
    starts = [record for record in sink.records if record[0] == "span_start"]
    assert starts and all(record[6]["agorakit.sandbox.memory_cap"] == "cgroup-v2" for record in starts)
    assert all(record[6]["agorakit.sandbox.total_memory_mb"] == 300 for record in starts)
