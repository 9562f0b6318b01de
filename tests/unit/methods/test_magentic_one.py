"""Magentic-One: task ledger, progress ledger per turn, stall counting, re-planning, final answer."""

from __future__ import annotations

import json

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods import StructuredOutputError
from agorakit.methods.magentic_one import MagenticOne
from agorakit.models.base import ModelRequest

FACTS = json.dumps(
    {"given_or_verified": ["48 clips in April"], "to_look_up": [], "to_derive": ["May"], "educated_guesses": []}
)
NEW_FACTS = json.dumps({"given_or_verified": ["May is 24"], "to_look_up": [], "to_derive": [], "educated_guesses": []})
PLAN = json.dumps({"steps": ["solver computes", "verifier checks"]})
NEW_PLAN = json.dumps({"steps": ["solver recomputes carefully"]})
FINAL = "Natalia sold 72 clips.\nThe answer is 72"


def ledger(
    speaker: str = "solver",
    instruction: str = "do it",
    *,
    satisfied: bool = False,
    progress: bool = True,
    loop: bool = False,
) -> str:
    def field(answer: object) -> dict[str, object]:
        return {"reason": "because", "answer": answer}

    return json.dumps(
        {
            "is_request_satisfied": field(satisfied),
            "is_in_loop": field(loop),
            "is_progress_being_made": field(progress),
            "next_speaker": field(speaker),
            "instruction_or_question": field(instruction),
        }
    )


def kind(request: ModelRequest) -> str:
    """Which step a request is, from the prompt it ends with (retries included)."""
    first = request.messages[0]
    if first.role == "system" and (first.content or "").startswith("You are "):
        return (first.content or "").split()[2].rstrip(",")
    for message in reversed(request.messages):
        text = message.content or ""
        if message.role != "user" or text.startswith("That reply was not valid"):
            continue
        for marker, name in [
            ("Before starting, fill in a short pre-survey", "facts"),
            ("Now draft a short plan", "plan"),
            ("Judge how the work is going", "ledger"),
            ("We have not been making progress", "facts_update"),
            ("write a new plan", "plan_update"),
            ("We have finished working", "final"),
        ]:
            if marker in text:
                return name
    raise AssertionError(f"unrecognised request: {request.messages}")


def scripted(ledgers: list[str], workers: dict[str, list[str]] | None = None) -> tuple[ScriptedModel, list[str]]:
    kinds: list[str] = []
    queues = {name: list(replies) for name, replies in (workers or {}).items()}
    fixed = {"facts": FACTS, "plan": PLAN, "facts_update": NEW_FACTS, "plan_update": NEW_PLAN, "final": FINAL}
    pending = list(ledgers)

    def respond(request: ModelRequest) -> str:
        name = kind(request)
        kinds.append(name)
        if name == "ledger":
            return pending.pop(0)
        if name in fixed:
            return fixed[name]
        return queues[name].pop(0) if queues.get(name) else f"{name} says something"

    return ScriptedModel(respond), kinds


def texts(request: ModelRequest) -> list[str]:
    return [m.content or "" for m in request.messages]


async def test_one_ledger_per_turn_the_chosen_speaker_acts_and_satisfied_leads_to_the_final_answer() -> None:
    model, kinds = scripted(
        [ledger("solver", "Compute May and the total."), ledger("verifier", "Check 48 + 24."), ledger(satisfied=True)],
        {"solver": ["May is 24, total 72."], "verifier": ["Checked: 72 is right."]},
    )
    method = MagenticOne(model, trace=False)
    result = await method.run("How many clips?")
    assert kinds == ["facts", "plan", "ledger", "solver", "ledger", "verifier", "ledger", "final"]
    assert result.usage.calls == 8
    assert result.usage_by_agent["orchestrator"].calls == 6
    assert result.final_answer == "72"
    assert result.details["stop"] == "satisfied"

    requests = model.requests
    # The plan is asked after the facts, seeing them; the ledger carries task, facts and plan.
    # The facts as the model wrote them (spacing kept), so the engine's prompt cache still matches.
    assert texts(requests[1])[1] == FACTS
    solver = requests[3]
    assert solver.messages[0].role == "system" and "solver" in (solver.messages[0].content or "")
    ledger_text = solver.messages[1].content or ""
    assert ledger_text.startswith("orchestrator: We are working on this request:\n\nHow many clips?")
    assert "48 clips in April" in ledger_text and "- solver computes" in ledger_text
    assert solver.messages[-1].content == "orchestrator: Compute May and the total."
    # The next ledger sees the worker's reply; the verifier sees the whole thread and its own instruction.
    assert "solver: May is 24, total 72." in texts(requests[4])
    verifier = texts(requests[5])
    assert "solver: May is 24, total 72." in verifier
    assert verifier[-1] == "orchestrator: Check 48 + 24."
    # The final answer step reads the whole thread.
    final = texts(requests[7])
    assert "verifier: Checked: 72 is right." in final and "We have finished working" in final[-1]
    # Ledgers are asked with the schema, whose next speaker is limited to the team.
    schema = requests[2].response_schema or {}
    assert "NextSpeaker" in json.dumps(schema) and '"solver"' in json.dumps(schema)


