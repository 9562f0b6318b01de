"""Vanilla: the task, one model call, no extra prompting (every paper's baseline)."""

from __future__ import annotations

from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session


class Vanilla(Method):
    name = "vanilla"
    summary = "One model call on the task as given."
    paper = "Baseline used throughout the multi-agent literature (e.g. MASLab, Ye et al., 2025)"

    async def solve(self, task: str, session: Session) -> str:
        return await session.chat("assistant", [Message("user", task)])
