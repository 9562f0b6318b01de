"""A real agorakit server (uvicorn on 127.0.0.1, a free port) in a thread, for the server's tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from agorakit.server import Entry, KeyStore, ServerSettings, create_app


@dataclass
class LiveServer:
    url: str
    key: str
    keys: KeyStore
    app: object

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(entries: Sequence[Entry], settings: ServerSettings, keys: KeyStore, key: str) -> Iterator[LiveServer]:
    app = create_app(entries, settings, keys=keys)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.02)
    try:
        yield LiveServer(url, key, keys, app)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


ServeFactory = Callable[..., LiveServer]
