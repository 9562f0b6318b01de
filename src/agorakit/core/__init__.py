"""Messages, tool calls, usage, errors, ids and settings. No I/O."""

from agorakit.core.errors import AgorakitError, BudgetExceeded, ConfigError, ModelError
from agorakit.core.messages import Message, Role, ToolCall, assistant, system, tool_result, user
from agorakit.core.usage import Usage

__all__ = [
    "AgorakitError",
    "BudgetExceeded",
    "ConfigError",
    "Message",
    "ModelError",
    "Role",
    "ToolCall",
    "Usage",
    "assistant",
    "system",
    "tool_result",
    "user",
]