async def test_replanning_fires_exactly_when_the_stall_counter_exceeds_max_stalls() -> None:
    stall = ledger(progress=False)
    looping = ledger(loop=True)
    model, kinds = scripted(
        [
            stall,  # 1
            looping,  # 2
            stall,  # 3 == max_stalls: not yet
            ledger(),  # progress: 2
            stall,  # 3
            stall,  # 4 > 3: re-plan, counter back to 0
            ledger("solver", "Start again."),
            ledger(satisfied=True),
        ]
    )
    method = MagenticOne(model, trace=False, max_stalls=3)
    result = await method.run("task")
    assert result.details["stall_counts"] == [1, 2, 3, 2, 3, 4, 0]
    assert result.details["replans"] == 1
    assert kinds == [
        "facts",
        "plan",
        *["ledger", "solver"] * 5,
        "ledger",
        "facts_update",
        "plan_update",
        "ledger",
        "solver",
        "ledger",
        "final",
    ]
    update = model.requests[kinds.index("facts_update")]
    assert "48 clips in April" in texts(update)[-1]  # the old facts are shown for updating
    plan_update = texts(model.requests[kinds.index("plan_update")])
    assert plan_update[-2] == NEW_FACTS
    # After re-planning the thread starts over: the worker sees the new ledger, not the old turns.
    solver_after = model.requests[len(kinds) - 3]
    assert kinds[len(kinds) - 3] == "solver"
    after = texts(solver_after)
    assert len(after) == 3 and "May is 24" in after[1] and "- solver recomputes carefully" in after[1]
    assert after[2] == "orchestrator: Start again."
    assert not any("solver says something" in text for text in after)


async def test_max_stalls_stalls_without_exceeding_do_not_replan() -> None:
    model, kinds = scripted([ledger(progress=False)] * 3 + [ledger(satisfied=True)])
    method = MagenticOne(model, trace=False, max_stalls=3)
    result = await method.run("task")
    assert "facts_update" not in kinds and result.details["replans"] == 0


async def test_max_turns_ends_with_the_final_answer() -> None:
    model, kinds = scripted([ledger()] * 2)
    method = MagenticOne(model, trace=False, max_turns=2)
    result = await method.run("task")
    assert kinds == ["facts", "plan", "ledger", "solver", "ledger", "solver", "final"]
    assert result.details["stop"] == "max_turns"
    assert result.answer == FINAL


async def test_too_many_replans_end_with_the_final_answer() -> None:
    model, kinds = scripted([ledger(progress=False)] * 2)
    method = MagenticOne(model, trace=False, max_stalls=0, max_replans=1)
    result = await method.run("task")
    assert kinds == ["facts", "plan", "ledger", "facts_update", "plan_update", "ledger", "final"]
    assert result.details["stop"] == "max_replans"


def malformed_ledger_run(replies: list[str]) -> tuple[ScriptedModel, list[str]]:
    return scripted([*replies, ledger(satisfied=True)])


async def test_a_fenced_ledger_is_read_without_a_retry() -> None:
    fenced = "Here is the ledger:\n```json\n" + ledger("verifier", "Check it.") + "\n```"
    model, kinds = malformed_ledger_run([fenced])
    await MagenticOne(model, trace=False).run("task")
    assert kinds == ["facts", "plan", "ledger", "verifier", "ledger", "final"]


async def test_a_ledger_missing_a_field_is_retried_then_recovered() -> None:
    missing = json.loads(ledger())
    del missing["is_in_loop"]
    model, kinds = malformed_ledger_run([json.dumps(missing), ledger("verifier", "Check it.")])
    await MagenticOne(model, trace=False).run("task")
    assert kinds == ["facts", "plan", "ledger", "ledger", "verifier", "ledger", "final"]
    retry = model.requests[3].messages[-1].content or ""
    assert "is_in_loop: Field required" in retry


async def test_a_ledger_with_a_wrong_type_or_unknown_speaker_is_retried() -> None:
    wrong = json.loads(ledger())
    wrong["is_progress_being_made"]["answer"] = ["yes"]
    model, kinds = malformed_ledger_run([json.dumps(wrong), ledger("websurfer"), ledger("solver")])
    await MagenticOne(model, trace=False).run("task")
    assert kinds == ["facts", "plan", "ledger", "ledger", "ledger", "solver", "ledger", "final"]
    assert "is_progress_being_made.answer" in (model.requests[3].messages[-1].content or "")
    assert "next_speaker.answer" in (model.requests[4].messages[-1].content or "")


async def test_a_ledger_that_never_validates_fails_clearly_naming_the_orchestrator() -> None:
    model, kinds = scripted(["not a ledger"] * 3)
    with pytest.raises(StructuredOutputError, match="orchestrator gave no valid ProgressLedger in 3 tries"):
        await MagenticOne(model, trace=False, ledger_retries=2).run("task")
    assert kinds == ["facts", "plan", "ledger", "ledger", "ledger"]


async def test_custom_team_and_bad_team() -> None:
    model, kinds = scripted([ledger("critic", "Criticise."), ledger("critic", satisfied=True)])
    team = (("critic", "Finds flaws."), ("writer", "Writes."))
    result = await MagenticOne(model, trace=False, team=team).run("task")
    assert kinds[3] == "critic" and result.usage_by_agent["critic"].calls == 1
    with pytest.raises(ConfigError, match="distinct member names"):
        await MagenticOne(ScriptedModel([]), trace=False, team=(("a", "x"), ("a", "y"))).run("task")
