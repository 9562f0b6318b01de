"""The user-built method in docs/methods.md runs as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agorakit import ScriptedModel
from agorakit.models.base import ModelRequest

DOC = Path(__file__).resolve().parents[3] / "docs" / "methods.md"


def example_code() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Build your own method", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return next(block for block in blocks if "class DraftCritiqueRevise" in block)


def load() -> Any:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(example_code(), str(DOC), "exec", dont_inherit=True), namespace)
    return namespace["DraftCritiqueRevise"]


def role(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    return {"Solve": "drafter", "Check": "critic", "Write": "reviser"}[system.split(" ")[0]]


def scripted(verdicts: list[str]) -> ScriptedModel:
    drafts = iter(f"draft {i}" for i in range(1, 10))
    critiques = iter(verdicts)

    def answer(request: ModelRequest) -> str:
        who = role(request)
        if who == "drafter":
            return next(drafts)
        if who == "critic":
            return next(critiques)
        return "Final: 17 * 3 = 51. The answer is 51"

    return ScriptedModel(answer)


async def test_the_loop_runs_until_the_critic_approves() -> None:
    model = scripted(["revise: check the carry", "approve"])
    result = await load()(model, trace=False).run("What is 17 * 3?")
    assert [role(r) for r in model.requests] == ["drafter", "critic", "drafter", "critic", "reviser"]
    assert result.final_answer == "51"
    # The second draft is written seeing the critique (the whole conversation).
    assert "revise: check the carry" in [m.content for m in model.requests[2].messages]
    assert {k: v.calls for k, v in result.usage_by_agent.items()} == {"drafter": 2, "critic": 2, "reviser": 1}


async def test_the_loop_is_bounded_by_max_drafts() -> None:
    model = scripted(["revise"] * 5)
    result = await load()(model, max_drafts=2, trace=False).run("What is 17 * 3?")
    assert [role(r) for r in model.requests] == ["drafter", "critic", "drafter", "critic", "reviser"]
    assert result.answer.endswith("The answer is 51")
    assert [m.name for m in result.transcript] == ["user", "drafter", "critic", "drafter", "critic", "reviser"]
