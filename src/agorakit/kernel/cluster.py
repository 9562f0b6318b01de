"""Where work runs beyond this process: joining (or starting) a Ray cluster.

Simulations (:mod:`agorakit.sim.ray_engine`) and the benchmark grid
(:mod:`agorakit.eval.ray_grid`) both put their workers on Ray; this module is
what they share: Ray is imported only here, only when asked for, and an
address that does not answer fails at once with what to do, not a hang.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from typing import Any

from agorakit.core.errors import ConfigError

#: Seconds to wait for a cluster address to answer.
CONNECT_TIMEOUT_S = 10.0
#: Environment the workers get from the driver: agorakit's settings (trace store,
#: model cache, ...) and an OpenAI-compatible endpoint's key and address.
FORWARDED_PREFIXES = ("AGORAKIT_", "OPENAI_")


def require_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the Ray engine needs Ray, which is not installed",
            hint="pip install 'agorakit[ray]' (scripts/setup installs it)",
        ) from None
    return ray


def probe(address: str) -> None:
    """Fail at once, with what to do, if nothing listens at a ``host:port`` address."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError):
        raise ConfigError(
            f"no Ray cluster answers at {address}",
            hint="start one with `ray start --head` and pass the address it prints (host:6379)",
        ) from None


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray, joined to the cluster at ``address`` or to a local one started (and stopped) here.

    The workers run with this process's agorakit and OpenAI settings (see
    :func:`forwarded_environment`), so their traces and models are found as
    here. A process already connected keeps its connection (a test's cluster,
    a notebook's ``ray.init()``, with its own environment), but a given address
    is still probed, so a wrong one fails as the user expects.
    """
    ray = require_ray()
    if address is not None:
        probe(address)
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        options["runtime_env"] = {"env_vars": forwarded_environment()}
        if address is None:
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def forwarded_environment() -> dict[str, str]:
    """This process's variables the workers need to behave as it does."""
    return {name: value for name, value in os.environ.items() if name.startswith(FORWARDED_PREFIXES)}
