"""Sample runs written through the real Tracer and TraceStore, shared by the trace tests."""

from __future__ import annotations

from pathlib import Path

from agorakit.core.errors import ModelTimeout
from agorakit.core.messages import Message, ToolCall
from agorakit.trace import attributes as attr
from agorakit.trace.store import TraceStore
from agorakit.trace.tracer import Tracer

# Two runs whose ids share the prefix "0190aaaa" (ambiguous) but not "0190aaaa1"/"0190aaaa2".
DONE_RUN = "0190aaaa1111aabbccddeeff00"
OPEN_RUN = "0190aaaa2222aabbccddeeff00"
MODEL = "scripted:demo"
TASK = "What is 6 times 7?"
ANSWER = "The answer is 42."
TOOL_ARGS = '{"a": 6, "b": 7}'
LONG_RESULT = "x" * 500

# What the DONE_RUN holds, for exact assertions.
DONE_SPANS = 7  # root, 2 turns, 3 chat (one failed), 1 tool
DONE_EVENTS = 4  # user message, assistant message, exception, retry
DONE_CALLS = 3
DONE_STEPS = 2
OPEN_SPANS = 3  # root, turn, chat; none ended
OPEN_EVENTS = 1


def write_done_run(store: TraceStore, run_id: str = DONE_RUN) -> None:
    """A finished two-turn run: a tool call, a failed then retried model call, usage totals."""
    tracer = Tracer(run_id, store)
    root_attrs = {attr.OPERATION: attr.OP_INVOKE_AGENT, attr.AGENT_NAME: "solver", attr.REQUEST_MODEL: MODEL}
    with tracer.span("invoke_agent solver", root_attrs) as root:
        root.set("agorakit.input", TASK)
        # The layout agorakit's agents write: the Message itself, serialised by the store.
        tracer.event("gen_ai.user.message", {"agorakit.message": Message("user", TASK)})
        with tracer.span("agent_turn 1", {attr.OPERATION: attr.OP_TURN, attr.STEP: 1}):
            with tracer.span(f"chat {MODEL}", {attr.OPERATION: attr.OP_CHAT, attr.REQUEST_MODEL: MODEL}) as chat:
                chat.set(attr.ATTEMPT, 1)
                chat.set(attr.INPUT_TOKENS, 12)
                chat.set(attr.OUTPUT_TOKENS, 7)
                chat.set(attr.FINISH_REASONS, ["tool_calls"])
                reply = Message("assistant", None, [ToolCall("call_1", "multiply", {"a": 6, "b": 7})], name="solver")
                chat.set(attr.OUTPUT_MESSAGES, reply)
                tracer.event("gen_ai.assistant.message", {"agorakit.author": "solver", "agorakit.message": reply})
            tool_attrs = {
                attr.OPERATION: attr.OP_EXECUTE_TOOL,
                attr.TOOL_NAME: "multiply",
                attr.TOOL_CALL_ID: "call_1",
                attr.TOOL_CALL_ARGUMENTS: TOOL_ARGS,
            }
            with tracer.span("execute_tool multiply", tool_attrs) as tool:
                tool.set(attr.TOOL_CALL_RESULT, "42")
        with tracer.span("agent_turn 2", {attr.OPERATION: attr.OP_TURN, attr.STEP: 2}):
            try:
                with tracer.span(f"chat {MODEL}", {attr.OPERATION: attr.OP_CHAT, attr.ATTEMPT: 1}):
                    raise ModelTimeout("no answer after 30s")
            except ModelTimeout:
                tracer.event("retry", {attr.ATTEMPT: 2, "agorakit.retry.delay_s": 0.5})
            with tracer.span(f"chat {MODEL}", {attr.OPERATION: attr.OP_CHAT, attr.ATTEMPT: 2}) as chat:
                chat.set(attr.INPUT_TOKENS, 30)
                chat.set(attr.OUTPUT_TOKENS, 9)
                chat.set(attr.FINISH_REASONS, ["stop"])
        root.set(attr.INPUT_TOKENS, 42)
        root.set(attr.OUTPUT_TOKENS, 16)
        root.set(attr.COST_USD, 0.0012)
        root.set(attr.STOP_REASON, "final_answer")
        root.set("agorakit.output", ANSWER)


def write_open_run(store: TraceStore, run_id: str = OPEN_RUN) -> None:
    """A run whose process 'died' mid-call: every span is left open."""
    tracer = Tracer(run_id, store)
    root = tracer.start_span(
        "invoke_agent writer",
        {attr.OPERATION: attr.OP_INVOKE_AGENT, attr.AGENT_NAME: "writer", attr.REQUEST_MODEL: MODEL},
    )
    turn = tracer.start_span("agent_turn 1", {attr.OPERATION: attr.OP_TURN, attr.STEP: 1}, parent=root)
    chat = tracer.start_span(f"chat {MODEL}", {attr.OPERATION: attr.OP_CHAT}, parent=turn)
    chat.event("gen_ai.user.message", {"content": "write a poem"})


def build_db(path: Path) -> Path:
    """A database holding DONE_RUN and then OPEN_RUN (the newest)."""
    store = TraceStore(path)
    try:
        write_done_run(store)
        assert store.flush()
        write_open_run(store)
        assert store.flush()
    finally:
        store.close()
    return path
