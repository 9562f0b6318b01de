"""Directed graph: conditional edges, cycles bounded by max_visits, end conditions, views."""

from __future__ import annotations

from agorakit import ScriptedModel
from agorakit.agents import Agent
from agorakit.core.messages import Message
from agorakit.kernel import RunLedger
from agorakit.methods.topology import Graph


async def test_conditional_back_edge_loops_until_max_visits_then_falls_through() -> None:
    writer = ScriptedModel(["d1", "d2", "d3"])
    checker = ScriptedModel(["revise 1", "revise 2", "revise 3"])
    graph = Graph(max_visits=3)
    graph.add_node(Agent("writer", writer)).add_node(Agent("checker", checker))

    async def publish(messages: list[Message]) -> str:
        return f"published after {messages[-1].content}"

    graph.add_node(publish)
    graph.add_edge("writer", "checker")
    graph.add_edge("checker", "writer", when=lambda out: "revise" in out)
    graph.add_edge("checker", "publish")
    result = await graph.run("write", context=RunLedger.create())
    assert result.path == ["writer", "checker"] * 3 + ["publish"]
    assert result.visits == {"writer": 3, "checker": 3, "publish": 1}
    assert result.output == "published after revise 3"


async def test_condition_false_skips_the_loop() -> None:
    graph = Graph()
    graph.add_node(Agent("writer", ScriptedModel(["d1"]))).add_node(Agent("checker", ScriptedModel(["fine"])))
    graph.add_edge("writer", "checker").add_edge("checker", "writer", when=lambda out: "revise" in out)
    result = await graph.run("write", context=RunLedger.create())
    assert result.path == ["writer", "checker"] and result.output == "fine"


async def test_view_all_shows_every_output_and_view_last_only_the_previous() -> None:
    for view, expected in (
        ("all", [("user", "user", "t"), ("user", "a", "A")]),
        ("last", [("user", "a", "A")]),
    ):
        b = ScriptedModel(["B"])
        graph = Graph(view=view)  # type: ignore[arg-type]
        graph.add_node(Agent("a", ScriptedModel(["A"]))).add_node(Agent("b", b)).add_edge("a", "b")
        await graph.run("t", context=RunLedger.create())
        assert [(m.role, m.name, m.content) for m in b.requests[0].messages[1:]] == expected


async def test_end_condition_and_start_node() -> None:
    calls: list[str] = []

    def node(label: str):  # type: ignore[no-untyped-def]
        async def run(messages: list[Message]) -> str:
            calls.append(label)
            return label

        return run

    graph = Graph(start="b", end=lambda name, out: name == "c")
    for label in "abcd":
        graph.add_node(node(label), name=label)
    graph.add_edge("a", "b").add_edge("b", "c").add_edge("c", "d")
    result = await graph.run("t", context=RunLedger.create())
    assert calls == ["b", "c"] and result.output == "c"


async def test_per_node_max_visits_overrides_the_default() -> None:
    count = 0

    async def tick(messages: list[Message]) -> str:
        nonlocal count
        count += 1
        return str(count)

    graph = Graph(max_visits=10).add_node(tick, max_visits=4).add_edge("tick", "tick")
    result = await graph.run("t", context=RunLedger.create())
    assert result.visits == {"tick": 4} and result.output == "4"
