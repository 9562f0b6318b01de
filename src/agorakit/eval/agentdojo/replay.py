"""Replay AgentDojo's ground truths through agorakit's dispatcher, with and without a policy.

No model is involved. For each task of a suite, on a fresh copy of the
suite's default environment (injection placeholders filled with their benign
defaults, as AgentDojo does when no attack is given):

- a user task's ground-truth calls run through a :class:`ToolDispatcher`;
  AgentDojo's own judge then says whether the user still got what they asked
  for (``utility_from_traces``, else ``utility``, the order AgentDojo uses);
- an injection task's ground-truth calls (what the attacker wants the agent
  to do) run the same way; AgentDojo's ``security_from_traces``, else
  ``security``, says whether the attack succeeded.

The final answer handed to the judges is the task's ``GROUND_TRUTH_OUTPUT``,
which is exactly the last message AgentDojo's own ``GroundTruthPipeline``
produces. The call trace handed to the trace-based judges holds the calls that
reached their tool: a call the policy refused never ran, so it is not in it.

Each suite runs twice: with its policy and with no policy (allow-all), the
baseline. Injection tasks whose ground truth makes no tool call at all (the
attack lives only in the answer text) are counted apart, as out of reach of
tool policies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agorakit.core.errors import ConfigError
from agorakit.eval.agentdojo.policies import SUITES, load_suite_policy
from agorakit.eval.agentdojo.results import BenchmarkReplay, SuiteReplay, TaskReplay
from agorakit.eval.agentdojo.runs import ReplayRun, judge_security, judge_utility
from agorakit.eval.agentdojo.tools import LiveEnvironment, suite_tools
from agorakit.tools import Tool, ToolDispatcher

if TYPE_CHECKING:
    from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
    from agentdojo.functions_runtime import TaskEnvironment
    from agentdojo.task_suite.task_suite import TaskSuite

    from agorakit.policy import Policy

_FALLBACK_VERSION = "v1.2.2"  # the newest in agentdojo 0.1.35, the pinned release


def benchmark_versions() -> list[str]:
    """The AgentDojo benchmark versions the installed package holds all four suites for, oldest first."""
    from agentdojo.task_suite import load_suites

    # agentdojo has no public list of its versions; its registry is a module-level dict.
    registry = getattr(load_suites, "_SUITES", None)
    if not isinstance(registry, dict):
        return [_FALLBACK_VERSION]
    versions = [str(name) for name, suites in registry.items() if set(SUITES) <= set(suites)]
    return sorted(versions, key=_version_key) or [_FALLBACK_VERSION]


def newest_benchmark_version() -> str:
    """The newest AgentDojo benchmark version the installed package holds all four suites for."""
    return benchmark_versions()[-1]


def agentdojo_version() -> str:
    """The installed agentdojo package's version ("unknown" when it has no metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentdojo")
    except PackageNotFoundError:
        return "unknown"


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.lstrip("v").split("."))
    except ValueError:
        return ()


