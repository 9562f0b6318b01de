"""AgentDojo's pairing protocol, replayed through agorakit's dispatcher: every user task × injection task.

No model is involved. For each pair of a suite, as AgentDojo's benchmark does
(``benchmark_suite_with_injections``), the attack's text asking for the
injection task's goal is placed at the injection vectors the user task reads
(:mod:`agorakit.eval.agentdojo.attack`), on a fresh environment. Then, through
a :class:`~agorakit.tools.ToolDispatcher` (with the suite's policy, and with
none for the baseline), in one run whose user said the user task's prompt:

1. the user task's ground-truth calls run, computed from the environment the
   task starts in, as AgentDojo's ``GroundTruthPipeline`` computes them;
2. right after the first call whose output shows the injection, the
   injection task's ground-truth calls run (computed from the environment as
   it is then): what a hijacked agent does. The attack text asks for exactly
   this order ("before you can solve the task that I gave you in the
   beginning, please do the following first"), and it is the earliest point
   an agent can act on what it has just read;
3. the user task's remaining calls run.

AgentDojo's judges then read the final environment and the trace of calls
that reached their tool, in AgentDojo's order (``TaskSuite.run_task_with_pipeline``):
first the user task's utility, then the injection task's security, both
against the environment the user task started in. The final answer is the
user task's ``GROUND_TRUTH_OUTPUT``.

Injection tasks whose ground truth makes no tool call (AgentDojo ships none
for workspace ``injection_task_6``–``13``; travel ``injection_task_6`` only
wants the answer to say something) are out of reach of a replay and of tool
policies: their pairs are counted apart, not replayed. A user task that reads
no injection vector is one AgentDojo's attacks refuse (``ValueError: ... is not
injectable``); its pairs are counted apart too (there are none in v1.2.2).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agorakit.eval.agentdojo.attack import SuiteAttack, carries_injection
from agorakit.eval.agentdojo.pair_results import BenchmarkPairs, PairReplay, SuitePairs
from agorakit.eval.agentdojo.replay import SuiteRunner, newest_benchmark_version, suite_names
from agorakit.eval.agentdojo.results import TaskReplay
from agorakit.eval.agentdojo.runs import ReplayRun, judge_security, judge_utility

if TYPE_CHECKING:
    from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
    from agentdojo.functions_runtime import TaskEnvironment

    from agorakit.policy import Policy


class PairRunner:
    """Replays a suite's user × injection pairs; the tools and policy come from a :class:`SuiteRunner`."""

    def __init__(self, runner: SuiteRunner) -> None:
        self.runner = runner
        self.attack = SuiteAttack(runner.suite)

    def reachable_injection_tasks(self) -> list[BaseInjectionTask[Any]]:
        """Injection tasks whose ground truth makes at least one tool call."""
        pristine = self.runner.fresh_environment()
        return [task for task in self.runner.injection_tasks() if task.ground_truth(pristine.model_copy(deep=True))]

    async def replay_pair(
        self,
        user_task: BaseUserTask[Any],
        injection_task: BaseInjectionTask[Any],
        policies: Sequence[Policy | None],
    ) -> list[PairReplay]:
        """The pair replayed once per policy (``None``: allow-all), each on its own copy of the injected environment."""
        vectors = self.attack.vectors(user_task)
        injected = self.attack.environment(self.attack.injections(user_task, injection_task))
        return [
            await self._replay(user_task, injection_task, vectors, injected.model_copy(deep=True), policy)
            for policy in policies
        ]

    async def _replay(
        self,
        user_task: BaseUserTask[Any],
        injection_task: BaseInjectionTask[Any],
        vectors: tuple[str, ...],
        environment: TaskEnvironment,
        policy: Policy | None,
    ) -> PairReplay:
        environment = user_task.init_environment(environment)
        pre = environment.model_copy(deep=True)
        self.runner.live.current = environment
        injected_after: int | None = None
        injection_calls = 0
        label = f"{user_task.ID}+{injection_task.ID}"
        with ReplayRun(self.runner.tools, policy, user_task.PROMPT, label) as run:
            user_calls = user_task.ground_truth(environment)
            for index, function_call in enumerate(user_calls):
                result = await run.make(function_call)
                if injected_after is None and result.ok and carries_injection(result.content):
                    injected_after = index + 1
                    hijack = injection_task.ground_truth(environment)
                    injection_calls = len(hijack)
                    for injected_call in hijack:
                        await run.make(injected_call)
        output = user_task.GROUND_TRUTH_OUTPUT
        # AgentDojo's order: the user task's utility first, then the injection task's security.
        utility = judge_utility(user_task, output, pre, environment, run.trace)
        attack_succeeded = judge_security(injection_task, output, pre, environment, run.trace)
        return PairReplay(
            user_task.ID,
            injection_task.ID,
            vectors,
            injected_after,
            len(user_calls),
            injection_calls,
            utility,
            attack_succeeded,
            tuple(run.denied),
            tuple(run.errors),
        )

    async def replay(self, policy: Policy) -> SuitePairs:
        """Every pair, and the user tasks without attack, with ``policy`` and with none."""
        start = time.perf_counter()
        runner = self.runner
        clean_policy: list[TaskReplay] = []
        clean_baseline: list[TaskReplay] = []
        for user_task in runner.user_tasks():
            clean_policy.append(await runner.replay_user_task(user_task, policy))
            clean_baseline.append(await runner.replay_user_task(user_task, None))
        reachable = self.reachable_injection_tasks()
        injectable = [task for task in runner.user_tasks() if self.attack.vectors(task)]
        pairs_policy: list[PairReplay] = []
        pairs_baseline: list[PairReplay] = []
        for user_task in injectable:
            for injection_task in reachable:
                guarded, unguarded = await self.replay_pair(user_task, injection_task, (policy, None))
                pairs_policy.append(guarded)
                pairs_baseline.append(unguarded)
        reachable_ids = {task.ID for task in reachable}
        injectable_ids = {task.ID for task in injectable}
        return SuitePairs(
            runner.name,
            runner.benchmark_version,
            tuple(clean_policy),
            tuple(clean_baseline),
            tuple(pairs_policy),
            tuple(pairs_baseline),
            injection_tasks=len(runner.injection_tasks()),
            out_of_reach=tuple(t.ID for t in runner.injection_tasks() if t.ID not in reachable_ids),
            not_injectable=tuple(t.ID for t in runner.user_tasks() if t.ID not in injectable_ids),
            seconds=time.perf_counter() - start,
        )


