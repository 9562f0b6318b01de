"""The local engine against the in-process embedded model, side by side in one run.

    PYTHONPATH=src .venv/bin/python bench/engine.py [--agents 1,4,8,16] [--tokens 48] [--skip-grammar]

(1) ``llama-batched-bench`` (llama.cpp's own, built with the engine): decode
    tokens/s at each batch size, prompt 128, 48 new tokens, 2 threads: what
    the hardware gives.
(2) N agents at once through the public API (``Agent.run``), each asked for a
    free-text answer of exactly ``--tokens`` tokens: aggregate output tokens/s,
    in-process (``llamacpp:gemma-3-270m``) beside the engine
    (``llamacpp:gemma-3-270m?engine=server``).
(3) the same with agorakit's grammar on: each agent answers as a typed output
    (``output_type``), so every token is grammar-constrained.

(4) the same prompts posted straight to the engine's llama-server, with no agorakit
    between, beside each size of (2): what serving with per-token sampling gives,
    which llama-batched-bench (no sampling, no HTTP) does not do.

Ratios: the engine's agents against llama-batched-bench and against the server direct at the same batch size
(target ≥ 0.9 at 16), and 16 agents against one (target ≥ 2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time

import httpx
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from agorakit import Agent
from agorakit.core.messages import Message
from agorakit.models import gemma_format
from agorakit.models.base import ModelRequest, Sampling
from agorakit.models.engine import build
from agorakit.models.llamacpp import embedded_model_path
from agorakit.models.llamacpp_server import LlamaServerModel

INPROCESS = "llamacpp:gemma-3-270m"
ENGINE = "llamacpp:gemma-3-270m?engine=server"
DIRECT = "llama-server direct (no agorakit)"
TOPICS = ["rivers", "bridges", "owls", "volcanoes", "trains", "glaciers", "bees", "lighthouses"]


class Note(BaseModel):
    title: str
    body: str


def batched_bench(sizes: list[int], tokens: int) -> dict[int, tuple[float, float]]:
    """llama.cpp's decode tokens/s (S_TG) and all tokens processed per second (S) per batch size."""
    command = [
        str(build.binary("llama-batched-bench")), "-m", str(embedded_model_path()),
        "-c", str(max(sizes) * (128 + tokens) + 64), "-b", "2048", "-ub", "512",
        "-npp", "128", "-ntg", str(tokens), "-npl", ",".join(map(str, sizes)),
        "-t", str(os.cpu_count() or 2), "--kv-unified",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    speeds: dict[int, tuple[float, float]] = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 10 and re.fullmatch(r"\d+", cells[2] if len(cells) > 2 else ""):
            # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
            speeds[int(cells[2])] = (float(cells[7]), float(cells[9]))
    return speeds


# About 128 prompt tokens in all, as llama-batched-bench's prompts.
INSTRUCTIONS = (
    "You write long, detailed essays for a general audience. Each essay opens with a short story, "
    "explains the history of its subject, describes how it works in plain words, gives three surprising "
    "facts with numbers, compares it with something familiar from daily life, and ends with a question "
    "for the reader. Never use lists; write flowing paragraphs. Keep a warm, curious tone throughout."
)


def opening(i: int, n: int) -> str:
    # The batch size in the first words: a run never finds a prompt of an earlier size in the
    # engine's prompt cache, so both sides compute every prompt token (as llama-batched-bench does).
    return f"Writer {i} of {n}, in your own voice. {INSTRUCTIONS}"


def essay(i: int, n: int) -> str:
    return f"Essay {i} of {n}: write a long essay about {TOPICS[i % len(TOPICS)]}."


async def agents_at_once(uri: str, n: int, tokens: int, typed: bool) -> tuple[float, float]:
    """Aggregate output tokens/s of ``n`` agents answering at once, and all tokens processed per second
    (prompt tokens computed, not read from a cache, plus output tokens)."""
    sampling = Sampling(max_tokens=tokens, temperature=0.0)
    agents = [
        # Each agent's own opening: no two prompts share a prefix to reuse (llama-batched-bench's
        # sequences share none either), so both sides compute every prompt token.
        Agent(f"writer{i}", uri, instructions=opening(i, n), sampling=sampling,
              output_type=Note if typed else None, max_steps=1, trace=False)
        for i in range(n)
    ]  # fmt: skip
    # The number first: no two prompts share more than the template's opening tokens.
    tasks = [essay(i, n) for i in range(n)]
    await Agent("warmup", uri, sampling=sampling, trace=False).run("Say hi.")  # load (or start) the model first
    started = time.perf_counter()
    results = await asyncio.gather(*(agent.run(task) for agent, task in zip(agents, tasks, strict=True)))
    elapsed = time.perf_counter() - started
    output = sum(result.usage.output_tokens for result in results)
    computed = sum(result.usage.input_tokens - result.usage.cached_input_tokens for result in results)
    return output / elapsed, (output + computed) / elapsed


async def server_direct(n: int, tokens: int) -> tuple[float, float]:
    """The same ``n`` prompts posted straight to the engine's llama-server (no agorakit between):
    what serving over HTTP with per-token sampling gives, the ceiling for any client."""
    base_url = await asyncio.to_thread(LlamaServerModel("gemma-3-270m").engine.url)
    prompts = [
        gemma_format.format_prompt(
            ModelRequest([Message("system", opening(i, n)), Message("user", essay(i, n))])
        )
        for i in range(n)
    ]  # fmt: skip
    body = {"n_predict": tokens, "temperature": 0.0, "cache_prompt": False, "stop": [gemma_format.END]}
    async with httpx.AsyncClient(timeout=None) as client:
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(client.post(f"{base_url}/completion", json={**body, "prompt": prompt}) for prompt in prompts)
        )
        elapsed = time.perf_counter() - started
    timings = [reply.raise_for_status().json()["timings"] for reply in replies]
    output = sum(int(t["predicted_n"]) for t in timings)
    computed = sum(int(t["prompt_n"]) for t in timings)
    return output / elapsed, (output + computed) / elapsed


