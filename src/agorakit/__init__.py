"""agorakit: a framework and runtime for LLM multi-agent systems.

The public names are loaded on first use, so ``import agorakit`` stays fast
and a script that only needs the CLI never imports pydantic or llama.cpp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Agent": "agorakit.agents",
    "RunResult": "agorakit.agents",
    "RunContext": "agorakit.agents",
    "ReAct": "agorakit.agents",
    "CodeAct": "agorakit.agents",
    "tool": "agorakit.tools",
    "Tool": "agorakit.tools",
    "Kernel": "agorakit.kernel",
    "Budget": "agorakit.kernel",
    "RetryPolicy": "agorakit.kernel",
    "RunLedger": "agorakit.kernel",
    "ScriptedModel": "agorakit.models",
    "call": "agorakit.models",
    "resolve_model": "agorakit.models",
    "Sampling": "agorakit.models",
    "Message": "agorakit.core",
    "ToolCall": "agorakit.core",
    "Usage": "agorakit.core",
    "AgorakitError": "agorakit.core",
}

if TYPE_CHECKING:
    from agorakit.agents import Agent, CodeAct, ReAct, RunContext, RunResult
    from agorakit.core import AgorakitError, Message, ToolCall, Usage
    from agorakit.kernel import Budget, Kernel, RetryPolicy, RunLedger
    from agorakit.models import Sampling, ScriptedModel, call, resolve_model
    from agorakit.tools import Tool, tool


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agorakit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Agent",
    "AgorakitError",
    "Budget",
    "CodeAct",
    "Kernel",
    "Message",
    "ReAct",
    "RetryPolicy",
    "RunContext",
    "RunLedger",
    "RunResult",
    "Sampling",
    "ScriptedModel",
    "Tool",
    "ToolCall",
    "Usage",
    "__version__",
    "call",
    "resolve_model",
    "tool",
]
