"""The OpenAI-compatible routes, called by the official openai client on a real server."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import openai
import pytest
from live_server import ServeFactory

from agorakit import Agent, ScriptedModel
from agorakit.core.errors import ModelRequestError
from agorakit.models.scripted import Delay
from agorakit.server import agent_entry, method_entry
from agorakit.trace.reader import load_run


def helper(answer: str = "hello there", name: str = "helper") -> Agent:
    return Agent(name, ScriptedModel(lambda request: answer), instructions="Be brief.", description="says hello")


def client(server: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)  # type: ignore[attr-defined]


def test_models_lists_every_entry_with_its_kind(serve: ServeFactory) -> None:
    from agorakit.methods import method_class

    debate = method_entry(lambda: method_class("vanilla")(ScriptedModel(["4"])), name="solo")
    server = serve([agent_entry(helper()), debate])
    models = client(server).models.list()
    assert [m.id for m in models] == ["helper", "solo"]
    raw = httpx.get(f"{server.url}/v1/models", headers=server.headers).json()
    assert [m["agorakit"]["kind"] for m in raw["data"]] == ["agent", "method"]
    assert raw["data"][0]["agorakit"]["description"] == "says hello"


def test_a_completion_carries_the_answer_usage_and_the_traced_run(serve: ServeFactory, tmp_path: object) -> None:
    server = serve([agent_entry(helper())])
    reply = client(server).chat.completions.with_raw_response.create(
        model="helper", messages=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi you"}]
    )
    completion = reply.parse()
    assert completion.choices[0].message.content == "hello there"
    assert completion.choices[0].finish_reason == "stop"
    # The scripted model counts words: the system prompts and "hi you" in, "hello there" out.
    assert completion.usage is not None and completion.usage.completion_tokens == 2
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 2
    run_id = reply.headers["x-agorakit-run-id"]
    assert completion.id == f"chatcmpl-{run_id}"
    from agorakit.core import settings
    from agorakit.trace.store import open_store

    assert open_store(settings.trace_db_path()).flush()
    trace = load_run(settings.trace_db_path(), run_id)
    assert trace.run_id == run_id


def test_streaming_sends_the_answer_in_chunks_then_usage_then_done(serve: ServeFactory) -> None:
    server = serve([agent_entry(helper("one two three"))])
    stream = client(server).chat.completions.create(
        model="helper",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    raw = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "helper", "messages": [{"role": "user", "content": "count"}], "stream": True},
        headers=server.headers,
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_a_method_answers_whole_when_streamed(serve: ServeFactory) -> None:
    from agorakit.methods import method_class

    entry = method_entry(lambda: method_class("vanilla")(ScriptedModel(["The answer is 42"])), name="solo")
    server = serve([entry])
    plain = client(server).chat.completions.create(model="solo", messages=[{"role": "user", "content": "6 * 7?"}])
    assert plain.choices[0].message.content == "The answer is 42"
    chunks = list(
        client(server).chat.completions.create(
            model="solo", messages=[{"role": "user", "content": "6 * 7?"}], stream=True
        )
    )
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == [
        "The answer is 42"
    ]


def test_without_a_key_or_with_a_wrong_or_revoked_one_the_answer_is_401(serve: ServeFactory) -> None:
    server = serve([agent_entry(helper())])
    bare = httpx.get(f"{server.url}/v1/models")
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"] == "Bearer"
    assert bare.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="ak-wrong", max_retries=0).models.list()
    other = server.keys.create("other")
    assert httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    server.keys.revoke("other")
    assert httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok", "entries": 1}


def test_over_the_rate_limit_is_429_with_retry_after(serve: ServeFactory) -> None:
    server = serve([agent_entry(helper())])
    limited = server.keys.create("limited", rpm=2)
    headers = {"Authorization": f"Bearer {limited}"}
    codes = [httpx.get(f"{server.url}/v1/models", headers=headers).status_code for _ in range(2)]
    refused = httpx.get(f"{server.url}/v1/models", headers=headers)
    assert codes == [200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert httpx.get(f"{server.url}/v1/models", headers=server.headers).status_code == 200  # other keys unaffected


def test_a_spent_budget_is_429_and_usage_is_charged_to_the_key(serve: ServeFactory) -> None:
    server = serve([agent_entry(helper())])
    capped = server.keys.create("capped", max_calls=1)
    body = {"model": "helper", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {capped}"}
    assert httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=headers).status_code == 200
    record = server.keys.get("capped")
    assert record is not None and record.calls == 1 and record.tokens > 0
    refused = httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "budget_exceeded"
    assert "retry-after" not in refused.headers


@pytest.mark.parametrize(
    ("body", "status", "kind", "says"),
    [
        (b"{not json", 400, "invalid_request_error", "not valid JSON"),
        (b'{"model": "helper", "messages": []}', 400, "invalid_request_error", "messages"),
        (
            b'{"model": "helper", "messages": [{"role": "wizard", "content": "x"}]}',
            400,
            "invalid_request_error",
            "role",
        ),
        (
            b'{"model": "helper", "messages": [{"role": "assistant", "content": "x"}]}',
            400,
            "invalid_request_error",
            "user message",
        ),
        (b'{"model": "nobody", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found", "nobody"),
    ],
)
def test_bad_requests_get_a_json_error_with_a_hint(
    serve: ServeFactory, body: bytes, status: int, kind: str, says: str
) -> None:
    server = serve([agent_entry(helper())])
    headers = {**server.headers, "Content-Type": "application/json"}
    response = httpx.post(f"{server.url}/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind and says in error["message"] and error["hint"]


def test_an_oversized_body_is_413_and_the_server_keeps_serving(serve: ServeFactory) -> None:
    server = serve([agent_entry(helper())], max_body_bytes=4096)
    huge = {"model": "helper", "messages": [{"role": "user", "content": "x" * 10_000}]}
    response = httpx.post(f"{server.url}/v1/chat/completions", json=huge, headers=server.headers)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"

    def chunked() -> object:
        yield b'{"model": "helper", "messages": [{"role": "user", "content": "'
        yield b"y" * 8192
        yield b'"}]}'

    streamed = httpx.post(f"{server.url}/v1/chat/completions", content=chunked(), headers=server.headers)
    assert streamed.status_code == 413
    small = {"model": "helper", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{server.url}/v1/chat/completions", json=small, headers=server.headers).status_code == 200


def test_a_run_that_raises_is_an_error_with_a_hint_and_the_server_keeps_serving(serve: ServeFactory) -> None:
    def broken(request: object) -> str:
        raise RuntimeError("the tool shed burned down")

    failing = Agent("failing", ScriptedModel(lambda r: ModelRequestError("the model refused the request")))
    server = serve([agent_entry(Agent("broken", ScriptedModel(broken))), agent_entry(failing), agent_entry(helper())])
    body = {"messages": [{"role": "user", "content": "hi"}]}
    crashed = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "model": "broken"}, headers=server.headers)
    assert crashed.status_code == 500
    assert "the tool shed burned down" in crashed.json()["error"]["message"]
    refused = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "model": "failing"}, headers=server.headers)
    assert refused.status_code == 502 and refused.json()["error"]["type"] == "model_error"
    fine = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "model": "helper"}, headers=server.headers)
    assert fine.json()["choices"][0]["message"]["content"] == "hello there"


def test_a_run_over_the_deadline_is_504(serve: ServeFactory) -> None:
    slow = Agent("slow", ScriptedModel(lambda r: Delay(30, "late")))
    server = serve([agent_entry(slow)], run_timeout=0.3)
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=server.headers, timeout=20)
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout"


class Watched:
    """A model call that blocks until cancelled (or released), telling the test which happened."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.finished = threading.Event()

    async def sleep(self, seconds: float) -> None:
        self.started.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished.set()


