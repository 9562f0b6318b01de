"""Fidelity of the AutoGen group chat method: selection, broadcast, termination, answer."""

from __future__ import annotations

import json
from collections.abc import Callable

from agorakit import ScriptedModel
from agorakit.methods.group_chat import AutoGenGroupChat
from agorakit.models.base import ModelRequest, Sampling


def who(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    if system.startswith("You run a group conversation"):
        return "selector"
    return system.split("In this team you are the ")[1].split(":")[0]


def responder(replies: dict[str, list[str]]) -> Callable[[ModelRequest], str]:
    queues = {name: list(items) for name, items in replies.items()}
    return lambda request: queues[who(request)].pop(0)


def pick(name: str) -> str:
    return json.dumps({"speaker": name})


async def test_round_robin_runs_max_turns_and_answers_with_the_last_message() -> None:
    model = ScriptedModel(responder({"solver": ["s1 is 5", "s2 is 6"], "critic": ["c1"], "verifier": ["v1 is 7"]}))
    method = AutoGenGroupChat(model, speaker="round_robin", max_turns=4, trace=False)
    result = await method.run("q")
    assert [who(r) for r in model.requests] == ["solver", "critic", "verifier", "solver"]
    assert (result.answer, result.final_answer) == ("s2 is 6", "6")
    # Broadcast: the verifier sees the task and both earlier replies, authored.
    seen = [(m.role, m.name, m.content) for m in model.requests[2].messages[1:]]
    assert seen == [("user", "user", "q"), ("user", "solver", "s1 is 5"), ("user", "critic", "c1")]
    assert [m.name for m in result.transcript] == ["user", "solver", "critic", "verifier", "solver"]


async def test_model_selection_stops_at_the_phrase_and_strips_it() -> None:
    model = ScriptedModel(
        responder(
            {
                "selector": [pick("solver"), pick("verifier")],
                "solver": ["18 - 3 = 15, the answer is 15"],
                "verifier": ["Confirmed. The answer is 15. TERMINATE"],
                "critic": [],
            }
        )
    )
    result = await AutoGenGroupChat(model, trace=False).run("q")
    assert [who(r) for r in model.requests] == ["selector", "solver", "selector", "verifier"]
    assert (result.answer, result.final_answer) == ("Confirmed. The answer is 15.", "15")
    # The second choice excludes the previous speaker (AutoGen 0.4 selector default).
    schema = model.requests[2].response_schema
    assert schema is not None and schema["properties"]["speaker"]["enum"] == ["critic", "verifier"]
    assert "solver: 18 - 3 = 15" in (model.requests[2].messages[1].content or "")
    assert result.usage_by_agent["selector"].calls == 2 and result.usage.calls == 4


async def test_prompts_keep_what_is_shared_first_for_the_prompt_cache() -> None:
    model = ScriptedModel(
        responder(
            {
                "selector": [pick("solver"), pick("critic"), pick("verifier")],
                "solver": ["5"],
                "critic": ["Looks right."],
                "verifier": ["The answer is 5. TERMINATE"],
            }
        )
    )
    await AutoGenGroupChat(model, trace=False).run("q")
    selector = [r for r in model.requests if who(r) == "selector"]
    # The selector's instructions list everyone, whoever the candidates are: the same each turn,
    # and each turn's transcript begins with the previous one's.
    assert len({r.messages[0].content for r in selector}) == 1
    asks = [r.messages[1].content or "" for r in selector]
    assert asks[1].split("\n\nWho speaks")[0].startswith(asks[0].split("\n\nWho speaks")[0])
    assert asks[1].endswith("One of: critic, verifier.") and asks[2].endswith("One of: solver, verifier.")
    # The speakers' instructions differ only at their end, where the role is.
    speakers = [r.messages[0].content or "" for r in model.requests if who(r) != "selector"]
    shared = speakers[0].split("In this team")[0]
    assert len(shared) > 250 and all(text.startswith(shared) for text in speakers)


async def test_a_bare_terminate_answers_with_the_message_before_it() -> None:
    model = ScriptedModel(responder({"solver": ["The answer is 9"], "critic": ["TERMINATE"]}))
    method = AutoGenGroupChat(model, roles=("solver", "critic"), speaker="round_robin", trace=False)
    result = await method.run("q")
    assert [who(r) for r in model.requests] == ["solver", "critic"]
    assert (result.answer, result.final_answer) == ("The answer is 9", "9")


async def test_two_roles_need_the_selector_only_on_the_first_turn() -> None:
    model = ScriptedModel(
        responder({"selector": [pick("critic")], "critic": ["c", "c2"], "solver": ["The answer is 4 TERMINATE"]})
    )
    result = await AutoGenGroupChat(model, roles=("solver", "critic"), trace=False).run("q")
    assert [who(r) for r in model.requests] == ["selector", "critic", "solver"]
    assert result.answer == "The answer is 4"


async def test_no_termination_runs_exactly_max_turns_replies() -> None:
    model = ScriptedModel(
        responder({"selector": [pick("solver")] * 3, "solver": ["a"] * 3, "critic": ["b"] * 3, "verifier": []})
    )
    result = await AutoGenGroupChat(model, roles=("solver", "critic"), max_turns=5, trace=False).run("q")
    assert [who(r) for r in model.requests] == ["selector", "solver", "critic", "solver", "critic", "solver"]
    assert result.answer == "a"


async def test_selector_role_can_use_its_own_model() -> None:
    selector = ScriptedModel(['```json\n{"speaker": "solver"}\n```'])
    default = ScriptedModel(responder({"solver": ["The answer is 1 TERMINATE"]}))
    result = await AutoGenGroupChat(default, models={"selector": selector}, trace=False).run("q")
    assert len(selector.requests) == 1 and len(default.requests) == 1
    assert result.final_answer == "1"


async def test_the_runs_token_cap_reaches_the_selector_and_the_speakers() -> None:
    model = ScriptedModel(
        responder(
            {
                "selector": [pick("solver"), pick("verifier")],
                "solver": ["the answer is 15"],
                "verifier": ["The answer is 15. TERMINATE"],
                "critic": [],
            }
        )
    )
    await AutoGenGroupChat(model, trace=False, sampling=Sampling(max_tokens=48)).run("q")
    assert [(who(r), r.sampling.max_tokens) for r in model.requests] == [
        ("selector", 48),
        ("solver", 48),
        ("selector", 48),
        ("verifier", 48),
    ]
