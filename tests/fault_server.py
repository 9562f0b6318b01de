"""A scriptable local server that speaks the OpenAI chat-completions API, for tests.

Real HTTP on 127.0.0.1 with an ephemeral port (stdlib ``ThreadingHTTPServer`` in
a thread), so backends are tested through their real HTTP client, not mocks.
Each test queues the replies it wants, in order::

    server.script(rate_limited(retry_after="2"), completion("hello"))

and afterwards asserts on ``server.chat_requests`` (every request body
received, so also how many there were: backends must never retry on their
own).

A reply to a request with ``"stream": true`` is sent as server-sent events
(content in small pieces, tool-call arguments split across chunks, a usage
chunk when ``stream_options.include_usage`` is set, then ``[DONE]``).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fault-model"


@dataclass
class Reply:
    """One scripted answer. Build them with the functions below."""

    kind: str  # "completion", "error", "raw", "truncated", "stall"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # completion: the message dict; error: the JSON body; raw: bytes
    content_type: str = "application/json"
    finish_reason: str | None = "stop"
    usage: tuple[int, int] | None = (7, 3)
    delay: float = 0.0  # seconds to wait before answering at all
    abrupt: bool = False  # truncated: break the connection mid-chunk instead of ending cleanly
    stall: float = 0.0  # stall: seconds to go silent after the first chunk
    stream_usage: bool = True  # send the usage chunk when the client asked for it


def completion(
    content: str | None = "Hello from the fault server.",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = "stop",
    usage: tuple[int, int] | None = (7, 3),
    stream_usage: bool = True,
) -> Reply:
    """A normal completion (``usage`` is (prompt_tokens, completion_tokens), or None for no usage)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return Reply("completion", body=message, finish_reason=finish_reason, usage=usage, stream_usage=stream_usage)


def tool_call(name: str, arguments: dict[str, Any] | str, *, call_id: str = "call_1", **kwargs: Any) -> Reply:
    """A completion that calls one tool; a ``str`` ``arguments`` is sent verbatim (e.g. invalid JSON)."""
    return tool_calls([(name, arguments, call_id)], **kwargs)


def tool_calls(calls: list[tuple[str, dict[str, Any] | str, str]], **kwargs: Any) -> Reply:
    """A completion with several tool calls: (name, arguments, id) each."""
    items = [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
        }
        for name, args, call_id in calls
    ]
    kwargs.setdefault("finish_reason", "tool_calls")
    return completion(None, tool_calls=items, **kwargs)


