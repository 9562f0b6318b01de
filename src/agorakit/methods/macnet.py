"""MacNet (Qian et al., "Scaling Large-Language-Model-based Multi-Agent
Collaboration", ICLR 2025; official code: the ``macnet`` branch of
github:OpenBMB/ChatDev).

Algorithm:

* Agents sit on a directed acyclic graph: an *assistant* on every node, an
  *instructor* on every edge. Topologies: ``chain``, ``star``, ``tree``,
  ``mesh`` (every pair i < j), ``layered`` (fully connected consecutive
  layers, an MLP) and ``random`` (seeded).
* Nodes run in topological order; nodes of the same depth run concurrently.
  A node without predecessors solves the task itself. Along each incoming
  edge u -> v the instructor reviews u's *artifact* (its solution text, never
  the dialogue that produced it) and writes instructions for v; v's assistant
  then writes a revised solution from all its predecessors' artifacts and
  instructions (a node with several predecessors aggregates them in that
  call). Only artifacts travel, which keeps each prompt short however large
  the graph ("memory control" in the paper).
* The sink's artifact is the answer. Calls: one per node plus one per edge.
* Temperature falls with depth, ``1 - depth / max_depth`` (the official
  deployment; a one-node graph uses 1.0).

Graphs (nodes numbered 1..n; every generated graph has the single sink the
answer is read from):

* ``chain``: 1 -> 2 -> ... -> n.
* ``star``: spokes 2..n -> hub 1 (convergent, so the hub aggregates).
* ``tree``: a binary tree whose leaves converge on the root 1 (child ->
  parent, parent of i is i // 2).
* ``mesh``: i -> j for every i < j.
* ``layered``: nodes 1..n-1 in layers of ``width`` (the first layer takes the
  remainder), consecutive layers fully connected, the last layer -> sink n.
* ``random``: ``random.Random(seed)``; every node i < n gets one edge to a
  later node (so n is the only sink), then a random number of further i < j
  edges; always acyclic, and the same graph for the same seed.

Deliberate differences:

* The official MacNet runs a multi-turn instructor/assistant dialogue per edge
  and merges several predecessors with extra aggregation calls; here each
  edge is one instructor call and each node one assistant call that revises
  and aggregates at once, so the cost is exactly nodes + edges calls.
* Star and tree are oriented convergently (towards one sink) so the answer
  is one node's artifact; the official code also has divergent versions that
  end in several sinks.
* No random role profiles (the official SRDD profiles are for software);
  every assistant gets the same problem-solver instruction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import random
from typing import Literal

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.models.base import Sampling

Topology = Literal["chain", "star", "tree", "mesh", "layered", "random"]
TOPOLOGIES: tuple[str, ...] = ("chain", "star", "tree", "mesh", "layered", "random")

ASSISTANT = (
    "You are an assistant who solves problems. Give a clear, complete solution and end it with a line "
    'of the form "The answer is <answer>".'
)
INSTRUCTOR = (
    "You are an instructor who reviews a solution to a problem. Check it for correctness, completeness, "
    "sound logic and relevance to the question. Point out the most important thing to improve and say "
    'concretely how to fix it; if nothing needs fixing, say "No revision needed".'
)


@dataclasses.dataclass(frozen=True)
class MacNetConfig:
    topology: Topology = "random"
    nodes: int = 4
    seed: int = 0
    width: int = 2  # layered topology: nodes per layer
    max_tokens: int | None = None


def build_edges(topology: str, nodes: int, *, seed: int = 0, width: int = 2) -> list[tuple[int, int]]:
    """The edges (u, v), u -> v, of a topology on nodes 1..``nodes``."""
    if topology not in TOPOLOGIES:
        raise ConfigError(f"macnet: unknown topology {topology!r}", hint=f"use one of {', '.join(TOPOLOGIES)}")
    if nodes < 1:
        raise ConfigError("macnet: nodes must be at least 1")
    n = nodes
    if topology == "chain":
        return [(i, i + 1) for i in range(1, n)]
    if topology == "star":
        return [(i, 1) for i in range(2, n + 1)]
    if topology == "tree":
        return [(i, i // 2) for i in range(2, n + 1)]
    if topology == "mesh":
        return [(i, j) for i in range(1, n + 1) for j in range(i + 1, n + 1)]
    if topology == "layered":
        if width < 1:
            raise ConfigError("macnet: width must be at least 1")
        hidden = n - 1
        count = math.ceil(hidden / width) if hidden else 0
        sizes = [hidden - width * (count - 1)] + [width] * (count - 1) if count else []
        layers: list[list[int]] = []
        start = 1
        for size in sizes:
            layers.append(list(range(start, start + size)))
            start += size
        layers.append([n])
        return [(u, v) for a, b in itertools.pairwise(layers) for u in a for v in b]
    rng = random.Random(seed)
    edges = {(i, rng.randint(i + 1, n)) for i in range(1, n)}
    others = [(i, j) for i in range(1, n + 1) for j in range(i + 1, n + 1) if (i, j) not in edges]
    rng.shuffle(others)
    edges |= set(others[: rng.randint(0, len(others))])
    return sorted(edges)


def depths(nodes: int, edges: list[tuple[int, int]]) -> dict[int, int]:
    """Longest-path depth of every node (sources 0); raises on a cycle."""
    preds: dict[int, list[int]] = {v: [] for v in range(1, nodes + 1)}
    for u, v in edges:
        preds[v].append(u)
    depth: dict[int, int] = {}
    visiting: set[int] = set()

    def visit(v: int) -> int:
        if v in depth:
            return depth[v]
        if v in visiting:
            raise ConfigError("macnet: the graph has a cycle")
        visiting.add(v)
        depth[v] = max((visit(u) + 1 for u in preds[v]), default=0)
        return depth[v]

    for v in preds:
        visit(v)
    return depth


class MacNet(Method):
    name = "macnet"
    summary = "Assistants on the nodes and instructors on the edges of a DAG, passing artifacts to one sink."
    paper = "Qian et al., Scaling Large-Language-Model-based Multi-Agent Collaboration, ICLR 2025"
    Config = MacNetConfig

    @property
    def edges(self) -> list[tuple[int, int]]:
        config: MacNetConfig = self.config
        return build_edges(config.topology, config.nodes, seed=config.seed, width=config.width)

    async def solve(self, task: str, session: Session) -> str:
        config: MacNetConfig = self.config
        edges = self.edges
        depth = depths(config.nodes, edges)
        sinks = [v for v in depth if not any(u == v for u, _ in edges)]
        if len(sinks) != 1:  # cannot happen for the generated topologies
            raise ConfigError(f"macnet: the graph must have one sink, it has {len(sinks)}")
        deepest = max(depth.values())
        artifacts: dict[int, str] = {}

        async def instruct(u: int, v: int, sampling: Sampling) -> str:
            messages = [
                Message("system", INSTRUCTOR),
                Message("user", f"Question:\n{task}\n\nSolution to review:\n{artifacts[u]}"),
            ]
            return await session.chat(f"instructor_{u}_{v}", messages, sampling=sampling)

        async def run_node(v: int) -> None:
            temperature = 1 - depth[v] / deepest if deepest else 1.0
            sampling = session.sampling_with(temperature, config.max_tokens)
            preds = sorted(u for u, w in edges if w == v)
            if not preds:
                prompt = task
            else:
                notes = await asyncio.gather(*(instruct(u, v, sampling) for u in preds))
                parts = [f"Question:\n{task}"]
                for u, note in zip(preds, notes, strict=True):
                    parts.append(f"Solution from node {u}:\n{artifacts[u]}\n\nReviewer's instructions:\n{note}")
                parts.append(
                    "Write an improved solution that follows the instructions"
                    + (" and combines the strengths of these solutions." if len(preds) > 1 else ".")
                    + " Give only the solution."
                )
                prompt = "\n\n".join(parts)
            messages = [Message("system", ASSISTANT), Message("user", prompt)]
            artifacts[v] = await session.chat(f"assistant_{v}", messages, sampling=sampling)

        for level in range(deepest + 1):
            await asyncio.gather(*(run_node(v) for v in sorted(depth) if depth[v] == level))
        return artifacts[sinks[0]]
