"""What the server adds to a request: ``/v1/chat/completions`` on an instant scripted agent.

The server runs in its own process (as ``agora serve`` runs it: uvicorn, keys
checked, tracing on), and the clients in this one, on keep-alive connections
written with plain asyncio streams so that the client costs little. Beside each
HTTP cell, the same agent runs in process at the same concurrency (on uvloop, as
the server's do), with no HTTP: the difference of the two p50s is what the server
adds. The model is instant but yields to the event loop once per call, as any
model does, so that concurrent runs interleave in process as they do in the
server. Bare uvicorn answering a fixed completion is the HTTP floor.
``--baseline OLD/src`` serves an older tree beside this one, round for round.

Cells take turns in rounds, so that a slow moment on a shared machine falls on
every cell alike.

    PYTHONPATH=src .venv/bin/python bench/serve.py [--requests 2000] [--baseline OLD/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

# The floor: uvicorn (uvloop, httptools) answering every request with a fixed completion of the
# same size, reading the body first: what HTTP itself costs here, with no agorakit in between.
BARE = r"""
import sys, uvicorn
BODY = (b'{"id":"chatcmpl-x","object":"chat.completion","created":0,"model":"instant","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"four words of answer"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":6,"completion_tokens":4,"total_tokens":10}}')
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

SERVER = r"""
import sys
from agorakit import Agent, ScriptedModel
from agorakit.models import Delay
from agorakit.server import KeyStore, ServerSettings, agent_entry, create_app
from agorakit.server.host import run_app
ANSWER = "four words of answer"
keys = KeyStore(sys.argv[2])
agent = Agent("instant", ScriptedModel(lambda request: Delay(0, ANSWER), record=False), instructions="Answer.")
app = create_app([agent_entry(agent)], ServerSettings(), keys=keys)
run_app(app, host="127.0.0.1", port=int(sys.argv[1]))
"""


