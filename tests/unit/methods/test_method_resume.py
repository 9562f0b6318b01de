"""Every registered method resumes from its journal: a run cut half-way by a model failure, resumed,
makes exactly the calls an uninterrupted run makes and gives its answer; a finished run replays whole.

The model answers from the request alone (a minimal valid object when a schema is asked for, else a
short answer), so a resumed run meets the same replies an uninterrupted one did.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from agorakit.core import errors
from agorakit.methods import REGISTRY, method_class
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptedModel

SMALL: dict[str, dict[str, Any]] = {
    "self_consistency": {"samples": 3},
    "mav": {"candidates": 2},
    "maker": {"k": 1},
}


def instance(schema: dict[str, Any], defs: dict[str, Any], seed: str) -> Any:
    """A small valid instance of ``schema`` (the shapes methods ask for)."""
    if "$ref" in schema:
        return instance(defs[schema["$ref"].split("/")[-1]], defs, seed)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return instance(schema[key][0], defs, seed)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: instance(sub, defs, f"{seed}.{name}") for name, sub in properties.items()}
    if kind == "array":
        return [instance(schema.get("items", {"type": "string"}), defs, seed)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if "maximum" not in schema else int(schema["maximum"])
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return f"{seed.rsplit('.', 1)[-1]} 12"


def respond(request: ModelRequest) -> str:
    import json

    if request.response_schema is not None:
        schema = request.response_schema
        return json.dumps(instance(schema, schema.get("$defs", {}), "root"))
    digest = hashlib.blake2b((request.messages[-1].content or "").encode(), digest_size=2).hexdigest()
    return f"Working on it ({digest}). The answer is 12."


class Failing(ScriptedModel):
    """Answers like ``respond`` until its ``fail_at``-th call, which fails for good."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(respond)
        self.fail_at = fail_at

    async def complete(self, request: ModelRequest) -> Any:
        if self.fail_at is not None and len(self.requests) + 1 >= self.fail_at:
            self.requests.append(request)
            raise errors.ModelRequestError("the machine went away")
        return await super().complete(request)


@pytest.fixture(autouse=True)
def journal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path))
    monkeypatch.setenv("AGORAKIT_JOURNAL_DB", str(tmp_path / "journal.db"))


def build(name: str, model: ScriptedModel) -> Any:
    cls = method_class(name)
    fields = {f for f in cls.Config.__dataclass_fields__}
    return cls(model, trace=False, **{k: v for k, v in SMALL.get(name, {}).items() if k in fields})


@pytest.mark.parametrize("name", sorted(REGISTRY))
async def test_a_method_cut_half_way_resumes_to_the_uninterrupted_answer_and_calls(name: str) -> None:
    whole_model = Failing()
    whole = await build(name, whole_model).run("What is 5 + 7?", durability="exit", run_id="whole")
    calls = len(whole_model.requests)
    assert calls >= 1

    again = Failing()
    replayed = await build(name, again).resume("whole")
    assert again.requests == []  # a finished run is replayed whole
    assert replayed.answer == whole.answer and replayed.usage.calls == whole.usage.calls

    cut_at = calls // 2 + 1
    first = Failing(fail_at=cut_at)
    with pytest.raises(errors.ModelRequestError):
        await build(name, first).run("What is 5 + 7?", durability="sync", run_id="cut")
    second = Failing()
    resumed = await build(name, second).resume("cut")

    # Calls before the cut succeeded and are replayed; the failed ones (several, when the method
    # had calls in flight together) are made again, and nothing else.
    assert cut_at - 1 + len(second.requests) == calls
    assert resumed.answer == whole.answer
    assert resumed.final_answer == whole.final_answer
    assert resumed.usage.calls == whole.usage.calls
    assert [m.to_dict() for m in resumed.transcript] == [m.to_dict() for m in whole.transcript]
