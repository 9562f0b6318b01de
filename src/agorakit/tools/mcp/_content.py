"""Turn an MCP ``CallToolResult`` into the text a model reads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_types import CallToolResult


def result_text(result: CallToolResult) -> str:
    """The observation for a tool result.

    Content blocks, in order, one per line: text as is; images and audio as
    ``[image image/png, 68 bytes]``; resource links as ``[resource <uri>]``;
    embedded text resources as their text. A result with no content blocks
    but structured content becomes that content as compact JSON.
    """
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"), default=str)
    return "\n".join(parts)


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind} {block.mime_type}, {_base64_size(block.data)} bytes]"
    if kind == "resource_link":
        name = f" {block.name}" if getattr(block, "name", None) else ""
        return f"[resource{name} {block.uri}]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if isinstance(text, str):
            return text
        mime = f", {resource.mime_type}" if getattr(resource, "mime_type", None) else ""
        return f"[resource {resource.uri}{mime}, {_base64_size(getattr(resource, 'blob', ''))} bytes]"
    return f"[{kind or type(block).__name__} content]"


def _base64_size(data: str) -> int:
    """Decoded size of base64 text, without decoding it."""
    data = data.strip()
    return max(0, len(data) * 3 // 4 - data[-2:].count("="))
