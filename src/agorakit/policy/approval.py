"""Asking a human on the terminal whether a refused tool call may run.

``cli_approver`` is an :data:`~agorakit.policy.Approver`: pass it to
``PolicyGate(policy, approver=cli_approver)``. It never hangs a run that has
no one at the keyboard: when stdin is not a terminal it refuses at once.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from agorakit.policy.decision import Decision

_MAX_SHOWN = 2000


async def cli_approver(tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
    """Show the call and the policy's reason on the terminal, and ask y/N.

    Refuses without asking when stdin is not a TTY (CI, pipes, servers) or is
    closed. The prompt runs in a worker thread so the event loop goes on
    serving other tasks meanwhile.
    """
    stdin = sys.stdin
    if stdin is None or stdin.closed or not stdin.isatty():
        return False
    return await asyncio.to_thread(_prompt, tool, arguments, decision)


def _prompt(tool: str, arguments: Mapping[str, Any], decision: Decision) -> bool:
    from rich.console import Console  # deferred: only an interactive approval needs rich
    from rich.markup import escape
    from rich.prompt import Confirm

    console = Console(stderr=True)
    shown = json.dumps(dict(arguments), ensure_ascii=False, default=str)
    if len(shown) > _MAX_SHOWN:
        shown = shown[:_MAX_SHOWN] + "…"
    console.print(f"[bold yellow]policy[/]: the agent wants to call [bold]{escape(tool)}[/]")
    console.print(f"  arguments: {escape(shown)}")
    console.print(f"  refused because: {escape(decision.reason)}")
    try:
        return Confirm.ask("Allow this call?", default=False, console=console)
    except (EOFError, KeyboardInterrupt):
        return False
