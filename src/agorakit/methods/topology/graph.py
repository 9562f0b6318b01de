"""A directed graph of participants: conditional edges, cycles bounded by visits per node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agorakit.agents.result import RunResult
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.topology.hub import speak
from agorakit.methods.topology.scope import Participant, Scope, result
from agorakit.methods.topology.team import Team

NodeFunction = Callable[[list[Message]], Awaitable[str]]
Condition = Callable[[str], bool]


@dataclass(slots=True)
class Edge:
    source: str
    target: str
    when: Condition | None = None


@dataclass(slots=True)
class GraphResult(RunResult[str]):
    """A graph's outcome: the nodes in the order they ran, and visits per node."""

    path: list[str] = field(default_factory=list)
    visits: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    name: str
    body: Participant | NodeFunction
    max_visits: int


class Graph(Team):
    """Nodes (agents, teams, or ``async def node(messages) -> str`` functions)
    joined by directed edges, each with an optional condition on the output of
    the node it leaves.

    The run starts at ``start`` (default: the first node added). After a node
    runs, its outgoing edges are tried in the order they were added: the first
    whose condition holds on the node's output, and whose target has run fewer
    than its ``max_visits`` times, is followed. The run ends when no edge can be
    followed, or when ``end(node, output)`` is true. The output is the last
    node's output.

    With ``view="all"`` each node sees the whole conversation (the task and
    every earlier output, authored); with ``view="last"`` only the previous
    node's output (the task, for the start node).
    """

    def __init__(
        self,
        *,
        start: str | None = None,
        max_visits: int = 3,
        view: Literal["all", "last"] = "all",
        end: Callable[[str, str], bool] | None = None,
        name: str = "graph",
    ) -> None:
        if max_visits < 1:
            raise ConfigError(f"max_visits must be at least 1, got {max_visits}")
        if view not in ("all", "last"):
            raise ConfigError(f"unknown view {view!r}", hint="use 'all' or 'last'")
        self.start = start
        self.max_visits = max_visits
        self.view = view
        self.end = end
        self.name = name
        self.nodes: dict[str, _Node] = {}
        self.edges: dict[str, list[Edge]] = {}

    def add_node(
        self, node: Participant | NodeFunction, *, name: str | None = None, max_visits: int | None = None
    ) -> Graph:
        """Add a node (named ``name``, else the agent's or function's name); returns the graph."""
        label = name or getattr(node, "name", None) or getattr(node, "__name__", None)
        if not isinstance(label, str) or not label:
            raise ConfigError(f"cannot name the node {node!r}", hint="pass name=...")
        if label in self.nodes:
            raise ConfigError(f"the graph already has a node named {label!r}")
        if max_visits is not None and max_visits < 1:
            raise ConfigError(f"max_visits must be at least 1, got {max_visits}")
        self.nodes[label] = _Node(label, node, max_visits or self.max_visits)
        self.edges.setdefault(label, [])
        return self

    def add_edge(self, source: str, target: str, *, when: Condition | None = None) -> Graph:
        """An edge followed after ``source`` when ``when(output)`` holds (always, without ``when``)."""
        for end in (source, target):
            if end not in self.nodes:
                raise ConfigError(f"no node named {end!r}", hint=f"nodes: {', '.join(self.nodes) or 'none'}")
        self.edges[source].append(Edge(source, target, when))
        return self

    def _follow(self, node: str, output: str, visits: dict[str, int]) -> str | None:
        for edge in self.edges[node]:
            if visits[edge.target] < self.nodes[edge.target].max_visits and (edge.when is None or edge.when(output)):
                return edge.target
        return None

    async def _step(self, node: _Node, seen: list[Message], scope: Scope) -> RunResult[Any] | str:
        if isinstance(node.body, Participant):
            return await speak(node.body, seen, scope)
        output = await node.body(seen)
        scope.note(Message("assistant", output, name=node.name))
        return output

    async def _run(self, conversation: list[Message], scope: Scope) -> GraphResult:
        if not self.nodes:
            raise ConfigError("the graph has no nodes", hint="add_node(...) first")
        current: str | None = self.start or next(iter(self.nodes))
        if current not in self.nodes:
            raise ConfigError(f"start node {current!r} is not in the graph")
        messages = list(conversation)
        visits = dict.fromkeys(self.nodes, 0)
        path: list[str] = []
        last: RunResult[Any] | None = None
        output: str | None = None
        while current is not None:
            node = self.nodes[current]
            visits[current] += 1
            path.append(current)
            seen = messages if self.view == "all" or output is None else [Message("user", output, name=path[-2])]
            step = await self._step(node, seen, scope)
            if isinstance(step, RunResult):
                last = step
                if step.output is None:
                    output = None
                    break
                output = step.output
            else:
                output = step
            messages.append(Message("assistant", output, name=current))
            if self.end is not None and self.end(current, output):
                break
            current = self._follow(current, output, visits)
        visited = {name: count for name, count in visits.items() if count}
        return result(scope, output, messages, len(path), last=last, kind=GraphResult, path=path, visits=visited)
