"""The code sandbox: Python in a separate, isolated process with resource limits.

See docs/sandbox.md. The isolation is the operating system's (bubblewrap
namespaces where available, a seccomp filter, rlimits, a total memory cap and
a sized tmpfs as the workdir), never Python-level filtering.
"""

from agorakit.tools.sandbox.isolation import Isolation, detect_isolation
from agorakit.tools.sandbox.launch import Backend
from agorakit.tools.sandbox.limits import ExecResult, LimitHit, SandboxError, SandboxLimits
from agorakit.tools.sandbox.sandbox import Sandbox

__all__ = [
    "Backend",
    "ExecResult",
    "Isolation",
    "LimitHit",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "detect_isolation",
]
