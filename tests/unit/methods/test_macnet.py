"""MacNet fidelity: graph shapes, call counts, artifact passing, topological order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.macnet import MacNet, build_edges, depths
from agorakit.models.base import ModelRequest, Sampling


def is_instructor(request: ModelRequest) -> bool:
    return "instructor" in (request.messages[0].content or "")


def responder() -> Callable[[ModelRequest], str]:
    counts = {"art": 0, "note": 0}

    def reply(request: ModelRequest) -> str:
        if is_instructor(request):
            counts["note"] += 1
            return f"NOTE{counts['note']}"
        counts["art"] += 1
        return f"ART{counts['art']}\nThe answer is {counts['art']}"

    return reply


def text(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


@pytest.mark.parametrize(
    ("topology", "edges"),
    [
        ("chain", [(1, 2), (2, 3), (3, 4)]),
        ("star", [(2, 1), (3, 1), (4, 1)]),
        ("tree", [(2, 1), (3, 1), (4, 2)]),
        ("mesh", [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]),
        ("layered", [(1, 2), (1, 3), (2, 4), (3, 4)]),
    ],
)
async def test_calls_are_nodes_plus_edges(topology: str, edges: list[tuple[int, int]]) -> None:
    assert build_edges(topology, 4) == edges
    model = ScriptedModel(responder())
    result = await MacNet(model, topology=topology, nodes=4, trace=False).run("Q?")
    assert len(model.requests) == 4 + len(edges)
    assert sum(is_instructor(r) for r in model.requests) == len(edges)
    assert set(result.usage_by_agent) >= {f"instructor_{u}_{v}" for u, v in edges}
    assert {f"assistant_{v}" for v in range(1, 5)} <= set(result.usage_by_agent)


async def test_random_topology_counts_too() -> None:
    edges = build_edges("random", 5, seed=7)
    model = ScriptedModel(responder())
    await MacNet(model, topology="random", nodes=5, seed=7, trace=False).run("Q?")
    assert len(model.requests) == 5 + len(edges)


def test_random_topology_is_acyclic_single_sink_and_seeded() -> None:
    for seed in range(30):
        edges = build_edges("random", 6, seed=seed)
        assert edges == build_edges("random", 6, seed=seed)
        assert all(u < v for u, v in edges)  # forward edges only: acyclic
        depths(6, edges)
        assert {u for u, _ in edges} == {1, 2, 3, 4, 5}  # 6 is the only sink
        assert 5 <= len(edges) <= 15
    assert len({tuple(build_edges("random", 6, seed=s)) for s in range(30)}) > 1


def test_layered_and_errors() -> None:
    assert build_edges("layered", 7, width=2) == [
        (1, 3), (1, 4), (2, 3), (2, 4), (3, 5), (3, 6), (4, 5), (4, 6), (5, 7), (6, 7),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="cycle"):
        depths(3, [(1, 2), (2, 3), (3, 1)])
    with pytest.raises(ConfigError, match="unknown topology"):
        build_edges("ring", 4)


async def test_chain_passes_artifacts_not_transcripts_in_order() -> None:
    model = ScriptedModel(responder())
    result = await MacNet(model, topology="chain", nodes=4, trace=False).run("Q?")
    kinds = ["I" if is_instructor(r) else "A" for r in model.requests]
    assert kinds == ["A", "I", "A", "I", "A", "I", "A"]
    node3 = text(model.requests[4])
    assert "ART2" in node3 and "NOTE2" in node3  # node 2's artifact and the 2->3 instructions
    assert "ART1" not in node3 and "NOTE1" not in node3  # not node 2's own inputs
    review_2_3 = text(model.requests[3])
    assert "ART2" in review_2_3 and "ART1" not in review_2_3 and "NOTE1" not in review_2_3
    assert [m.role for m in model.requests[4].messages] == ["system", "user"]
    assert result.answer.startswith("ART4") and result.final_answer == "4"


async def test_mesh_sink_aggregates_all_predecessors() -> None:
    model = ScriptedModel(responder())
    result = await MacNet(model, topology="mesh", nodes=4, trace=False).run("Q?")
    sink = text(model.requests[-1])
    for tag in ("ART1", "ART2", "ART3", "NOTE4", "NOTE5", "NOTE6"):
        assert tag in sink
    assert "NOTE1" not in sink and "combines" in sink
    assert result.final_answer == "4"
    temperatures = [r.sampling.temperature for r in model.requests if not is_instructor(r)]
    assert temperatures == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


async def test_star_hub_is_the_sink() -> None:
    model = ScriptedModel(responder())
    result = await MacNet(model, topology="star", nodes=4, trace=False).run("Q?")
    hub = text(model.requests[-1])
    assert all(f"Solution from node {u}" in hub for u in (2, 3, 4))
    assert result.final_answer == "4"


async def test_the_runs_token_cap_reaches_every_call() -> None:
    # A benchmark's --max-tokens must bound every call (an uncapped call ran to the context limit on a server).
    model = ScriptedModel(responder())
    await MacNet(model, topology="chain", nodes=3, trace=False, sampling=Sampling(max_tokens=64)).run("Q?")
    assert [r.sampling.max_tokens for r in model.requests] == [64] * 5
    assert [r.sampling.temperature for r in model.requests if not is_instructor(r)] == [1.0, 0.5, 0.0]
