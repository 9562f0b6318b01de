"""Serve agents and methods over HTTP: OpenAI-compatible routes, a runs API, A2A, MCP and a web
trace viewer, behind API keys (``agora serve``; see docs/serve.md)."""

from agorakit.server.app import create_app
from agorakit.server.entries import Answer, Entry, agent_entry, method_entry, team_entry
from agorakit.server.keys import KeyRecord, KeyStore
from agorakit.server.state import ServerSettings, ServerState

__all__ = [
    "Answer",
    "Entry",
    "KeyRecord",
    "KeyStore",
    "ServerSettings",
    "ServerState",
    "agent_entry",
    "create_app",
    "method_entry",
    "team_entry",
]
