"""Chat backends behind one async protocol, named by URI."""

from agorakit.models.base import ChatModel, Completion, ModelRequest, Sampling, StreamChunk, ToolSpec
from agorakit.models.scripted import Delay, ScriptedModel, call, load_script
from agorakit.models.uri import ModelURI, parse_model_uri, resolve_model

__all__ = [
    "ChatModel",
    "Completion",
    "Delay",
    "ModelRequest",
    "ModelURI",
    "Sampling",
    "ScriptedModel",
    "StreamChunk",
    "ToolSpec",
    "call",
    "load_script",
    "parse_model_uri",
    "resolve_model",
]
