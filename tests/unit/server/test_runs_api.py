"""The runs API on a real server: runs start in the background, their events replay and stream
live, a client that comes back gets exactly what it missed, runs cancel, fail and time out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from runs_helpers import LOOKUP_EVENTS, Gate, Serve, lookup_agent, read_events, sse, usage

from agorakit import Agent, ScriptedModel
from agorakit.core.errors import ModelRequestError
from agorakit.server import agent_entry


def start(server: Any, entry: str = "looker", **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/runs", json={"entry": entry, **(body or {"input": "What is it?"})},
                          headers=server.headers)  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/runs/{response.json()['run_id']}"
    run: dict[str, Any] = response.json()
    return run


def wait(server: Any, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/runs/{run_id}/wait", headers=server.headers, timeout=30)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def test_a_run_starts_at_once_and_its_record_ends_with_the_answer_and_usage(serve: Serve) -> None:
    server = serve([agent_entry(lookup_agent())])
    run = start(server)
    assert (run["entry"], run["kind"], run["status"], run["answer"]) == ("looker", "agent", "queued", None)
    done = wait(server, run["run_id"])
    assert done["status"] == "succeeded" and done["answer"] == "the answer is 42"
    assert done["stop_reason"] == "final_answer" and done["error"] is None
    assert done["usage"] == usage(2, 53, 6)
    assert done["events"] == {"last_id": 9, "dropped": 0}
    assert httpx.get(f"{server.url}/runs/{run['run_id']}", headers=server.headers).json() == done
    assert server.keys.get("tester").tokens == 59


def test_the_events_of_a_finished_run_replay_from_the_start_or_after_an_id(serve: Serve) -> None:
    server = serve([agent_entry(lookup_agent())])
    run_id = start(server)["run_id"]
    wait(server, run_id)
    url = f"{server.url}/runs/{run_id}/events"
    events = read_events(url, server.headers)
    assert [(i, kind) for i, kind, _ in events] == [(i, e["type"]) for i, e in enumerate(LOOKUP_EVENTS, 1)]
    assert [data for _, _, data in events] == LOOKUP_EVENTS
    assert [i for i, _, _ in read_events(url, {**server.headers, "Last-Event-ID": "6"})] == [7, 8, 9]
    assert [i for i, _, _ in read_events(url, server.headers, after=8)] == [9]
    assert read_events(url, server.headers, after=9) == []


def test_a_client_that_leaves_and_comes_back_with_last_event_id_gets_exactly_what_it_missed(
    serve: Serve,
) -> None:
    gate = Gate()
    server = serve([agent_entry(lookup_agent(gate))])
    run_id = start(server)["run_id"]
    url = f"{server.url}/runs/{run_id}/events"
    with httpx.stream("GET", url, headers=server.headers, timeout=30) as first:
        stream = sse(first)
        seen = [next(stream), next(stream)]  # then the client goes away, the run still going
    assert [i for i, _, _ in seen] == [1, 2]
    assert gate.reached.wait(10)
    with httpx.stream("GET", url, headers={**server.headers, "Last-Event-ID": "2"}, timeout=30) as second:
        stream = sse(second)
        rest = [next(stream)]  # the tool's result, sent before the client came back
        gate.open()  # the rest arrive live on the same connection
        rest += list(stream)
    assert [i for i, _, _ in rest] == [3, 4, 5, 6, 7, 8, 9]
    assert [data for _, _, data in seen + rest] == LOOKUP_EVENTS
    assert wait(server, run_id)["status"] == "succeeded"


def test_runs_are_listed_newest_first_and_filtered_by_status_and_entry(serve: Serve) -> None:
    gate = Gate()
    server = serve([agent_entry(lookup_agent()), agent_entry(lookup_agent(gate, name="slow"))])
    first = start(server)["run_id"]
    wait(server, first)
    slow = start(server, "slow")["run_id"]
    second = start(server)["run_id"]
    wait(server, second)

    def listed(**params: Any) -> list[str]:
        response = httpx.get(f"{server.url}/runs", params=params, headers=server.headers)
        assert response.status_code == 200, response.text
        return [run["run_id"] for run in response.json()["runs"]]

    assert listed() == [second, slow, first]
    assert listed(entry="looker") == [second, first]
    assert listed(status="running") == [slow]
    assert listed(status="succeeded", limit=1) == [second]
    assert httpx.get(f"{server.url}/runs", params={"status": "done"}, headers=server.headers).status_code == 400
    gate.open()
    assert wait(server, slow)["status"] == "succeeded"


def test_cancelling_a_running_run_stops_it_and_a_finished_run_cannot_be_cancelled(serve: Serve) -> None:
    gate = Gate()
    server = serve([agent_entry(lookup_agent(gate))])
    run_id = start(server)["run_id"]
    assert gate.reached.wait(10)
    cancelled = httpx.post(f"{server.url}/runs/{run_id}/cancel", headers=server.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    events = read_events(f"{server.url}/runs/{run_id}/events", server.headers)
    assert [kind for _, kind, _ in events] == ["usage", "tool_call_started", "tool_call_finished", "run_cancelled"]
    again = httpx.post(f"{server.url}/runs/{run_id}/cancel", headers=server.headers)
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "conflict"
    assert again.json()["error"]["message"] == f"run {run_id} has already ended (cancelled)"
    gate.open()
    assert wait(server, run_id)["status"] == "cancelled"


def test_a_run_that_raises_fails_with_the_error_as_json(serve: Serve) -> None:
    broken = Agent("broken", ScriptedModel(lambda request: ModelRequestError("the model refused")), trace=False)
    crashing = Agent("crashing", ScriptedModel(lambda request: RuntimeError("boom")), trace=False)
    server = serve([agent_entry(broken), agent_entry(crashing)])
    failed = wait(server, start(server, "broken")["run_id"])
    assert failed["status"] == "failed" and failed["answer"] is None
    assert failed["error"] == {"message": "the model refused", "type": "model_error", "code": "model_error",
                               "hint": "check the model name and the request; this error is not retried"}  # fmt: skip
    events = read_events(f"{server.url}/runs/{failed['run_id']}/events", server.headers)
    assert events == [(1, "run_failed", {"type": "run_failed", "error": failed["error"]})]
    crashed = wait(server, start(server, "crashing")["run_id"])
    assert crashed["status"] == "failed"
    assert crashed["error"]["type"] == "server_error"
    assert crashed["error"]["message"] == "the run failed: RuntimeError: boom"


def test_a_run_over_the_servers_time_limit_fails_with_a_timeout(serve: Serve) -> None:
    gate = Gate()  # never opened
    server = serve([agent_entry(lookup_agent(gate))], run_timeout=0.5)
    run = wait(server, start(server)["run_id"])
    assert run["status"] == "failed" and run["error"]["type"] == "timeout"
    gate.open()


def test_a_run_that_stops_without_an_answer_fails_with_its_stop_reason(serve: Serve) -> None:
    from agorakit.core.messages import ToolCall

    looping = lookup_agent()
    stuck = Agent("stuck", ScriptedModel(lambda request: ToolCall("c", "lookup", {"topic": "x"})),
                  tools=looping.tools, trace=False, max_steps=2)  # fmt: skip
    server = serve([agent_entry(stuck)])
    run = wait(server, start(server, "stuck")["run_id"])
    assert run["status"] == "failed" and run["stop_reason"] == "max_steps"
    assert run["error"]["type"] == "run_stopped" and run["error"]["code"] == "max_steps"


def test_a_conversation_is_passed_to_the_entry_and_bad_requests_are_refused(serve: Serve) -> None:
    model = ScriptedModel(lambda request: "ok")
    server = serve([agent_entry(Agent("chat", model, instructions="Be brief.", trace=False))])
    messages = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Bye."}]  # fmt: skip
    assert wait(server, start(server, "chat", messages=messages)["run_id"])["answer"] == "ok"
    shown = [(m.role, m.content) for m in model.requests[0].messages]
    assert shown == [("system", "Be brief."), ("user", "Hi."), ("assistant", "Hello."), ("user", "Bye.")]

    def refused(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{server.url}/runs", json=body, headers=server.headers)

    both = refused({"entry": "chat", "input": "a", "messages": messages})
    assert both.status_code == 400 and "give either input" in both.json()["error"]["message"]
    assert refused({"entry": "chat", "input": "  "}).status_code == 400
    assert refused({"entry": "chat", "messages": [{"role": "system", "content": "x"}]}).status_code == 400
    assert refused({"entry": "chat", "input": "a", "stream": True}).status_code == 400
    unknown = refused({"entry": "nobody", "input": "a"})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "model_not_found"


def test_an_unknown_run_is_a_404_with_a_hint(serve: Serve) -> None:
    server = serve([agent_entry(lookup_agent())])
    for method, path in [("GET", ""), ("GET", "/events"), ("GET", "/wait"), ("POST", "/cancel"),
                         ("GET", "/approvals")]:  # fmt: skip
        response = httpx.request(method, f"{server.url}/runs/nope{path}", headers=server.headers)
        assert response.status_code == 404, (method, path)
        error = response.json()["error"]
        assert error["message"] == "no run 'nope' on this server" and error["type"] == "not_found"
        assert error["hint"] == "GET /runs lists your runs; they are kept in memory until the server restarts"


def test_a_bad_last_event_id_is_refused(serve: Serve) -> None:
    server = serve([agent_entry(lookup_agent())])
    run_id = start(server)["run_id"]
    response = httpx.get(f"{server.url}/runs/{run_id}/events", headers={**server.headers, "Last-Event-ID": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Last-Event-ID must be an event number, got 'x'"


def test_the_routes_need_a_key_and_each_key_sees_only_its_own_runs(serve: Serve) -> None:
    server = serve([agent_entry(lookup_agent())])
    run_id = start(server)["run_id"]
    for method, path in [("GET", "/runs"), ("POST", "/runs"), ("GET", f"/runs/{run_id}"),
                         ("GET", f"/runs/{run_id}/events"), ("POST", f"/runs/{run_id}/cancel")]:  # fmt: skip
        response = httpx.request(method, f"{server.url}{path}")
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["type"] == "authentication_error"
    other = {"Authorization": f"Bearer {server.keys.create('other')}"}
    assert httpx.get(f"{server.url}/runs/{run_id}", headers=other).status_code == 404
    assert httpx.get(f"{server.url}/runs", headers=other).json() == {"runs": []}
    assert [r["run_id"] for r in httpx.get(f"{server.url}/runs", headers=server.headers).json()["runs"]] == [run_id]


def test_without_auth_runs_belong_to_nobody_and_everyone_sees_them(serve: Serve) -> None:
    server = serve([agent_entry(lookup_agent())], auth=False)
    response = httpx.post(f"{server.url}/runs", json={"entry": "looker", "input": "What is it?"})
    assert response.status_code == 201
    done = httpx.get(f"{server.url}/runs/{response.json()['run_id']}/wait").json()
    assert done["answer"] == "the answer is 42"


@pytest.mark.parametrize("timeout", ["0", "-1", "x"])
def test_wait_takes_a_positive_timeout(serve: Serve, timeout: str) -> None:
    server = serve([agent_entry(lookup_agent())])
    run_id = start(server)["run_id"]
    response = httpx.get(f"{server.url}/runs/{run_id}/wait", params={"timeout": timeout}, headers=server.headers)
    assert response.status_code == 400


def test_wait_returns_the_run_still_running_when_its_timeout_passes(serve: Serve) -> None:
    gate = Gate()
    server = serve([agent_entry(lookup_agent(gate))])
    run_id = start(server)["run_id"]
    response = httpx.get(f"{server.url}/runs/{run_id}/wait", params={"timeout": 0.2}, headers=server.headers)
    assert response.status_code == 200 and response.json()["status"] == "running"
    gate.open()
    assert wait(server, run_id)["status"] == "succeeded"
