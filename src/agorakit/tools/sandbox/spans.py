"""What a sandbox's spans record: its protections, and how each block ended.

Attribute names are in agorakit's own namespace (``agorakit.sandbox.*``);
an unsuccessful block also sets the OpenTelemetry ``error.type``.
"""

from __future__ import annotations

from typing import Any

from agorakit.tools.sandbox.isolation import Isolation
from agorakit.tools.sandbox.limits import ExecResult, SandboxLimits
from agorakit.trace import attributes as attr

ATTR_BACKEND = "agorakit.sandbox.backend"
ATTR_LIMIT = "agorakit.sandbox.limit_hit"
ATTR_EXIT = "agorakit.sandbox.exit_status"
ATTR_CPU = "agorakit.sandbox.cpu_s"
ATTR_RSS = "agorakit.sandbox.max_rss_mb"
ATTR_RESTARTED = "agorakit.sandbox.restarted"
ATTR_CODE = "agorakit.sandbox.code"
ATTR_OUTPUT = "agorakit.sandbox.output"
ATTR_SECCOMP = "agorakit.sandbox.seccomp"
ATTR_MEMORY_CAP = "agorakit.sandbox.memory_cap"
ATTR_TOTAL_MEMORY = "agorakit.sandbox.total_memory_mb"
ATTR_WORKDIR_QUOTA = "agorakit.sandbox.workdir_quota"
ATTR_WORKDIR_SIZE = "agorakit.sandbox.workdir_size_mb"


def protections(isolation: Isolation, limits: SandboxLimits) -> dict[str, Any]:
    """The seccomp filter, memory cap and workdir quota in force, as trace attributes."""
    return {
        ATTR_SECCOMP: isolation.seccomp,
        ATTR_MEMORY_CAP: isolation.memory_cap,
        ATTR_TOTAL_MEMORY: limits.total_memory_mb,
        ATTR_WORKDIR_QUOTA: isolation.workdir_quota,
        ATTR_WORKDIR_SIZE: limits.workdir_size_mb,
    }


def annotate(span: Any, result: ExecResult, capture: bool) -> None:
    """How a block ended, on its span (its output too when the tracer captures content)."""
    span.set(ATTR_EXIT, result.exit_status)
    span.set(ATTR_CPU, round(result.cpu_s, 6))
    span.set(ATTR_RSS, round(result.max_rss_mb, 3))
    if result.limit_hit is not None:
        span.set(ATTR_LIMIT, result.limit_hit)
    if result.restarted:
        span.set(ATTR_RESTARTED, True)
    if capture:
        span.set(ATTR_OUTPUT, result.observation())
    if not result.ok:
        span.status = "error"
        span.set(attr.ERROR_TYPE, result.limit_hit or ("CodeError" if result.error else "ExitStatus"))
