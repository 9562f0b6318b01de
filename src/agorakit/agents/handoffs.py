"""Handoffs: an agent passes the conversation to another by calling ``transfer_to_<name>``.

``Agent(handoffs=[...])`` lists the agents it may hand over to, as objects or
by name (a name is looked up among the agents reachable from the one the run
started with, or a team's members). The runner offers a ``transfer_to_<name>``
tool for each; calling it makes that agent the active one, under its own
instructions, strategy, tools and limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from agorakit.core.context import current_context
from agorakit.core.errors import ConfigError
from agorakit.tools import Tool

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
PREFIX = "transfer_to_"


if TYPE_CHECKING:  # a Protocol class costs import time; only the type checker needs it

    class Member(Protocol):
        """An agent as handoffs see it: a name, and whom it may hand over to."""

        @property
        def name(self) -> str: ...
        @property
        def description(self) -> str | None: ...
        @property
        def handoffs(self) -> Sequence[Member | Handoff | str]: ...


M = TypeVar("M", bound="Member")


class Handoff(NamedTuple):
    """A handoff by name with its own description (what the model reads to choose it)."""

    target: str
    description: str | None = None


def handoff_tool(target: str, description: str | None = None) -> Tool[..., Any]:
    """The ``transfer_to_<target>`` tool: it records the handoff on the run's context."""
    text = f"Transferred to {target}."

    async def transfer(arguments: dict[str, Any]) -> str:
        context = current_context()
        if context is None:
            raise ConfigError(f"transfer_to_{target} works only inside an agent run")
        context.handoff_to = target
        return text

    hint = description or f"Hand the conversation over to {target}."
    return Tool.from_schema(f"{PREFIX}{target}", hint, NO_ARGUMENTS, transfer, idempotent=True)


def target_name(target: Member | Handoff | str) -> str:
    if isinstance(target, str):
        return target
    return target.target if isinstance(target, Handoff) else target.name


def target_description(target: Member | Handoff | str) -> str | None:
    return None if isinstance(target, str) else target.description


def reachable(start: M, members: Iterable[M] = ()) -> dict[str, M]:
    """Every agent ``start`` can reach by handoffs given as objects, plus ``members``, by name.

    Names must be unique and every handoff given by name must be among them.
    """
    found: dict[str, M] = {}
    pending: list[Any] = [start, *members]
    while pending:
        agent = pending.pop()
        known = found.get(agent.name)
        if known is agent:
            continue
        if known is not None:
            raise ConfigError(f"two different agents are named {agent.name!r}", hint="give each agent its own name")
        found[agent.name] = agent
        pending.extend(target for target in agent.handoffs if not isinstance(target, str | Handoff))
    for agent in found.values():
        unknown = sorted({target_name(t) for t in agent.handoffs} - set(found))
        if unknown:
            raise ConfigError(
                f"{agent.name} hands off to {', '.join(unknown)}, which is not an agent of this run",
                hint="pass the agent object in handoffs=[...], or run them as a HandoffTeam",
            )
    return found
