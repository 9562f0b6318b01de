"""Running an async run from synchronous code (scripts, notebooks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from agorakit.models.base import ChatModel

R = TypeVar("R")


def run_sync(run: Callable[[], Coroutine[Any, Any, R]], models: Callable[[], Iterable[ChatModel | None]]) -> R:
    """``asyncio.run(run())``, then close the backends ``models()`` names on that same loop
    (their connections belong to it; left open they would be collected on a dead loop)."""

    async def run_and_close() -> R:
        try:
            return await run()
        finally:
            closed: set[int] = set()
            for model in models():
                if model is None or id(model) in closed:
                    continue
                closed.add(id(model))
                close = getattr(model, "aclose", None)
                if close is not None:
                    await close()

    return asyncio.run(run_and_close())
