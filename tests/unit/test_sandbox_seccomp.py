"""The seccomp filter's BPF program, run on a small classic-BPF interpreter, and installed in a child."""

from __future__ import annotations

import errno
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from agorakit.tools.sandbox import detect_isolation, runner, seccomp
from agorakit.tools.sandbox import isolation as isolation_module

ALLOW = seccomp.SECCOMP_RET_ALLOW
EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
AUDIT_ARCH_I386 = 0x4000_0003
AUDIT_ARCH_ARM = 0x4000_0028
CLONE_NEWUSER = 0x1000_0000
CLONE_NEWNS, CLONE_NEWNET, CLONE_VM, CLONE_THREAD, SIGCHLD = 0x0002_0000, 0x4000_0000, 0x100, 0x1_0000, 17
# A few calls every program makes: read, write, openat, mmap, getpid, execve, fork, vfork (x86_64 numbers).
ORDINARY = {"x86_64": (0, 1, 257, 9, 39, 59, 57, 58), "aarch64": (63, 64, 56, 222, 172, 221)}


def run(program: bytes, nr: int, arch: int, *args: int) -> int:
    """What the kernel would do with this system call: the program's return value."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    instructions = seccomp.decode(program)
    pc, accumulator = 0, 0
    for _ in range(len(instructions)):  # classic BPF only jumps forwards
        code, jt, jf, k = instructions[pc]
        if code == seccomp.BPF_LD_W_ABS:
            (accumulator,) = struct.unpack_from("<I", data, k)
            pc += 1
        elif code == seccomp.BPF_JEQ_K:
            pc += 1 + (jt if accumulator == k else jf)
        elif code == seccomp.BPF_JGE_K:
            pc += 1 + (jt if accumulator >= k else jf)
        elif code == seccomp.BPF_JSET_K:
            pc += 1 + (jt if accumulator & k else jf)
        elif code == seccomp.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc}")
    raise AssertionError("the program ran off its end")


@pytest.fixture(params=list(seccomp.ARCHES))
def arch(request: pytest.FixtureRequest) -> seccomp.Arch:
    return seccomp.ARCHES[request.param]


def test_every_denied_call_gets_eperm(arch: seccomp.Arch) -> None:
    program = seccomp.build_filter(arch.name)
    for name in seccomp.DENIED:
        assert run(program, arch.numbers[name], arch.audit_arch, 0, 0, 0) == EPERM, name
        assert run(program, arch.numbers[name], arch.audit_arch, 1, 2, 3, 4, 5, 6) == EPERM, name


def test_clone3_gets_enosys_so_libc_falls_back_to_clone(arch: seccomp.Arch) -> None:
    program = seccomp.build_filter(arch.name)
    assert run(program, arch.numbers["clone3"], arch.audit_arch, 0, 88) == ENOSYS


@pytest.mark.parametrize("name", seccomp.NEW_USERNS_CHECKED)
def test_clone_and_unshare_are_refused_only_for_a_new_user_namespace(arch: seccomp.Arch, name: str) -> None:
    program = seccomp.build_filter(arch.name)
    nr = arch.numbers[name]
    for flags in (CLONE_NEWUSER, CLONE_NEWUSER | SIGCHLD, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET, 0xFFFF_FFFF):
        assert run(program, nr, arch.audit_arch, flags) == EPERM, hex(flags)
    for flags in (0, SIGCHLD, CLONE_VM | CLONE_THREAD, CLONE_NEWNS | CLONE_NEWNET, 0x1_0000_0000 | SIGCHLD):
        assert run(program, nr, arch.audit_arch, flags) == ALLOW, hex(flags)


def test_ordinary_calls_are_allowed(arch: seccomp.Arch) -> None:
    program = seccomp.build_filter(arch.name)
    for nr in ORDINARY[arch.name]:
        assert run(program, nr, arch.audit_arch, CLONE_NEWUSER) == ALLOW, nr  # flags only matter to clone/unshare


def test_calls_through_another_abi_are_refused() -> None:
    x86 = seccomp.build_filter("x86_64")
    for nr in (0, 26, 39, 120):  # i386 numbers (26 is its ptrace): an int 0x80 call, whatever it is
        assert run(x86, nr, AUDIT_ARCH_I386) == EPERM
    for nr in (0, 101, 512, 545):  # x32 numbers carry bit 30, on the x86_64 audit arch
        assert run(x86, seccomp.X32_SYSCALL_BIT | nr, seccomp.AUDIT_ARCH_X86_64) == EPERM
    arm = seccomp.build_filter("aarch64")
    assert run(arm, 26, AUDIT_ARCH_ARM) == EPERM
    assert run(arm, 172, seccomp.AUDIT_ARCH_X86_64) == EPERM  # another architecture altogether


def test_the_program_is_well_formed(arch: seccomp.Arch) -> None:
    program = seccomp.build_filter(arch.name)
    assert len(program) % seccomp.INSN_SIZE == 0
    instructions = seccomp.decode(program)
    assert len(instructions) <= seccomp.BPF_MAXINSNS
    assert instructions[0] == (seccomp.BPF_LD_W_ABS, 0, 0, seccomp.OFFSET_ARCH)  # the architecture first
    assert instructions[-1][0] == seccomp.BPF_RET_K
    for index, (code, jt, jf, _) in enumerate(instructions):
        if code in (seccomp.BPF_JEQ_K, seccomp.BPF_JGE_K, seccomp.BPF_JSET_K):
            assert index + 1 + max(jt, jf) < len(instructions)
    loads = {k for code, _, _, k in instructions if code == seccomp.BPF_LD_W_ABS}
    assert loads == {seccomp.OFFSET_ARCH, seccomp.OFFSET_NR, seccomp.OFFSET_ARG0_LOW}


def test_every_call_has_a_distinct_number_on_every_architecture(arch: seccomp.Arch) -> None:
    names = (*seccomp.DENIED, *seccomp.ENOSYS_CALLS, *seccomp.NEW_USERNS_CHECKED)
    numbers = [arch.numbers[name] for name in names]
    assert len(set(numbers)) == len(numbers)


HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


def test_the_numbers_match_the_kernel_headers(arch: seccomp.Arch) -> None:
    header = HEADERS[arch.name]
    if not header.exists():
        pytest.skip(f"{header} is not installed")
    defined = dict(re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text()))
    checked = [name for name in arch.numbers if name in defined]
    assert len(checked) >= len(arch.numbers) - 1  # open_tree_attr (Linux 6.15) may be newer than the headers
    for name in checked:
        assert arch.numbers[name] == int(defined[name]), name


def test_unknown_architectures_get_no_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no seccomp filter for architecture 'riscv64'"):
        seccomp.build_filter("riscv64")
    assert seccomp.build_filter("arm64") == seccomp.build_filter("aarch64")
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "riscv64")
    program, reason = seccomp.filter_for_this_machine()
    assert program is None and "riscv64" in reason


def test_without_a_filter_detection_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation_module, "filter_for_this_machine", lambda: (None, "no filter for 'riscv64'"))
    report = detect_isolation("rlimits-only")
    assert not report.seccomp
    assert "; no seccomp;" in report.summary()
    assert any(note.startswith("no seccomp filter (no filter for 'riscv64')") for note in report.notes)


INSTALLED = """
import ctypes, json, os, sys, threading
sys.path.insert(0, sys.argv[1])
from agorakit.tools.sandbox import runner
runner.install_seccomp(bytes.fromhex(sys.argv[2]))
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
numbers = json.loads(sys.argv[3])
def call(name, *args):
    ctypes.set_errno(0)
    return libc.syscall(numbers[name], *[ctypes.c_long(a) for a in args]), ctypes.get_errno()