def run_cells(
    cells: list[tuple[str, str, bool]], sizes: list[int], tokens: int,
    rows: dict[str, dict[int, tuple[float, float]]], console: Console,
) -> None:  # fmt: skip
    for label, uri, typed in cells:
        for n in sizes:
            with console.status(f"{label}: {n} agents"):
                rows.setdefault(label, {})[n] = asyncio.run(agents_at_once(uri, n, tokens, typed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="1,4,8,16")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--skip-grammar", action="store_true")
    args = parser.parse_args()
    sizes = [int(part) for part in args.agents.split(",")]
    if not build.is_built():
        sys.exit("the engine is not built: python -m agorakit.models.engine.build")
    console = Console()
    with console.status("llama-batched-bench"):
        reference = batched_bench(sizes, args.tokens)
    rows: dict[str, dict[int, tuple[float, float]]] = {}
    # The engine first: once the in-process model has run, its llama.cpp threads stay in this
    # process and take CPU from the engine beside it.
    # Each size through agorakit and straight to the server one after the other: the machine is
    # shared, so the pair sees the same load.
    for n in sizes:
        run_cells([("engine", ENGINE, False)], [n], args.tokens, rows, console)
        with console.status(f"llama-server direct: {n} requests"):
            rows.setdefault(DIRECT, {})[n] = asyncio.run(server_direct(n, args.tokens))
    cells = [] if args.skip_grammar else [("engine, typed output", ENGINE, True)]
    cells += [("in-process", INPROCESS, False)]
    if not args.skip_grammar:
        cells += [("in-process, typed output", INPROCESS, True)]
    run_cells(cells, sizes, args.tokens, rows, console)
    table = Table(title=f"aggregate output tokens/s, {args.tokens} tokens per answer ({os.cpu_count()} cores)")
    table.add_column("path")
    for n in sizes:
        table.add_column(f"{n} agents" if n > 1 else "1 agent", justify="right")
    table.add_column(f"{sizes[-1]} vs 1", justify="right")
    table.add_row("llama-batched-bench, decode only", *(f"{reference[n][0]:.1f}" for n in sizes),
                  f"{reference[sizes[-1]][0] / reference[sizes[0]][0]:.2f}x")  # fmt: skip
    for label, speeds in rows.items():
        first, last = speeds[sizes[0]][0], speeds[sizes[-1]][0]
        table.add_row(label, *(f"{speeds[n][0]:.1f}" for n in sizes), f"{last / first:.2f}x")
    console.print(table)
    # Saturation: all tokens processed per second (prompt + output), the engine's agents
    # beside llama-batched-bench's S at the same batch size (its prompts are 128 tokens too).
    saturation = Table(title="all tokens processed per second (prompt computed + output)")
    saturation.add_column("path")
    for n in sizes:
        saturation.add_column(f"{n} agents" if n > 1 else "1 agent", justify="right")
    saturation.add_row("llama-batched-bench", *(f"{reference[n][1]:.1f}" for n in sizes))
    engine = rows["engine"]
    saturation.add_row("engine (agents)", *(f"{engine[n][1]:.1f}" for n in sizes))
    saturation.add_row("engine / llama-batched-bench", *(f"{engine[n][1] / reference[n][1]:.2f}" for n in sizes))
    direct = rows[DIRECT]
    saturation.add_row("llama-server direct", *(f"{direct[n][1]:.1f}" for n in sizes))
    saturation.add_row("llama-server direct / llama-batched-bench",
                       *(f"{direct[n][1] / reference[n][1]:.2f}" for n in sizes))  # fmt: skip
    saturation.add_row("engine / llama-server direct", *(f"{engine[n][1] / direct[n][1]:.2f}" for n in sizes))
    console.print(saturation)


if __name__ == "__main__":
    main()
