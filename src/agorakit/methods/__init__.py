"""Multi-agent methods from the literature, on one small interface.

``create("llm_debate", model="llamacpp:gemma-3-270m", agents=3)`` returns a
:class:`Method`; ``await method.run(task)`` a :class:`MethodResult`. Method
modules are imported only when their method is created or listed.
"""

from __future__ import annotations

import importlib
from typing import Any

from agorakit.core.errors import ConfigError
from agorakit.methods.answers import extract_answer
from agorakit.methods.base import Method
from agorakit.methods.result import MethodResult
from agorakit.methods.session import Session
from agorakit.methods.structured import StructuredOutputError

# name -> "module:Class". Only methods that are complete and tested are listed.
REGISTRY: dict[str, str] = {
    "vanilla": "agorakit.methods.vanilla:Vanilla",
    "cot": "agorakit.methods.cot:ChainOfThought",
    "self_consistency": "agorakit.methods.self_consistency:SelfConsistency",
    "llm_debate": "agorakit.methods.llm_debate:LLMDebate",
    "mad": "agorakit.methods.mad:MultiAgentDebate",
    "dylan": "agorakit.methods.dylan:DyLAN",
    "macnet": "agorakit.methods.macnet:MacNet",
    "group_chat": "agorakit.methods.group_chat:AutoGenGroupChat",
    "swarm": "agorakit.methods.swarm:Swarm",
    "self_refine": "agorakit.methods.self_refine:SelfRefine",
    "reflexion": "agorakit.methods.reflexion:Reflexion",
    "agentverse": "agorakit.methods.agentverse:AgentVerse",
    "camel": "agorakit.methods.camel:Camel",
    "autoagents": "agorakit.methods.autoagents:AutoAgents",
    "captain": "agorakit.methods.captain:Captain",
    "magentic_one": "agorakit.methods.magentic_one:MagenticOne",
    "maker": "agorakit.methods.maker:Maker",
    "mav": "agorakit.methods.mav:MultiAgentVerification",
    "mapcoder": "agorakit.methods.mapcoder:MapCoder",
}


def method_class(name: str) -> type[Method]:
    target = REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown method {name!r}", hint=f"available: {', '.join(sorted(REGISTRY))}")
    module, _, cls = target.partition(":")
    found: type[Method] = getattr(importlib.import_module(module), cls)
    return found


def create(name: str, model: Any = None, **config: Any) -> Method:
    """A method by name, with the paper's defaults overridden by ``config``."""
    return method_class(name)(model, **config)


def available() -> list[type[Method]]:
    """Every registered method's class, by name."""
    return [method_class(name) for name in sorted(REGISTRY)]


__all__ = [
    "REGISTRY",
    "Method",
    "MethodResult",
    "Session",
    "StructuredOutputError",
    "available",
    "create",
    "extract_answer",
    "method_class",
]