def error(
    status: int,
    message: str = "scripted error",
    *,
    code: str | None = None,
    type: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Reply:
    """An OpenAI-style error response."""
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return Reply("error", status=status, body=body, headers=dict(headers or {}))


def rate_limited(retry_after: str | None = "2", *, retry_after_ms: str | None = None, code: str | None = None) -> Reply:
    """A 429 with ``Retry-After`` (and/or ``retry-after-ms``) headers."""
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return error(
        429, "Rate limit reached. Please try again later.", code=code, type="rate_limit_error", headers=headers
    )


def delayed(seconds: float, reply: Reply) -> Reply:
    """``reply``, after staying silent for ``seconds``."""
    reply.delay = seconds
    return reply


def raw(body: bytes | str, *, status: int = 200, content_type: str = "application/json") -> Reply:
    """Exactly these bytes as the body (e.g. malformed JSON)."""
    data = body.encode() if isinstance(body, str) else body
    return Reply("raw", status=status, body=data, content_type=content_type)


def malformed() -> Reply:
    """A 200 whose JSON body is cut off."""
    return raw(b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "mess')


def truncated_stream(content: str = "Hello, this is cut", *, abrupt: bool = False) -> Reply:
    """Stream some content, then end without a finish reason or ``[DONE]``.

    ``abrupt=False`` ends the HTTP body cleanly (the server "forgot" the
    end); ``abrupt=True`` drops the connection in the middle of a chunk.
    """
    return Reply("truncated", body={"role": "assistant", "content": content}, abrupt=abrupt)


def stalled_stream(content: str = "Hello", *, stall: float = 5.0) -> Reply:
    """Stream the first chunk, then go silent for ``stall`` seconds (longer than the client's timeout)."""
    return Reply("stall", body={"role": "assistant", "content": content}, stall=stall)


@dataclass
class Received:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text if it was not JSON


class FaultServer:
    """The server. ``start()``, ``script(...)``, point a client at ``base_url``, ``stop()``."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[Received] = []
        self.default: Reply | None = None
        self.responder: Callable[[Received], Reply] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> FaultServer:
        handler = type("Handler", (_Handler,), {"fault": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fault-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- scripting ------------------------------------------------------------

    def script(self, *replies: Reply) -> FaultServer:
        """Queue replies, answered in order, one per chat request."""
        with self._lock:
            self.replies.extend(replies)
        return self

    @property
    def chat_requests(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    @property
    def count(self) -> int:
        """How many chat-completion requests arrived."""
        return len(self.chat_requests)

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self.replies:
                return self.replies.pop(0)
        if self.responder is not None:
            return self.responder(received)
        if self.default is not None:
            return self.default
        return error(500, "fault server: no scripted reply left for this request", type="server_error")

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the server is stopping; ``True`` if it is."""
        return self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    fault: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr logging
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "tests"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found", "code": None}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = raw_body.decode("utf-8", "replace")
        received = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            with self.fault._lock:
                self.fault.requests.append(received)
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found", "code": None}})
            return
        reply = self.fault._next_reply(received)
        if reply.delay and self.fault.sleep(reply.delay):
            return
        streaming = isinstance(body, dict) and bool(body.get("stream"))
        include_usage = streaming and bool((body.get("stream_options") or {}).get("include_usage"))
        try:
            self._answer(reply, streaming=streaming, include_usage=include_usage)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True

    # --- answers --------------------------------------------------------------

    def _answer(self, reply: Reply, *, streaming: bool, include_usage: bool) -> None:
        if reply.kind == "error":
            self._send_json(reply.status, reply.body, reply.headers)
        elif reply.kind == "raw":
            self._send_bytes(reply.status, reply.body, reply.content_type, reply.headers)
        elif reply.kind == "completion" and not streaming:
            self._send_json(200, _completion_body(reply))
        elif reply.kind == "completion":
            events = _stream_events(reply, include_usage=include_usage and reply.stream_usage)
            self._send_stream(events, finished=True)
        elif reply.kind == "truncated":
            events = _stream_events(reply, include_usage=False, finish=False)
            self._send_stream(events, finished=False, abrupt=reply.abrupt)
        elif reply.kind == "stall":
            events = _stream_events(reply, include_usage=False)
            self._start_stream()
            self._write_chunk(_sse(events[0]))
            if self.fault.sleep(reply.stall):
                return
            for event in events[1:]:
                self._write_chunk(_sse(event))
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        else:  # pragma: no cover - a typo in a test
            raise ValueError(f"unknown reply kind {reply.kind!r}")

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(data).encode(), "application/json", headers or {})

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_stream(self, events: list[dict[str, Any]], *, finished: bool, abrupt: bool = False) -> None:
        self._start_stream()
        for event in events:
            self._write_chunk(_sse(event))
        if finished:
            self._write_chunk(b"data: [DONE]\n\n")
        if abrupt:
            # Announce a 256-byte chunk, send a few bytes of it, and drop the connection.
            self.wfile.write(b'100\r\ndata: {"id"')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write_chunk(b"")  # the terminating zero-length chunk: a clean end of the body


# --- rendering ------------------------------------------------------------------


def _completion_body(reply: Reply) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "message": reply.body, "finish_reason": reply.finish_reason, "logprobs": None}],
    }
    if reply.usage is not None:
        prompt, completion_tokens = reply.usage
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }
    return body


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def _stream_events(reply: Reply, *, include_usage: bool, finish: bool = True) -> list[dict[str, Any]]:
    message = reply.body
    events = [_chunk({"role": "assistant", "content": ""})]
    if message.get("content"):
        events += [_chunk({"content": piece}) for piece in _pieces(message["content"], 4)]
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": function["name"], "arguments": ""},
        }
        events.append(_chunk({"tool_calls": [head]}))
        for piece in _pieces(function["arguments"], 5):
            events.append(_chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    if finish:
        events.append(_chunk({}, reply.finish_reason))
    if include_usage and reply.usage is not None:
        prompt, completion_tokens = reply.usage
        events.append(
            {
                "id": "chatcmpl-fault",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": MODEL,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt + completion_tokens,
                },
            }
        )
    return events


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"