@pytest.mark.parametrize("streamed", [False, True])
def test_a_client_that_leaves_mid_run_cancels_it(serve: ServeFactory, streamed: bool) -> None:
    watched = Watched()
    slow = Agent("slow", ScriptedModel(lambda r: Delay(30, "late"), sleep=watched.sleep))
    server = serve([agent_entry(slow)])
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": streamed}

    def leave_early() -> None:
        with (
            httpx.Client(headers=server.headers) as http,
            http.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=0.5) as response,
        ):
            for _ in response.iter_raw():  # reads what comes, then times out and drops the connection
                pass

    with pytest.raises(httpx.ReadTimeout):
        leave_early()
    assert watched.started.is_set()
    assert watched.cancelled.wait(10), "the run went on after its client left"


def test_with_on_disconnect_continue_the_run_finishes_after_the_client_left(serve: ServeFactory) -> None:
    watched = Watched()
    slow = Agent("slow", ScriptedModel(lambda r: Delay(1.0, "late"), sleep=watched.sleep))
    server = serve([agent_entry(slow)], on_disconnect="continue")
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST", f"{server.url}/v1/chat/completions", json=body, headers=server.headers, timeout=0.3
        ) as response,
    ):
        for _ in response.iter_raw():
            pass
    assert watched.finished.wait(10), "the run was cancelled though the server was told to continue"
    assert not watched.cancelled.is_set()


def test_a_client_that_stalls_mid_body_gets_408_and_the_server_keeps_serving(serve: ServeFactory) -> None:
    import socket

    server = serve([agent_entry(helper())], body_timeout=0.3)
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as stalled:
        stalled.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.key}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"model": "hel'
        )
        answer = stalled.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 408")
    assert "did not arrive within 0.3 s" in answer
    small = {"model": "helper", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{server.url}/v1/chat/completions", json=small, headers=server.headers).status_code == 200


def test_a_team_answers_with_its_last_word_under_the_run_id_it_was_given(serve: ServeFactory) -> None:
    from agorakit.core import settings
    from agorakit.methods.topology.group_chat import GroupChat
    from agorakit.server import team_entry
    from agorakit.trace.store import open_store

    writer = Agent("writer", ScriptedModel(["a draft"]), instructions="Write.")
    editor = Agent("editor", ScriptedModel(["the final text"]), instructions="Edit.")
    server = serve([team_entry(GroupChat([writer, editor], max_turns=2, terminate_on=None, name="desk"))])
    reply = client(server).chat.completions.with_raw_response.create(
        model="desk", messages=[{"role": "user", "content": "write it"}]
    )
    assert reply.parse().choices[0].message.content == "the final text"
    run_id = reply.headers["x-agorakit-run-id"]
    assert open_store(settings.trace_db_path()).flush()
    names = [span.name for span in load_run(settings.trace_db_path(), run_id).spans]
    assert names[0] == "invoke_team desk" and "invoke_agent editor" in names


def test_a_streamed_run_over_the_deadline_ends_with_a_timeout_event_then_done(serve: ServeFactory) -> None:
    slow = Agent("slow", ScriptedModel(lambda r: Delay(30, "late")))
    server = serve([agent_entry(slow)], run_timeout=0.3)
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=server.headers, timeout=20)
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert response.status_code == 200
    assert json.loads(events[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert json.loads(events[1])["error"]["type"] == "timeout"
    assert events[2:] == ["[DONE]"]


def test_the_chat_route_answers_other_methods_with_405_from_the_router(serve: ServeFactory) -> None:
    server = serve([agent_entry(helper())])
    response = httpx.get(f"{server.url}/v1/chat/completions", headers=server.headers)
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"
