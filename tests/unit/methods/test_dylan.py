"""DyLAN fidelity: who sees which layer, the ranker, 2/3 consensus, importance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pytest

from agorakit import ScriptedModel
from agorakit.methods.dylan import DyLAN, consensus_reached, parse_scores, select_team
from agorakit.models.base import ModelRequest, Sampling

ROLES = ("A", "B", "C", "D")


def role_of(request: ModelRequest) -> str:
    system = request.messages[0]
    if system.role != "system":
        return "ranker"
    return (system.content or "").split("\n")[0].removeprefix("You are ").rstrip(".")


def responder(
    answers: dict[tuple[str, int], str], scores: dict[tuple[str, int], str] | None = None, ranking: str = "[1, 2]"
) -> Callable[[ModelRequest], str]:
    """Reply as agent ROLE in layer L (counted per role) with a tagged text."""
    seen: dict[str, int] = defaultdict(int)

    def reply(request: ModelRequest) -> str:
        role = role_of(request)
        if role == "ranker":
            return '{"ranking": ' + ranking + "}"
        seen[role] += 1
        layer = seen[role]
        score = (scores or {}).get((role, layer), "")
        return f"<L{layer}-{role}> {score}\nThe answer is {answers[(role, layer)]}"

    return reply


def user_text(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def distinct(layer: int, roles: str = "ABCD") -> dict[tuple[str, int], str]:
    return {(r, layer): str(10 * layer + i) for i, r in enumerate(roles)}


async def test_four_layers_without_consensus_rank_once_and_drop_agents() -> None:
    answers = {**distinct(1), **distinct(2), **distinct(3, "AC"), **distinct(4, "AC")}
    model = ScriptedModel(responder(answers, ranking="[3, 1, 2, 4]"))
    result = await DyLAN(model, roles=ROLES, shuffle=False, trace=False).run("Q?")
    # 4 + 4 + ranker + 2 + 2
    assert len(model.requests) == 13
    ranker = [r for r in model.requests if role_of(r) == "ranker"]
    assert len(ranker) == 1 and ranker[0].response_schema is not None
    assert model.requests[8] is ranker[0]
    for tag in ("<L2-A>", "<L2-B>", "<L2-C>", "<L2-D>"):
        assert tag in user_text(ranker[0])
    calls_by_role: dict[str, int] = defaultdict(int)
    for request in model.requests:
        calls_by_role[role_of(request)] += 1
    # B and D were ranked out before layer 3: no further calls.
    assert dict(calls_by_role) == {"A": 4, "B": 2, "C": 4, "D": 2, "ranker": 1}
    for request in model.requests:
        role = role_of(request)
        if role == "ranker":
            continue
        text = user_text(request)
        layer = int(text.split("<L")[1][0]) + 1 if "<L" in text else 1
        survivors = "AC" if layer == 4 else "ABCD"  # only A and C answered in layer 3
        shown = {f"<L{layer - 1}-{r}>" for r in survivors} if layer > 1 else set()
        for lay in range(1, 5):
            for r in "ABCD":
                tag = f"<L{lay}-{r}>"
                assert (tag in text) == (tag in shown), (role, layer, tag)
    # layer 3 and 4 prompts: all four layer-2 replies, then only A and C's layer-3 replies
    layer4 = [r for r in model.requests if "<L3-" in user_text(r)]
    assert [role_of(r) for r in layer4] == ["C", "A"]
    # no consensus: majority of the last layer, tie -> first to answer (C, ranked first)
    assert result.final_answer == "41"
    assert result.details["consensus"] is False
    assert result.details["selected"] == [["c_3", "a_1"]]
    assert result.details["layers_run"] == 4


async def test_ranker_not_called_with_two_layers_or_when_top_k_covers_the_team() -> None:
    answers = {**distinct(1), **distinct(2), **distinct(3), **distinct(4)}
    two = ScriptedModel(responder(answers))
    await DyLAN(two, roles=ROLES, layers=2, shuffle=False, trace=False).run("Q?")
    assert len(two.requests) == 8 and all(role_of(r) != "ranker" for r in two.requests)
    wide = ScriptedModel(responder(answers))
    await DyLAN(wide, roles=ROLES, top_k=4, shuffle=False, trace=False).run("Q?")
    assert len(wide.requests) == 16 and all(role_of(r) != "ranker" for r in wide.requests)


@pytest.mark.parametrize(
    ("layer1", "calls", "stopped", "answer"),
    [
        ("7 7 7 1", 3, True, "7"),  # 3 of the first 3 agree -> stop before D
        ("7 7 1 7", 4, True, "7"),  # 3 of 4 once D answers
        ("7 1 7 2", 4, False, None),  # 2 of 4 -> continue
        ("7 7 1 1", 4, False, None),  # 2 and 2 -> continue
    ],
)
async def test_early_stop_fires_exactly_when_more_than_two_thirds_agree(
    layer1: str, calls: int, stopped: bool, answer: str | None
) -> None:
    answers = {(r, 1): a for r, a in zip("ABCD", layer1.split(), strict=True)} | distinct(2)
    model = ScriptedModel(responder(answers))
    result = await DyLAN(model, roles=ROLES, layers=2, shuffle=False, trace=False).run("Q?")
    layer1_calls = sum(1 for r in model.requests if "<L" not in user_text(r))
    assert layer1_calls == calls
    assert result.details["consensus"] is stopped
    assert len(model.requests) == (calls if stopped else calls + 4)
    if answer is not None:
        assert result.final_answer == answer


def test_consensus_threshold_is_strictly_more_than_two_thirds() -> None:
    cases = {(3, 4): True, (2, 4): False, (2, 2): True, (1, 2): False, (3, 3): True, (2, 3): False}
    cases |= {(5, 6): True, (4, 6): False, (1, 1): True}
    assert {case: consensus_reached(*case) for case in cases} == cases


def test_scores_become_normalised_edge_weights() -> None:
    assert parse_scores("ok [[5, 0, 0, 0]]", 4) == [1.0, 0.0, 0.0, 0.0]
    assert parse_scores("[[1, 2]] then [[4, 4]]", 2) == [0.5, 0.5]
    assert parse_scores("[[5, 9, x]]", 3) == [0.5, 0.5, 0.0]  # >5 counts as 1, junk as 0
    assert parse_scores("no scores", 4) == [0.25] * 4
    assert parse_scores("[[1, 2]]", 3) == pytest.approx([1 / 3] * 3)  # wrong length -> uniform


async def test_importance_flows_back_through_the_next_layers_ratings() -> None:
    answers = {**distinct(1), ("A", 2): "7", ("B", 2): "7", ("C", 2): "7", ("D", 2): "8"}
    scores = {("A", 2): "[[5, 0, 0, 0]]", ("B", 2): "[[2, 2, 2, 2]]"}  # C gives none -> uniform
    model = ScriptedModel(responder(answers, scores))
    result = await DyLAN(model, roles=ROLES, shuffle=False, trace=False).run("Q?")
    assert len(model.requests) == 7  # layer 2 stops after A, B, C agree
    assert result.final_answer == "7" and result.details["consensus"] is True
    nodes = result.details["node_importance"]
    assert isinstance(nodes, list)
    assert nodes[1] == pytest.approx({"a_1": 1 / 3, "b_2": 1 / 3, "c_3": 1 / 3})
    assert nodes[0] == pytest.approx({"a_1": 0.5, "b_2": 1 / 6, "c_3": 1 / 6, "d_4": 1 / 6})
    importance = result.details["importance"]
    assert importance == pytest.approx({"a_1": 5 / 6, "b_2": 0.5, "c_3": 0.5, "d_4": 1 / 6})
    assert isinstance(importance, dict)
    assert sum(importance.values()) == pytest.approx(2)  # one per layer run


async def test_shuffling_is_seeded() -> None:
    answers = {**distinct(1), **distinct(2), **distinct(3), **distinct(4)}
    runs = []
    for _ in range(2):
        model = ScriptedModel(responder(answers))
        await DyLAN(model, roles=ROLES, seed=3, trace=False).run("Q?")
        runs.append([(role_of(r), user_text(r)) for r in model.requests])
    assert runs[0] == runs[1]


async def test_select_team_keeps_the_agents_with_highest_mean_importance() -> None:
    plans = {
        "T1": {("A", 1): "1", ("B", 1): "1", ("C", 1): "1", ("D", 1): "9"},  # A, B, C agree (D never asked)
        "T2": {("A", 1): "1", ("B", 1): "2", ("C", 1): "2", ("D", 1): "2"},  # B, C, D agree
    }
    seen: dict[tuple[str, str], int] = defaultdict(int)

    def reply(request: ModelRequest) -> str:
        task = "T1" if "T1" in user_text(request) else "T2"
        role = role_of(request)
        seen[(task, role)] += 1
        return f"The answer is {plans[task][(role, seen[(task, role)])]}"

    model = ScriptedModel(reply)
    team = await select_team(lambda: DyLAN(model, roles=ROLES, shuffle=False, trace=False), ["T1", "T2"], 2)
    assert len(model.requests) == 3 + 4
    assert team.mean_importance == pytest.approx({"a_1": 1 / 6, "b_2": 1 / 3, "c_3": 1 / 3, "d_4": 1 / 6})
    assert team.agents == ["b_2", "c_3"]
    assert team.roles == ("B", "C")


async def test_the_runs_token_cap_reaches_every_call() -> None:
    answers = {**distinct(1), **distinct(2), **distinct(3, "AC"), **distinct(4, "AC")}
    model = ScriptedModel(responder(answers, ranking="[3, 1, 2, 4]"))
    await DyLAN(model, roles=ROLES, shuffle=False, trace=False, sampling=Sampling(max_tokens=64)).run("Q?")
    assert [r.sampling.max_tokens for r in model.requests] == [64] * 13
