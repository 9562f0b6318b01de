"""Topology primitives: the shapes multi-agent methods (and users) build teams from.

- :func:`sequential_pipeline` / :class:`Pipeline`: each participant gets the previous output.
- :func:`broadcast` / :class:`Hub`: one shared conversation; everyone sees every message.
- :class:`GroupChat`: round-robin or model-selected speakers, until a phrase, a predicate or ``max_turns``.
- :class:`Graph`: nodes and conditional edges; cycles bounded by ``max_visits`` per node.
- :class:`HandoffTeam`: agents pass control with handoffs (``Agent(handoffs=[...])``).
- :class:`Team`: every team above; ``team.as_agent()`` and ``team.as_tool(name, description)`` nest teams.

Participants are :class:`~agorakit.agents.Agent` objects (or teams, or
anything with ``name`` and the same ``run``). Pass ``context=`` a
``RunLedger`` or a method's ``Session`` so every call joins one run.
"""

from agorakit.methods.topology.graph import Edge, Graph, GraphResult
from agorakit.methods.topology.group_chat import ChatResult, GroupChat
from agorakit.methods.topology.handoff import HandoffResult, HandoffTeam
from agorakit.methods.topology.hub import Hub, broadcast, speak
from agorakit.methods.topology.pipeline import Pipeline, sequential_pipeline
from agorakit.methods.topology.scope import Context, Participant, Scope, current_scope, view_for
from agorakit.methods.topology.selector import select_speaker, speaker_schema, structured_call
from agorakit.methods.topology.team import Team, TeamAgent

__all__ = [
    "ChatResult",
    "Context",
    "Edge",
    "Graph",
    "GraphResult",
    "GroupChat",
    "HandoffResult",
    "HandoffTeam",
    "Hub",
    "Participant",
    "Pipeline",
    "Scope",
    "Team",
    "TeamAgent",
    "broadcast",
    "current_scope",
    "select_speaker",
    "sequential_pipeline",
    "speak",
    "speaker_schema",
    "structured_call",
    "view_for",
]