seen = {
    "ptrace": call("ptrace", 0, 0, 0, 0),  # PTRACE_TRACEME
    "keyctl": call("keyctl", 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "unshare": call("unshare", 0x10000000),
    "clone3": call("clone3", 0, 0),
    "getpid": [libc.getpid() == os.getpid()],
}
pid = os.fork()
if pid == 0:
    os._exit(5)
seen["fork"] = [os.waitpid(pid, 0)[1] >> 8]
thread = threading.Thread(target=lambda: seen.setdefault("thread", [True]))
thread.start()
thread.join()
with open("/proc/self/status") as status:
    seen["mode"] = [line.split()[1] for line in status if line.startswith("Seccomp:")]
print(json.dumps(seen))
"""


def test_installed_in_a_child_it_refuses_and_lets_ordinary_work_through() -> None:
    program, arch = seccomp.filter_for_this_machine()
    if program is None:
        pytest.skip(arch)
    src = str(Path(runner.__file__).parents[3])
    numbers = json.dumps(seccomp.ARCHES[arch].numbers)
    done = subprocess.run(
        [sys.executable, "-c", INSTALLED, src, program.hex(), numbers], capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout)
    assert seen == {
        "ptrace": [-1, errno.EPERM],
        "keyctl": [-1, errno.EPERM],
        "unshare": [-1, errno.EPERM],
        "clone3": [-1, errno.ENOSYS],
        "getpid": [True],
        "fork": [5],  # glibc forks with clone, which the flag check lets through
        "thread": [True],  # pthread_create falls back from clone3 to clone
        "mode": ["2"],
    }


def test_install_rejects_a_malformed_program() -> None:
    with pytest.raises(ValueError, match="8-byte instructions"):
        runner.install_seccomp(b"\0" * 12)
