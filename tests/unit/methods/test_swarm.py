"""Fidelity of the Swarm method: handoffs switch the active agent, shared history, stop rule."""

from __future__ import annotations

from collections.abc import Callable

from agorakit import ScriptedModel
from agorakit.methods.swarm import Swarm
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptItem, call


def who(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    for name, start in (("triage", "You receive"), ("solver", "You solve"), ("checker", "You verify")):
        if system.startswith(start):
            return name
    raise AssertionError(system)


def responder(replies: dict[str, list[ScriptItem]]) -> Callable[[ModelRequest], ScriptItem]:
    queues = {name: list(items) for name, items in replies.items()}
    return lambda request: queues[who(request)].pop(0)


async def test_triage_hands_to_solver_who_answers_without_a_handoff() -> None:
    model = ScriptedModel(
        responder({"triage": [call("transfer_to_solver")], "solver": ["48 + 24 = 72. The answer is 72"]})
    )
    result = await Swarm(model, trace=False).run("clips?")
    assert [who(r) for r in model.requests] == ["triage", "solver"]
    assert (result.answer, result.final_answer) == ("48 + 24 = 72. The answer is 72", "72")
    triage, solver = model.requests
    assert [s.name for s in triage.tools] == ["transfer_to_solver", "transfer_to_checker"]
    assert [s.name for s in solver.tools] == ["transfer_to_triage", "transfer_to_checker"]
    # The solver sees the shared history: the task, triage's handoff call and its result.
    assert [(m.role, m.name) for m in solver.messages[1:]] == [
        ("user", "user"),
        ("assistant", "triage"),
        ("tool", "transfer_to_solver"),
    ]
    assert [(m.role, m.name) for m in result.transcript] == [
        ("user", "user"),
        ("assistant", "triage"),
        ("tool", "transfer_to_solver"),
        ("assistant", "solver"),
    ]
    assert {k: v.calls for k, v in result.usage_by_agent.items()} == {"triage": 1, "solver": 1}


async def test_checker_sends_back_then_answers() -> None:
    model = ScriptedModel(
        responder(
            {
                "triage": [call("transfer_to_solver")],
                "solver": [call("transfer_to_checker"), call("transfer_to_checker")],
                "checker": [call("transfer_to_solver"), "The answer is 72"],
            }
        )
    )
    result = await Swarm(model, trace=False).run("q")
    assert [who(r) for r in model.requests] == ["triage", "solver", "checker", "solver", "checker"]
    assert result.final_answer == "72" and result.usage.calls == 5


async def test_handoffs_are_capped_then_the_active_agent_must_answer() -> None:
    model = ScriptedModel(
        responder(
            {
                "triage": [call("transfer_to_solver")],
                "solver": [call("transfer_to_checker"), "The answer is 3"],
                "checker": [call("transfer_to_solver")],
            }
        )
    )
    result = await Swarm(model, max_handoffs=3, trace=False).run("q")
    assert [who(r) for r in model.requests] == ["triage", "solver", "checker", "solver"]
    last = model.requests[-1]
    assert last.tools == [] and last.tool_choice == "none"
    assert result.final_answer == "3"


async def test_max_turns_bounds_model_calls_without_an_answer() -> None:
    model = ScriptedModel(responder({"triage": [call("transfer_to_solver")], "solver": [call("transfer_to_triage")]}))
    result = await Swarm(model, max_turns=2, trace=False).run("q")
    assert [who(r) for r in model.requests] == ["triage", "solver"]
    assert result.answer == "" and result.final_answer is None
