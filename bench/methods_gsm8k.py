"""Every registered multi-agent method on the first GSM8K questions, with real models.

    .venv/bin/python bench/methods_gsm8k.py [--model URI] [--openai-server] [--methods a,b] [--questions N] [--full]
        [--extra NAME=module:Class ...] [--json FILE]

Runs each method in ``agorakit.methods.REGISTRY`` (in registry order) on the
first ``--questions`` (default 3) questions of the GSM8K test set agorakit ships
(``src/agorakit/eval/datasets/data/gsm8k``) and prints, per method: questions
completed without error, errors, model calls, input tokens (the share read
from the model's prompt cache, and the "cache bound": the share of prompt
characters an earlier call's prompt or prompt and reply began with, the most any
prefix cache could serve) and output tokens, questions whose extracted answer matches GSM8K's, and
wall time. A method that raises is recorded (its first error is listed under the
table) and the run goes on.

``--model`` defaults to the embedded ``llamacpp:gemma-3-270m``. ``--openai-server``
starts ``python -m llama_cpp.server`` on 127.0.0.1 serving the same GGUF (as
tests/integration/test_openai_llama_server.py does) and uses
``openai:gemma-3-270m@http://127.0.0.1:PORT/v1``; the server is stopped at the end.

Calls and tokens are counted at the model, so they include the calls of runs
that failed and the kernel's retries. With a 270M base model accuracy is not the
point: the run shows that every method completes, and what it costs.

Small configs. The paper defaults (e.g. MAV's 16 candidates, Magentic-One's 20
turns) take many minutes per question on a CPU, so by default each method runs
with the overrides in :data:`SMALL` (fewer agents, rounds, samples, turns);
``--full`` uses the paper defaults. An override whose key a method's Config does
not have is skipped with a note (methods are still being added).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agorakit.core.usage import Usage
from agorakit.kernel import Kernel
from agorakit.methods import REGISTRY, method_class
from agorakit.models import ChatModel, ModelRequest, gemma_format, resolve_model
from agorakit.models.base import Completion, Sampling, StreamChunk

# The GSM8K test set agorakit ships (the first N questions; tests/data holds the first 3).
DATA = Path(__file__).resolve().parents[1] / "src/agorakit/eval/datasets/data/gsm8k/test.jsonl"
DEFAULT_MODEL = "llamacpp:gemma-3-270m"
ALIAS = "gemma-3-270m"

SMALL: dict[str, dict[str, Any]] = {
    "self_consistency": {"samples": 3},
    "llm_debate": {"agents": 2, "rounds": 2},
    "mad": {"max_rounds": 2},
    "self_refine": {"max_iterations": 2},
    "reflexion": {"max_trials": 2},
    "agentverse": {"experts": 2, "max_rounds": 1, "max_critic_rounds": 1},
    "dylan": {"roles": ("Assistant", "Mathematician", "Assistant"), "layers": 2},
    "macnet": {"nodes": 3},
    "camel": {"max_turns": 4},
    "group_chat": {"max_turns": 4},
    "swarm": {"max_handoffs": 3, "max_turns": 6},
    "magentic_one": {"max_turns": 6, "max_stalls": 2, "max_replans": 1},
    "captain": {"max_subtasks": 2, "team_size": 2, "chat_turns": 2},
    "autoagents": {"max_rounds": 1, "max_steps": 3},
    "maker": {"max_samples": 6, "max_steps": 3},
    "mav": {"candidates": 3},
    "mapcoder": {"k": 1, "t": 1, "recall_max_tokens": 1024},
}
"""Per-method overrides for speed (see the module docstring)."""


def _shared_start(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` begin with in common (binary search on slices)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class PrefixBound:
    """The most a prompt cache could serve: for each prompt, the longest start it shares with an
    earlier call's prompt (or that prompt and its reply), in characters of the rendered prompt."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.prompt_chars = 0
        self.shared_chars = 0

    def start(self, prompt: str) -> None:
        shared = max((_shared_start(prompt, text) for text in self.texts), default=0)
        self.prompt_chars += len(prompt)
        self.shared_chars += shared
        self.texts.append(prompt)

    def finish(self, prompt: str, reply: str) -> None:
        self.texts.append(prompt + reply)


