"""The embedded model served by the local engine: ``llamacpp:gemma-3-270m?engine=server``.

The same Gemma prompt, grammar and answer parsing as the in-process backend,
sent to the machine's ``llama-server`` (see :mod:`agorakit.models.engine`), which
decodes up to ``slots`` calls together and keeps each slot's KV cache: the
prefix a call shares with an earlier one on its slot is not computed again
(``Usage.cached_input_tokens`` counts it).

What the in-process backend has and the server cannot run: its logits
processor that steers the small model through JSON strings (see
:mod:`agorakit.models.json_strings`). Grammar constraints are the same, but for
a schema that bounds a number (``minimum``, ``maximum``): the server turns it
into a grammar itself, since its converter keeps the bounds and the Python one
the in-process backend uses drops them (that backend writes a small range out
as an enum instead, which decodes slower).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from agorakit.core.errors import ContextWindowExceeded, ModelConnectionError, ModelError, ModelServerError
from agorakit.core.usage import Usage
from agorakit.models import gemma_format
from agorakit.models.answer_stream import AnswerDeltas
from agorakit.models.base import Completion, FinishReason, ModelRequest, StreamChunk
from agorakit.models.coalesce import Coalescer
from agorakit.models.engine.server import Engine, EngineSpec, engine_for
from agorakit.models.llamacpp import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MAX_TOKENS_CONSTRAINED,
    LlamaCppModel,
)

DEFAULT_SLOTS = 16
DEFAULT_SLOT_CONTEXT = 8192
#: How long a call waits for identical calls to join it (agents started together arrive
#: within a few milliseconds of each other; a call takes seconds).
COALESCE_WINDOW_S = 0.01
# No wait for the first token is bounded here: the kernel's timeout bounds the call.
_TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=30.0, pool=None)


class LlamaServerModel(LlamaCppModel):
    """A GGUF model on the machine's llama.cpp engine. Implements the ``ChatModel`` protocol."""

    def __init__(
        self,
        name: str,
        *,
        n_ctx: int | str = DEFAULT_SLOT_CONTEXT,
        slots: int | str = DEFAULT_SLOTS,
        threads: int | str | None = None,
    ) -> None:
        super().__init__(name, n_ctx=n_ctx)
        self.slots = int(slots)
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, not {self.slots}")
        self.threads = int(threads) if threads is not None else None
        self.uri = f"llamacpp:{name}?engine=server"
        self.queue_key = self.uri
        #: The kernel lets this many calls run at once: one per slot (backpressure beyond).
        self.max_concurrency = self.slots
        self._client: httpx.AsyncClient | None = None
        self._client_loop: Any = None
        self._coalescer: Coalescer[dict[str, Any]] = Coalescer(COALESCE_WINDOW_S, self.slots)

    @property
    def engine(self) -> Engine:
        return engine_for(EngineSpec(Path(self.path), self.slots, self.n_ctx, self.threads))

    def load(self) -> None:
        """Start (or find) the engine now; it otherwise starts on the first call."""
        self.engine.url()

    async def complete(self, request: ModelRequest) -> Completion:
        # Not streamed: with nobody reading deltas, one response instead of an event per token.
        base_url = await asyncio.to_thread(self.engine.url)
        schema = gemma_format.output_schema(request)
        started = time.perf_counter()
        body = self._body(request, schema, stream=False)
        if body["temperature"] == 0 or "seed" in body:
            # Its text is fixed: identical calls made together are computed once and share it.
            key = f"{base_url} {json.dumps(body, sort_keys=True)}"
            final = await self._coalescer.run(key, lambda n: self._post_shared(base_url, body, n))
        else:
            # Sampled: each computes its prompt. Asked for n completions at once, the server would
            # compute it once but then drop the extra slots' conversations, which a debate's next
            # round reuses (measured: 16% of llm_debate's input from cache instead of 31%).
            final = await self._post(base_url, body)
        return self._completion(str(final.get("content") or ""), final, request, started)

    async def count_tokens(self, request: ModelRequest) -> int | None:
        """How many tokens ``request``'s prompt is, by the engine's tokenizer (its ``/tokenize``)."""
        base_url = await asyncio.to_thread(self.engine.url)
        body = {"content": gemma_format.format_prompt(request), "add_special": True, "parse_special": True}
        response = await self._http().post(f"{base_url}/tokenize", json=body)
        if response.status_code != 200:
            return None
        return len(response.json().get("tokens") or [])

    async def _post(self, base_url: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._calling(base_url):
            response = await self._http().post(f"{base_url}/completion", json=body)
            if response.status_code != 200:
                raise _http_error(response, self.n_ctx)
            result: dict[str, Any] = response.json()
            return result

    async def _post_shared(self, base_url: str, body: dict[str, Any], n: int) -> list[dict[str, Any]]:
        """One result for ``n`` callers: only the first computed its prompt, and for the
        others the whole prompt counts as read from cache."""
        first = await self._post(base_url, body)
        timings = first.get("timings") or {}
        cached = int(timings.get("cache_n") or 0) + int(timings.get("prompt_n") or 0)
        shared = {**first, "timings": {**timings, "cache_n": cached, "prompt_n": 0}}
        return [first] + [shared] * (n - 1)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        base_url = await asyncio.to_thread(self.engine.url)
        schema = gemma_format.output_schema(request)
        answer = AnswerDeltas() if schema is not None else None
        started = time.perf_counter()
        pieces: list[str] = []
        final: dict[str, Any] | None = None
        async with self._calling(base_url):
            body = self._body(request, schema, stream=True)
            async with self._http().stream("POST", f"{base_url}/completion", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _http_error(response, self.n_ctx)
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    piece = event.get("content") or ""
                    if piece:
                        pieces.append(piece)
                        text = piece if answer is None else answer.feed(piece)
                        if text:
                            yield StreamChunk(delta=text)
                    if event.get("stop"):
                        final = event
                        break
            if final is None:
                raise httpx.RemoteProtocolError("the stream ended before the completion")
        yield StreamChunk(completion=self._completion("".join(pieces), final, request, started))

    @contextlib.asynccontextmanager
    async def _calling(self, base_url: str) -> AsyncIterator[None]:
        """A lost connection means the engine is gone: a transient error (the kernel retries),
        and the engine is restarted on the next call."""
        try:
            yield
        except httpx.TransportError as error:
            await asyncio.to_thread(self.engine.lost, base_url)
            raise ModelConnectionError(
                f"the local engine at {base_url} stopped answering: {error}",
                hint="it is restarted on the next attempt",
            ) from error

    def _completion(self, text: str, final: dict[str, Any], request: ModelRequest, started: float) -> Completion:
        finish: FinishReason = "length" if final.get("stop_type") == "limit" else "stop"
        message = self._message(text, finish, request)
        timings = final.get("timings") or {}
        cached = int(timings.get("cache_n") or 0)
        computed = timings["prompt_n"] if "prompt_n" in timings else final.get("tokens_evaluated")
        usage = Usage(
            1,
            cached + int(computed or 0),
            int(timings.get("predicted_n") or 0),
            time.perf_counter() - started,
            cached_input_tokens=cached,
        )
        return Completion(message, usage, "tool_calls" if message.tool_calls else finish, self.model_name)

    def _body(self, request: ModelRequest, schema: dict[str, Any] | None, *, stream: bool) -> dict[str, Any]:
        sampling = request.sampling
        default = DEFAULT_MAX_TOKENS if schema is None else DEFAULT_MAX_TOKENS_CONSTRAINED
        body: dict[str, Any] = {
            "prompt": gemma_format.format_prompt(request),
            "n_predict": sampling.max_tokens or default,
            "temperature": sampling.temperature if sampling.temperature is not None else 0.0,
            "top_p": sampling.top_p if sampling.top_p is not None else 0.95,
            "stop": [gemma_format.END, *(sampling.stop or [])],
            "stream": stream,
            "cache_prompt": True,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if schema is not None and _bounds_numbers(schema):
            body["json_schema"] = schema  # the server's own converter bounds them; ours (below) does not
        elif schema is not None:
            body["grammar"] = _gbnf(schema)
        return body

    def _http(self) -> httpx.AsyncClient:
        # One connection pool per event loop (run_sync makes a new loop per call).
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=_TIMEOUT, limits=httpx.Limits(max_connections=self.slots * 2))
            self._client_loop = loop
        return self._client


_grammars: dict[str, str] = {}


def _gbnf(schema: dict[str, Any]) -> str:
    """The GBNF the in-process backend compiles for ``schema`` (property order kept)."""
    key = json.dumps(schema)
    grammar = _grammars.get(key)
    if grammar is None:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        if len(_grammars) > 64:
            _grammars.clear()
        grammar = _grammars[key] = json_schema_to_gbnf(key)
    return grammar


_NUMBER_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def _bounds_numbers(node: Any) -> bool:
    """Whether ``node`` (a schema, or a part of one) bounds a number anywhere."""
    if isinstance(node, dict):
        return not _NUMBER_BOUNDS.isdisjoint(node) or any(_bounds_numbers(value) for value in node.values())
    if isinstance(node, list):
        return any(_bounds_numbers(value) for value in node)
    return False


def _http_error(response: httpx.Response, n_ctx: int) -> ModelError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    message = str(error.get("message") or response.text[:500])
    if error.get("type") == "exceed_context_size_error" or "context size" in message:
        return ContextWindowExceeded(f"{message} (each engine slot holds {n_ctx} tokens)")
    if response.status_code >= 500:
        return ModelServerError(f"the local engine failed: {message}", status=response.status_code)
    return ModelError(f"the local engine rejected the request ({response.status_code}): {message}")
