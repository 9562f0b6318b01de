"""The sandbox's seccomp filter, built here as a classic BPF program (no libseccomp needed).

The filter refuses the system calls code actions never need: tracing other
processes, loading BPF programs, perf events, ``userfaultfd``, the kernel
keyrings, ``io_uring``, kernel modules, every mount call (old and new API),
``kexec``, and ``clone``/``unshare`` asking for a new user namespace. A denied
call fails with ``EPERM``; the process is not killed.

``clone3`` passes its flags in a struct the filter cannot read, so it fails
with ``ENOSYS``: the C library then falls back to ``clone``, whose flags are
a register the filter checks.

The program checks the architecture field first: a system call made through
another ABI (32-bit ``int 0x80`` on x86_64, x32 numbers, AArch32 compat)
gets ``EPERM`` whatever its number, since the numbers below would not mean
the same calls. Only x86_64 and aarch64 are known; elsewhere
:func:`filter_for_this_machine` says the filter is unavailable rather than
guessing numbers.

The runner installs the program on itself (``prctl(PR_SET_NO_NEW_PRIVS)``,
then ``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)``) before any code runs;
filters are inherited by every child and kept across ``execve``.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16
"""The low 32 bits of the first argument (both known architectures are little-endian)."""

AUDIT_ARCH_X86_64 = 0xC000_003E
AUDIT_ARCH_AARCH64 = 0xC000_00B7
X32_SYSCALL_BIT = 0x4000_0000
CLONE_NEWUSER = 0x1000_0000

SECCOMP_RET_ALLOW = 0x7FFF_0000
SECCOMP_RET_ERRNO = 0x0005_0000
SECCOMP_RET_DATA = 0x0000_FFFF

# Classic BPF opcodes (linux/filter.h).
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
BPF_MAXINSNS = 4096
_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k (host byte order)
INSN_SIZE = _INSN.size

DENIED = (
    "ptrace",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "kexec_load",
    "kexec_file_load",
)
"""Refused with ``EPERM`` whatever their arguments."""
NEW_USERNS_CHECKED = ("clone", "unshare")
"""Refused with ``EPERM`` when their flags (first argument) ask for ``CLONE_NEWUSER``."""
ENOSYS_CALLS = ("clone3",)
"""Refused with ``ENOSYS``, so the C library falls back to ``clone``."""

# The calls above that a kernel may not have yet (open_tree_attr: 6.15) are still denied by number.
_COMMON_NEW = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "open_tree_attr": 467,
}


@dataclass(frozen=True, slots=True)
class Arch:
    """One architecture's audit number and system-call numbers."""

    name: str
    audit_arch: int
    numbers: dict[str, int]
    x32_bit: bool = False
    """x86_64: numbers with ``X32_SYSCALL_BIT`` set are the x32 ABI, refused outright."""


ARCHES: dict[str, Arch] = {
    "x86_64": Arch(
        "x86_64",
        AUDIT_ARCH_X86_64,
        {
            "ptrace": 101,
            "bpf": 321,
            "perf_event_open": 298,
            "userfaultfd": 323,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "kexec_load": 246,
            "kexec_file_load": 320,
            "unshare": 272,
            "clone": 56,
            **_COMMON_NEW,
        },
        x32_bit=True,
    ),
    "aarch64": Arch(
        "aarch64",
        AUDIT_ARCH_AARCH64,
        {
            "ptrace": 117,
            "bpf": 280,
            "perf_event_open": 241,
            "userfaultfd": 282,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "kexec_load": 104,
            "kexec_file_load": 294,
            "unshare": 97,
            "clone": 220,
            **_COMMON_NEW,
        },
    ),
}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


class _Label:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _errno(code: int) -> int:
    return SECCOMP_RET_ERRNO | (code & SECCOMP_RET_DATA)


def build_filter(arch: str) -> bytes:
    """The filter for ``arch`` (``"x86_64"`` or ``"aarch64"``), as ``struct sock_filter`` records.

    Raises ``ValueError`` for any other architecture.
    """
    known = ARCHES.get(_MACHINE_ALIASES.get(arch, arch))
    if known is None:
        raise ValueError(f"no seccomp filter for architecture {arch!r} (known: {', '.join(ARCHES)})")
    deny, enosys, check_flags = _Label("deny"), _Label("enosys"), _Label("check_flags")
    # (code, jump if true, jump if false, k); jumps are labels or 0 (the next instruction).
    program: list[tuple[int, _Label | int, _Label | int, int]] = [
        (BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
        (BPF_JEQ_K, 0, deny, known.audit_arch),
        (BPF_LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if known.x32_bit:
        program.append((BPF_JGE_K, deny, 0, X32_SYSCALL_BIT))
    for name in DENIED:
        program.append((BPF_JEQ_K, deny, 0, known.numbers[name]))
    for name in ENOSYS_CALLS:
        program.append((BPF_JEQ_K, enosys, 0, known.numbers[name]))
    for name in NEW_USERNS_CHECKED:
        program.append((BPF_JEQ_K, check_flags, 0, known.numbers[name]))
    program.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    labels = {check_flags: len(program)}
    program += [
        (BPF_LD_W_ABS, 0, 0, OFFSET_ARG0_LOW),
        (BPF_JSET_K, deny, 0, CLONE_NEWUSER),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    labels[deny] = len(program)
    program.append((BPF_RET_K, 0, 0, _errno(errno.EPERM)))
    labels[enosys] = len(program)
    program.append((BPF_RET_K, 0, 0, _errno(errno.ENOSYS)))

    def offset(index: int, target: _Label | int) -> int:
        if isinstance(target, int):
            return target
        skip = labels[target] - index - 1
        if not 0 <= skip <= 255:
            raise ValueError(f"jump to {target.name} out of range at instruction {index}")
        return skip

    if len(program) > BPF_MAXINSNS:
        raise ValueError(f"{len(program)} instructions exceed the kernel's {BPF_MAXINSNS}")
    return b"".join(
        _INSN.pack(code, offset(index, jt), offset(index, jf), k) for index, (code, jt, jf, k) in enumerate(program)
    )


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    """The ``(code, jt, jf, k)`` instructions of a program."""
    return [_INSN.unpack_from(program, at) for at in range(0, len(program), INSN_SIZE)]


def native_arch() -> tuple[str | None, str]:
    """(this interpreter's architecture if a filter exists for it, else None; the reason)."""
    machine = platform.machine()
    name = _MACHINE_ALIASES.get(machine, machine)
    if name not in ARCHES:
        return None, f"no seccomp filter for architecture {machine!r} (known: {', '.join(ARCHES)})"
    if struct.calcsize("P") != 8:
        return None, f"a 32-bit interpreter on {machine} makes system calls through another ABI"
    return name, name


def filter_for_this_machine() -> tuple[bytes | None, str]:
    """(the program for this machine, or None; the architecture, or why there is no program)."""
    arch, reason = native_arch()
    if arch is None:
        return None, reason
    return build_filter(arch), arch