class CountingModel:
    """A backend wrapper that counts every call and its tokens (failed runs included), and the
    prefix a perfect prompt cache would have served (:class:`PrefixBound`)."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.provider = inner.provider
        self.model_name = inner.model_name
        self.queue_key = inner.queue_key
        self.hosted = inner.hosted
        # An engine's slots: the kernel lets that many calls run at once (absent: the provider's default).
        if hasattr(inner, "max_concurrency"):
            self.max_concurrency = inner.max_concurrency
        self.usage = Usage()
        self.bound = PrefixBound()

    async def complete(self, request: ModelRequest) -> Completion:
        prompt = gemma_format.format_prompt(request)
        self.bound.start(prompt)
        completion = await self.inner.complete(request)
        self.usage = self.usage + completion.usage
        self.bound.finish(prompt, completion.message.content or "")
        return completion

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        prompt = gemma_format.format_prompt(request)
        self.bound.start(prompt)
        async for chunk in self.inner.stream(request):
            if chunk.completion is not None:
                self.usage = self.usage + chunk.completion.usage
                self.bound.finish(prompt, chunk.completion.message.content or "")
            yield chunk


@dataclass
class Row:
    method: str
    completed: int = 0
    errors: int = 0
    correct: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    prompt_chars: int = 0
    shared_chars: int = 0
    seconds: float = 0.0
    first_error: str | None = None
    skipped: list[str] = field(default_factory=list)


def load_questions(count: int) -> list[tuple[str, str]]:
    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["question"], r["answer"].split("####")[-1].strip().replace(",", "")) for r in records[:count]]


def overrides_for(name: str, full: bool) -> tuple[dict[str, Any], list[str]]:
    if full:
        return {}, []
    wanted = SMALL.get(name, {})
    fields = {f.name for f in dataclasses.fields(method_class(name).Config)}
    return {k: v for k, v in wanted.items() if k in fields}, sorted(set(wanted) - fields)


async def run_method(
    name: str,
    model: CountingModel,
    questions: list[tuple[str, str]],
    full: bool,
    timeout: float,
    sampling: Sampling | None = None,
) -> Row:
    row = Row(name)
    before = model.usage
    chars_before = (model.bound.prompt_chars, model.bound.shared_chars)
    started = time.perf_counter()
    try:
        config, row.skipped = overrides_for(name, full)
    except Exception as error:  # the module does not import: every question is an error
        row.errors = len(questions)
        row.first_error = f"{type(error).__name__}: {error}"
        return row
    for question, gold in questions:
        try:
            method = method_class(name)(model, kernel=Kernel(timeout=timeout), trace=False, sampling=sampling, **config)
            result = await method.run(question)
        except Exception as error:  # recorded; the benchmark goes on
            row.errors += 1
            if row.first_error is None:
                row.first_error = "".join(traceback.format_exception_only(error)).strip()
            continue
        row.completed += 1
        row.correct += int((result.final_answer or "").strip() == gold)
    spent = _difference(model.usage, before)
    row.calls, row.input_tokens, row.output_tokens = spent.calls, spent.input_tokens, spent.output_tokens
    row.cached_tokens = spent.cached_input_tokens
    row.prompt_chars = model.bound.prompt_chars - chars_before[0]
    row.shared_chars = model.bound.shared_chars - chars_before[1]
    row.seconds = time.perf_counter() - started
    return row


def _difference(after: Usage, before: Usage) -> Usage:
    return Usage(
        after.calls - before.calls,
        after.input_tokens - before.input_tokens,
        after.output_tokens - before.output_tokens,
        cached_input_tokens=after.cached_input_tokens - before.cached_input_tokens,
    )


def table(rows: list[Row], questions: int, model: str) -> Table:
    out = Table(title=f"Methods on the first {questions} GSM8K questions · {model}", title_justify="left")
    out.add_column("method")
    columns = ("completed", "errors", "correct", "model calls", "input tokens", "from cache", "cache bound")
    columns += ("output tokens",)
    columns += ("seconds",)
    for column in columns:
        out.add_column(column, justify="right")
    for row in rows:
        out.add_row(
            row.method,
            f"{row.completed}/{questions}",
            str(row.errors),
            str(row.correct),
            str(row.calls),
            str(row.input_tokens),
            f"{row.cached_tokens / row.input_tokens:.0%}" if row.input_tokens else "-",
            f"{row.shared_chars / row.prompt_chars:.0%}" if row.prompt_chars else "-",
            str(row.output_tokens),
            f"{row.seconds:.1f}",
        )
    return out


# --- the OpenAI-compatible server -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_server(log_path: Path, ready_timeout: float = 180.0) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving the embedded GGUF; yields its base URL."""
    from agorakit.models.llamacpp import embedded_model_path

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(embedded_model_path()),
        "--model_alias",
        ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "8192",
        "--n_threads",
        "2",
        "--chat_format",
        "chatml-function-calling",
    ]
    with log_path.open("wb") as log:
        # OMP_WAIT_POLICY=PASSIVE: without it llama.cpp's idle threads spin and starve everything else.
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"},
        )
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server not ready in {ready_timeout:.0f}s; see {log_path}")
            time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


