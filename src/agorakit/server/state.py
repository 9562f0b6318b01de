"""What one server holds: its entries, settings, keys and the runs it started."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agorakit.server.entries import Entry
from agorakit.server.errors import APIError
from agorakit.server.keys import KeyStore, RateLimiter

if TYPE_CHECKING:
    from agorakit.server.runs import RunRegistry

ON_DISCONNECT = ("cancel", "continue")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How a server behaves. Defaults are the safe ones: auth on, CORS closed, 1 MiB bodies."""

    #: Refuse requests without a valid key (off only when asked, and only on loopback).
    auth: bool = True
    #: Origins allowed by CORS; empty means no cross-origin browser access.
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    #: Seconds a client may take to send its request body (a stalled client gets 408).
    body_timeout: float = 30.0
    #: A client that goes away mid-run: cancel the run, or let it finish (its trace and result kept).
    on_disconnect: Literal["cancel", "continue"] = "cancel"
    #: Seconds a run may take before the request fails with 504 (the run is cancelled).
    run_timeout: float = 600.0
    #: On SIGTERM, seconds in-flight requests get to finish before they are marked interrupted.
    grace_seconds: float = 10.0
    trace_db: Path | None = None
    bench_db: Path | None = None


@dataclass(slots=True)
class ServerState:
    """Shared by every route of one app (``app.state.agora``)."""

    entries: dict[str, Entry]
    settings: ServerSettings
    keys: KeyStore | None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    #: Set by the runs API (``agorakit.server.runs``): the runs this server started.
    runs: RunRegistry | None = None

    def entry(self, name: str) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            served = ", ".join(sorted(self.entries)) or "none"
            raise APIError(
                404,
                f"no served entry is named {name!r}",
                kind="model_not_found",
                hint=f"served entries: {served} (GET /v1/models lists them)",
            )
        return entry
