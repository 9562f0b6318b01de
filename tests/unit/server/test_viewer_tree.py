"""What the viewer makes of a stored run (prompts, tool calls, policy, errors, conversations,
usage) and its paged, filtered queries, on runs real agents and a method wrote."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agorakit.server.viewer_format import as_text, clip, cost, duration
from agorakit.server.viewer_query import RunFilter, find_runs
from agorakit.server.viewer_tree import EventView, SpanView, message_view, run_view, shorten
from agorakit.trace import attributes as attr
from agorakit.trace.reader import list_runs, load_run
from agorakit.trace.records import RunTrace, SpanRecord, summarize
from viewer_samples import BANK_SYSTEM, BANK_TASK, DEBATE_QUESTION, DEBATE_REPLY, ViewerRuns, make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> ViewerRuns:
    return asyncio.run(make_runs(tmp_path_factory.mktemp("viewer")))


def spans_named(roots: list[SpanView], name: str) -> list[SpanView]:
    found: list[SpanView] = []
    for view in roots:
        if view.span.name == name:
            found.append(view)
        found += spans_named([item for item in view.items if isinstance(item, SpanView)], name)
    return found


def test_agent_prompts_are_rebuilt_from_its_messages(runs: ViewerRuns) -> None:
    view = run_view(load_run(runs.trace_db, runs.bank_run))
    calls = spans_named(view.roots, "chat scripted")
    assert [[m.role for m in call.prompt or []] for call in calls] == [
        ["system", "user"],
        ["system", "user", "assistant", "tool"],
        ["system", "user", "assistant", "tool", "assistant", "tool"],
    ]
    first = calls[0]
    assert [m.text for m in first.prompt or []] == [BANK_SYSTEM, BANK_TASK]
    assert first.prompt_note == "rebuilt from the agent's messages in the trace"
    assert first.completion[0].tool_calls == ('send_money({"recipient": "mallory", "amount": 5})',)
    assert (calls[2].prompt or [])[3].text == "Error: policy denied send_money: no rule of the policy allows this call"


def test_tool_calls_policy_decisions_and_errors(runs: ViewerRuns) -> None:
    view = run_view(load_run(runs.trace_db, runs.bank_run))
    denied, allowed = spans_named(view.roots, "execute_tool send_money")
    assert denied.tool is not None and denied.tool.arguments == '{"recipient":"mallory","amount":5}'
    assert denied.error == "PolicyDenied: Error: policy denied send_money: no rule of the policy allows this call"
    # The exception that says the same as the span's error line is not repeated below it.
    assert [(item.kind, item.text) for item in denied.items if isinstance(item, EventView)] == [
        ("deny", "policy: deny send_money (no rule of the policy allows this call); fallback: error")
    ]
    assert allowed.tool is not None and allowed.tool.result == "sent 3 to alice"
    assert [item.kind for item in allowed.items if isinstance(item, EventView)] == ["allow"]
    assert [error.span.span_id for error in view.errors] == [denied.span.span_id]
    assert (view.total.calls, view.total.input_tokens, view.total.output_tokens) == (
        3,
        view.summary.input_tokens,
        view.summary.output_tokens,
    )
    assert [u.agent for u in view.usage] == ["bank"]


def test_method_runs_have_one_conversation_per_agent(runs: ViewerRuns) -> None:
    view = run_view(load_run(runs.trace_db, runs.debate_run))
    assert view.method == "llm_debate"
    assert [c.agent for c in view.conversations] == ["debater_1", "debater_2"]
    for conversation in view.conversations:
        assert [(m.role, m.author, m.text) for m in conversation.messages] == [
            ("user", "user", DEBATE_QUESTION),
            ("assistant", conversation.agent, DEBATE_REPLY),
        ]
    assert len(view.messages) == 3
    calls = spans_named(view.roots, "chat scripted")
    assert len(calls) == 2
    assert calls[0].prompt is None
    assert (
        calls[0].prompt_note == "the prompt (1 message) is not in the trace; the conversations show the run's messages"
    )
    assert {u.agent: u.calls for u in view.usage} == {"debater_1": 1, "debater_2": 1}


def test_a_recorded_prompt_is_shown_as_recorded() -> None:
    root = SpanRecord("r", "run1", None, "invoke_agent a", 1, 9, "ok", {attr.OPERATION: attr.OP_INVOKE_AGENT})
    chat = SpanRecord(
        "c", "run1", "r", "chat m", 2, 8, "ok",
        {
            attr.OPERATION: attr.OP_CHAT,
            attr.SYSTEM_INSTRUCTIONS: "Be brief.",
            attr.INPUT_MESSAGES: [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            attr.OUTPUT_MESSAGES: {"role": "assistant", "content": "hello"},
        },
    )  # fmt: skip
    view = run_view(RunTrace(summarize("run1", [root, chat]), [root, chat], []))
    [call] = spans_named(view.roots, "chat m")
    assert [(m.role, m.text) for m in call.prompt or []] == [("system", "Be brief."), ("user", "hi")]
    assert call.prompt_note is None
    assert [(m.role, m.text) for m in call.completion] == [("assistant", "hello")]


def test_message_views_of_odd_shapes() -> None:
    assert message_view("plain", role="user").text == "plain"
    assert message_view({"x": 1}).role == "message"
    tool_only = message_view({"role": "assistant", "content": None, "tool_calls": [{"name": "f", "arguments": {}}]})
    assert (tool_only.text, tool_only.tool_calls) == ("", ("f({})",))


def test_runs_are_paged_newest_first(runs: ViewerRuns) -> None:
    every = [run.run_id for run in find_runs(runs.trace_db, RunFilter(), page_size=10).runs]
    assert len(every) == 4 and every == [run.run_id for run in list_runs(runs.trace_db, 10)]
    first = find_runs(runs.trace_db, RunFilter(), page_size=3)
    second = find_runs(runs.trace_db, RunFilter(page=2), page_size=3)
    assert ([r.run_id for r in first.runs], first.has_next) == (every[:3], True)
    assert ([r.run_id for r in second.runs], second.has_next) == (every[3:], False)
    bank = find_runs(runs.trace_db, RunFilter(agent="bank")).runs
    assert [(r.run_id, r.calls, r.steps, r.status) for r in bank] == [(runs.bank_run, 3, 3, "ok")]


def test_formatters() -> None:
    assert [duration(None), duration(850_000), duration(12_000_000), duration(1_250_000_000)] == [
        "-",
        "850µs",
        "12ms",
        "1.25s",
    ]
    assert duration(125_000_000_000) == "2m05s"
    assert (cost(0.0), cost(0.00125)) == ("$0", "$0.00125")
    assert clip("abcdef", 4) == "abcd\n… (2 more characters)"
    assert as_text('{"a":1}') == '{\n  "a": 1\n}'
    assert as_text("{not json") == "{not json"
    assert as_text({"b": [1]}) == '{\n  "b": [\n    1\n  ]\n}'


def test_a_missing_database_is_a_config_error(tmp_path: Path) -> None:
    from agorakit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="no trace database at"):
        find_runs(tmp_path / "none.db", RunFilter())


def test_long_prompts_keep_their_system_messages_and_their_end() -> None:
    prompt = [message_view("rules", role="system")] + [message_view(str(i), role="user") for i in range(20)]
    shown, gap = shorten(prompt, tail=3)
    assert [m.text for m in shown] == ["rules", "17", "18", "19"]
    assert gap == 1
    assert shorten(prompt[:4], tail=3) == (prompt[:4], 1)