# --- main ---------------------------------------------------------------------------


async def bench(
    model_uri: str,
    names: list[str],
    questions: list[tuple[str, str]],
    full: bool,
    timeout: float,
    sampling: Sampling | None = None,
) -> list[Row]:
    console = Console(stderr=True)
    backend = resolve_model(model_uri)
    preload = getattr(backend, "load", None)
    if callable(preload):
        preload()
    model = CountingModel(backend)
    rows = []
    for name in names:
        console.print(f"[dim]{name} …[/dim]")
        row = await run_method(name, model, questions, full, timeout, sampling)
        if row.skipped:
            console.print(f"[yellow]{name}: settings not in its Config, skipped: {', '.join(row.skipped)}[/yellow]")
        console.print(
            f"[dim]{name}: {row.completed}/{len(questions)} completed, {row.calls} calls, {row.seconds:.1f}s[/dim]"
        )
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model URI (default {DEFAULT_MODEL})")
    parser.add_argument(
        "--openai-server", action="store_true", help="serve the embedded GGUF with llama_cpp.server and use openai:"
    )
    parser.add_argument("--methods", help="comma-separated method names (default: every registered method)")
    parser.add_argument("--questions", type=int, default=3, help="how many GSM8K questions (default 3)")
    parser.add_argument("--full", action="store_true", help="use the paper defaults instead of the small configs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per model call, retries included")
    parser.add_argument(
        "--max-tokens", type=int, help="cap every call's output tokens (the method's sampling; default: backend's)"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=module:Class",
        help="also run a method not registered yet (this process only; repeatable)",
    )
    args = parser.parse_args()
    for item in args.extra:
        name, sep, target = item.partition("=")
        if not sep or ":" not in target:
            parser.error(f"--extra {item!r}: expected NAME=module:Class")
        REGISTRY.setdefault(name.strip(), target.strip())

    names = [n.strip() for n in args.methods.split(",")] if args.methods else list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; registered: {', '.join(REGISTRY)}")
    questions = load_questions(args.questions)
    sampling = Sampling(max_tokens=args.max_tokens) if args.max_tokens else None

    if args.openai_server:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"agorakit-llama-server-{os.getpid()}.log"
        with llama_server(log) as base_url:
            uri = f"openai:{ALIAS}@{base_url}"
            rows = asyncio.run(bench(uri, names, questions, args.full, args.timeout, sampling))
    else:
        uri = args.model
        rows = asyncio.run(bench(uri, names, questions, args.full, args.timeout, sampling))

    console = Console(width=max(Console().width, 120))  # the table stays readable when piped
    console.print(table(rows, len(questions), uri))
    for row in rows:
        if row.first_error:
            console.print(f"[red]{row.method}[/red]: {row.first_error}", markup=True, highlight=False)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
