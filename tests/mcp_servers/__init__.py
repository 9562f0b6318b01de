"""MCP servers (written with the official SDK) and process helpers for the MCP tests."""
