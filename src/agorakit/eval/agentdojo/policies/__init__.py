"""The deployer policies for AgentDojo's four suites, shipped as package data.

``<suite>.yaml`` in this folder is the policy a careful deployer of that
suite's assistant would write; docs/security.md says what each was derived
from (the suite's environment data and the legitimate needs of its user
tasks, never its injection tasks).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING

from agorakit.core.errors import ConfigError

if TYPE_CHECKING:
    from agorakit.policy import KnownTools, Policy

SUITES: tuple[str, ...] = ("workspace", "travel", "banking", "slack")
"""AgentDojo's suites, in the benchmark's order."""


def policy_text(suite: str) -> str:
    """The built-in policy of ``suite`` as YAML text."""
    _check_suite(suite)
    return importlib.resources.files(__name__).joinpath(f"{suite}.yaml").read_text(encoding="utf-8")


def load_suite_policy(suite: str, *, known_tools: KnownTools, directory: Path | None = None) -> Policy:
    """Load the policy for ``suite``: ``directory/<suite>.yaml`` if given, else the built-in one.

    ``known_tools`` are the suite's tools (or their names): the loader rejects
    a policy naming a tool the suite does not have, or, given the tools, an
    argument a tool does not take.
    """
    from agorakit.policy import Policy

    _check_suite(suite)
    if directory is not None:
        path = Path(directory) / f"{suite}.yaml"
        if not path.is_file():
            raise ConfigError(f"no policy for suite {suite!r}: {path} does not exist")
        return Policy.load(path, known_tools=known_tools)
    resource = importlib.resources.files(__name__).joinpath(f"{suite}.yaml")
    with importlib.resources.as_file(resource) as path:
        return Policy.load(path, known_tools=known_tools)


def _check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise ConfigError(f"unknown AgentDojo suite {suite!r}", hint=f"pick from: {', '.join(SUITES)}")