# The same server for a tree from before agorakit.server.host and ScriptedModel(record=False)
# (``--baseline``): served as ``agora serve`` served it then, its model's memory kept from growing.
OLD_SERVER = r"""
import sys, uvicorn
from agorakit import Agent, ScriptedModel
from agorakit.models import Delay
from agorakit.server import KeyStore, ServerSettings, agent_entry, create_app
keys = KeyStore(sys.argv[2])
def answer(request):
    model.requests.clear()
    return Delay(0, "four words of answer")
model = ScriptedModel(answer)
app = create_app([agent_entry(Agent("instant", model, instructions="Answer."))], ServerSettings(), keys=keys)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def request_bytes(key: str, stream: bool) -> bytes:
    body = json.dumps(
        {"model": "instant", "messages": [{"role": "user", "content": "What is 2 + 2?"}], "stream": stream}
    ).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (content-length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def client(port: int, request: bytes, count: int, stream: bool, latencies: list[float], bad: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            status, body = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            complete = body.rstrip().endswith(b"data: [DONE]") if stream else b'"four words of answer"' in body
            if status != 200 or not complete:
                bad.append(f"{status}: {body[:200]!r}")
    finally:
        writer.close()


async def over_http(
    port: int, key: str, clients: int, total: int, stream: bool
) -> tuple[list[float], float, list[str]]:
    request = request_bytes(key, stream)
    latencies: list[float] = []
    bad: list[str] = []
    per_client = max(1, total // clients)
    started = time.perf_counter()
    await asyncio.gather(*(client(port, request, per_client, stream, latencies, bad) for _ in range(clients)))
    return latencies, time.perf_counter() - started, bad


async def in_process(clients: int, total: int, stream: bool) -> list[float]:
    """Latencies of the served agent run here, ``clients`` at a time: the server's own work, without HTTP."""
    from agorakit import Agent, ScriptedModel
    from agorakit.core.messages import Message
    from agorakit.models import Delay

    model = ScriptedModel(lambda request: Delay(0, "four words of answer"), record=False)
    agent = Agent("instant", model, instructions="Answer.")
    latencies: list[float] = []

    async def one_client(count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            if stream:
                async for _event in agent.run_stream([Message("user", "What is 2 + 2?")]):
                    pass
            else:
                await agent.run([Message("user", "What is 2 + 2?")])
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one_client(max(1, total // clients)) for _ in range(clients)))
    return latencies


T = TypeVar("T")


@dataclass
class Cell:
    http: list[float] = field(default_factory=list)
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    local: list[float] = field(default_factory=list)
    old: list[float] = field(default_factory=list)
    cpu: float = 0.0  # the server process's CPU seconds over this cell's requests, all its threads
    old_cpu: float = 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of process ``pid`` (its event loop and its trace writer), from
    /proc's scheduler counters (in ns, not clock ticks); NaN where there is no /proc."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return math.nan
    total = 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as counters:
                total += int(counters.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def measured(pid: int, work: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """What ``work`` returns, and the CPU seconds process ``pid`` spent meanwhile."""
    before = cpu_seconds(pid)
    result = asyncio.run(work)
    return result, cpu_seconds(pid) - before


def run_loop(work: Coroutine[Any, Any, T]) -> T:
    """``work`` on uvloop, the server's loop, when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(code: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", code, str(port), *args], env=env)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process, port
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("a server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell")
    parser.add_argument("--clients", default="1,10,100", help="concurrent clients per cell")
    parser.add_argument("--rounds", type=int, default=5, help="turns each cell takes, its requests split between them")
    parser.add_argument("--baseline", type=Path, help="an older src/ tree, served beside this one, round for round")
    args = parser.parse_args()
    from agorakit.server.keys import KeyStore

    home = Path(tempfile.mkdtemp(prefix="agorakit-serve-bench-"))
    os.environ["AGORAKIT_HOME"] = str(home / "direct")
    keys_db = home / "server" / "server.db"
    key = KeyStore(keys_db).create("bench")
    processes = []
    server, port = start(SERVER, [str(keys_db)], {**os.environ, "AGORAKIT_HOME": str(home / "server")})
    processes.append(server)
    old = old_port = None
    if args.baseline is not None:
        code = SERVER if (args.baseline / "agorakit" / "server" / "host.py").exists() else OLD_SERVER
        env = {**os.environ, "AGORAKIT_HOME": str(home / "baseline"), "PYTHONPATH": str(args.baseline.resolve())}
        old, old_port = start(code, [str(keys_db)], env)
        processes.append(old)
    bare, bare_port = start(BARE, [], dict(os.environ))
    processes.append(bare)
    title = f"/v1/chat/completions, instant scripted agent, keys checked, tracing on ({os.cpu_count()} cores)"
    table = Table(title=title)
    columns = ["clients", "mode", "requests/s", "p50 ms", "p99 ms", "in process p50 ms", "added by the server, p50 ms",
               "bare uvicorn p50 ms", "server CPU µs/request", "failed"]  # fmt: skip
    if old_port is not None:
        columns += ["baseline p50 ms", "p50 now/baseline", "baseline CPU µs/request", "CPU now/baseline"]
    for column in columns:
        table.add_column(column, justify="right")
    try:
        for warmed in (port, bare_port, old_port):
            if warmed is not None:
                asyncio.run(over_http(warmed, key, 10, 200, False))
        for clients in (int(c) for c in args.clients.split(",")):
            share = max(clients, args.requests // args.rounds)
            floor: list[float] = []
            cells = {stream: Cell() for stream in (False, True)}
            for turn in range(args.rounds):
                floor += asyncio.run(over_http(bare_port, key, clients, share, False))[0]
                for stream, cell in cells.items():
                    if old is not None and old_port is not None and turn % 2 == 0:  # each goes first every other round
                        (old_got, _, _), spent = measured(old.pid, over_http(old_port, key, clients, share, stream))
                        cell.old += old_got
                        cell.old_cpu += spent
                    (got, took, failed), spent = measured(server.pid, over_http(port, key, clients, share, stream))
                    cell.http += got
                    cell.seconds += took
                    cell.failed += failed
                    cell.cpu += spent
                    if old is not None and old_port is not None and turn % 2 == 1:
                        (old_got, _, _), spent = measured(old.pid, over_http(old_port, key, clients, share, stream))
                        cell.old += old_got
                        cell.old_cpu += spent
                    cell.local += run_loop(in_process(clients, share, stream))
            for stream, cell in cells.items():
                p50, local = percentile(cell.http, 0.5), percentile(cell.local, 0.5)
                row = [
                    str(clients), "stream" if stream else "json", f"{len(cell.http) / cell.seconds:,.0f}",
                    f"{p50 * 1e3:.2f}", f"{percentile(cell.http, 0.99) * 1e3:.2f}", f"{local * 1e3:.2f}",
                    f"{(p50 - local) * 1e3:.2f}", f"{percentile(floor, 0.5) * 1e3:.2f}",
                    f"{cell.cpu / len(cell.http) * 1e6:.0f}", f"{len(cell.failed)} of {len(cell.http)}",
                ]  # fmt: skip
                if old_port is not None:
                    old_p50 = percentile(cell.old, 0.5)
                    old_cpu = cell.old_cpu / len(cell.old)
                    row += [f"{old_p50 * 1e3:.2f}", f"{p50 / old_p50:.2f}x", f"{old_cpu * 1e6:.0f}",
                            f"{cell.cpu / len(cell.http) / old_cpu:.2f}x"]  # fmt: skip
                table.add_row(*row)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    Console(width=240).print(table)


if __name__ == "__main__":
    main()
