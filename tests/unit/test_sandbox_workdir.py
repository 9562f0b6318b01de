"""The size limit on /sandbox: the limit, the keeper's sized tmpfs, and what the report says without it."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from agorakit.core.errors import ConfigError
from agorakit.tools.sandbox import Isolation, Sandbox, SandboxError, SandboxLimits, detect_isolation, runner, workdir
from agorakit.tools.sandbox import isolation as isolation_module

MB = 1024 * 1024


def test_workdir_size_default_and_validation() -> None:
    limits = SandboxLimits()
    assert limits.workdir_size_mb == 256 and limits.workdir_size_bytes == 256 * MB
    assert SandboxLimits(workdir_size_mb=1.5).workdir_size_bytes == 1536 * 1024
    assert SandboxLimits(workdir_size_mb=1.0001).workdir_size_bytes == MB  # whole pages, never more than asked
    for bad in (0, 0.5, -1, float("nan"), float("inf"), True, "256", None):
        with pytest.raises(ConfigError, match=r"SandboxLimits\.workdir_size_mb"):
            SandboxLimits(workdir_size_mb=bad)  # type: ignore[arg-type]


def test_enospc_is_the_workdir_limit() -> None:
    assert runner.classify_limit(OSError(errno.ENOSPC, "No space left on device")) == "workdir_size"


def test_inodes_follow_the_size() -> None:
    assert workdir.inodes_for(256 * MB) == 65536
    assert workdir.inodes_for(MB) == workdir.MIN_INODES


def test_a_keeper_holds_a_sized_tmpfs_the_host_reaches(tmp_path: Path) -> None:
    if workdir.missing_tools():
        pytest.skip(str(workdir.missing_tools()))
    host_mounts = Path("/proc/self/mountinfo").read_text()
    directory = tmp_path / "work"
    directory.mkdir()
    try:
        quota = workdir.WorkdirQuota.start(directory, MB)
    except SandboxError as error:  # no user namespaces for this user, say
        pytest.skip(error.message)
    try:
        view = quota.view
        assert view == Path(f"/proc/{quota.process.pid}/root") / str(directory).lstrip("/")
        stat = os.statvfs(view)
        assert stat.f_blocks * stat.f_frsize == MB
        (view / "small").write_bytes(b"x" * 1000)
        with pytest.raises(OSError) as filled, (view / "big").open("wb") as handle:
            handle.write(b"x" * (2 * MB))
            handle.flush()
        assert filled.value.errno == errno.ENOSPC
        assert (view / "small").read_bytes() == b"x" * 1000
        assert os.listdir(directory) == []  # the host's own directory holds none of it
        assert Path("/proc/self/mountinfo").read_text() == host_mounts
        assert quota.alive() and quota.enter_prefix()[-1] == "--"
    finally:
        quota.close()
    assert not quota.alive() and not view.exists()


def test_missing_tools_are_an_error_and_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_which = workdir.shutil.which
    monkeypatch.setattr(
        workdir.shutil, "which", lambda name, **kw: None if name == "nsenter" else real_which(name, **kw)
    )
    with pytest.raises(SandboxError, match="nsenter not installed"):
        workdir.WorkdirQuota.start(tmp_path, MB)
    report = detect_isolation()
    assert not report.workdir_quota and report.summary().endswith("; no workdir quota")
    if report.backend == "bubblewrap":
        assert "no size limit on the workdir (nsenter not installed (util-linux))" in report.notes


def test_a_failing_keeper_leaves_the_sandbox_without_a_quota_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> workdir.WorkdirQuota:
        raise SandboxError("cannot mount a sized tmpfs over the workdir: permission denied")

    monkeypatch.setattr(isolation_module.WorkdirQuota, "start", refuse)
    report = detect_isolation()
    assert not report.workdir_quota
    if report.backend == "bubblewrap":
        [note] = [note for note in report.notes if note.startswith("no size limit on the workdir")]
        assert "does not start on a sized tmpfs: cannot mount a sized tmpfs" in note


@pytest.fixture(scope="module")
def isolation() -> Isolation:
    return detect_isolation()


async def test_files_survive_a_restart_and_the_host_shares_them(isolation: Isolation) -> None:
    async with Sandbox(SandboxLimits(wall_time_s=10, workdir_size_mb=8), isolation=isolation) as sandbox:
        await sandbox.exec("open('kept.txt', 'w').write('from the code')")
        (sandbox.workdir / "from-host.txt").write_text("from the host")
        died = await sandbox.exec("import os\nos._exit(3)")
        assert died.restarted
        after = await sandbox.exec("print(open('kept.txt').read(), open('from-host.txt').read(), sep='|')")
        assert after.stdout == "from the code|from the host\n"
        size = await sandbox.exec("import os\nst = os.statvfs('.')\nst.f_blocks * st.f_frsize")
        view = sandbox.workdir
    if isolation.workdir_quota:
        assert size.stdout == f"{8 * MB}\n"
    assert not view.exists()
