"""An MCP server's tool descriptions as agorakit :class:`~agorakit.tools.Tool` objects."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from agorakit.core.errors import ConfigError, ToolDefinitionError
from agorakit.tools.tool import Tool

if TYPE_CHECKING:
    from mcp_types import Tool as ToolDescription

logger = logging.getLogger("agorakit.mcp")

_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")

CallTool = Callable[[str, dict[str, Any]], Awaitable[str]]


def build_tools(
    described: Sequence[ToolDescription],
    *,
    server: str,
    prefix: str,
    include: Collection[str] | None,
    call: CallTool,
    timeout: float,
) -> list[Tool[..., Any]]:
    """One Tool per description (those in ``include``, when given); ``call(name, arguments)`` runs one."""
    if include is not None:
        wanted = set(include)
        missing = wanted - {item.name for item in described}
        if missing:
            available = ", ".join(item.name for item in described) or "none"
            raise ConfigError(
                f"the MCP server '{server}' has no tool named {', '.join(sorted(missing))}",
                hint=f"its tools are: {available}",
            )
        described = [item for item in described if item.name in wanted]
    made: dict[str, str] = {}
    tools: list[Tool[..., Any]] = []
    for item in described:
        local = local_name(prefix, item.name)
        if local in made:
            raise ToolDefinitionError(
                f"MCP tools {made[local]!r} and {item.name!r} of server '{server}' would both be named {local!r}",
                hint="pass include=[...] to pick one",
            )
        try:
            made_tool = Tool.from_schema(
                local, item.description or item.title or "", item.input_schema, _bind(call, item.name), timeout=timeout
            )
        except ToolDefinitionError as error:
            logger.warning("MCP server '%s': skipping tool %r: %s", server, item.name, error)
            continue
        made[local] = item.name
        tools.append(made_tool)
    return tools


def local_name(prefix: str, name: str) -> str:
    """``prefix + name`` with what model APIs reject (``.``, ``/``, ...) turned into ``_``, cut to 64."""
    return _INVALID_NAME_CHARS.sub("_", prefix + name)[:64]


def _bind(call: CallTool, remote: str) -> Callable[[dict[str, Any]], Awaitable[str]]:
    async def run(arguments: dict[str, Any]) -> str:
        return await call(remote, arguments)

    return run
