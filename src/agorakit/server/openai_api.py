"""OpenAI-compatible routes: ``GET /v1/models`` and ``POST /v1/chat/completions``.

``model`` names a served entry; the entry runs on the request's messages and
the answer comes back as a chat completion (with ``usage``), or as SSE chunks
ending with ``data: [DONE]`` when ``stream`` is true. Sampling fields a client
sends (temperature, max_tokens, ...) are accepted and ignored: each entry runs
with the settings its config gives it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.responses import Response

from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.core.stream import RunFinished, TextDelta
from agorakit.core.usage import Usage
from agorakit.server.entries import Answer, Entry
from agorakit.server.errors import APIError, describe_problems, error_body
from agorakit.server.guard import request_key
from agorakit.server.running import as_api_error, keep_running, run_for_request
from agorakit.server.sse import EventStream
from agorakit.server.state import ServerState

router = APIRouter()


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # sampling fields are accepted, not used

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" and m.text().strip() for m in messages):
            raise ValueError("the conversation needs a user message with text")
        return messages

    def conversation(self) -> list[Message]:
        converted = []
        for m in self.messages:
            role = "system" if m.role == "developer" else m.role
            converted.append(Message(role, m.text(), name=m.name))
        return converted


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_body(raw: bytes, model: type[ModelT]) -> ModelT:
    """The request body as ``model``: JSON whatever the Content-Type says (``curl -d`` sends a
    form type), validated, or a 400 that says what is wrong."""
    try:
        return model.model_validate_json(raw)  # parsed and validated in one pass
    except ValidationError as error:
        problems = error.errors(include_url=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise APIError(
                400,
                "the request body is not valid JSON",
                kind="invalid_request_error",
                hint='send a JSON object, e.g. {"model": ..., "messages": [...]}',
            ) from None
        raise APIError(
            400,
            f"the request is not valid: {describe_problems(problems)}",
            kind="invalid_request_error",
            hint="see docs/serve.md for the request shapes",
        ) from None


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.agora
    return state


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    state = state_of(request)
    return {
        "object": "list",
        "data": [
            {
                "id": e.name,
                "object": "model",
                "created": 0,
                "owned_by": "agorakit",
                "agorakit": {"kind": e.kind, "description": e.description, "model": e.model},
            }
            for e in state.entries.values()
        ],
    }


async def chat_completions(request: Request) -> Response:
    body = parse_body(await request.body(), ChatRequest)
    state = state_of(request)
    entry = state.entry(body.model)
    run_id = new_run_id()
    messages = body.conversation()
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return EventStream(
            _chunks(state, entry, messages, run_id, request, include_usage=include_usage),
            headers={"Cache-Control": "no-cache", "X-Agorakit-Run-Id": run_id},
            last=DONE,
        )
    answer = await run_for_request(
        entry.run(messages, run_id),
        timeout=state.settings.run_timeout,
        receive=request.receive,
        keep_going=state.settings.on_disconnect == "continue",
    )
    _charge(state, request, answer.usage)
    return Response(
        orjson.dumps(completion(entry, answer)),
        media_type="application/json",
        headers={"X-Agorakit-Run-Id": answer.run_id},
    )


# A plain route: the body is parsed and validated above, so FastAPI's per-request
# dependency machinery would only add time to the server's hottest path. The router answers
# other methods (405); a POST is answered before the router (see agorakit.server.direct).
router.add_route("/v1/chat/completions", chat_completions, methods=["POST"], include_in_schema=False)
DIRECT_ROUTES = {("POST", "/v1/chat/completions"): chat_completions}


def completion(entry: Entry, answer: Answer) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{answer.run_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": entry.name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": _finish_reason(answer),
                "logprobs": None,
            }
        ],
        "usage": _usage(answer.usage),
        "agorakit": _extra(answer),
    }


def _finish_reason(answer: Answer) -> str:
    return "stop" if answer.answered else "length"


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _extra(answer: Answer) -> dict[str, Any]:
    extra: dict[str, Any] = {"run_id": answer.run_id, "stop_reason": answer.stop_reason}
    if answer.explanation:
        extra["explanation"] = answer.explanation
    return extra


def _charge(state: ServerState, request: Request, usage: Usage) -> None:
    record = request_key(request.scope)
    if record is not None and state.keys is not None:
        state.keys.charge(record.name, usage)


def detached(events: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """``events`` consumed by a task of their own: closing the returned iterator (a client
    that left) lets the run finish instead of cancelling it."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                queue.put_nowait(("event", event))
        except BaseException as error:  # handed to the reader, if one is left
            queue.put_nowait(("error", error))
        else:
            queue.put_nowait(("end", None))

    keep_running(asyncio.ensure_future(pump()))

    async def read() -> AsyncGenerator[Any, None]:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    return read()


DONE = b"data: [DONE]\n\n"


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _chunks(
    state: ServerState, entry: Entry, messages: list[Message], run_id: str, request: Request, *, include_usage: bool
) -> AsyncIterator[bytes]:
    """The run as chat.completion.chunk events: those ready together as one piece, for one write.
    The client going away closes this generator: the run is cancelled, or left to finish
    (``on_disconnect``)."""
    created = int(time.time())
    head = {"id": f"chatcmpl-{run_id}", "object": "chat.completion.chunk", "created": created, "model": entry.name}
    # Every chunk but the last is the same event around its delta: its bytes before and after are made once.
    before = _sse({**head, "choices": [{"index": 0, "delta": None}]})[: -len(b"null}]}\n\n")]
    after = b',"finish_reason":null,"logprobs":null}]}\n\n'

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        if finish is None:
            return before + orjson.dumps(delta) + after
        return _sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    batches: AsyncGenerator[Any, None] = entry.stream_batches(messages, run_id, timeout=state.settings.run_timeout)
    if state.settings.on_disconnect == "continue":
        batches = detached(batches)
    ready = [chunk({"role": "assistant", "content": ""})]
    streamed = False
    answer: Answer | None = None
    try:
        async for batch in batches:
            for event in batch:
                if isinstance(event, TextDelta):
                    if event.text and entry.kind == "agent":
                        streamed = True
                        ready.append(chunk({"content": event.text}))
                elif isinstance(event, RunFinished):
                    answer = event.result
            if answer is None and ready:
                yield b"".join(ready)
                ready.clear()
    except Exception as error:  # the run failed after the stream began: an error event, then [DONE]
        failure = as_api_error(error)
        ready.append(_sse(error_body(failure.message, kind=failure.kind, hint=failure.hint)))
        yield b"".join(ready) + DONE
        return
    finally:
        await batches.aclose()
    if answer is None:  # pragma: no cover - a stream always ends with its answer
        raise APIError(500, "the run ended without an answer", kind="server_error")
    if answer.text and not streamed:
        # Methods and typed outputs stream no text of their own: the answer comes whole.
        ready.append(chunk({"content": answer.text}))
    ready.append(chunk({}, _finish_reason(answer)))
    if include_usage:
        ready.append(_sse({**head, "choices": [], "usage": _usage(answer.usage), "agorakit": _extra(answer)}))
    _charge(state, request, answer.usage)
    yield b"".join(ready) + DONE
