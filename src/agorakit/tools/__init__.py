"""Tools from typed Python functions and the dispatcher that runs a model's tool calls."""

from agorakit.tools.builtin import builtin_tools, calculator, current_time
from agorakit.tools.dispatcher import ToolDispatcher
from agorakit.tools.result import ToolResult
from agorakit.tools.tool import Tool, tool

__all__ = ["Tool", "ToolDispatcher", "ToolResult", "builtin_tools", "calculator", "current_time", "tool"]
