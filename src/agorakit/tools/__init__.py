"""Tools from typed Python functions and the dispatcher that runs a model's tool calls."""

from typing import TYPE_CHECKING, Any

from agorakit.tools.dispatcher import ToolDispatcher, ToolResult
from agorakit.tools.tool import Tool, tool

if TYPE_CHECKING:
    from agorakit.tools.builtin import builtin_tools, calculator, current_time

_BUILTIN = ("builtin_tools", "calculator", "current_time")


def __getattr__(name: str) -> Any:
    # The built-in tools load on first use: building their validators costs import
    # time every program that only defines its own tools would pay.
    if name in _BUILTIN:
        from agorakit.tools import builtin

        return getattr(builtin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Tool", "ToolDispatcher", "ToolResult", "builtin_tools", "calculator", "current_time", "tool"]
