"""Through the kernel, against the fault server: a server that rejects a request shape gets the
fallback, a transient failure is retried, and the kernel's timeout bounds the whole call."""

from __future__ import annotations

from typing import Any

import pytest

from agorakit.core import errors
from agorakit.core.messages import user
from agorakit.kernel import Kernel, RetryPolicy
from agorakit.models.base import ModelRequest
from agorakit.models.openai_backend import OpenAIModel
from fault_server import FaultServer, completion, delayed, error, raw

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.002)
SCHEMA = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}

# Word for word what ``python -m llama_cpp.server`` (llama-cpp-python 0.3.36) answers to json_schema.
LLAMA_CPP_PYTHON_500 = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"/srv/.venv/lib/python3.11/site-packages/"
    'llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
)
# What llama.cpp's ``llama-server`` builds that threw std::runtime_error answered (a 500).
LLAMA_SERVER_500 = 'response_format type must be one of "text" or "json_object", but got: json_schema'


def model_at(server: FaultServer, **options: Any) -> OpenAIModel:
    return OpenAIModel("fault-model", server.base_url, **options)


def ask_for_json() -> ModelRequest:
    return ModelRequest([user("2+3?")], response_schema=SCHEMA)


def formats(server: FaultServer) -> list[str | None]:
    return [(r.body.get("response_format") or {}).get("type") for r in server.chat_requests]


@pytest.mark.parametrize("message", [LLAMA_CPP_PYTHON_500, LLAMA_SERVER_500], ids=["llama_cpp.server", "llama-server"])
async def test_a_500_rejecting_json_schema_falls_back_to_json_object(fault_server: FaultServer, message: str) -> None:
    fault_server.script(
        error(500, message, type="internal_server_error"), completion('{"sum": 5}'), completion('{"sum": 7}')
    )
    model = model_at(fault_server)
    kernel = Kernel(retry=FAST)

    first = await kernel.complete(model, ask_for_json())
    assert first.message.content == '{"sum": 5}'
    assert model.schema_style == "json_object"
    assert formats(fault_server) == ["json_schema", "json_object"]

    second = await kernel.complete(model, ask_for_json())  # learnt: straight to json_object
    assert second.message.content == '{"sum": 7}'
    assert formats(fault_server) == ["json_schema", "json_object", "json_object"]


@pytest.mark.parametrize(
    "reply",
    [
        error(500, "CUDA error: an illegal memory access was encountered", type="server_error"),
        error(500, "", type="internal_server_error"),
        raw("Internal Server Error", status=500, content_type="text/plain"),
        error(503, "json_schema grammar compiler is loading, try again", type="server_error"),
    ],
    ids=["cuda-error", "empty-message", "plain-text", "503-naming-json_schema"],
)
async def test_a_transient_500_is_still_retried_in_the_same_shape(fault_server: FaultServer, reply: Any) -> None:
    fault_server.script(reply, completion('{"sum": 5}'))
    model = model_at(fault_server)
    result = await Kernel(retry=FAST).complete(model, ask_for_json())
    assert result.message.content == '{"sum": 5}'
    assert model.schema_style == "json_schema"
    assert formats(fault_server) == ["json_schema", "json_schema"]


async def test_a_hanging_server_fails_within_the_call_timeout_after_one_attempt(fault_server: FaultServer) -> None:
    # Before, --timeout was per attempt: 4 attempts of 20 s each (85 s) against a hung llama_cpp.server.
    fault_server.default = delayed(30.0, completion("too late"))
    with pytest.raises(errors.ModelTimeout, match=r"within 0\.3s \(the call's timeout, retries included\)"):
        await Kernel(retry=FAST, timeout=0.3).complete(model_at(fault_server), ask_for_json())
    assert fault_server.count == 1


async def test_attempt_timeouts_retry_only_within_the_call_timeout(fault_server: FaultServer) -> None:
    fault_server.default = delayed(30.0, completion("too late"))
    many = RetryPolicy(max_attempts=10, initial_backoff=0.001, max_backoff=0.002)
    with pytest.raises(errors.ModelTimeout):
        await Kernel(retry=many, timeout=1.0, attempt_timeout=0.4).complete(model_at(fault_server), ask_for_json())
    # Attempts of at most 0.4 s within 1 s: at most 3 (0.4 + 0.4 + the 0.2 left), never the 10 allowed.
    assert 2 <= fault_server.count <= 3