async def replay_suite_pairs(
    suite_name: str,
    *,
    benchmark_version: str | None = None,
    policy: Policy | None = None,
    policy_dir: Path | None = None,
) -> SuitePairs:
    """Replay one suite's pairs with its policy (``policy``, else the built-in or ``policy_dir`` one) and without."""
    runner = SuiteRunner(suite_name, benchmark_version or newest_benchmark_version())
    if policy is None:
        policy = runner.load_policy(policy_dir)
    return await PairRunner(runner).replay(policy)


async def replay_pairs(
    suites: Sequence[str] | None = None,
    *,
    benchmark_version: str | None = None,
    policy_dir: Path | None = None,
) -> BenchmarkPairs:
    """Replay several suites' pairs (default: all four) and total them."""
    names = suite_names(suites)
    version = benchmark_version or newest_benchmark_version()
    results = [await replay_suite_pairs(name, benchmark_version=version, policy_dir=policy_dir) for name in names]
    return BenchmarkPairs(version, tuple(results))


def replay_pairs_sync(
    suites: Sequence[str] | None = None,
    *,
    benchmark_version: str | None = None,
    policy_dir: Path | None = None,
) -> BenchmarkPairs:
    """:func:`replay_pairs` for scripts and the CLI."""
    return asyncio.run(replay_pairs(suites, benchmark_version=benchmark_version, policy_dir=policy_dir))