class SuiteRunner:
    """A suite's tools, bound once, and a pristine environment copied for every task."""

    def __init__(self, suite_name: str, benchmark_version: str) -> None:
        from agentdojo.task_suite.load_suites import get_suites

        versions = benchmark_versions()
        if benchmark_version not in versions:
            raise ConfigError(
                f"agentdojo {agentdojo_version()} has no benchmark version {benchmark_version!r}",
                hint=f"pick one of: {', '.join(versions)}",
            )
        suites = get_suites(benchmark_version)
        if suite_name not in suites:
            known = ", ".join(sorted(suites)) or "none"
            raise ConfigError(
                f"AgentDojo {benchmark_version} has no suite {suite_name!r} (it has: {known})",
                hint=f"pick one of: {', '.join(SUITES)}",
            )
        self.name = suite_name
        self.benchmark_version = benchmark_version
        self.suite: TaskSuite[Any] = suites[suite_name]
        self.live = LiveEnvironment()
        self.tools: list[Tool[..., Any]] = suite_tools(self.suite.tools, self.live)
        self._pristine: TaskEnvironment = self.suite.load_and_inject_default_environment({})

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]

    def fresh_environment(self) -> TaskEnvironment:
        return self._pristine.model_copy(deep=True)

    def load_policy(self, directory: Path | None = None) -> Policy:
        """The suite's policy, checked against its tools (names and argument names)."""
        return load_suite_policy(self.name, known_tools=self.tools, directory=directory)

    def dispatcher(self, policy: Policy | None) -> ToolDispatcher:
        """A dispatcher over the suite's tools; ``policy=None`` allows every call (the baseline)."""
        return ToolDispatcher(self.tools, default_timeout=None, policy=policy)

    def user_tasks(self) -> list[BaseUserTask[Any]]:
        return [task for _, task in sorted(self.suite.user_tasks.items(), key=lambda kv: _task_key(kv[0]))]

    def injection_tasks(self) -> list[BaseInjectionTask[Any]]:
        return [task for _, task in sorted(self.suite.injection_tasks.items(), key=lambda kv: _task_key(kv[0]))]

    async def replay_user_task(self, task: BaseUserTask[Any], policy: Policy | None) -> TaskReplay:
        """``task`` on a fresh benign environment, with ``policy`` (``None``: allow-all)."""
        environment = task.init_environment(self.fresh_environment())
        pre = environment.model_copy(deep=True)
        self.live.current = environment
        with ReplayRun(self.tools, policy, task.PROMPT, task.ID) as run:
            # As AgentDojo's GroundTruthPipeline does: the calls are computed from the environment
            # the task starts in, then run one after the other.
            for function_call in task.ground_truth(environment):
                await run.make(function_call)
        verdict = judge_utility(task, task.GROUND_TRUTH_OUTPUT, pre, environment, run.trace)
        return TaskReplay(task.ID, "user", run.calls, verdict, tuple(run.denied), tuple(run.errors))

    async def replay_injection_task(self, task: BaseInjectionTask[Any], policy: Policy | None) -> TaskReplay:
        """``task``'s ground truth on its own, as if the user had asked for it (no user turn, though)."""
        environment = self.fresh_environment()
        pre = environment.model_copy(deep=True)
        self.live.current = environment
        with ReplayRun(self.tools, policy, None, task.ID) as run:  # the goal is the attacker's words
            for function_call in task.ground_truth(environment):
                await run.make(function_call)
        verdict = judge_security(task, task.GROUND_TRUTH_OUTPUT, pre, environment, run.trace)
        return TaskReplay(task.ID, "injection", run.calls, verdict, tuple(run.denied), tuple(run.errors))

    async def replay(self, policy: Policy | None) -> tuple[tuple[TaskReplay, ...], tuple[TaskReplay, ...]]:
        """(user task replays, injection task replays) with ``policy`` (``None``: allow-all)."""
        users = [await self.replay_user_task(task, policy) for task in self.user_tasks()]
        injections = [await self.replay_injection_task(task, policy) for task in self.injection_tasks()]
        return tuple(users), tuple(injections)


def suite_names(suites: Sequence[str] | None) -> list[str]:
    """``suites`` without repeats (default: all four), each checked to be one of AgentDojo's."""
    names = list(dict.fromkeys(suites)) if suites else list(SUITES)
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        raise ConfigError(f"unknown AgentDojo suite(s): {', '.join(unknown)}", hint=f"pick from: {', '.join(SUITES)}")
    return names


def _task_key(task_id: str) -> tuple[str, int]:
    prefix, _, number = task_id.rpartition("_")
    return (prefix, int(number)) if number.isdigit() else (task_id, -1)


async def replay_suite(
    suite_name: str,
    *,
    benchmark_version: str | None = None,
    policy: Policy | None = None,
    policy_dir: Path | None = None,
) -> SuiteReplay:
    """Replay one suite with its policy (``policy``, else the built-in or ``policy_dir`` one) and without."""
    start = time.perf_counter()
    version = benchmark_version or newest_benchmark_version()
    runner = SuiteRunner(suite_name, version)
    if policy is None:
        policy = runner.load_policy(policy_dir)
    user_policy, injection_policy = await runner.replay(policy)
    user_baseline, injection_baseline = await runner.replay(None)
    return SuiteReplay(
        suite_name,
        version,
        user_policy,
        user_baseline,
        injection_policy,
        injection_baseline,
        time.perf_counter() - start,
    )


async def replay_benchmark(
    suites: Sequence[str] | None = None,
    *,
    benchmark_version: str | None = None,
    policy_dir: Path | None = None,
) -> BenchmarkReplay:
    """Replay several suites (default: all four) and total them."""
    names = suite_names(suites)
    version = benchmark_version or newest_benchmark_version()
    results = [await replay_suite(name, benchmark_version=version, policy_dir=policy_dir) for name in names]
    return BenchmarkReplay(version, tuple(results))


def replay_benchmark_sync(
    suites: Sequence[str] | None = None,
    *,
    benchmark_version: str | None = None,
    policy_dir: Path | None = None,
) -> BenchmarkReplay:
    """:func:`replay_benchmark` for scripts and the CLI."""
    return asyncio.run(replay_benchmark(suites, benchmark_version=benchmark_version, policy_dir=policy_dir))
