"""OTLP/HTTP export of runs' spans, received by a local collector stand-in and decoded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agorakit import Agent, ScriptedModel, call
from agorakit.core import settings
from agorakit.core.errors import ConfigError, ScriptExhausted
from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.methods.vanilla import Vanilla
from agorakit.tools import calculator
from agorakit.trace.otlp import FanOutSink, OtlpSink, otel_value, otlp_sink, trace_id_of, traces_url
from agorakit.trace.reader import load_run
from agorakit.trace.setup import OTLP_ENDPOINT_ENV, configure_otlp, tracer_for
from agorakit.trace.store import open_store
from agorakit.trace.tracer import MemorySink, Record

SOURCE = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Collector:
    url: str
    received: list[Received] = field(default_factory=list)

    def spans(self) -> list[tuple[dict[str, Any], str, PbSpan]]:
        """Every exported span with its resource's attributes and its scope's name."""
        found = []
        for request in self.received:
            export = ExportTraceServiceRequest.FromString(request.body)
            for resource_spans in export.resource_spans:
                resource = attributes_of(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    found += [(resource, scope_spans.scope.name, span) for span in scope_spans.spans]
        return found


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    assert kind is not None
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    return getattr(value, kind)


def attributes_of(pairs: Any) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


@pytest.fixture
def collector() -> Iterator[Collector]:
    """An OTLP/HTTP receiver on 127.0.0.1 that keeps every POST /v1/traces body."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield Collector(url, received)
    finally:
        # What the test's runs left in the exporter goes now, while someone listens: not at
        # exit, to a closed port, retried for seconds at the end of the test session.
        otlp_sink(url).flush(10)
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def exporting(collector: Collector, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Collector:
    """Runs traced to a private SQLite store and exported to ``collector``."""
    for name in ("AGORAKIT_TRACE", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(tmp_path / "traces.db"))
    monkeypatch.setenv(OTLP_ENDPOINT_ENV, collector.url)
    return collector


def flush(collector: Collector) -> None:
    assert open_store(settings.trace_db_path()).flush(timeout=10)
    assert otlp_sink(collector.url).flush(timeout=10)


def solver() -> Agent:
    model = ScriptedModel([call("calculator", expression="17 * 23"), "17 * 23 = 391"])
    return Agent("solver", model, instructions="Solve it.", tools=[calculator])


async def test_an_agent_run_is_one_trace_with_the_stored_ids_parents_and_times(exporting: Collector) -> None:
    run_id = new_run_id()
    result = await solver().run("What is 17 * 23?", run_id=run_id)
    assert result.output == "17 * 23 = 391"
    flush(exporting)

    assert {r.path for r in exporting.received} == {"/v1/traces"}
    assert {r.headers["content-type"] for r in exporting.received} == {"application/x-protobuf"}
    exported = exporting.spans()
    assert {(resource["service.name"], scope) for resource, scope, _ in exported} == {("agorakit", "agorakit")}
    spans = [span for _, _, span in exported]
    # One trace per run, its id the (hex) run id, zero-padded to 32 digits.
    assert {span.trace_id.hex() for span in spans} == {run_id.rjust(32, "0")}
    # The same spans as the SQLite store holds: ids, parents, names, times.
    stored = load_run(settings.trace_db_path(), run_id).spans
    assert sorted((s.span_id, s.parent_id or "", s.name, s.start_ns, s.end_ns) for s in stored) == sorted(
        (s.span_id.hex(), s.parent_span_id.hex(), s.name, s.start_time_unix_nano, s.end_time_unix_nano) for s in spans
    )
    by_name = {span.name: span for span in spans}
    assert sorted(span.name for span in spans) == [
        "agent_turn 1",
        "agent_turn 2",
        "chat scripted",
        "chat scripted",
        "execute_tool calculator",
        "invoke_agent solver",
    ]

    root, turn = by_name["invoke_agent solver"], by_name["agent_turn 1"]
    chats = sorted((s for s in spans if s.name == "chat scripted"), key=lambda s: s.start_time_unix_nano)
    first_chat, second_chat = chats
    tool_span = by_name["execute_tool calculator"]
    assert root.parent_span_id == b""
    assert turn.parent_span_id == root.span_id == by_name["agent_turn 2"].parent_span_id
    assert first_chat.parent_span_id == turn.span_id == tool_span.parent_span_id
    assert second_chat.parent_span_id == by_name["agent_turn 2"].span_id

    assert (first_chat.kind, root.kind, tool_span.kind) == (
        PbSpan.SPAN_KIND_CLIENT,
        PbSpan.SPAN_KIND_INTERNAL,
        PbSpan.SPAN_KIND_INTERNAL,
    )
    chat = attributes_of(first_chat.attributes)
    output = json.loads(chat.pop("gen_ai.output.messages"))  # a dict: exported as JSON text
    assert (output["role"], output["tool_calls"][0]["arguments"]) == ("assistant", {"expression": "17 * 23"})
    assert {key: chat[key] for key in chat if key.startswith("gen_ai.")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "scripted",
        "gen_ai.response.model": "scripted",
        "gen_ai.agent.name": "solver",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.response.finish_reasons": ["tool_calls"],
    }
    assert (chat["agorakit.attempt"], chat["agorakit.run_id"]) == (1, run_id)
    agent = attributes_of(root.attributes)
    assert (agent["gen_ai.operation.name"], agent["gen_ai.agent.name"], agent["gen_ai.request.model"]) == (
        "invoke_agent",
        "solver",
        "scripted",
    )
    assert (agent["gen_ai.usage.input_tokens"], agent["gen_ai.usage.output_tokens"]) == (7 + 8, 2 + 5)
    assert (agent["agorakit.stop_reason"], agent["agorakit.output"]) == ("final_answer", "17 * 23 = 391")
    tool = attributes_of(tool_span.attributes)
    assert (tool["gen_ai.tool.name"], tool["gen_ai.tool.call.arguments"], tool["gen_ai.tool.call.result"]) == (
        "calculator",
        '{"expression":"17 * 23"}',
        "391",
    )
    assert {span.status.code for span in spans} == {PbStatus.STATUS_CODE_UNSET}  # nothing failed

    # The run's events ride on their spans; messages (dicts) arrive as JSON text.
    assert [event.name for event in turn.events] == ["gen_ai.assistant.message", "policy.none", "gen_ai.tool.message"]
    tool_message = json.loads(attributes_of(turn.events[2].attributes)["agorakit.message"])
    assert tool_message == {
        "role": "tool",
        "content": "391",
        "tool_call_id": tool["gen_ai.tool.call.id"],
        "name": "calculator",
    }
    assert [event.name for event in root.events] == ["gen_ai.system.message", "gen_ai.user.message"]
    assert all(root.start_time_unix_nano <= e.time_unix_nano <= root.end_time_unix_nano for e in root.events)


async def test_a_method_run_is_its_own_trace_and_failures_carry_their_message(exporting: Collector) -> None:
    result = await Vanilla(ScriptedModel(["The answer is 4."])).run("2 + 2?")
    with pytest.raises(ScriptExhausted):
        await Agent("broken", ScriptedModel([]), instructions="x").run("hi", run_id="failing-run")
    flush(exporting)

    spans = [span for _, _, span in exporting.spans()]
    method = [span for span in spans if span.trace_id.hex() == result.run_id.rjust(32, "0")]
    by_name = {span.name: span for span in method}
    assert sorted(by_name) == ["agent_turn assistant", "chat scripted", "invoke_method vanilla"]
    assert by_name["chat scripted"].parent_span_id == by_name["agent_turn assistant"].span_id
    assert by_name["agent_turn assistant"].parent_span_id == by_name["invoke_method vanilla"].span_id
    root = attributes_of(by_name["invoke_method vanilla"].attributes)
    assert (root["gen_ai.operation.name"], root["agorakit.method"], root["agorakit.output"]) == (
        "invoke_method",
        "vanilla",
        "The answer is 4.",
    )

    # A run id that is not hex gets a hashed trace id, still one for the whole run.
    failed = [span for span in spans if span.trace_id == trace_id_of("failing-run").to_bytes(16, "big")]
    assert sorted(span.name for span in failed) == ["agent_turn 1", "chat scripted", "invoke_agent broken"]
    assert len(spans) == len(method) + len(failed)
    for span in failed:
        assert span.status.code == PbStatus.STATUS_CODE_ERROR
        assert span.status.message.startswith("scripted model 'scripted' has no response left for request 1")
        assert attributes_of(span.attributes)["error.type"] == "ScriptExhausted"


async def test_headers_and_service_name_come_from_the_standard_variables(
    exporting: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret,x-team=agents")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-service")
    endpoint = f"{exporting.url}/v1/traces/"  # a full traces URL works as well as the base URL
    monkeypatch.setenv(OTLP_ENDPOINT_ENV, endpoint)
    await solver().run("What is 17 * 23?")
    assert otlp_sink(endpoint).flush(timeout=10)
    assert {(r.path, r.headers["x-api-key"], r.headers["x-team"]) for r in exporting.received} == {
        ("/v1/traces", "secret", "agents")
    }
    assert {resource["service.name"] for resource, _, _ in exporting.spans()} == {"my-service"}


def test_records_become_spans_with_their_events_status_and_kind() -> None:
    exporter = InMemorySpanExporter()
    sink = OtlpSink("http://unused/v1/traces", SimpleSpanProcessor(exporter), Resource.create())
    root, chat, tool = "00000000000000a1", "00000000000000b2", "00000000000000c3"
    for record in [
        ("span_start", "run-1", root, None, "invoke_agent a", 100, {}),
        ("event", "run-1", None, 110, "policy.none", {"agorakit.policy.reason": "allow-all"}),
        ("span_start", "run-1", chat, root, "chat m", 120, {"gen_ai.operation.name": "chat"}),
        ("span_end", "run-1", chat, 130, "error", {"gen_ai.operation.name": "chat", "error.type": "Boom"}),
        ("span_start", "run-1", tool, root, "execute_tool t", 140, {}),
        ("span_end", "run-1", tool, 150, "cancelled", {"gen_ai.tool.name": "t"}),
        ("event", "run-1", None, 160, "budget_exceeded", {"agorakit.budget.limit": "calls"}),
        ("span_end", "run-1", root, 170, "ok", {"gen_ai.usage.input_tokens": 3, "skipped": None}),
        ("event", "run-1", None, 180, "too_late", {}),  # no open span left: dropped
        ("span_end", "run-1", "00000000000000d4", 190, "ok", {}),  # never started here: dropped
    ]:
        sink.write(record)
    assert sink.flush(timeout=10)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert sorted(spans) == ["chat m", "execute_tool t", "invoke_agent a"]
    assert {span.context.trace_id for span in spans.values()} == {trace_id_of("run-1")}
    assert [span.context.span_id for span in spans.values()] == [0xB2, 0xC3, 0xA1]  # in the order they ended
    assert [(span.parent.span_id if span.parent else None) for span in spans.values()] == [0xA1, 0xA1, None]
    failed, stopped, whole = spans["chat m"], spans["execute_tool t"], spans["invoke_agent a"]
    assert (failed.kind, failed.status.status_code, failed.status.description) == (
        SpanKind.CLIENT,
        StatusCode.ERROR,
        "Boom",
    )
    assert (stopped.kind, stopped.status.status_code, dict(stopped.attributes or {})) == (
        SpanKind.INTERNAL,
        StatusCode.UNSET,
        {"gen_ai.tool.name": "t", "agorakit.run_id": "run-1", "agorakit.status": "cancelled"},
    )
    assert dict(whole.attributes or {}) == {"gen_ai.usage.input_tokens": 3, "agorakit.run_id": "run-1"}
    assert (whole.start_time, whole.end_time) == (100, 170)
    assert [(e.name, e.timestamp, dict(e.attributes or {})) for e in whole.events] == [
        ("policy.none", 110, {"agorakit.policy.reason": "allow-all"}),
        ("budget_exceeded", 160, {"agorakit.budget.limit": "calls"}),
    ]


class Recording(MemorySink):
    """A sink that notes the flushes asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes: list[float | None] = []

    def flush(self, timeout: float | None = None) -> bool:
        self.flushes.append(timeout)
        return True


class Forgetting(Recording):
    """One that can also forget a run, as the SQLite store can."""

    def __init__(self) -> None:
        super().__init__()
        self.forgotten: list[str] = []

    def forget(self, run_id: str) -> None:
        self.forgotten.append(run_id)


def test_the_fan_out_waits_for_the_store_not_for_the_exporter() -> None:
    store, exporter = Forgetting(), Recording()
    sink = FanOutSink(store, exporter)
    record: Record = ("event", "run-1", None, 1, "x", {})
    sink.write(record)
    assert store.records == exporter.records == [record]
    assert sink.flush(timeout=10)
    assert (store.flushes, exporter.flushes) == ([10], [0])
    sink.forget("run-1")
    assert store.forgotten == ["run-1"]


def test_tracer_for_adds_the_exporter_only_when_the_variable_is_set(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = MemorySink()
    monkeypatch.delenv(OTLP_ENDPOINT_ENV, raising=False)
    assert tracer_for(mine).sink is mine
    monkeypatch.setenv(OTLP_ENDPOINT_ENV, collector.url)
    sink = tracer_for(mine).sink
    assert isinstance(sink, FanOutSink) and sink.sinks == (mine, otlp_sink(collector.url))
    assert tracer_for(False).enabled is False


def test_attribute_values_become_what_opentelemetry_can_hold() -> None:
    assert otel_value("text") == "text"
    assert otel_value(3) == 3
    assert otel_value(2**70) == str(2**70)
    assert otel_value(True) is True
    assert otel_value(None) is None
    assert otel_value(["stop", "length"]) == ("stop", "length")
    assert otel_value([1, 2]) == (1, 2)
    assert otel_value([]) == ()
    assert otel_value({"a": [1, None]}) == '{"a":[1,null]}'
    assert otel_value([{"role": "user"}, {"role": "assistant"}]) == '[{"role":"user"},{"role":"assistant"}]'
    assert otel_value([1, "two"]) == '[1,"two"]'
    assert otel_value([2**70]) == f"[{2**70}]"
    assert json.loads(str(otel_value(Message("user", "hi")))) == {"role": "user", "content": "hi"}
    assert otel_value(Path("/tmp/x")) == "/tmp/x"


def test_endpoints_and_configure_otlp(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("https://otel.example/v1/traces/") == "https://otel.example/v1/traces"
    with pytest.raises(ConfigError, match="is not an http"):
        traces_url("127.0.0.1:4318")
    monkeypatch.delenv(OTLP_ENDPOINT_ENV, raising=False)
    assert configure_otlp(collector.url) == f"{collector.url}/v1/traces"
    assert os.environ[OTLP_ENDPOINT_ENV] == collector.url
    # One exporter per endpoint for the whole process, however it is spelt.
    assert otlp_sink(collector.url) is otlp_sink(f"{collector.url}/v1/traces")


def test_without_the_sdk_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "agorakit.trace.otlp")
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    monkeypatch.delenv(OTLP_ENDPOINT_ENV, raising=False)
    with pytest.raises(ConfigError) as missing:
        configure_otlp("http://127.0.0.1:4318")
    assert missing.value.hint == "pip install 'agorakit[server]'"
    assert "OTLP export needs the OpenTelemetry SDK" in str(missing.value)
    assert OTLP_ENDPOINT_ENV not in os.environ


RUN_AND_LIST_OTEL = """
import sys
from agorakit import Agent, ScriptedModel
from agorakit.core import settings
from agorakit.trace.store import open_store
from agorakit.trace.tracer import MemorySink, Record
Agent("a", ScriptedModel(["hello"]), instructions="x").run_sync("hi", run_id="deadbeef")
open_store(settings.trace_db_path()).flush()
print(" ".join(sorted(name for name in sys.modules if name.startswith("opentelemetry"))))
"""


def test_a_run_imports_opentelemetry_only_when_export_is_on(collector: Collector, tmp_path: Path) -> None:
    def run(**extra: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SOURCE), "AGORAKIT_HOME": str(tmp_path), **extra}
        done = subprocess.run(
            [sys.executable, "-c", RUN_AND_LIST_OTEL], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run() == ""
    assert load_run(tmp_path / "traces.db", "deadbeef").spans[0].name == "invoke_agent a"
    imported = run(**{OTLP_ENDPOINT_ENV: collector.url}).split()
    assert {"opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"} <= set(imported)
    # Exported at exit: the process ended without anyone flushing.
    names = {span.name for _, _, span in collector.spans() if span.trace_id.hex() == "deadbeef".rjust(32, "0")}
    assert names == {"invoke_agent a", "agent_turn 1", "chat scripted"}
